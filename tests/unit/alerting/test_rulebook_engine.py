"""Keep-firing and flap damping in the pure engine, table-driven with an explicit `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.engine import Policy, evaluate, is_flapping
from alerts.model import AlertMark, AlertState, AlertUpdate, FlapHistory, OpenAlert, Severity, Signal, Transition

T0 = datetime(2026, 9, 7, 2, 0, tzinfo=UTC)
KEEP = Policy(keep_firing_for=timedelta(minutes=10))
FLAP = Policy(flap_window=timedelta(hours=1), flap_max_changes=4)


def signal() -> Signal:
    return Signal.for_labels("r", Severity.WARNING, 1.0, summary_vi="vi", summary_en="en", details={},
                             province_code="01")  # fmt: skip


def firing(lost: datetime | None = None, flapping: bool = False) -> OpenAlert:
    s = signal()
    return OpenAlert(1, "r", s.fingerprint, s.labels, s.severity, AlertState.FIRING, s.value, T0, T0, 3, "vi", "en",
                     flapping=flapping, signal_lost_at=lost)  # fmt: skip


def test_keep_firing_table() -> None:
    cases = [
        # (alert, signal present, now, expected outcome type, detail)
        (firing(), False, T0 + timedelta(minutes=1), AlertMark, T0 + timedelta(minutes=1)),
        (firing(lost=T0), False, T0 + timedelta(minutes=9), None, None),
        (firing(lost=T0), False, T0 + timedelta(minutes=10), Transition, AlertState.RESOLVED),
        (firing(lost=T0), True, T0 + timedelta(minutes=5), AlertUpdate, None),  # back: clears signal_lost_at
        (firing(), True, T0 + timedelta(minutes=5), None, None),
    ]
    for alert, present, now, kind, detail in cases:
        result = evaluate(now, "r", KEEP, [signal()] if present else [], [alert])
        outcomes = [*result.transitions, *result.updates, *result.marks]
        if kind is None:
            assert outcomes == [], (alert, now)
            continue
        (outcome,) = outcomes
        assert isinstance(outcome, kind)
        if isinstance(outcome, AlertMark):
            assert outcome.signal_lost_at == detail
        if isinstance(outcome, Transition):
            assert outcome.to_state is detail


def test_without_keep_firing_an_absent_signal_resolves_at_once() -> None:
    (t,) = evaluate(T0, "r", Policy(), [], [firing()]).transitions
    assert t.to_state is AlertState.RESOLVED


def test_flapping_hysteresis_table() -> None:
    # (was flapping, changes in window) → flapping
    table = [(False, 4, False), (False, 5, True), (True, 3, True), (True, 2, False), (True, 5, True), (False, 0, False)]
    for was, changes, expected in table:
        assert is_flapping(FLAP, was, changes) is expected, (was, changes)
    assert is_flapping(Policy(), True, 99) is False  # damping off: never flapping


def test_a_series_that_keeps_coming_back_opens_flapping() -> None:
    s = signal()
    (t,) = evaluate(T0, "r", FLAP, [s], [], {s.fingerprint: FlapHistory(changes=4)}).transitions
    assert t.to_state is AlertState.FIRING and t.flapping  # 4 earlier changes + this one > 4
    (t,) = evaluate(T0, "r", FLAP, [s], [], {s.fingerprint: FlapHistory(changes=3)}).transitions
    assert not t.flapping


def test_flapping_clears_once_the_window_calms_down() -> None:
    s = signal()
    result = evaluate(T0, "r", FLAP, [s], [firing(flapping=True)], {s.fingerprint: FlapHistory(2, True)})
    (u,) = result.updates
    assert u.flapping is False
    result = evaluate(T0, "r", FLAP, [s], [firing(flapping=True)], {s.fingerprint: FlapHistory(3, True)})
    assert result.updates == () and result.marks == ()


def test_resolution_of_a_flapping_series_stays_flapping() -> None:
    s = signal()
    (t,) = evaluate(T0, "r", FLAP, [], [firing(flapping=True)], {s.fingerprint: FlapHistory(5, True)}).transitions
    assert t.to_state is AlertState.RESOLVED and t.flapping
