"""Alert rules on social-security payout cycles: pure observations → signals, ``now`` passed in.

One observation is the current state of one payout cycle (locality × programme × month), as the
shell reads it from ``payout_cycle``. Rules and their series (one per locality, programme, cycle):

* ``payout_behind_schedule`` — the share of beneficiaries paid lags the share of the cycle's
  working time already gone by more than ``lag`` (default 10 points): a warning. Once the deadline
  day is over with beneficiaries still unpaid it is critical (brief §3.10: "payout cycle not
  completed by the end of the month — beneficiaries unpaid"). Time is working time from the
  opening of ``cycle_opens_on`` to the close of ``deadline`` (``alerts.calendar``): payments are
  made by offices and post offices, so a weekend or a holiday in the cycle does not count as
  time the locality had and wasted.
* ``payout_cashless_below_target`` — payments made by bank account, card or e-wallet over all
  payments made is below the programme's ``cashless_target``; a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Protocol

from alerts.day_format import (
    format_day_en,
    format_day_vi,
    format_decimal_en,
    format_decimal_vi,
    format_month_en,
    format_month_vi,
    local_day,
    start_of_day,
)
from alerts.model import Severity, Signal
from alerts.rules import RuleConfigError, RuleInputError, format_count_vi, format_percent_en, format_percent_vi

__all__ = [
    "CashlessShareRule",
    "CycleTime",
    "PayoutBehindScheduleRule",
    "PayoutCycle",
    "WorkingSpan",
    "cashless_share_signals",
    "cycle_time",
    "payout_behind_schedule_signals",
]

STREAM = "payout"
_ZERO = timedelta(0)


class WorkingSpan(Protocol):
    """The slice of ``alerts.calendar.WorkingCalendar`` these rules need."""

    @property
    def seconds_per_working_day(self) -> int: ...

    def working_seconds_between(self, start: datetime, end: datetime) -> int: ...


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class PayoutBehindScheduleRule:
    id: str = "payout_behind_schedule"
    # Warning when paid share < elapsed share − lag (0.10 = ten percentage points).
    lag: float = 0.10
    hold: timedelta = _ZERO

    def __post_init__(self) -> None:
        if not 0 <= self.lag < 1:
            raise RuleConfigError(f"lag phải trong [0, 1): {self.lag}")
        if self.hold < _ZERO:
            raise RuleConfigError(f"hold phải >= 0: {self.hold}")


@dataclass(frozen=True)
class CashlessShareRule:
    id: str = "payout_cashless_below_target"
    severity: Severity = Severity.WARNING
    # A share over a handful of payments says nothing yet (the first morning of a cycle).
    min_paid: int = 20
    hold: timedelta = _ZERO

    def __post_init__(self) -> None:
        if self.min_paid < 1:
            raise RuleConfigError(f"min_paid phải >= 1: {self.min_paid}")
        if self.hold < _ZERO:
            raise RuleConfigError(f"hold phải >= 0: {self.hold}")


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class PayoutCycle:
    """The latest reported state of one cycle; ``commune_code`` None for a province-wide row."""

    province_code: str
    commune_code: str | None
    locality_name: str
    programme_code: str
    programme_name: str
    cycle_month: date
    beneficiaries_due: int
    paid_total: int
    paid_cashless: int
    cashless_target: float
    cycle_opens_on: date | None
    deadline: date | None

    def __post_init__(self) -> None:
        for name in ("beneficiaries_due", "paid_total", "paid_cashless"):
            if getattr(self, name) < 0:
                raise RuleInputError(f"{name} âm / negative {name}: {self}")
        if self.paid_cashless > self.paid_total:
            raise RuleInputError(f"paid_cashless > paid_total: {self}")
        if not 0 <= self.cashless_target <= 1:
            raise RuleInputError(f"cashless_target ngoài [0, 1]: {self}")

    @property
    def opens_on(self) -> date:
        """The first day of the cycle; a source that sent none opens on the cycle's month."""
        return self.cycle_opens_on or self.cycle_month.replace(day=1)

    @property
    def due_on(self) -> date:
        """The deadline; a source that sent none has until the end of the month (brief §3.10)."""
        if self.deadline is not None:
            return self.deadline
        first_of_next = (self.cycle_month.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first_of_next - timedelta(days=1)


@dataclass(frozen=True)
class CycleTime:
    """How much of a cycle's working time has gone by at one instant."""

    elapsed_seconds: int
    total_seconds: int
    seconds_per_day: int
    deadline_passed: bool

    @property
    def share(self) -> Fraction:
        if self.total_seconds == 0:
            # A cycle with no working day in it (opens and ends over a holiday): all or nothing.
            return Fraction(1) if self.deadline_passed else Fraction(0)
        return Fraction(min(self.elapsed_seconds, self.total_seconds), self.total_seconds)

    @property
    def elapsed_days(self) -> Fraction:
        return Fraction(min(self.elapsed_seconds, self.total_seconds), self.seconds_per_day)

    @property
    def total_days(self) -> Fraction:
        return Fraction(self.total_seconds, self.seconds_per_day)


def cycle_time(opens_on: date, deadline: date, now: datetime, calendar: WorkingSpan) -> CycleTime:
    """Working time from the start of ``opens_on`` to the end of ``deadline``, and how much is gone.

    The deadline day counts in full: payments made any time that day are on time, so the
    deadline has passed only once the local day after it has begun.
    """
    today = local_day(now)  # first: it refuses a naive ``now``
    start, end = start_of_day(opens_on), start_of_day(deadline + timedelta(days=1))
    return CycleTime(
        elapsed_seconds=calendar.working_seconds_between(start, min(now, end)),
        total_seconds=calendar.working_seconds_between(start, end),
        seconds_per_day=calendar.seconds_per_working_day,
        deadline_passed=today > deadline,
    )


# --------------------------------------------------------------------------- signals


def payout_behind_schedule_signals(
    rule: PayoutBehindScheduleRule, cycles: Iterable[PayoutCycle], now: datetime, calendar: WorkingSpan
) -> list[Signal]:
    lag = Fraction(str(rule.lag))
    signals = []
    for c in cycles:
        if c.beneficiaries_due == 0 or c.paid_total >= c.beneficiaries_due:
            continue
        paid = Fraction(c.paid_total, c.beneficiaries_due)
        span = cycle_time(c.opens_on, c.due_on, now, calendar)
        unpaid = c.beneficiaries_due - c.paid_total
        where_vi, where_en = _where(c)
        counts_vi = f"{format_count_vi(c.paid_total)}/{format_count_vi(c.beneficiaries_due)}"
        counts_en = f"{c.paid_total:,}/{c.beneficiaries_due:,}"
        deadline_vi, deadline_en = format_day_vi(c.due_on), format_day_en(c.due_on)
        if span.deadline_passed:
            severity = Severity.CRITICAL
            summary_vi = (
                f"{where_vi}: quá hạn chi trả {deadline_vi}, còn {format_count_vi(unpaid)} đối tượng chưa được "
                f"chi trả (đã chi trả {format_percent_vi(paid)}, {counts_vi})"
            )
            summary_en = (
                f"{where_en}: payout deadline {deadline_en} passed with {unpaid:,} "
                f"beneficiar{'y' if unpaid == 1 else 'ies'} unpaid ({format_percent_en(paid)} paid, {counts_en})"
            )
        elif paid < span.share - lag:
            severity = Severity.WARNING
            days_vi = f"{format_decimal_vi(span.elapsed_days)}/{format_decimal_vi(span.total_days)}"
            days_en = f"{format_decimal_en(span.elapsed_days)} of {format_decimal_en(span.total_days)}"
            summary_vi = (
                f"{where_vi}: chi trả chậm tiến độ — mới chi trả {format_percent_vi(paid)} ({counts_vi} đối tượng) "
                f"khi đã qua {format_percent_vi(span.share)} thời gian của kỳ ({days_vi} ngày làm việc, "
                f"hạn {deadline_vi})"
            )
            summary_en = (
                f"{where_en}: payout behind schedule — {format_percent_en(paid)} paid ({counts_en} beneficiaries) "
                f"with {format_percent_en(span.share)} of the cycle gone ({days_en} working days, "
                f"deadline {deadline_en})"
            )
        else:
            continue
        signals.append(
            _signal(
                rule.id, severity, c, float(paid), summary_vi, summary_en,
                {
                    "beneficiaries_due": c.beneficiaries_due,
                    "paid_total": c.paid_total,
                    "unpaid": unpaid,
                    "elapsed_share": float(span.share),
                    "elapsed_working_days": float(span.elapsed_days),
                    "cycle_working_days": float(span.total_days),
                    "lag": rule.lag,
                    "cycle_opens_on": c.opens_on.isoformat(),
                    "deadline": c.due_on.isoformat(),
                },
            )
        )  # fmt: skip
    return signals


def cashless_share_signals(rule: CashlessShareRule, cycles: Iterable[PayoutCycle]) -> list[Signal]:
    """One warning per cycle whose cashless share is strictly below its programme's target.

    Exact (fractions), so a share equal to the target never fires by rounding.
    """
    signals = []
    for c in cycles:
        if c.paid_total < rule.min_paid:
            continue
        share = Fraction(c.paid_cashless, c.paid_total)
        target = Fraction(str(c.cashless_target))
        if share >= target:
            continue
        where_vi, where_en = _where(c)
        signals.append(
            _signal(
                rule.id, rule.severity, c, float(share),
                summary_vi=f"{where_vi}: tỷ lệ chi trả không dùng tiền mặt {format_percent_vi(share)} "
                f"({format_count_vi(c.paid_cashless)}/{format_count_vi(c.paid_total)} lượt chi trả), "
                f"dưới mục tiêu {format_percent_vi(target)}",
                summary_en=f"{where_en}: cashless payout share {format_percent_en(share)} "
                f"({c.paid_cashless:,}/{c.paid_total:,} payments), below the {format_percent_en(target)} target",
                details={
                    "paid_total": c.paid_total,
                    "paid_cashless": c.paid_cashless,
                    "cashless_target": c.cashless_target,
                },
            )
        )  # fmt: skip
    return signals


def _where(c: PayoutCycle) -> tuple[str, str]:
    return (
        f"{c.locality_name} – {c.programme_name}, kỳ {format_month_vi(c.cycle_month)}",
        f"{c.locality_name} – {c.programme_name}, {format_month_en(c.cycle_month)} cycle",
    )


def _signal(
    rule_id: str,
    severity: Severity,
    c: PayoutCycle,
    value: float,
    summary_vi: str,
    summary_en: str,
    details: dict[str, object],
) -> Signal:
    return Signal.for_labels(
        rule_id, severity, value, summary_vi=summary_vi, summary_en=summary_en,
        details={"locality_name": c.locality_name, "programme_name": c.programme_name, **details},
        stream=STREAM, province_code=c.province_code, commune_code=c.commune_code or None,
        programme_code=c.programme_code, cycle=f"{c.cycle_month:%Y-%m}",
    )  # fmt: skip
