"""Alert rules: their configuration and the pure step from observations to signals.

The shell runs the SQL and hands over *observations* (frozen rows, already grouped); each rule
turns them into ``Signal``s, one per alert series. Nothing here reads a clock or a database: the
only time-dependent questions (where "one working day ago" is) go through a calendar passed in.

Rules and their series:

* ``overdue`` — open dossiers past ``due_at``, one series per agency; fires at once.
* ``due_soon`` — open dossiers due within N working days, per agency, only from a threshold on.
* ``late_without_apology`` — late dossiers with no apology letter recorded N working days after
  they became late, per agency; fires at once. Missing the letter is a violation.

Per-dossier series exist at the level someone acts on (DESIGN.md): one per agency, or per commune
where the dossiers name no agency — never one per sector. The shell reads rows per (place,
agency, sector) and ``by_agency`` merges them; the sectors and their counts travel as data
(``details.sectors``). An agency whose dossiers are all in one sector also carries that ``sector``
label, so a person scoped to that sector (the strict rule of ioc/auth/scope.py) still sees it; an
agency mixing sectors carries none. The label is not part of the series' identity
(``FINGERPRINT_IGNORED_LABELS``), so a second sector arriving updates the alert in place.
* ``on_time_rate`` — per province, resolved early-or-on-time / resolved over a rolling window,
  below target; held for ``hold`` before firing so a brief dip does not page anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from alerts.model import Labels, Severity, Signal, fingerprint

__all__ = [
    "DISPLAY_TZ",
    "DueSoonGroup",
    "DueSoonRule",
    "MissingApologyGroup",
    "MissingApologyRule",
    "OnTimeRateRule",
    "OnTimeWindow",
    "OverdueGroup",
    "OverdueRule",
    "Rule",
    "RuleConfigError",
    "RuleInputError",
    "WorkingTime",
    "by_agency",
    "default_rules",
    "due_soon_horizon",
    "due_soon_signals",
    "format_count_vi",
    "format_date_en",
    "format_date_vi",
    "format_datetime_vi",
    "format_percent_en",
    "format_percent_vi",
    "missing_apology_cutoff",
    "missing_apology_signals",
    "on_time_rate_signals",
    "overdue_signals",
    "rule_hold",
]

DISPLAY_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Enough dossier codes for an operator to start from; the full list is one query away.
MAX_SAMPLE_CODES = 20
_ZERO = timedelta(0)
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class RuleConfigError(ValueError):
    """A rule configured with values that cannot mean anything (negative hold, target > 1...)."""


class RuleInputError(ValueError):
    """An observation the shell built wrongly (naive datetime, negative count...)."""


class WorkingTime(Protocol):
    """The slice of ``alerts.calendar.WorkingCalendar`` the rules need."""

    @property
    def seconds_per_working_day(self) -> int: ...

    def add_working_seconds(self, start: datetime, seconds: int) -> datetime: ...

    def subtract_working_seconds(self, end: datetime, seconds: int) -> datetime: ...


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class OverdueRule:
    id: str = "overdue"
    severity: Severity = Severity.CRITICAL


@dataclass(frozen=True)
class DueSoonRule:
    id: str = "due_soon"
    severity: Severity = Severity.WARNING
    within_working_days: int = 1

    def __post_init__(self) -> None:
        if self.within_working_days < 1:
            raise RuleConfigError(f"within_working_days phải >= 1: {self.within_working_days}")


@dataclass(frozen=True)
class MissingApologyRule:
    id: str = "late_without_apology"
    severity: Severity = Severity.WARNING
    after_working_days: int = 1

    def __post_init__(self) -> None:
        if self.after_working_days < 0:
            raise RuleConfigError(f"after_working_days phải >= 0: {self.after_working_days}")


@dataclass(frozen=True)
class OnTimeRateRule:
    id: str = "on_time_rate"
    target: float = 0.90
    window: timedelta = timedelta(days=7)
    hold: timedelta = timedelta(minutes=15)
    min_resolved: int = 20
    severity: Severity = Severity.WARNING

    def __post_init__(self) -> None:
        if not 0 < self.target <= 1:
            raise RuleConfigError(f"target phải trong (0, 1]: {self.target}")
        if self.window <= _ZERO:
            raise RuleConfigError(f"window phải > 0: {self.window}")
        if self.hold < _ZERO:
            raise RuleConfigError(f"hold phải >= 0: {self.hold}")
        if self.min_resolved < 1:
            raise RuleConfigError(f"min_resolved phải >= 1: {self.min_resolved}")


Rule = OverdueRule | DueSoonRule | MissingApologyRule | OnTimeRateRule


def default_rules() -> tuple[OverdueRule, DueSoonRule, MissingApologyRule, OnTimeRateRule]:
    return (OverdueRule(), DueSoonRule(), MissingApologyRule(), OnTimeRateRule())


def rule_hold(rule: Rule) -> timedelta:
    """How long a condition must stay true before it fires; per-dossier rules fire at once."""
    if isinstance(rule, OnTimeRateRule):
        return rule.hold
    return _ZERO


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class OverdueGroup:
    """Open dossiers past their due date, for one (locality, agency, sector)."""

    province_code: str
    commune_code: str | None
    agency_code: str | None
    agency_name: str | None
    locality_name: str
    overdue_count: int
    oldest_due_at: datetime
    sample_codes: tuple[str, ...] = ()
    sector: str | None = None  # lĩnh vực of the procedures; None when the dossiers have none
    # (sector, count) per sector of the series' dossiers, most first; set by ``by_agency``.
    sector_counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class DueSoonGroup:
    """Open dossiers not yet due but due before ``due_soon_horizon``, for one (locality, agency,
    sector)."""

    province_code: str
    commune_code: str | None
    agency_code: str | None
    agency_name: str | None
    locality_name: str
    due_soon_count: int
    earliest_due_at: datetime
    sample_codes: tuple[str, ...] = ()
    sector: str | None = None
    sector_counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class MissingApologyGroup:
    """Late dossiers, late since before ``missing_apology_cutoff``, with no apology recorded, for
    one (locality, agency, sector)."""

    province_code: str
    commune_code: str | None
    agency_code: str | None
    agency_name: str | None
    locality_name: str
    count: int
    oldest_late_since: datetime
    sample_codes: tuple[str, ...] = ()
    sector: str | None = None
    sector_counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class OnTimeWindow:
    """Dossiers resolved in the rule's window for one province; on time = early or on time."""

    province_code: str
    locality_name: str
    resolved: int
    resolved_on_time: int


