"""The alert state machine: signals found now + alerts open in the database → what to write.

Pure: ``now`` is an argument, nothing is read or written here. The shell loads the open alerts of
one rule, calls ``evaluate`` and applies each transition with compare-and-set on the alert's
version, so two engine replicas racing on the same alert cannot both win.

Per fingerprint (Prometheus semantics, hold = the rule's ``for``):

=============  ==========  =========================================================
open alert     signal      outcome
=============  ==========  =========================================================
none           present     → firing when hold is 0, else → pending (new alert)
pending        present     → firing once ``active_since + hold <= now``, else refresh
firing         present     refresh value / severity / summaries if they changed
pending        absent      → resolved (never fired)
firing         absent      → resolved
=============  ==========  =========================================================

Keep-firing-for and flap damping are not implemented; both would be extra fields on ``Policy``
and extra branches in ``step`` (which sees the alert, the signal and ``now``), nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.model import AlertState, AlertUpdate, Evaluation, OpenAlert, Signal, Transition

__all__ = ["EngineInputError", "Policy", "evaluate", "step"]

_ZERO = timedelta(0)


class EngineInputError(ValueError):
    """Inputs that break the engine's assumptions (naive ``now``, duplicate fingerprints...)."""


@dataclass(frozen=True)
class Policy:
    """How one rule's alerts move between states; the place for keep-firing / flap damping."""

    hold: timedelta = _ZERO

    def __post_init__(self) -> None:
        if self.hold < _ZERO:
            raise EngineInputError(f"hold phải >= 0 / hold must be >= 0: {self.hold}")


Outcome = Transition | AlertUpdate | None


def evaluate(
    now: datetime,
    rule_id: str,
    hold: timedelta,
    signals: Sequence[Signal],
    open_alerts: Sequence[OpenAlert],
) -> Evaluation:
    """Transitions and in-place updates for one rule at ``now``, each sorted by fingerprint.

    Open alerts of other rules are ignored, so the shell may pass all open alerts at once.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise EngineInputError(f"now phải có múi giờ / now must be timezone-aware: {now!r}")
    policy = Policy(hold=hold)
    active = _index_signals(rule_id, signals)
    existing = _index_alerts(rule_id, open_alerts)

    transitions: list[Transition] = []
    updates: list[AlertUpdate] = []
    for fp in sorted(active.keys() | existing.keys()):
        outcome = step(now, policy, active.get(fp), existing.get(fp))
        if isinstance(outcome, Transition):
            transitions.append(outcome)
        elif isinstance(outcome, AlertUpdate):
            updates.append(outcome)
    return Evaluation(transitions=tuple(transitions), updates=tuple(updates))


def step(now: datetime, policy: Policy, signal: Signal | None, alert: OpenAlert | None) -> Outcome:
    """The decision for a single fingerprint; see the table in the module docstring."""
    if alert is None:
        if signal is None:
            return None
        return _open(now, policy, signal)
    if signal is None:
        return _transition(now, alert, AlertState.RESOLVED, None)
    if alert.state is AlertState.PENDING and alert.active_since + policy.hold <= now:
        return _transition(now, alert, AlertState.FIRING, signal)
    if _changed(alert, signal):
        return AlertUpdate(
            fingerprint=alert.fingerprint, alert_id=alert.id, expected_version=alert.version, signal=signal
        )
    return None


def _open(now: datetime, policy: Policy, signal: Signal) -> Transition:
    to_state = AlertState.FIRING if policy.hold == _ZERO else AlertState.PENDING
    return Transition(
        fingerprint=signal.fingerprint,
        alert_id=None,
        from_state=None,
        to_state=to_state,
        at=now,
        signal=signal,
        expected_version=None,
    )


def _transition(now: datetime, alert: OpenAlert, to_state: AlertState, signal: Signal | None) -> Transition:
    return Transition(
        fingerprint=alert.fingerprint,
        alert_id=alert.id,
        from_state=alert.state,
        to_state=to_state,
        at=now,
        signal=signal,
        expected_version=alert.version,
    )


def _changed(alert: OpenAlert, signal: Signal) -> bool:
    # Details (sample codes) are deliberately not compared: the open alert does not carry them,
    # and refreshing on every reshuffle of a sample would flood the feed with no news.
    return (
        alert.value != signal.value
        or alert.severity is not signal.severity
        or alert.summary_vi != signal.summary_vi
        or alert.summary_en != signal.summary_en
    )


def _index_signals(rule_id: str, signals: Sequence[Signal]) -> dict[str, Signal]:
    index: dict[str, Signal] = {}
    for signal in signals:
        if signal.rule_id != rule_id:
            raise EngineInputError(
                f"Tín hiệu của luật khác / signal of rule {signal.rule_id!r} passed for rule {rule_id!r}"
            )
        if signal.fingerprint in index:
            raise EngineInputError(f"Tín hiệu trùng dấu vân tay / duplicate signal {signal.fingerprint}")
        index[signal.fingerprint] = signal
    return index


def _index_alerts(rule_id: str, open_alerts: Sequence[OpenAlert]) -> dict[str, OpenAlert]:
    index: dict[str, OpenAlert] = {}
    for alert in open_alerts:
        if alert.rule_id != rule_id:
            continue
        if alert.fingerprint in index:
            # The database keeps one open alert per fingerprint (unique partial index); two means
            # the invariant is broken and guessing which one to move would hide it.
            raise EngineInputError(f"Hai cảnh báo mở trùng nhau / two open alerts for {alert.fingerprint}")
        index[alert.fingerprint] = alert
    return index
