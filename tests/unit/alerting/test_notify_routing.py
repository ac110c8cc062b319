"""Routes, subscriptions narrowed by scope, channels, quiet hours (also wrapping midnight)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from alerts.calendar import WorkingCalendar
from alerts.delivery.model import Channel
from alerts.notify.grouping import GroupState
from alerts.notify.matchers import parse_matchers
from alerts.notify.planner import PlannerInput, plan
from alerts.notify.routing import Route, Subscription, in_quiet_hours, routes_for, subscription_wants
from tests.unit.alerting.notify_support import at, person, record

CAL = WorkingCalendar()
T0 = at(2025, 3, 10, 9)


def route(rid: str, pos: int, matchers: list[dict[str, str]], cont: bool = True) -> Route:
    return Route(rid, pos, parse_matchers(matchers), ("ops",), continue_matching=cont)


def test_routes_in_order_and_continue() -> None:
    routes = [
        route("critical", 1, [{"label": "severity", "op": "=", "value": "critical"}], cont=False),
        route("hanoi", 2, [{"label": "province_code", "op": "=", "value": "01"}]),
        route("all", 3, []),
    ]
    assert [r.id for r in routes_for(routes, {"severity": "critical", "province_code": "01"})] == ["critical"]
    assert [r.id for r in routes_for(routes, {"severity": "warning", "province_code": "01"})] == ["hanoi", "all"]


HANOI_OPERATOR = person(1, "operator", {"provinces": ["01"]}, email="an@example.vn")
LABELS = {"province_code": "01", "commune_code": "00004", "severity": "critical", "rule": "overdue"}


@pytest.mark.parametrize(
    ("sub", "who", "labels", "wanted"),
    [
        (Subscription(1, 1, channels=("email",)), HANOI_OPERATOR, LABELS, True),
        (Subscription(1, 1, provinces=frozenset({"79"}), channels=("email",)), HANOI_OPERATOR,
         {**LABELS, "province_code": "79"}, False),  # outside the person's scope, whatever the filter says
        (Subscription(1, 1, communes=frozenset({"00008"}), channels=("email",)), HANOI_OPERATOR, LABELS, False),
        (Subscription(1, 1, severities=frozenset({"warning"}), channels=("email",)), HANOI_OPERATOR, LABELS, False),
        (Subscription(1, 1, agencies=frozenset({"UBND-1"}), channels=("email",)), HANOI_OPERATOR, LABELS, False),
        (Subscription(1, 1, channels=("email",), enabled=False), HANOI_OPERATOR, LABELS, False),
    ],
)  # fmt: skip
def test_subscription_filters(sub: Subscription, who: object, labels: dict[str, str], wanted: bool) -> None:
    assert subscription_wants(sub, who, labels) is wanted  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("quiet", "now", "inside"),
    [
        ((time(12), time(13, 30)), at(2025, 3, 10, 12, 15), True),
        ((time(12), time(13, 30)), at(2025, 3, 10, 13, 30), False),
        ((time(22), time(6)), at(2025, 3, 10, 23), True),  # wraps midnight
        ((time(22), time(6)), at(2025, 3, 11, 5, 59), True),
        ((time(22), time(6)), at(2025, 3, 11, 6), False),
        ((time(22), time(6)), at(2025, 3, 10, 21, 59), False),
    ],
)
def test_quiet_hours(quiet: tuple[time, time], now: datetime, inside: bool) -> None:
    sub = Subscription(1, 1, channels=("email",), quiet_from=quiet[0], quiet_to=quiet[1])
    assert in_quiet_hours(sub, now) is inside


NIGHT = at(2025, 3, 10, 23)


def run_sub(sub: Subscription, severity: str, now: datetime, groups: dict[tuple[str, str], GroupState] | None = None):  # type: ignore[no-untyped-def]
    alert = record(1, "fa", fired_at=NIGHT - timedelta(minutes=5), severity=severity)
    who = person(1, "operator", {"provinces": ["01"]}, email="an@example.vn", telegram="12345")
    inp = PlannerInput(alerts=[alert], subscriptions=[sub], people={1: who}, groups=groups or {})
    return plan(inp, now, CAL)


def test_quiet_hours_hold_then_deliver_at_their_end() -> None:
    sub = Subscription(9, 1, channels=("email", "webpush"), quiet_from=time(22), quiet_to=time(6),
                       quiet_allows_critical=True)  # fmt: skip
    first = run_sub(sub, "warning", NIGHT)
    assert not first.deliveries and first.held == 0  # the group is new: it waits its group_wait first
    groups = {(g.receiver, g.group_key): g for g in first.group_upserts}
    held = run_sub(sub, "warning", NIGHT + timedelta(minutes=1), groups)
    assert not held.deliveries and held.held == 1 and not held.group_upserts  # the log does not advance
    morning = run_sub(sub, "warning", at(2025, 3, 11, 6), groups)
    assert {(d.channel, d.address) for d in morning.deliveries} == {(Channel.EMAIL, "an@example.vn"),
                                                                     (Channel.WEBPUSH, "101")}  # fmt: skip


def test_critical_passes_quiet_hours_when_allowed() -> None:
    sub = Subscription(9, 1, channels=("telegram",), quiet_from=time(22), quiet_to=time(6))
    first = run_sub(sub, "critical", NIGHT)
    groups = {(g.receiver, g.group_key): g for g in first.group_upserts}
    p = run_sub(sub, "critical", NIGHT + timedelta(minutes=1), groups)
    assert [(d.channel, d.address, d.user_id) for d in p.deliveries] == [(Channel.TELEGRAM, "12345", 1)]
    strict = Subscription(9, 1, channels=("telegram",), quiet_from=time(22), quiet_to=time(6),
                          quiet_allows_critical=False)  # fmt: skip
    assert not run_sub(strict, "critical", NIGHT + timedelta(minutes=1), groups).deliveries


def test_disabled_person_gets_nothing() -> None:
    sub = Subscription(9, 1, channels=("email",))
    alert = record(1, "fa", fired_at=T0)
    who = person(1, "operator", {"provinces": ["01"]}, email="an@example.vn")
    from dataclasses import replace

    inp = PlannerInput(alerts=[alert], subscriptions=[sub], people={1: replace(who, enabled=False)})
    assert not plan(inp, T0 + timedelta(minutes=1), CAL).group_upserts