# --------------------------------------------------------------------------- grouping to the agency

G = TypeVar("G", OverdueGroup, DueSoonGroup, MissingApologyGroup)
# Per group type: the count field and the time field (earliest wins when rows merge).
_COUNT_AND_TIME = {
    OverdueGroup: ("overdue_count", "oldest_due_at"),
    DueSoonGroup: ("due_soon_count", "earliest_due_at"),
    MissingApologyGroup: ("count", "oldest_late_since"),
}


def by_agency(rows: Iterable[G]) -> list[G]:
    """Rows per (place, agency, sector) merged into one group per agency — or per (province,
    commune) for dossiers with no agency — in first-seen order. Linear in the rows.

    The merged group counts every row's dossiers, takes the earliest time, lists the sectors with
    their counts (most first, then by name; dossiers without a sector are counted, not listed),
    keeps the ``sector`` of a group whose rows all share one, and samples codes from the rows in
    order of their times (each row's sample is already in time order), at most ``MAX_SAMPLE_CODES``.
    """
    buckets: dict[tuple[str, ...], list[G]] = {}
    for row in rows:
        key = ("a", row.agency_code) if row.agency_code else ("c", row.province_code, row.commune_code or "")
        buckets.setdefault(key, []).append(row)
    return [_merge(group) for group in buckets.values()]


