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
firing         absent      → resolved; with ``keep_firing_for``: stays firing (marked with
                           ``signal_lost_at = now``) until ``keep_firing_for`` has passed
                           without the signal, then → resolved. A signal back in time clears it.
=============  ==========  =========================================================

Flap damping (``Policy.flap_window`` / ``flap_max_changes``): a series whose state changed (to
firing or to resolved, this change included) more than ``flap_max_changes`` times within
``flap_window`` is flapping; it stays flapping until its changes in the window fall to half of
that or fewer (hysteresis, so it does not flap in and out of "flapping"). The flag is written on
the alert row (``alert.flapping``); the notification planner holds a flapping alert's messages.
The shell counts the changes (``FlapHistory``) and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.model import (
    AlertMark,
    AlertState,
    AlertUpdate,
    Evaluation,
    FlapHistory,
    Labels,
    OpenAlert,
    Severity,
    Signal,
    Transition,
    fingerprint,
)

__all__ = [
    "DEFAULT_MAX_NEW_ALERTS",
    "GUARD_LABEL",
    "EngineInputError",
    "Guarded",
    "Policy",
    "evaluate",
    "guard_cardinality",
    "is_flapping",
    "step",
]

_ZERO = timedelta(0)
_NO_HISTORY = FlapHistory()
# The most alerts one rule may open in one round unless the rule sets its own limit. Above it the
# rule opens one summary alert instead (Grafana's "too many series"): a few hundred alerts is the
# most a desk can triage, and a flood that large means the rule is scoped wrong, not that
# thousands of people must be paged.
DEFAULT_MAX_NEW_ALERTS = 500
GUARD_LABEL = "guard"
GUARD_VALUE = "too_many_series"
GUARD_SAMPLE = 10
# Labels that tell one series of a rule from another: not carried by the guard's summary.
_SERIES_LABELS = frozenset({"province_code", "commune_code", "agency_code", "sector", "phase"})


class EngineInputError(ValueError):
    """Inputs that break the engine's assumptions (naive ``now``, duplicate fingerprints...)."""


@dataclass(frozen=True)
class Policy:
    """How one rule's alerts move between states."""

    hold: timedelta = _ZERO
    keep_firing_for: timedelta = _ZERO
    flap_window: timedelta = _ZERO  # zero: no flap damping
    flap_max_changes: int = 4

    def __post_init__(self) -> None:
        if self.hold < _ZERO:
            raise EngineInputError(f"hold phải >= 0 / hold must be >= 0: {self.hold}")
        if self.keep_firing_for < _ZERO:
            raise EngineInputError(f"keep_firing_for phải >= 0 / must be >= 0: {self.keep_firing_for}")
        if self.flap_window < _ZERO or self.flap_max_changes < 1:
            raise EngineInputError("flap damping: window >= 0, max_changes >= 1")

    @property
    def damps_flapping(self) -> bool:
        return self.flap_window > _ZERO


Outcome = Transition | AlertUpdate | AlertMark | None


def is_flapping(policy: Policy, was_flapping: bool, changes: int) -> bool:
    """Set above ``flap_max_changes`` changes in the window; cleared at half of that or fewer."""
    if not policy.damps_flapping:
        return False
    if changes > policy.flap_max_changes:
        return True
    return was_flapping and changes > policy.flap_max_changes // 2


