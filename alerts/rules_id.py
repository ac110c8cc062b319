"""Alert rules on ID issuance against targets: pure observations → signals, ``now`` passed in.

Targets (``id_target``) give a locality a value to reach by a deadline: a CCCD coverage share, or
a number of activated VNeID level-2 accounts. Rules and their series (one per locality):

* ``cccd_coverage_below_target`` — cards issued over the eligible population is below the
  target share: a warning while the deadline is ahead, critical once the deadline day is over.
* ``vneid_l2_pace_too_slow`` — at the pace of the last ``pace_days`` reported days, the locality
  will not reach its level-2 activation target by the deadline: a warning when that recent daily
  pace is below the daily pace still required; critical once no day is left with the target
  missed (brief §3.10: "behind a linear trajectory" / "target date passed").

Paces are per calendar day: accounts are activated by the police, by community digital teams
and by citizens themselves, weekends included, and the deadline is a calendar date. The recent
pace is measured over the ``pace_days`` days ending on the latest report's day (stocks are "to
date, this day included"). The required pace is the ``vneid_l2_required_daily_pace`` indicator's
(``ioc.indicators.definitions.required_daily_pace``, as of today): what is still missing by the
latest report, spread over the days after today up to the deadline. So the alert and the map
agree, and on the deadline day itself a target not yet met counts as missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from alerts.day_format import format_day_en, format_day_vi, local_day
from alerts.model import Severity, Signal
from alerts.rules import RuleConfigError, RuleInputError, format_count_vi, format_percent_en, format_percent_vi

__all__ = [
    "CccdCoverage",
    "CccdCoverageRule",
    "L2PaceRule",
    "L2Progress",
    "cccd_coverage_signals",
    "l2_pace_signals",
    "pace_window",
    "required_daily_pace",
]

STREAM = "id_issuance"
_ZERO = timedelta(0)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class CccdCoverageRule:
    id: str = "cccd_coverage_below_target"
    hold: timedelta = _ZERO

    def __post_init__(self) -> None:
        if self.hold < _ZERO:
            raise RuleConfigError(f"hold phải >= 0: {self.hold}")


@dataclass(frozen=True)
class L2PaceRule:
    id: str = "vneid_l2_pace_too_slow"
    pace_days: int = 7
    hold: timedelta = _ZERO

    def __post_init__(self) -> None:
        if self.pace_days < 1:
            raise RuleConfigError(f"pace_days phải >= 1: {self.pace_days}")
        if self.hold < _ZERO:
            raise RuleConfigError(f"hold phải >= 0: {self.hold}")


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class CccdCoverage:
    """The latest CCCD stock of one locality against its coverage target (a share, 0–1)."""

    province_code: str
    commune_code: str | None
    locality_name: str
    eligible_population: int
    cccd_issued_total: int
    target: float
    start_date: date | None
    deadline: date

    def __post_init__(self) -> None:
        if self.eligible_population < 0 or self.cccd_issued_total < 0:
            raise RuleInputError(f"Số lượng âm / negative count: {self}")
        if not 0 < self.target <= 1:
            raise RuleInputError(f"target ngoài (0, 1]: {self}")


@dataclass(frozen=True)
class L2Progress:
    """Activated level-2 accounts of one locality against its target (an account count).

    ``activated_total`` is the stock of the latest report, of day ``as_of``; ``activated_recent``
    the sum of daily activations over ``pace_window(as_of)`` (the shell sums it).
    """

    province_code: str
    commune_code: str | None
    locality_name: str
    as_of: date
    activated_total: int
    activated_recent: int
    target: int
    start_date: date | None
    deadline: date

    def __post_init__(self) -> None:
        if self.activated_total < 0 or self.activated_recent < 0:
            raise RuleInputError(f"Số lượng âm / negative count: {self}")
        if self.target < 1:
            raise RuleInputError(f"target phải >= 1: {self}")


# --------------------------------------------------------------------------- arithmetic


def pace_window(as_of: date, rule: L2PaceRule = L2PaceRule()) -> tuple[date, date]:
    """The days the recent pace is measured over: the ``pace_days`` ending on ``as_of``, inclusive."""
    return as_of - timedelta(days=rule.pace_days - 1), as_of


def required_daily_pace(activated_total: int, target: int, deadline: date, as_of: date) -> Fraction | None:
    """Accounts a day still needed to reach ``target``, over the days after ``as_of`` to the deadline.

    0 once the target is met; None when no day is left (``as_of`` is the deadline or later). The
    exact twin of ``ioc.indicators.definitions.required_daily_pace`` (which works in floats).
    """
    if activated_total >= target:
        return Fraction(0)
    days_left = (deadline - as_of).days
    if days_left <= 0:
        return None
    return Fraction(target - activated_total, days_left)


# --------------------------------------------------------------------------- signals


def cccd_coverage_signals(rule: CccdCoverageRule, rows: Iterable[CccdCoverage], now: datetime) -> list[Signal]:
    today = local_day(now)
    signals = []
    for r in rows:
        if r.eligible_population == 0 or (r.start_date is not None and r.start_date > today):
            continue
        coverage = Fraction(r.cccd_issued_total, r.eligible_population)
        target = Fraction(str(r.target))
        if coverage >= target:
            continue
        passed = today > r.deadline
        counts_vi = f"{format_count_vi(r.cccd_issued_total)}/{format_count_vi(r.eligible_population)}"
        counts_en = f"{r.cccd_issued_total:,}/{r.eligible_population:,}"
        deadline_vi, deadline_en = format_day_vi(r.deadline), format_day_en(r.deadline)
        when_vi = f"đã quá hạn {deadline_vi}" if passed else f"hạn {deadline_vi}"
        when_en = f"deadline {deadline_en} passed" if passed else f"deadline {deadline_en}"
        signals.append(
            _signal(
                rule.id, Severity.CRITICAL if passed else Severity.WARNING, r, float(coverage),
                summary_vi=f"{r.locality_name}: tỷ lệ cấp căn cước công dân {format_percent_vi(coverage)} "
                f"({counts_vi} người đủ điều kiện), dưới mục tiêu {format_percent_vi(target)} ({when_vi})",
                summary_en=f"{r.locality_name}: CCCD coverage {format_percent_en(coverage)} "
                f"({counts_en} eligible), below the {format_percent_en(target)} target ({when_en})",
                details={
                    "eligible_population": r.eligible_population,
                    "cccd_issued_total": r.cccd_issued_total,
                    "target": r.target,
                    "deadline": r.deadline.isoformat(),
                },
            )
        )  # fmt: skip
    return signals


def l2_pace_signals(rule: L2PaceRule, rows: Iterable[L2Progress], now: datetime) -> list[Signal]:
    today = local_day(now)
    signals = []
    for r in rows:
        if r.activated_total >= r.target or (r.start_date is not None and r.start_date > today):
            continue
        progress = Fraction(r.activated_total, r.target)
        remaining = r.target - r.activated_total
        recent = Fraction(r.activated_recent, rule.pace_days)
        required = required_daily_pace(r.activated_total, r.target, r.deadline, today)
        counts_vi = f"{format_count_vi(r.activated_total)}/{format_count_vi(r.target)}"
        counts_en = f"{r.activated_total:,}/{r.target:,}"
        deadline_vi, deadline_en = format_day_vi(r.deadline), format_day_en(r.deadline)
        # Shown rounded apart (needed up, achieved down) so the two never read as equal.
        recent_shown = math.floor(recent)
        if required is None or today > r.deadline:
            # No day left after today: the deadline is today (not met yet) or behind us.
            severity = Severity.CRITICAL
            when_vi = f"đã quá hạn {deadline_vi}" if today > r.deadline else f"đã đến hạn {deadline_vi}"
            when_en = f"deadline {deadline_en} passed" if today > r.deadline else f"deadline {deadline_en} reached"
            summary_vi = (
                f"{r.locality_name}: {when_vi}, mới kích hoạt {counts_vi} tài khoản định danh "
                f"điện tử mức 2 ({format_percent_vi(progress)}), còn thiếu {format_count_vi(remaining)}"
            )
            summary_en = (
                f"{r.locality_name}: {when_en} with {counts_en} level-2 e-ID accounts "
                f"activated ({format_percent_en(progress)}), {remaining:,} short"
            )
        elif recent < required:
            severity = Severity.WARNING
            days_left = (r.deadline - today).days
            required_shown = math.ceil(required)
            summary_vi = (
                f"{r.locality_name}: tiến độ kích hoạt định danh điện tử mức 2 chậm — cần "
                f"{format_count_vi(required_shown)} tài khoản/ngày để đạt {format_count_vi(r.target)} trước hạn "
                f"{deadline_vi} (còn {format_count_vi(remaining)} trong {format_count_vi(days_left)} ngày), "
                f"{rule.pace_days} ngày gần nhất chỉ đạt {format_count_vi(recent_shown)} tài khoản/ngày"
            )
            summary_en = (
                f"{r.locality_name}: level-2 e-ID activation too slow — {required_shown:,} accounts/day needed "
                f"to reach {r.target:,} by {deadline_en} ({remaining:,} to go in {days_left:,} "
                f"day{'' if days_left == 1 else 's'}), only {recent_shown:,}/day over the last {rule.pace_days} days"
            )
        else:
            continue
        signals.append(
            _signal(
                rule.id, severity, r, float(progress), summary_vi, summary_en,
                {
                    "activated_total": r.activated_total,
                    "target": r.target,
                    "remaining": remaining,
                    "recent_daily_pace": float(recent),
                    "required_daily_pace": None if required is None else float(required),
                    "pace_days": rule.pace_days,
                    "as_of": r.as_of.isoformat(),
                    "deadline": r.deadline.isoformat(),
                },
            )
        )  # fmt: skip
    return signals


def _signal(
    rule_id: str,
    severity: Severity,
    r: CccdCoverage | L2Progress,
    value: float,
    summary_vi: str,
    summary_en: str,
    details: dict[str, object],
) -> Signal:
    return Signal.for_labels(
        rule_id, severity, value, summary_vi=summary_vi, summary_en=summary_en,
        details={"locality_name": r.locality_name, **details},
        stream=STREAM, province_code=r.province_code, commune_code=r.commune_code or None,
    )  # fmt: skip
