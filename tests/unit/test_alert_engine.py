"""The alert state machine, driven with an explicit ``now`` and a tiny in-memory "database"."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import EngineInputError, evaluate
from alerts.model import (
    AlertState,
    Evaluation,
    Labels,
    OpenAlert,
    Severity,
    Signal,
    Transition,
    fingerprint,
)
from alerts.rules import OnTimeRateRule, OnTimeWindow, on_time_rate_signals, rule_hold

T0 = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
HOLD = timedelta(minutes=15)
NO_HOLD = timedelta(0)
RULE = "test_rule"

PENDING, FIRING, RESOLVED = AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED


def make_signal(
    commune: str = "00001",
    value: float = 3.0,
    severity: Severity = Severity.WARNING,
    rule_id: str = RULE,
) -> Signal:
    labels = Labels.of(rule=rule_id, province_code="01", commune_code=commune, severity=severity.value)
    return Signal(
        rule_id=rule_id,
        fingerprint=fingerprint(rule_id, labels),
        labels=labels,
        severity=severity,
        value=value,
        summary_vi=f"{value:g} hồ sơ",
        summary_en=f"{value:g} dossiers",
        details={"sample_codes": ("H01",)},
    )


def make_alert(
    state: AlertState,
    active_since: datetime,
    signal: Signal | None = None,
    alert_id: int = 7,
    version: int = 3,
) -> OpenAlert:
    s = signal or make_signal()
    return OpenAlert(
        id=alert_id,
        rule_id=s.rule_id,
        fingerprint=s.fingerprint,
        labels=s.labels,
        severity=s.severity,
        state=state,
        value=s.value,
        active_since=active_since,
        fired_at=active_since if state is FIRING else None,
        version=version,
        summary_vi=s.summary_vi,
        summary_en=s.summary_en,
    )


# --------------------------------------------------------------------------- one step, one fingerprint


@pytest.mark.parametrize(
    ("case", "hold", "now", "alert", "signal_present", "expected"),
    [
        ("new signal, no hold: fires at once", NO_HOLD, T0, None, True, (None, FIRING)),
        ("new signal with hold: pending", HOLD, T0, None, True, (None, PENDING)),
        ("pending before hold: no change", HOLD, T0 + timedelta(minutes=14), (PENDING, T0), True, None),
        ("pending exactly at hold: fires", HOLD, T0 + HOLD, (PENDING, T0), True, (PENDING, FIRING)),
        ("pending after hold: fires", HOLD, T0 + timedelta(hours=1), (PENDING, T0), True, (PENDING, FIRING)),
        (
            "pending clears before hold: resolved",
            HOLD,
            T0 + timedelta(minutes=5),
            (PENDING, T0),
            False,
            (PENDING, RESOLVED),
        ),
        (
            "firing clears: resolved",
            NO_HOLD,
            T0 + timedelta(minutes=1),
            (FIRING, T0),
            False,
            (FIRING, RESOLVED),
        ),
        (
            "firing, still active, unchanged: nothing",
            NO_HOLD,
            T0 + timedelta(minutes=1),
            (FIRING, T0),
            True,
            None,
        ),
        ("nothing open, nothing active: nothing", HOLD, T0, None, False, None),
    ],
)
def test_single_fingerprint_transitions(
    case: str,
    hold: timedelta,
    now: datetime,
    alert: tuple[AlertState, datetime] | None,
    signal_present: bool,
    expected: tuple[AlertState | None, AlertState] | None,
) -> None:
    signal = make_signal()
    open_alerts = [make_alert(alert[0], alert[1], signal)] if alert else []
    result = evaluate(now, RULE, hold, [signal] if signal_present else [], open_alerts)

    assert result.updates == (), case
    if expected is None:
        assert result.transitions == (), case
        return
    (t,) = result.transitions
    assert (t.from_state, t.to_state) == expected, case
    assert t.at == now
    assert t.fingerprint == signal.fingerprint
    if alert is None:
        assert (t.alert_id, t.expected_version) == (None, None)
    else:
        assert (t.alert_id, t.expected_version) == (7, 3)
    assert (t.signal is None) == (t.to_state is RESOLVED)


@pytest.mark.parametrize(
    ("case", "state", "signal", "want_update"),
    [
        ("count grows while firing", FIRING, make_signal(value=5.0), True),
        ("severity escalates while firing", FIRING, make_signal(severity=Severity.CRITICAL), True),
        ("count changes while pending", PENDING, make_signal(value=4.0), True),
        ("same value and summaries", FIRING, make_signal(), False),
    ],
)
def test_updates_without_state_change(case: str, state: AlertState, signal: Signal, want_update: bool) -> None:
    alert = make_alert(state, T0, make_signal())
    result = evaluate(T0 + timedelta(minutes=1), RULE, HOLD, [signal], [alert])

    assert result.transitions == (), case
    if want_update:
        (u,) = result.updates
        assert (u.alert_id, u.expected_version, u.fingerprint) == (alert.id, alert.version, alert.fingerprint)
        assert u.signal == signal
    else:
        assert result.updates == (), case


def test_severity_is_not_part_of_the_identity() -> None:
    assert make_signal(severity=Severity.WARNING).fingerprint == make_signal(severity=Severity.CRITICAL).fingerprint


def test_output_is_sorted_by_fingerprint_and_ignores_other_rules() -> None:
    signals = [make_signal(commune=f"{i:05d}") for i in range(12)]
    stale = make_alert(FIRING, T0, make_signal(commune="99999"), alert_id=1)
    other_rule = make_alert(FIRING, T0, make_signal(commune="00001", rule_id="other"), alert_id=2)

    result = evaluate(T0, RULE, NO_HOLD, list(reversed(signals)), [other_rule, stale])

    fps = [t.fingerprint for t in result.transitions]
    assert fps == sorted(fps)
    assert len(fps) == 13
    assert {t.alert_id for t in result.transitions} == {None, 1}
    assert evaluate(T0, RULE, NO_HOLD, signals, [stale, other_rule]) == result


@pytest.mark.parametrize(
    ("case", "call"),
    [
        ("naive now", lambda: evaluate(T0.replace(tzinfo=None), RULE, HOLD, [], [])),
        ("negative hold", lambda: evaluate(T0, RULE, -HOLD, [], [])),
        ("duplicate signal", lambda: evaluate(T0, RULE, HOLD, [make_signal(), make_signal()], [])),
        ("signal of another rule", lambda: evaluate(T0, RULE, HOLD, [make_signal(rule_id="x")], [])),
        (
            "two open alerts, one fingerprint",
            lambda: evaluate(T0, RULE, HOLD, [], [make_alert(FIRING, T0, alert_id=1), make_alert(FIRING, T0)]),
        ),
    ],
)
def test_bad_input_is_rejected(case: str, call: object) -> None:
    with pytest.raises(EngineInputError):
        call()  # type: ignore[operator]


# --------------------------------------------------------------------------- timelines through a fake store


@dataclass
class FakeStore:
    """Applies transitions like the shell does (compare-and-set on version), in memory."""

    alerts: dict[str, OpenAlert]
    history: list[tuple[str, AlertState | None, AlertState]]
    next_id: int = 1

    def apply(self, ev: Evaluation) -> None:
        for t in ev.transitions:
            self.history.append((t.fingerprint, t.from_state, t.to_state))
            self._apply_transition(t)
        for u in ev.updates:
            a = self.alerts[u.fingerprint]
            assert a.version == u.expected_version
            self.alerts[u.fingerprint] = replace(
                a,
                value=u.signal.value,
                severity=u.signal.severity,
                version=a.version + 1,
                summary_vi=u.signal.summary_vi,
                summary_en=u.signal.summary_en,
            )

    def _apply_transition(self, t: Transition) -> None:
        if t.alert_id is None:
            assert t.signal is not None and t.fingerprint not in self.alerts
            s = t.signal
            self.alerts[t.fingerprint] = OpenAlert(
                id=self.next_id,
                rule_id=s.rule_id,
                fingerprint=s.fingerprint,
                labels=s.labels,
                severity=s.severity,
                state=t.to_state,
                value=s.value,
                active_since=t.at,
                fired_at=t.at if t.to_state is FIRING else None,
                version=1,
                summary_vi=s.summary_vi,
                summary_en=s.summary_en,
            )
            self.next_id += 1
            return
        a = self.alerts[t.fingerprint]
        assert (a.id, a.version, a.state) == (t.alert_id, t.expected_version, t.from_state)
        if t.to_state is RESOLVED:
            del self.alerts[t.fingerprint]
        else:
            self.alerts[t.fingerprint] = replace(a, state=t.to_state, fired_at=t.at, version=a.version + 1)

    def state(self) -> AlertState | None:
        return next(iter(self.alerts.values())).state if self.alerts else None


def windows(on_time: int, resolved: int = 100) -> list[OnTimeWindow]:
    return [OnTimeWindow("01", "Thành phố Hà Nội", resolved=resolved, resolved_on_time=on_time)]


@pytest.mark.parametrize(
    ("case", "steps", "expected_history"),
    [
        (
            "below target: pending, held, firing, resolved on recovery",
            [(0, 85, PENDING), (10, 85, PENDING), (15, 84, FIRING), (30, 80, FIRING), (45, 95, None)],
            [(None, PENDING), (PENDING, FIRING), (FIRING, RESOLVED)],
        ),
        (
            "dip that clears before the hold never fires",
            [(0, 85, PENDING), (10, 92, None), (20, 92, None)],
            [(None, PENDING), (PENDING, RESOLVED)],
        ),
        (
            "exactly at target never fires",
            [(0, 90, None), (30, 90, None)],
            [],
        ),
        (
            "a new dip after recovery holds again from its own start",
            [(0, 85, PENDING), (5, 95, None), (10, 85, PENDING), (20, 85, PENDING), (25, 85, FIRING)],
            [(None, PENDING), (PENDING, RESOLVED), (None, PENDING), (PENDING, FIRING)],
        ),
    ],
)
def test_on_time_rate_timeline(
    case: str,
    steps: list[tuple[int, int, AlertState | None]],
    expected_history: list[tuple[AlertState | None, AlertState]],
) -> None:
    rule = OnTimeRateRule()
    store = FakeStore(alerts={}, history=[])
    for minute, on_time, want_state in steps:
        now = T0 + timedelta(minutes=minute)
        signals = on_time_rate_signals(rule, windows(on_time))
        store.apply(evaluate(now, rule.id, rule_hold(rule), signals, list(store.alerts.values())))
        assert store.state() == want_state, f"{case} at +{minute} min"
    assert [(f, t) for _, f, t in store.history] == expected_history, case


def test_firing_alert_value_refreshed_in_place() -> None:
    rule = OnTimeRateRule(hold=NO_HOLD)
    store = FakeStore(alerts={}, history=[])
    for minute, on_time in [(0, 85), (1, 85), (2, 80)]:
        signals = on_time_rate_signals(rule, windows(on_time))
        now = T0 + timedelta(minutes=minute)
        store.apply(evaluate(now, rule.id, rule_hold(rule), signals, list(store.alerts.values())))
    (alert,) = store.alerts.values()
    assert alert.value == pytest.approx(0.80)
    assert "80 %" in alert.summary_vi
    assert alert.version == 2  # created, then one refresh (the unchanged minute wrote nothing)
    assert [t for _, _, t in store.history] == [FIRING]