def evaluate(
    now: datetime,
    rule_id: str,
    hold: timedelta | Policy,
    signals: Sequence[Signal],
    open_alerts: Sequence[OpenAlert],
    history: Mapping[str, FlapHistory] | None = None,
) -> Evaluation:
    """Transitions, in-place updates and marks for one rule at ``now``, each sorted by fingerprint.

    ``hold`` is the rule's ``for`` or its whole Policy. ``history`` (fingerprint → FlapHistory) is
    needed only for flap damping. Open alerts of other rules are ignored, so the shell may pass
    all open alerts at once.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise EngineInputError(f"now phải có múi giờ / now must be timezone-aware: {now!r}")
    policy = hold if isinstance(hold, Policy) else Policy(hold=hold)
    active = _index_signals(rule_id, signals)
    existing = _index_alerts(rule_id, open_alerts)
    past = history or {}

    transitions: list[Transition] = []
    updates: list[AlertUpdate] = []
    marks: list[AlertMark] = []
    for fp in sorted(active.keys() | existing.keys()):
        outcome = step(now, policy, active.get(fp), existing.get(fp), past.get(fp, _NO_HISTORY))
        if isinstance(outcome, Transition):
            transitions.append(outcome)
        elif isinstance(outcome, AlertUpdate):
            updates.append(outcome)
        elif isinstance(outcome, AlertMark):
            marks.append(outcome)
    return Evaluation(transitions=tuple(transitions), updates=tuple(updates), marks=tuple(marks))


def step(
    now: datetime,
    policy: Policy,
    signal: Signal | None,
    alert: OpenAlert | None,
    history: FlapHistory = _NO_HISTORY,
) -> Outcome:
    """The decision for a single fingerprint; see the table in the module docstring."""
    was = alert.flapping if alert is not None else history.flapping
    if alert is None:
        if signal is None:
            return None
        to_state = AlertState.FIRING if policy.hold == _ZERO else AlertState.PENDING
        counted = 1 if to_state is AlertState.FIRING else 0
        flapping = is_flapping(policy, was, history.changes + counted)
        return Transition(signal.fingerprint, None, None, to_state, now, signal, None, flapping)
    if signal is None:
        if alert.state is AlertState.FIRING and policy.keep_firing_for > _ZERO:
            lost = alert.signal_lost_at or now
            if now - lost < policy.keep_firing_for:
                flapping = is_flapping(policy, was, history.changes)
                if alert.signal_lost_at is None or flapping != alert.flapping:
                    return AlertMark(alert.fingerprint, alert.id, alert.version, flapping, lost)
                return None
        return _transition(now, alert, AlertState.RESOLVED, None, is_flapping(policy, was, history.changes + 1))
    if alert.state is AlertState.PENDING and alert.active_since + policy.hold <= now:
        return _transition(now, alert, AlertState.FIRING, signal, is_flapping(policy, was, history.changes + 1))
    flapping = is_flapping(policy, was, history.changes)
    if _changed(alert, signal) or alert.signal_lost_at is not None or flapping != alert.flapping:
        return AlertUpdate(alert.fingerprint, alert.id, alert.version, signal, flapping)
    return None


def _transition(
    now: datetime, alert: OpenAlert, to_state: AlertState, signal: Signal | None, flapping: bool
) -> Transition:
    return Transition(
        fingerprint=alert.fingerprint,
        alert_id=alert.id,
        from_state=alert.state,
        to_state=to_state,
        at=now,
        signal=signal,
        expected_version=alert.version,
        flapping=flapping,
    )


def _changed(alert: OpenAlert, signal: Signal) -> bool:
    # Details (sample codes) are deliberately not compared: the open alert does not carry them,
    # and refreshing on every reshuffle of a sample would flood the feed with no news.
    return (
        alert.value != signal.value
        or alert.labels != signal.labels  # e.g. an agency's single sector label comes or goes
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


@dataclass(frozen=True)
class Guarded:
    """Signals after the cardinality guard: the ones to evaluate, and whether the guard tripped.

    ``would_open`` counts the signals with no open alert of the rule (each would open one).
    """

    signals: tuple[Signal, ...]
    would_open: int
    limit: int

    @property
    def tripped(self) -> bool:
        return self.would_open > self.limit


def guard_cardinality(rule_id: str, signals: Sequence[Signal], open_alerts: Sequence[OpenAlert], limit: int) -> Guarded:
    """Keep a rule from opening more than ``limit`` alerts in one round.

    Within the limit the signals pass unchanged. Above it only the signals of series already open
    pass (they keep updating and resolving as usual), and one summary signal — labels ``rule``,
    ``guard=too_many_series`` and the rule's own (kind, stream, extra labels; not the place of
    any one series) — takes the place of all the
    new ones, saying how many there would have been. The summary is an ordinary series of the
    rule: it opens while the guard trips and resolves once a round opens no more than the limit
    (then the individual alerts open). Linear in signals + open alerts.
    """
    if limit < 1:
        raise EngineInputError(f"giới hạn cảnh báo mới phải >= 1 / max_new_alerts must be >= 1: {limit}")
    open_fps = {a.fingerprint for a in open_alerts if a.rule_id == rule_id}
    new = [s for s in signals if s.fingerprint not in open_fps]
    if len(new) <= limit:
        return Guarded(tuple(signals), len(new), limit)
    kept = [s for s in signals if s.fingerprint in open_fps]
    first = new[0].labels
    # The rule's own labels (kind, stream, any a rule adds for routing) stay, so the summary is
    # routed like the alerts it stands for; the place of any one series does not.
    kept_labels = {k: v for k, v in first.items() if k not in _SERIES_LABELS}
    labels = Labels.of({**kept_labels, "rule": rule_id, "severity": Severity.WARNING.value, GUARD_LABEL: GUARD_VALUE})
    n = len(new)
    summary = Signal(
        rule_id=rule_id, fingerprint=fingerprint(rule_id, labels), labels=labels, severity=Severity.WARNING,
        value=float(n),
        summary_vi=f"Luật {rule_id}: quá nhiều cảnh báo — {_count_vi(n)} chuỗi mới trong một vòng, vượt giới "
        f"hạn {_count_vi(limit)}; không mở từng cảnh báo, cần xem lại phạm vi của luật",
        summary_en=f"Rule {rule_id}: too many series — {n:,} new in one round, above the limit of {limit:,}; "
        "individual alerts not opened, review the rule's scope",
        details={
            "would_open": n, "limit": limit,
            "sample": tuple(s.summary_vi for s in new[:GUARD_SAMPLE]),
        },
    )  # fmt: skip
    return Guarded((*kept, summary), n, limit)


def _count_vi(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # Vietnamese thousands separator
