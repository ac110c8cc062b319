"""Escalation timing in working minutes: across a weekend, across a holiday; repeat; stop on ack."""

from __future__ import annotations

from datetime import datetime

import pytest

from alerts.calendar import WorkingCalendar
from alerts.notify.escalation import (
    EscalationAlert,
    EscalationPolicy,
    EscalationState,
    decide_escalation,
    parse_steps,
    step_recipients,
)
from alerts.notify.planner import PlannerInput, plan
from tests.unit.alerting.notify_support import at, person, record

CAL = WorkingCalendar()
STEPS = parse_steps([
    {"after_working_minutes": 30, "level": "commune", "roles": ["operator"], "channels": ["email"]},
    {"after_working_minutes": 60, "level": "province", "roles": ["operator"], "channels": ["email"]},
    {"after_working_minutes": 120, "level": "province", "roles": ["leader"], "channels": ["email"]},
])  # fmt: skip
POLICY = EscalationPolicy("default", 1, (), STEPS, repeat=1)
LABELS = {"province_code": "01", "commune_code": "00004", "severity": "warning", "rule": "overdue"}


def alert(fired: datetime, *, acked: bool = False, firing: bool = True, muted: bool = False) -> EscalationAlert:
    return EscalationAlert(1, LABELS, fired, firing, acked, muted)


def step_at(state: EscalationState | None, a: EscalationAlert, now: datetime) -> tuple[int, int] | None:
    d = decide_escalation(a, state, [POLICY], CAL, now)
    return (d.state.step, d.state.round) if d.step is not None and d.state is not None else None


@pytest.mark.parametrize(
    ("fired", "now", "expected"),
    [
        (at(2025, 3, 10, 9), at(2025, 3, 10, 9, 29), None),  # Monday: 30 working minutes not yet
        (at(2025, 3, 10, 9), at(2025, 3, 10, 9, 30), (0, 0)),
        # Friday 16:50 + 30 working minutes = Monday 08:20 (10 min Friday, 20 min Monday)
        (at(2025, 3, 14, 16, 50), at(2025, 3, 15, 10), None),
        (at(2025, 3, 14, 16, 50), at(2025, 3, 17, 8, 19), None),
        (at(2025, 3, 14, 16, 50), at(2025, 3, 17, 8, 20), (0, 0)),
        # Across a holiday: Tuesday 29/4/2025 16:50; 30/4 and 1/5 and 2/5 are days off, then the weekend:
        # the step goes out Monday 5/5 08:20.
        (at(2025, 4, 29, 16, 50), at(2025, 5, 2, 12), None),
        (at(2025, 4, 29, 16, 50), at(2025, 5, 5, 8, 19), None),
        (at(2025, 4, 29, 16, 50), at(2025, 5, 5, 8, 20), (0, 0)),
        # fired at night: the clock starts at the next opening
        (at(2025, 3, 10, 22), at(2025, 3, 11, 8, 30), (0, 0)),
    ],
)
def test_first_step_timing(fired: datetime, now: datetime, expected: tuple[int, int] | None) -> None:
    assert step_at(None, alert(fired), now) == expected


def test_chain_walks_steps_then_repeats_then_stops() -> None:
    fired = at(2025, 3, 10, 9)
    s0 = EscalationState(1, "default", 0, 0, at(2025, 3, 10, 9, 30))
    assert step_at(s0, alert(fired), at(2025, 3, 10, 10, 29)) is None
    assert step_at(s0, alert(fired), at(2025, 3, 10, 10, 30)) == (1, 0)
    s2 = EscalationState(1, "default", 2, 0, at(2025, 3, 10, 13))
    assert step_at(s2, alert(fired), at(2025, 3, 10, 13, 30)) == (0, 1)  # repeat: round 2 starts
    last = EscalationState(1, "default", 2, 1, at(2025, 3, 10, 16))
    d = decide_escalation(alert(fired), last, [POLICY], CAL, at(2025, 3, 10, 16, 1))
    assert d.step is None and d.state is not None and d.state.stop_reason == "exhausted"


@pytest.mark.parametrize(("a", "reason"), [(alert(at(2025, 3, 10, 9), acked=True), "acknowledged"),
                                           (alert(at(2025, 3, 10, 9), firing=False), "resolved")])  # fmt: skip
def test_stops_on_ack_or_resolution(a: EscalationAlert, reason: str) -> None:
    s0 = EscalationState(1, "default", 0, 0, at(2025, 3, 10, 9, 30))
    d = decide_escalation(a, s0, [POLICY], CAL, at(2025, 3, 10, 12))
    assert d.step is None and d.state is not None
    assert (d.state.stopped_at, d.state.stop_reason) == (at(2025, 3, 10, 12), reason)
    stopped = decide_escalation(alert(at(2025, 3, 10, 9)), d.state, [POLICY], CAL, at(2025, 3, 11, 12))
    assert stopped.state is None and stopped.step is None


def test_acknowledged_or_muted_alert_never_enters_a_chain() -> None:
    fired = at(2025, 3, 10, 9)
    assert step_at(None, alert(fired, acked=True), at(2025, 3, 11, 9)) is None
    assert step_at(None, alert(fired, muted=True), at(2025, 3, 11, 9)) is None


PEOPLE = [
    person(1, "operator", {"communes": ["00004"]}, email="xa@example.vn"),
    person(2, "operator", {"provinces": ["01"]}, email="tinh@example.vn"),
    person(3, "leader", {"provinces": ["01"]}, email="lanhdao@example.vn"),
    person(4, "operator", {"provinces": ["79"]}, email="khac@example.vn"),
    person(5, "operator", {"national": True}, email="tw@example.vn"),
    person(6, "operator", {"communes": ["00008"]}, email="xakhac@example.vn"),
]


@pytest.mark.parametrize(("step", "who"), [(0, {1}), (1, {2}), (2, {3})])
def test_recipients_by_level(step: int, who: set[int]) -> None:
    assert {p.id for p in step_recipients(STEPS[step], PEOPLE, LABELS)} == who


def test_planner_records_the_step() -> None:
    a = record(1, "fa", fired_at=at(2025, 3, 14, 16, 50))
    inp = PlannerInput(alerts=[a], escalation_policies=[POLICY], people={p.id: p for p in PEOPLE})
    assert not plan(inp, at(2025, 3, 17, 8, 19), CAL).escalations
    p = plan(inp, at(2025, 3, 17, 8, 20), CAL)
    assert [(d.address, d.notification.kind.value) for d in p.deliveries] == [("xa@example.vn", "escalation")]
    [act] = p.activities
    assert act.kind == "escalate" and act.data["recipients"] == ["user1"]
    [st] = p.escalations
    assert (st.step, st.round, st.notified_at) == (0, 0, at(2025, 3, 17, 8, 20))
