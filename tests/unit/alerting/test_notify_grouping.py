"""Grouping timing (wait / interval / repeat), dedup, muting, end of silence, ack — through ``plan``.

One contact point ``ops`` behind one route (group wait 30 s, interval 5 min, repeat 4 h); each row
runs the planner at an explicit ``now`` on a given log state and checks what it sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts.calendar import WorkingCalendar
from alerts.delivery.model import Channel
from alerts.notify.grouping import GroupState, GroupTiming, group_key_of
from alerts.notify.inhibition import DEFAULT_INHIBIT_RULE
from alerts.notify.matchers import parse_matchers
from alerts.notify.planner import AlertRecord, Plan, PlannerInput, plan
from alerts.notify.routing import ContactPoint, Route
from alerts.notify.silences import Silence
from tests.unit.alerting.notify_support import at, record

CAL = WorkingCalendar()
T0 = at(2025, 3, 10, 9)  # a Monday
TIMING = GroupTiming(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))
ROUTE = Route("all", 1, (), ("ops",), ("rule", "province_code"), TIMING)
CP = {"ops": ContactPoint("ops", Channel.WEBHOOK, "http://127.0.0.1:9/hook")}
KEY, LABELS = group_key_of("all", ("rule", "province_code"), {"rule": "overdue", "province_code": "01"})
RECEIVER = "cp:ops"


def state(last_sent: datetime | None, firing: set[str], *, muted: set[str] = frozenset(),  # type: ignore[assignment]
          first_seen: datetime = T0) -> GroupState:  # fmt: skip
    return GroupState(RECEIVER, KEY, LABELS, first_seen, last_sent, frozenset(firing), frozenset(), frozenset(muted))


def run(alerts: list[AlertRecord], prior: GroupState | None, now: datetime, silences: list[Silence] = (),  # type: ignore[assignment]
        **kw: object) -> Plan:  # fmt: skip
    groups = {(RECEIVER, KEY): prior} if prior else {}
    inp = PlannerInput(alerts=alerts, silences=silences, routes=[ROUTE], contact_points=CP, groups=groups, **kw)  # type: ignore[arg-type]
    return plan(inp, now, CAL)


def sent(p: Plan) -> tuple[list[str], list[str]] | None:
    if not p.deliveries:
        return None
    [d] = p.deliveries
    return sorted(a.fingerprint for a in d.notification.firing), sorted(a.fingerprint for a in d.notification.resolved)


A = record(1, "fa", fired_at=T0)
B = record(2, "fb", fired_at=T0)
A_RESOLVED = record(1, "fa", firing=False, fired_at=T0, resolved_at=T0 + timedelta(minutes=20))
A_ACKED = record(1, "fa", fired_at=T0, acked=True)
SILENCE = Silence(7, parse_matchers([{"label": "province_code", "op": "=", "value": "01"}]),
                  T0 - timedelta(hours=1), T0 + timedelta(hours=2), comment="bảo trì")  # fmt: skip
END = T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    ("name", "alerts", "prior", "now", "silences", "expected"),
    [
        ("new group waits", [A], None, T0, [], None),
        ("after group wait", [A], state(None, set()), T0 + timedelta(seconds=30), [], (["fa"], [])),
        ("dedup by fingerprint", [A, record(3, "fa", fired_at=T0)], state(None, set()),
         T0 + timedelta(seconds=30), [], (["fa"], [])),
        ("unchanged: nothing before repeat", [A], state(T0, {"fa"}), T0 + timedelta(hours=3), [], None),
        ("unchanged: repeat", [A], state(T0, {"fa"}), T0 + timedelta(hours=4), [], (["fa"], [])),
        ("acknowledged: no repeat", [A_ACKED], state(T0, {"fa"}), T0 + timedelta(hours=5), [], None),
        ("new alert waits for group interval", [A, B], state(T0, {"fa"}), T0 + timedelta(minutes=4), [], None),
        ("new alert after group interval", [A, B], state(T0, {"fa"}), T0 + timedelta(minutes=5), [],
         (["fa", "fb"], [])),
        ("resolved announced", [A_RESOLVED, B], state(T0, {"fa", "fb"}), T0 + timedelta(minutes=30), [],
         (["fb"], ["fa"])),
        ("acknowledged: resolution still announced", [A_RESOLVED], state(T0, {"fa"}), T0 + timedelta(minutes=30),
         [], ([], ["fa"])),
        ("silenced: nothing", [A], state(None, set()), T0 + timedelta(minutes=1), [SILENCE], None),
        ("silence ends, still firing: notify", [A], state(None, set()), END, [SILENCE], (["fa"], [])),
        ("announced, then silenced, resolved under it: wait", [A_RESOLVED], state(T0, {"fa"}, muted={"fa"}),
         END - timedelta(minutes=1), [SILENCE], None),
        ("silence ends: resolved announced", [A_RESOLVED], state(T0, {"fa"}, muted={"fa"}), END, [SILENCE],
         ([], ["fa"])),
        ("announced, silenced, still firing at its end: notify", [A], state(T0, {"fa"}, muted={"fa"}), END,
         [SILENCE], (["fa"], [])),
        ("snoozed: nothing", [record(1, "fa", fired_at=T0, snoozed_until=T0 + timedelta(hours=1))],
         state(None, set()), T0 + timedelta(minutes=1), [], None),
        ("flapping: nothing", [record(1, "fa", fired_at=T0, flapping=True)], state(None, set()),
         T0 + timedelta(minutes=1), [], None),
        ("pending only: nothing", [], state(None, set()), T0 + timedelta(minutes=1), [], None),
    ],
)  # fmt: skip
def test_group_timing(name: str, alerts: list[AlertRecord], prior: GroupState | None, now: datetime,
                      silences: list[Silence], expected: tuple[list[str], list[str]] | None) -> None:  # fmt: skip
    assert sent(run(alerts, prior, now, silences)) == expected, name


def test_log_follows_what_was_sent() -> None:
    p = run([A_RESOLVED, B], state(T0, {"fa", "fb"}), T0 + timedelta(minutes=30))
    [g] = p.group_upserts
    expected = (frozenset({"fb"}), frozenset({"fa"}), T0 + timedelta(minutes=30))
    assert (g.firing_sent, g.resolved_sent, g.last_sent_at) == expected
    assert {(a.alert_id, a.kind) for a in p.activities} == {(1, "notify"), (2, "notify")}


def test_group_forgotten_when_all_resolved() -> None:
    p = run([A_RESOLVED], state(T0, {"fa"}), T0 + timedelta(minutes=30))
    assert p.group_deletes == [(RECEIVER, KEY)] and not p.group_upserts


def test_muting_is_remembered() -> None:
    p = run([A], state(T0, {"fa"}), T0 + timedelta(minutes=1), [SILENCE])
    assert not p.deliveries
    [g] = p.group_upserts
    assert g.muted == {"fa"} and g.firing_sent == {"fa"}


def test_idempotency_key_does_not_depend_on_now() -> None:
    one = run([A], state(None, set()), T0 + timedelta(seconds=30))
    two = run([A], state(None, set()), T0 + timedelta(seconds=45))
    assert one.deliveries[0].idempotency_key == two.deliveries[0].idempotency_key


def test_inhibition_by_a_silent_source() -> None:
    silent = record(5, "fs", fired_at=T0, rule="dossier_feed_silent", kind="silent_source", commune=None)
    other_stream = record(6, "fp", fired_at=T0, stream="payout")
    other_province = record(8, "fq", fired_at=T0, province="79")
    p = run([A, silent, other_stream, other_province], None, T0, inhibit_rules=[DEFAULT_INHIBIT_RULE])
    held = {g.group_key: g for g in p.group_upserts}
    later = {(RECEIVER, k): g for k, g in held.items()}
    inp = PlannerInput(alerts=[A, silent, other_stream, other_province], routes=[ROUTE], contact_points=CP,
                       groups=later, inhibit_rules=[DEFAULT_INHIBIT_RULE])  # fmt: skip
    p2 = plan(inp, T0 + timedelta(seconds=30), CAL)
    announced = {a.fingerprint for d in p2.deliveries for a in d.notification.firing}
    assert announced == {"fs", "fp", "fq"}  # "fa" (same stream and province as the silent source) muted


@pytest.mark.parametrize(
    ("alerts", "noted", "expected"),
    [
        # A firing alert a silence mutes: one line in its timeline, naming the silence.
        ([A], frozenset(), [(1, 7)]),
        # Already noted in an earlier round: nothing more (the planner runs every second).
        ([A], frozenset({(1, 7)}), []),
        # A resolved alert under the silence needs no line: nobody was kept from acting on it.
        ([A_RESOLVED], frozenset(), []),
    ],
    ids=["first-time", "already-noted", "resolved"],
)
def test_a_silenced_alert_says_so_in_its_timeline(
    alerts: list[AlertRecord], noted: frozenset[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    p = run(alerts, None, T0 + timedelta(minutes=30), [SILENCE], silence_noted=noted)
    lines = [(a.alert_id, a.data["silence_id"]) for a in p.activities if a.kind == "silenced"]
    assert lines == expected
    assert p.deliveries == []  # muted all the same


def test_no_silence_no_line() -> None:
    p = run([A], None, T0 + timedelta(minutes=30))
    assert [a for a in p.activities if a.kind == "silenced"] == []
