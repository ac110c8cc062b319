"""Payout alert rules: cycle progress in working time → signals, with an explicit ``now``.

Office hours are 08:00–17:00 (Asia/Ho_Chi_Minh): one working day is nine working hours. The
calendar is the real national one; the cases below name the days off they cross.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import CalendarOverrides, WorkingCalendar
from alerts.engine import evaluate
from alerts.model import AlertState, AlertUpdate, OpenAlert, Severity
from alerts.rules import RuleConfigError, RuleInputError
from alerts.rules_payout import (
    CashlessShareRule,
    PayoutBehindScheduleRule,
    PayoutCycle,
    cashless_share_signals,
    cycle_time,
    payout_behind_schedule_signals,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
BEHIND = PayoutBehindScheduleRule()
CASHLESS = CashlessShareRule()


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def cycle(
    paid: int,
    due: int = 1000,
    opens: date = date(2026, 10, 1),
    deadline: date | None = date(2026, 10, 20),
    cashless: int | None = None,
    target: float = 0.70,
) -> PayoutCycle:
    return PayoutCycle(
        province_code="01",
        commune_code=None,
        locality_name="Thành phố Hà Nội",
        programme_code="nguoi_co_cong",
        programme_name="Người có công với cách mạng",
        cycle_month=opens.replace(day=1),
        beneficiaries_due=due,
        paid_total=paid,
        paid_cashless=paid if cashless is None else cashless,
        cashless_target=target,
        cycle_opens_on=opens,
        deadline=deadline,
    )


# --------------------------------------------------------------------------- elapsed working time

# October 2026: the cycle opens Thursday 1, its deadline is Tuesday 20. Working days: 1–2, 5–9,
# 12–16, 19–20 = 2 + 5 + 5 + 2 = 14 (no holiday in October).
# Late August 2026: opens Thursday 27 August, deadline Thursday 3 September. Saturday 22 August
# is worked (swapped for Monday 31); 29–30 is a weekend; 31 August, 1 and 2 September are days off
# (National Day). Working days in the cycle: 27, 28 August and 3 September = 3.
ELAPSED_CASES = [
    # case, opens, deadline, now, elapsed working days, total working days, deadline passed
    ("before opening", date(2026, 10, 1), date(2026, 10, 20), vn(2026, 9, 30, 12), 0, 14, False),
    ("first morning, 08:00–12:00 = 4/9 day", date(2026, 10, 1), date(2026, 10, 20), vn(2026, 10, 1, 12),
     Fraction(4, 9), 14, False),
    ("Friday close: 2 + 5 days", date(2026, 10, 1), date(2026, 10, 20), vn(2026, 10, 9, 17), 7, 14, False),
    ("the weekend does not count", date(2026, 10, 1), date(2026, 10, 20), vn(2026, 10, 11, 15), 7, 14, False),
    ("deadline evening: all the time is gone", date(2026, 10, 1), date(2026, 10, 20), vn(2026, 10, 20, 23, 59),
     14, 14, False),
    ("the day after the deadline", date(2026, 10, 1), date(2026, 10, 20), vn(2026, 10, 21, 0), 14, 14, True),
    ("holiday: 2 September at noon is still 2 of 3", date(2026, 8, 27), date(2026, 9, 3), vn(2026, 9, 2, 12),
     2, 3, False),
    ("after the holidays, 3 September 12:00", date(2026, 8, 27), date(2026, 9, 3), vn(2026, 9, 3, 12),
     Fraction(22, 9), 3, False),
    ("deadline on a Sunday: used up by Friday close", date(2026, 10, 12), date(2026, 10, 18), vn(2026, 10, 17, 10),
     5, 5, False),
    ("deadline on a Sunday: passed on Monday", date(2026, 10, 12), date(2026, 10, 18), vn(2026, 10, 19, 0),
     5, 5, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "opens", "deadline", "now", "elapsed", "total", "passed"), ELAPSED_CASES, ids=[c[0] for c in ELAPSED_CASES]
)
def test_cycle_time_counts_working_days_only(
    case: str, opens: date, deadline: date, now: datetime, elapsed: Fraction, total: int, passed: bool
) -> None:
    span = cycle_time(opens, deadline, now, CAL)
    assert (span.elapsed_days, span.total_days, span.deadline_passed) == (Fraction(elapsed), Fraction(total), passed), (
        case
    )
    assert span.share == Fraction(elapsed) / total


def test_cycle_time_honours_operator_days_off() -> None:
    # A provincial day off on Monday 12 October takes one working day out of the October cycle.
    calendar = WorkingCalendar(CalendarOverrides(days_off=frozenset({date(2026, 10, 12)})))
    span = cycle_time(date(2026, 10, 1), date(2026, 10, 20), vn(2026, 10, 13, 17), calendar)
    assert (span.elapsed_days, span.total_days) == (Fraction(2 + 5 + 1), Fraction(13))


def test_cycle_with_no_working_day_is_all_or_nothing() -> None:
    # Opens and ends inside the National Day break: no working time at all.
    before = cycle_time(date(2026, 8, 31), date(2026, 9, 2), vn(2026, 9, 1, 10), CAL)
    after = cycle_time(date(2026, 8, 31), date(2026, 9, 2), vn(2026, 9, 3, 10), CAL)
    assert (before.total_seconds, before.share, after.share) == (0, Fraction(0), Fraction(1))


# --------------------------------------------------------------------------- behind schedule

BEHIND_CASES = [
    # case, cycle, now, expected severity (None = no signal)
    # 9 October 17:00: 7 of 14 working days = 50 % gone; warning below 50 − 10 = 40 % paid.
    ("35 % paid with half the time gone", cycle(350), vn(2026, 10, 9, 17), Severity.WARNING),
    ("exactly 40 %: not behind", cycle(400), vn(2026, 10, 9, 17), None),
    ("39,9 %: behind", cycle(399), vn(2026, 10, 9, 17), Severity.WARNING),
    # The weekend does not eat into the cycle: Sunday afternoon is still 50 %.
    ("Sunday: the same as Friday close", cycle(399), vn(2026, 10, 11, 15), Severity.WARNING),
    ("Sunday, 45 % paid", cycle(450), vn(2026, 10, 11, 15), None),
    # Deadline day evening: 100 % gone, anything under 90 % is behind but not yet late.
    ("deadline evening, 89 % paid", cycle(890), vn(2026, 10, 20, 20), Severity.WARNING),
    ("deadline evening, 95 % paid", cycle(950), vn(2026, 10, 20, 20), None),
    # The next day: anyone unpaid makes it critical, however close.
    ("after the deadline, one unpaid", cycle(999), vn(2026, 10, 21, 8), Severity.CRITICAL),
    ("after the deadline, all paid", cycle(1000), vn(2026, 10, 21, 8), None),
    ("no beneficiaries due", cycle(0, due=0), vn(2026, 10, 21, 8), None),
    # Across the National Day break: 2 September noon is 2 of 3 working days = 66,6 % gone.
    ("holiday cycle, 50 % paid on 2 September", cycle(500, opens=date(2026, 8, 27), deadline=date(2026, 9, 3)),
     vn(2026, 9, 2, 12), Severity.WARNING),
    ("holiday cycle, 57 % paid on 2 September", cycle(570, opens=date(2026, 8, 27), deadline=date(2026, 9, 3)),
     vn(2026, 9, 2, 12), None),
    # 3 September 12:00: 22/9 of 3 days = 81,4 % gone, threshold 71,4 %.
    ("holiday cycle, 71 % paid on 3 September", cycle(710, opens=date(2026, 8, 27), deadline=date(2026, 9, 3)),
     vn(2026, 9, 3, 12), Severity.WARNING),
    ("holiday cycle, 72 % paid on 3 September", cycle(720, opens=date(2026, 8, 27), deadline=date(2026, 9, 3)),
     vn(2026, 9, 3, 12), None),
    ("holiday cycle, Friday 4 September", cycle(999, opens=date(2026, 8, 27), deadline=date(2026, 9, 3)),
     vn(2026, 9, 4, 9), Severity.CRITICAL),
    # A deadline on a Sunday: by Saturday all the cycle's working time is gone.
    ("Sunday deadline, Saturday, 85 % paid", cycle(850, opens=date(2026, 10, 12), deadline=date(2026, 10, 18)),
     vn(2026, 10, 17, 10), Severity.WARNING),
    ("Sunday deadline, Sunday evening, 99,9 %", cycle(999, opens=date(2026, 10, 12), deadline=date(2026, 10, 18)),
     vn(2026, 10, 18, 22), None),
    ("Sunday deadline, Monday", cycle(999, opens=date(2026, 10, 12), deadline=date(2026, 10, 18)),
     vn(2026, 10, 19, 0), Severity.CRITICAL),
    # No deadline sent: the end of the cycle's month (31 October).
    ("no deadline, 31 October", cycle(999, deadline=None), vn(2026, 10, 31, 23), None),
    ("no deadline, 1 November", cycle(999, deadline=None), vn(2026, 11, 1, 0), Severity.CRITICAL),
]  # fmt: skip


@pytest.mark.parametrize(("case", "c", "now", "expected"), BEHIND_CASES, ids=[c[0] for c in BEHIND_CASES])
def test_payout_behind_schedule(case: str, c: PayoutCycle, now: datetime, expected: Severity | None) -> None:
    signals = payout_behind_schedule_signals(BEHIND, [c], now, CAL)
    assert [s.severity for s in signals] == ([] if expected is None else [expected]), case


def test_behind_schedule_warning_summary() -> None:
    (s,) = payout_behind_schedule_signals(BEHIND, [cycle(350)], vn(2026, 10, 9, 17), CAL)
    assert s.summary_vi == (
        "Thành phố Hà Nội – Người có công với cách mạng, kỳ 10/2026: chi trả chậm tiến độ — mới chi trả 35 % "
        "(350/1.000 đối tượng) khi đã qua 50 % thời gian của kỳ (7/14 ngày làm việc, hạn 20/10/2026)"
    )
    assert s.summary_en == (
        "Thành phố Hà Nội – Người có công với cách mạng, Oct 2026 cycle: payout behind schedule — 35% paid "
        "(350/1,000 beneficiaries) with 50% of the cycle gone (7 of 14 working days, deadline 20 Oct 2026)"
    )
    assert s.value == 0.35
    assert s.labels.as_dict() == {
        "rule": "payout_behind_schedule",
        "stream": "payout",
        "province_code": "01",
        "programme_code": "nguoi_co_cong",
        "cycle": "2026-10",
        "severity": "warning",
    }
    assert s.details["elapsed_share"] == 0.5 and s.details["unpaid"] == 650


def test_behind_schedule_summary_has_vietnamese_numbers() -> None:
    # Hà Nội's October 2024 cycle had about 291,600 beneficiaries (brief §3.5).
    c = replace(cycle(131_800, due=291_600), commune_code="00004", locality_name="Phường Ba Đình")
    (s,) = payout_behind_schedule_signals(BEHIND, [c], vn(2026, 10, 16, 17), CAL)
    assert "mới chi trả 45,1 % (131.800/291.600 đối tượng)" in s.summary_vi
    assert "45.1% paid (131,800/291,600 beneficiaries)" in s.summary_en
    assert s.labels["commune_code"] == "00004"


def test_behind_schedule_holiday_summary_counts_working_days() -> None:
    c = cycle(500, opens=date(2026, 8, 27), deadline=date(2026, 9, 3))
    (s,) = payout_behind_schedule_signals(BEHIND, [c], vn(2026, 9, 2, 12), CAL)
    assert "khi đã qua 66,6 % thời gian của kỳ (2/3 ngày làm việc, hạn 03/09/2026)" in s.summary_vi
    assert "kỳ 08/2026" in s.summary_vi


def test_behind_schedule_critical_summary() -> None:
    (s,) = payout_behind_schedule_signals(BEHIND, [cycle(998_766, due=1_000_000)], vn(2026, 10, 21, 9), CAL)
    assert s.summary_vi == (
        "Thành phố Hà Nội – Người có công với cách mạng, kỳ 10/2026: quá hạn chi trả 20/10/2026, còn 1.234 "
        "đối tượng chưa được chi trả (đã chi trả 99,8 %, 998.766/1.000.000)"
    )
    assert s.summary_en.endswith("payout deadline 20 Oct 2026 passed with 1,234 beneficiaries unpaid "
                                 "(99.8% paid, 998,766/1,000,000)")  # fmt: skip
    (one,) = payout_behind_schedule_signals(BEHIND, [cycle(999)], vn(2026, 10, 21, 9), CAL)
    assert "with 1 beneficiary unpaid" in one.summary_en


def test_warning_becomes_critical_in_place() -> None:
    """Severity is not part of the identity: the open alert is updated, not replaced."""
    c = cycle(850)
    (warn,) = payout_behind_schedule_signals(BEHIND, [c], vn(2026, 10, 20, 17), CAL)
    (crit,) = payout_behind_schedule_signals(BEHIND, [c], vn(2026, 10, 21, 0), CAL)
    assert warn.fingerprint == crit.fingerprint
    opened = OpenAlert(
        id=7, rule_id=warn.rule_id, fingerprint=warn.fingerprint, labels=warn.labels, severity=warn.severity,
        state=AlertState.FIRING, value=warn.value, active_since=vn(2026, 10, 20, 17),
        fired_at=vn(2026, 10, 20, 17), version=3, summary_vi=warn.summary_vi, summary_en=warn.summary_en,
    )  # fmt: skip
    result = evaluate(vn(2026, 10, 21, 0), BEHIND.id, BEHIND.hold, [crit], [opened])
    assert result.transitions == ()
    (update,) = result.updates
    assert isinstance(update, AlertUpdate) and update.signal.severity is Severity.CRITICAL


def test_next_cycle_is_another_series() -> None:
    october = cycle(350)
    november = cycle(350, opens=date(2026, 11, 2), deadline=date(2026, 11, 20))
    (a,) = payout_behind_schedule_signals(BEHIND, [october], vn(2026, 10, 9, 17), CAL)
    (b,) = payout_behind_schedule_signals(BEHIND, [november], vn(2026, 11, 13, 17), CAL)
    assert a.fingerprint != b.fingerprint and b.labels["cycle"] == "2026-11"


# --------------------------------------------------------------------------- cashless share

CASHLESS_CASES = [
    # case, paid, cashless, target, fires
    ("1.399/2.000 = 69,95 % < 70 %", 2000, 1399, 0.70, True),
    ("1.400/2.000 = 70 %: at target", 2000, 1400, 0.70, False),
    ("all cashless", 2000, 2000, 0.70, False),
    ("too few payments to judge", 19, 0, 0.70, False),
    ("twenty payments are enough", 20, 13, 0.70, True),
    ("a programme with a 90 % target", 1000, 899, 0.90, True),
    ("a programme with no target", 1000, 0, 0.0, False),
]


@pytest.mark.parametrize(
    ("case", "paid", "cashless", "target", "fires"), CASHLESS_CASES, ids=[c[0] for c in CASHLESS_CASES]
)
def test_cashless_share_below_target(case: str, paid: int, cashless: int, target: float, fires: bool) -> None:
    signals = cashless_share_signals(CASHLESS, [cycle(paid, due=3000, cashless=cashless, target=target)])
    assert len(signals) == (1 if fires else 0), case
    assert all(s.severity is Severity.WARNING for s in signals)


def test_cashless_summary() -> None:
    (s,) = cashless_share_signals(CASHLESS, [cycle(2000, due=3000, cashless=1399)])
    assert s.summary_vi == (
        "Thành phố Hà Nội – Người có công với cách mạng, kỳ 10/2026: tỷ lệ chi trả không dùng tiền mặt 69,9 % "
        "(1.399/2.000 lượt chi trả), dưới mục tiêu 70 %"
    )
    assert s.summary_en == (
        "Thành phố Hà Nội – Người có công với cách mạng, Oct 2026 cycle: cashless payout share 69.9% "
        "(1,399/2,000 payments), below the 70% target"
    )
    assert s.labels.as_dict()["rule"] == "payout_cashless_below_target"
    assert s.value == pytest.approx(0.6995)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "build",
    [
        lambda: PayoutBehindScheduleRule(lag=-0.1),
        lambda: PayoutBehindScheduleRule(lag=1.0),
        lambda: PayoutBehindScheduleRule(hold=timedelta(seconds=-1)),
        lambda: CashlessShareRule(min_paid=0),
    ],
)
def test_nonsense_configuration_is_rejected(build: object) -> None:
    with pytest.raises(RuleConfigError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "build",
    [
        lambda: cycle(-1),
        lambda: cycle(10, cashless=11),
        lambda: cycle(10, target=1.5),
    ],
)
def test_impossible_observation_is_rejected(build: object) -> None:
    with pytest.raises(RuleInputError):
        build()  # type: ignore[operator]


def test_naive_now_is_rejected() -> None:
    with pytest.raises(RuleInputError):
        payout_behind_schedule_signals(BEHIND, [cycle(1)], datetime(2026, 10, 9, 17), CAL)
