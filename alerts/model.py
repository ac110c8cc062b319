"""Values exchanged between the alert rules, the state machine and the I/O shell.

Pure data: frozen dataclasses and string enums, no behaviour beyond validation and small helpers.
The alert lifecycle follows Prometheus: ``pending`` (condition true, waiting out the rule's hold)
→ ``firing`` → ``resolved`` (condition cleared). A rule whose hold is zero goes straight to firing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "FINGERPRINT_IGNORED_LABELS",
    "AlertMark",
    "AlertState",
    "AlertUpdate",
    "Evaluation",
    "FlapHistory",
    "Labels",
    "OpenAlert",
    "Severity",
    "Signal",
    "Transition",
    "fingerprint",
]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


# Severity may change while an alert stays open (its count grows, a threshold escalates); keeping
# it out of the identity lets that be an in-place update instead of resolve-and-recreate. The same
# for ``sector``: an agency's alert carries it while all its dossiers are in one sector
# (alerts/rules.py), and a dossier of a second sector must not make it a different alert.
FINGERPRINT_IGNORED_LABELS: frozenset[str] = frozenset({"severity", "sector"})


@dataclass(frozen=True)
class Labels(Mapping[str, str]):
    """An immutable, hashable label set kept as sorted ``(key, value)`` pairs.

    Build it with ``Labels.of(...)``; keys whose value is ``None`` are dropped, so a provincial
    agency without a commune simply has no ``commune_code`` label.
    """

    pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.pairs))
        keys = [k for k, _ in ordered]
        if len(set(keys)) != len(keys):
            raise ValueError(f"Nhãn bị trùng khóa / duplicate label keys: {keys}")
        object.__setattr__(self, "pairs", ordered)
        # A lookup index beside the pairs (not a field: equality and hash stay on the pairs). The
        # engine reads labels of every alert every round; a linear scan per key made it quadratic
        # in the labels of each set.
        object.__setattr__(self, "_index", dict(ordered))

    @classmethod
    def of(cls, values: Mapping[str, str | None] | None = None, **kwargs: str | None) -> Labels:
        merged: dict[str, str | None] = {**(values or {}), **kwargs}
        return cls(tuple((k, v) for k, v in merged.items() if v is not None))

    def __getitem__(self, key: str) -> str:
        index: dict[str, str] = self.__dict__["_index"]
        return index[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__["_index"]


def fingerprint(rule_id: str, labels: Mapping[str, str]) -> str:
    """Stable identity of one alert series: sha1 of canonical JSON, first 16 hex digits.

    Independent of label order and of ``FINGERPRINT_IGNORED_LABELS``; the shell stores it with a
    unique index over open alerts, so it must never change for the same rule and labels.
    """
    identity = sorted((k, v) for k, v in labels.items() if k not in FINGERPRINT_IGNORED_LABELS)
    canonical = json.dumps(
        {"rule": rule_id, "labels": identity}, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]


def _frozen_details(details: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(details))


@dataclass(frozen=True)
class Signal:
    """One condition a rule finds active right now (one alert series, not yet matched to the DB).

    ``details`` holds JSON-ready values only (str, int, float, bool, None, tuples/lists of them),
    e.g. a sample of dossier codes, so the shell can write it to the outbox as is.
    """

    rule_id: str
    fingerprint: str
    labels: Labels
    severity: Severity
    value: float
    summary_vi: str
    summary_en: str
    details: Mapping[str, object] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _frozen_details(self.details))

    @classmethod
    def for_labels(
        cls,
        rule_id: str,
        severity: Severity,
        value: float,
        *,
        summary_vi: str,
        summary_en: str,
        details: Mapping[str, object],
        **labels: str | None,
    ) -> Signal:
        """A signal whose labels are `labels` plus its rule and severity, fingerprinted from them."""
        label_set = Labels.of(labels, rule=rule_id, severity=severity.value)
        return cls(
            rule_id=rule_id, fingerprint=fingerprint(rule_id, label_set), labels=label_set, severity=severity,
            value=value, summary_vi=summary_vi, summary_en=summary_en, details=details,
        )  # fmt: skip


@dataclass(frozen=True)
class OpenAlert:
    """A not-yet-resolved alert as the database holds it; ``version`` guards compare-and-set."""

    id: int
    rule_id: str
    fingerprint: str
    labels: Labels
    severity: Severity
    state: AlertState
    value: float
    active_since: datetime
    fired_at: datetime | None
    version: int
    summary_vi: str
    summary_en: str
    # Flap damping and keep-firing (additive; the defaults are an alert with neither going on).
    flapping: bool = False
    signal_lost_at: datetime | None = None  # when the signal of a firing alert kept firing went away

    def __post_init__(self) -> None:
        if self.state is AlertState.RESOLVED:
            raise ValueError(f"Cảnh báo mở không thể đã kết thúc / open alert {self.id} is resolved")
        if self.state is AlertState.FIRING and self.fired_at is None:
            raise ValueError(f"Cảnh báo firing thiếu fired_at / firing alert {self.id} has no fired_at")


@dataclass(frozen=True)
class Transition:
    """A state change the shell applies with compare-and-set on ``expected_version``.

    ``alert_id is None`` (with ``from_state`` and ``expected_version`` None) means: insert a new
    alert whose ``active_since`` is ``at``. ``signal`` is None only for a resolution.
    """

    fingerprint: str
    alert_id: int | None
    from_state: AlertState | None
    to_state: AlertState
    at: datetime
    signal: Signal | None
    expected_version: int | None
    flapping: bool = False  # the alert's flapping flag after this change (written with it)


@dataclass(frozen=True)
class AlertUpdate:
    """Refresh value, severity and summaries of an open alert without changing its state."""

    fingerprint: str
    alert_id: int
    expected_version: int
    signal: Signal
    flapping: bool = False  # written with the update; the signal being back clears signal_lost_at


@dataclass(frozen=True)
class AlertMark:
    """Bookkeeping on an open alert without a new signal: keep-firing started, flapping changed."""

    fingerprint: str
    alert_id: int
    expected_version: int
    flapping: bool
    signal_lost_at: datetime | None


@dataclass(frozen=True)
class FlapHistory:
    """A series' recent past, for flap damping: state changes (to firing or resolved) within the
    rule's flap window, and whether its latest episode was flapping."""

    changes: int = 0
    flapping: bool = False


@dataclass(frozen=True)
class Evaluation:
    """Everything one evaluation of one rule asks the shell to write, sorted by fingerprint."""

    transitions: tuple[Transition, ...] = ()
    updates: tuple[AlertUpdate, ...] = ()
    marks: tuple[AlertMark, ...] = ()