def _merge(rows: list[G]) -> G:
    count_field, time_field = _COUNT_AND_TIME[type(rows[0])]
    ordered = sorted(rows, key=lambda r: getattr(r, time_field))
    first = ordered[0]
    per_sector: dict[str, int] = {}
    for r in rows:
        if r.sector:
            per_sector[r.sector] = per_sector.get(r.sector, 0) + getattr(r, count_field)
    sectors = {r.sector for r in rows}
    only = next(iter(sectors)) if len(sectors) == 1 else None
    sample: list[str] = []
    for r in ordered:
        sample.extend(r.sample_codes[: MAX_SAMPLE_CODES - len(sample)])
        if len(sample) >= MAX_SAMPLE_CODES:
            break
    changes: dict[str, object] = {
        count_field: sum(_count(getattr(r, count_field)) for r in rows),
        "sample_codes": tuple(sample),
        "sector": only,
        "sector_counts": tuple(sorted(per_sector.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    return replace(first, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- cut-offs for the shell


def missing_apology_cutoff(
    now: datetime, calendar: WorkingTime, rule: MissingApologyRule = MissingApologyRule()
) -> datetime:
    """Dossiers late since at or before this instant have had their grace to send an apology.

    Measured in working time, so lateness that began Friday 09:00 is one working day old on
    Monday 09:00, and a holiday in between does not count against the agency.
    """
    return calendar.subtract_working_seconds(now, rule.after_working_days * calendar.seconds_per_working_day)


def due_soon_horizon(now: datetime, calendar: WorkingTime, rule: DueSoonRule = DueSoonRule()) -> datetime:
    """Open dossiers with ``now <= due_at <= horizon`` are due soon."""
    return calendar.add_working_seconds(now, rule.within_working_days * calendar.seconds_per_working_day)


# --------------------------------------------------------------------------- signals


def overdue_signals(rule: OverdueRule, groups: Iterable[OverdueGroup]) -> list[Signal]:
    signals = []
    for g in groups:
        if _count(g.overdue_count) == 0:
            continue
        since_vi, since_en = format_date_vi(g.oldest_due_at), format_date_en(g.oldest_due_at)
        where_vi, where_en = _where(g)
        signals.append(
            _group_signal(
                rule.id,
                rule.severity,
                g,
                g.overdue_count,
                summary_vi=f"{where_vi}: {format_count_vi(g.overdue_count)} hồ sơ quá hạn "
                f"(quá hạn lâu nhất từ {since_vi})",
                summary_en=f"{where_en}: {_dossiers_en(g.overdue_count, 'overdue dossier')} "
                f"(oldest overdue since {since_en})",
                extra={"oldest_due_at": _iso(g.oldest_due_at)},
            )
        )
    return signals


def due_soon_signals(rule: DueSoonRule, groups: Iterable[DueSoonGroup]) -> list[Signal]:
    signals = []
    days = rule.within_working_days
    for g in groups:
        if _count(g.due_soon_count) == 0:
            continue
        due_vi, due_en = format_datetime_vi(g.earliest_due_at), _format_datetime_en(g.earliest_due_at)
        where_vi, where_en = _where(g)
        days_en = "1 working day" if days == 1 else f"{days} working days"
        signals.append(
            _group_signal(
                rule.id,
                rule.severity,
                g,
                g.due_soon_count,
                summary_vi=f"{where_vi}: {format_count_vi(g.due_soon_count)} hồ sơ sắp đến hạn trong "
                f"{days} ngày làm việc (hạn sớm nhất {due_vi})",
                summary_en=f"{where_en}: {_dossiers_en(g.due_soon_count, 'dossier')} due within {days_en} "
                f"(earliest due {due_en})",
                extra={"earliest_due_at": _iso(g.earliest_due_at)},
            )
        )
    return signals


def missing_apology_signals(rule: MissingApologyRule, groups: Iterable[MissingApologyGroup]) -> list[Signal]:
    signals = []
    for g in groups:
        if _count(g.count) == 0:
            continue
        since_vi, since_en = format_date_vi(g.oldest_late_since), format_date_en(g.oldest_late_since)
        where_vi, where_en = _where(g)
        signals.append(
            _group_signal(
                rule.id,
                rule.severity,
                g,
                g.count,
                summary_vi=f"{where_vi}: {format_count_vi(g.count)} hồ sơ trễ hạn chưa có thư xin lỗi "
                f"(trễ hạn từ {since_vi})",
                summary_en=f"{where_en}: {_dossiers_en(g.count, 'late dossier')} without an apology letter "
                f"(late since {since_en})",
                extra={"oldest_late_since": _iso(g.oldest_late_since)},
            )
        )
    return signals


def on_time_rate_signals(rule: OnTimeRateRule, windows: Iterable[OnTimeWindow]) -> list[Signal]:
    """One signal per province whose on-time rate is strictly below target.

    Too few resolutions say nothing about a rate, so windows under ``min_resolved`` never signal.
    The comparison is exact (fractions), so a rate equal to the target never fires by rounding.
    """
    target = Fraction(str(rule.target))
    signals = []
    for w in windows:
        _count(w.resolved)
        if not 0 <= w.resolved_on_time <= w.resolved:
            raise RuleInputError(f"resolved_on_time ngoài [0, resolved]: {w}")
        if w.resolved < rule.min_resolved:
            continue
        rate = Fraction(w.resolved_on_time, w.resolved)
        if rate >= target:
            continue
        labels = Labels.of(rule=rule.id, province_code=w.province_code, severity=rule.severity.value)
        period_vi, period_en = _window_vi(rule.window), _window_en(rule.window)
        ratio = f"{format_count_vi(w.resolved_on_time)}/{format_count_vi(w.resolved)}"
        ratio_en = f"{w.resolved_on_time:,}/{w.resolved:,}"
        signals.append(
            Signal(
                rule_id=rule.id,
                fingerprint=fingerprint(rule.id, labels),
                labels=labels,
                severity=rule.severity,
                value=float(rate),
                summary_vi=f"{w.locality_name}: tỷ lệ giải quyết đúng hạn {format_percent_vi(rate)} "
                f"({ratio} hồ sơ) trong {period_vi}, dưới mục tiêu {format_percent_vi(target)}",
                summary_en=f"{w.locality_name}: on-time rate {format_percent_en(rate)} "
                f"({ratio_en} dossiers) over {period_en}, below the {format_percent_en(target)} target",
                details={
                    "locality_name": w.locality_name,
                    "resolved": w.resolved,
                    "resolved_on_time": w.resolved_on_time,
                    "target": rule.target,
                    "window_seconds": int(rule.window.total_seconds()),
                },
            )
        )
    return signals


_Group = OverdueGroup | DueSoonGroup | MissingApologyGroup


def _group_signal(
    rule_id: str,
    severity: Severity,
    g: _Group,
    count: int,
    *,
    summary_vi: str,
    summary_en: str,
    extra: Mapping[str, object],
) -> Signal:
    details: dict[str, object] = {
        "locality_name": g.locality_name,
        "agency_name": g.agency_name,
        "count": count,
        "sample_codes": tuple(g.sample_codes[:MAX_SAMPLE_CODES]),
        # {sector: count}: what the agency has to look at, without one alert per sector.
        "sectors": dict(g.sector_counts) if g.sector_counts else ({g.sector: count} if g.sector else {}),
        **extra,
    }
    return Signal.for_labels(
        rule_id, severity, float(count), summary_vi=summary_vi, summary_en=summary_en, details=details,
        province_code=g.province_code, commune_code=g.commune_code, agency_code=g.agency_code,
        sector=g.sector or None,
    )  # fmt: skip


def _count(n: int) -> int:
    if n < 0:
        raise RuleInputError(f"Số lượng âm / negative count: {n}")
    return n


def _where(g: _Group) -> tuple[str, str]:
    """Who the dossiers are with, in Vietnamese and English: locality – agency – sector."""
    place = g.locality_name
    if g.agency_name and g.agency_name != g.locality_name:
        place = f"{place} – {g.agency_name}"
    if g.sector:
        # Sector names are Vietnamese (lĩnh vực "Tư pháp"); the English text keeps the name as is.
        return f"{place} – lĩnh vực {g.sector}", f"{place} – {g.sector} sector"
    if len(g.sector_counts) > 1:
        n = len(g.sector_counts)
        return f"{place} ({n} lĩnh vực)", f"{place} ({n} sectors)"
    return place, place


def _dossiers_en(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


# --------------------------------------------------------------------------- formatting


def _local(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise RuleInputError(f"Thời điểm phải có múi giờ / datetime must be timezone-aware: {t!r}")
    return t.astimezone(DISPLAY_TZ)


def _iso(t: datetime) -> str:
    return _local(t).isoformat()


def format_date_vi(t: datetime) -> str:
    """``12/11/2026`` in Vietnam local time."""
    return f"{_local(t):%d/%m/%Y}"


def format_datetime_vi(t: datetime) -> str:
    """``17:00 ngày 12/11/2026`` in Vietnam local time."""
    return f"{_local(t):%H:%M} ngày {format_date_vi(t)}"


def format_date_en(t: datetime) -> str:
    """``12 Nov 2026`` in Vietnam local time."""
    local = _local(t)
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}"


def _format_datetime_en(t: datetime) -> str:
    return f"{_local(t):%H:%M}, {format_date_en(t)}"


def format_count_vi(n: int) -> str:
    """Vietnamese thousands separator is a dot: ``1.234``."""
    return f"{n:,}".replace(",", ".")


def _percent_digits(rate: Fraction) -> str:
    # Truncate, never round up: 89.99 % must not read "90 %" beside a 90 % target it missed.
    pct = (Decimal(rate.numerator) * 100 / Decimal(rate.denominator)).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    text = f"{pct:f}"
    return text[:-2] if text.endswith(".0") else text


def format_percent_vi(rate: Fraction | float) -> str:
    """``87,5 %`` for 0.875; one decimal at most, truncated; decimal comma and a space before %."""
    return _percent_digits(_fraction(rate)).replace(".", ",") + " %"


def format_percent_en(rate: Fraction | float) -> str:
    return _percent_digits(_fraction(rate)) + "%"


def _fraction(rate: Fraction | float) -> Fraction:
    return rate if isinstance(rate, Fraction) else Fraction(str(rate))


def _window_vi(window: timedelta) -> str:
    if window % timedelta(days=1) == _ZERO:
        return f"{window.days} ngày qua"
    return f"{int(window.total_seconds() // 3600)} giờ qua"


def _window_en(window: timedelta) -> str:
    if window % timedelta(days=1) == _ZERO:
        return "the last day" if window.days == 1 else f"the last {window.days} days"
    hours = int(window.total_seconds() // 3600)
    return "the last hour" if hours == 1 else f"the last {hours} hours"
