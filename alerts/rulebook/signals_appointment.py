"""``appointment_beyond_statutory``: open dossiers whose appointment — the date the source system
printed on the citizen's slip (ngày hẹn trả) — is later than the statutory deadline IOC computes.

The slip promised more time than the law allows: a finding whatever the dossier's progress (it is
not overdue; by the slip it is on time). One series per agency, like the other dossier alerts
(per commune for dossiers with no agency), from rows per (place, agency, sector) that
``merge_by_agency`` folds together in one linear pass. The value is the number of such dossiers;
the details say by how much the worst one overshoots, in working days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Protocol

from alerts.day_format import format_decimal_en, format_decimal_vi
from alerts.model import Signal
from alerts.rulebook.spec import AppointmentBeyondStatutoryParams
from alerts.rules import MAX_SAMPLE_CODES, format_count_vi

__all__ = ["BeyondStatutoryGroup", "appointment_beyond_signals", "merge_by_agency"]


class WorkingTime(Protocol):
    @property
    def seconds_per_working_day(self) -> int: ...

    def working_seconds_between(self, start: datetime, end: datetime) -> int: ...


@dataclass(frozen=True)
class BeyondStatutoryGroup:
    """Open dossiers promised beyond their statutory deadline, for one (place, agency, sector); the
    worst overshoot is the pair (statutory deadline, appointment) furthest apart."""

    province_code: str
    commune_code: str | None
    agency_code: str | None
    agency_name: str | None
    locality_name: str
    count: int
    worst_statutory_due_at: datetime
    worst_appointment_at: datetime
    sample_codes: tuple[str, ...] = ()
    sector: str | None = None
    sector_counts: tuple[tuple[str, int], ...] = ()


def merge_by_agency(rows: Iterable[BeyondStatutoryGroup]) -> list[BeyondStatutoryGroup]:
    """One group per agency (per province and commune without one), in first-seen order: counts
    summed, sectors listed with their counts (most first), the one sector kept when all rows share
    it, the worst overshoot of all rows, codes sampled up to MAX_SAMPLE_CODES. Linear in the rows."""
    merged: dict[tuple[str, ...], list[BeyondStatutoryGroup]] = {}
    for row in rows:
        key = ("a", row.agency_code) if row.agency_code else ("c", row.province_code, row.commune_code or "")
        merged.setdefault(key, []).append(row)
    out = []
    for group in merged.values():
        per_sector: dict[str, int] = {}
        for r in group:
            if r.sector:
                per_sector[r.sector] = per_sector.get(r.sector, 0) + r.count
        sectors = {r.sector for r in group}
        worst = max(group, key=lambda r: r.worst_appointment_at - r.worst_statutory_due_at)
        sample = [code for r in group for code in r.sample_codes][:MAX_SAMPLE_CODES]
        out.append(replace(
            group[0], count=sum(r.count for r in group), worst_statutory_due_at=worst.worst_statutory_due_at,
            worst_appointment_at=worst.worst_appointment_at, sample_codes=tuple(sample),
            sector=next(iter(sectors)) if len(sectors) == 1 else None,
            sector_counts=tuple(sorted(per_sector.items(), key=lambda kv: (-kv[1], kv[0]))),
        ))  # fmt: skip
    return out


def appointment_beyond_signals(
    rule_id: str, p: AppointmentBeyondStatutoryParams, groups: Iterable[BeyondStatutoryGroup], calendar: WorkingTime
) -> list[Signal]:
    signals = []
    for g in groups:
        if g.count < p.min_count:
            continue
        over = calendar.working_seconds_between(g.worst_statutory_due_at, g.worst_appointment_at)
        days = Fraction(over, calendar.seconds_per_working_day)
        days_vi, days_en = format_decimal_vi(days), format_decimal_en(days)
        where = g.locality_name if not g.agency_name or g.agency_name == g.locality_name else (
            f"{g.locality_name} – {g.agency_name}")  # fmt: skip
        where_vi, where_en = (f"{where} – lĩnh vực {g.sector}", f"{where} – {g.sector} sector") if g.sector else (
            where, where)  # fmt: skip
        noun_en = "dossier" if g.count == 1 else "dossiers"
        signals.append(Signal.for_labels(
            rule_id, p.severity, float(g.count),
            summary_vi=f"{where_vi}: {format_count_vi(g.count)} hồ sơ có ngày hẹn trả muộn hơn thời hạn luật định "
            f"(nhiều nhất {days_vi} ngày làm việc)",
            summary_en=f"{where_en}: {g.count:,} {noun_en} promised later than the statutory deadline "
            f"(by up to {days_en} working days)",
            details={
                "locality_name": g.locality_name, "agency_name": g.agency_name, "count": g.count,
                "sample_codes": g.sample_codes,
                "sectors": dict(g.sector_counts) if g.sector_counts else ({g.sector: g.count} if g.sector else {}),
                "worst_statutory_due_at": g.worst_statutory_due_at.isoformat(),
                "worst_appointment_at": g.worst_appointment_at.isoformat(),
                "worst_working_seconds_beyond": over,
            },
            province_code=g.province_code, commune_code=g.commune_code, agency_code=g.agency_code,
            sector=g.sector or None,
        ))  # fmt: skip
    return signals
