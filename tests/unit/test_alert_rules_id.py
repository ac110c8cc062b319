"""ID-issuance alert rules: CCCD coverage and VNeID level-2 pace against targets, explicit ``now``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from alerts.model import Severity
from alerts.rules import RuleConfigError, RuleInputError
from alerts.rules_id import (
    CccdCoverage,
    CccdCoverageRule,
    L2PaceRule,
    L2Progress,
    cccd_coverage_signals,
    l2_pace_signals,
    pace_window,
    required_daily_pace,
)
from ioc.indicators.definitions import required_daily_pace as indicator_required_pace

VN = ZoneInfo("Asia/Ho_Chi_Minh")
COVERAGE = CccdCoverageRule()
PACE = L2PaceRule()


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def coverage(issued: int, eligible: int = 1_970_000, target: float = 0.95, start: date | None = None) -> CccdCoverage:
    # Bình Dương: about 1.97 million people eligible for a CCCD (brief §3.6).
    return CccdCoverage(
        province_code="74",
        commune_code=None,
        locality_name="Tỉnh Bình Dương",
        eligible_population=eligible,
        cccd_issued_total=issued,
        target=target,
        start_date=start,
        deadline=date(2026, 6, 30),
    )


def l2(
    activated: int, recent: int, target: int = 1_200_000, start: date | None = None, as_of: date = date(2023, 6, 8)
) -> L2Progress:
    # The brief's example target: 1.2 million level-2 accounts by 20/6/2023. The latest report
    # is of 8 June unless a case says otherwise; most cases run on 9 June.
    return L2Progress(
        province_code="74",
        commune_code=None,
        locality_name="Tỉnh Bình Dương",
        as_of=as_of,
        activated_total=activated,
        activated_recent=recent,
        target=target,
        start_date=start,
        deadline=date(2023, 6, 20),
    )


# --------------------------------------------------------------------------- CCCD coverage

COVERAGE_CASES = [
    # case, row, now, expected severity
    # 1.850.000 / 1.970.000 = 93,9 % < 95 %.
    ("below target, deadline ahead", coverage(1_850_000), vn(2026, 6, 1, 9), Severity.WARNING),
    ("below target, deadline evening", coverage(1_850_000), vn(2026, 6, 30, 23, 59), Severity.WARNING),
    ("below target, deadline passed", coverage(1_850_000), vn(2026, 7, 1, 0), Severity.CRITICAL),
    # 0,95 × 1.970.000 = 1.871.500 exactly.
    ("exactly at target", coverage(1_871_500), vn(2026, 7, 1, 0), None),
    ("one card short", coverage(1_871_499), vn(2026, 7, 1, 0), Severity.CRITICAL),
    ("nobody eligible", coverage(0, eligible=0), vn(2026, 7, 1, 0), None),
    ("target not started yet", coverage(1_000_000, start=date(2026, 6, 2)), vn(2026, 6, 1, 23), None),
    ("target started today", coverage(1_000_000, start=date(2026, 6, 2)), vn(2026, 6, 2, 0), Severity.WARNING),
    # 17:30 UTC on 30 June is already 1 July in Vietnam.
    ("deadline judged in local time", coverage(1_850_000), datetime(2026, 6, 30, 17, 30, tzinfo=UTC),
     Severity.CRITICAL),
]  # fmt: skip


@pytest.mark.parametrize(("case", "row", "now", "expected"), COVERAGE_CASES, ids=[c[0] for c in COVERAGE_CASES])
def test_cccd_coverage_below_target(case: str, row: CccdCoverage, now: datetime, expected: Severity | None) -> None:
    signals = cccd_coverage_signals(COVERAGE, [row], now)
    assert [s.severity for s in signals] == ([] if expected is None else [expected]), case


def test_cccd_coverage_summaries() -> None:
    (warn,) = cccd_coverage_signals(COVERAGE, [coverage(1_850_000)], vn(2026, 6, 1, 9))
    assert warn.summary_vi == (
        "Tỉnh Bình Dương: tỷ lệ cấp căn cước công dân 93,9 % (1.850.000/1.970.000 người đủ điều kiện), "
        "dưới mục tiêu 95 % (hạn 30/06/2026)"
    )
    assert warn.summary_en == (
        "Tỉnh Bình Dương: CCCD coverage 93.9% (1,850,000/1,970,000 eligible), below the 95% target "
        "(deadline 30 Jun 2026)"
    )
    (crit,) = cccd_coverage_signals(COVERAGE, [coverage(1_850_000)], vn(2026, 7, 1, 9))
    assert crit.summary_vi.endswith("dưới mục tiêu 95 % (đã quá hạn 30/06/2026)")
    assert crit.summary_en.endswith("(deadline 30 Jun 2026 passed)")
    assert warn.fingerprint == crit.fingerprint
    assert crit.labels.as_dict() == {
        "rule": "cccd_coverage_below_target",
        "stream": "id_issuance",
        "province_code": "74",
        "severity": "critical",
    }
    assert crit.value == pytest.approx(1_850_000 / 1_970_000)


def test_commune_target_is_its_own_series() -> None:
    commune = replace(coverage(1_000, eligible=2_000), commune_code="25747", locality_name="Phường Thủ Dầu Một")
    (p,) = cccd_coverage_signals(COVERAGE, [coverage(1_850_000)], vn(2026, 6, 1))
    (c,) = cccd_coverage_signals(COVERAGE, [commune], vn(2026, 6, 1))
    assert c.labels["commune_code"] == "25747" and "commune_code" not in p.labels
    assert p.fingerprint != c.fingerprint


# --------------------------------------------------------------------------- VNeID level-2 pace


def test_pace_window_is_the_days_ending_on_the_latest_report() -> None:
    assert pace_window(date(2023, 6, 9)) == (date(2023, 6, 3), date(2023, 6, 9))
    assert pace_window(date(2023, 6, 9), L2PaceRule(pace_days=1)) == (date(2023, 6, 9), date(2023, 6, 9))


REQUIRED_PACE_CASES = [
    # activated, target, deadline, as-of day, expected
    # As of 9 June, the days left are 10–20 June = 20 − 9 = 11: (1.200.000 − 1.046.000) / 11 = 14.000.
    (1_046_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 9), Fraction(14_000)),
    (1_000_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 9), Fraction(200_000, 11)),
    # As of the eve of the deadline the whole remainder is due on the deadline day.
    (1_190_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 19), Fraction(10_000)),
    (1_300_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 9), Fraction(0)),
    (1_300_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 25), Fraction(0)),
    # A report for the deadline day itself leaves no day to act on.
    (1_190_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 20), None),
    (1_190_000, 1_200_000, date(2023, 6, 20), date(2023, 6, 21), None),
]


@pytest.mark.parametrize(("activated", "target", "deadline", "as_of", "expected"), REQUIRED_PACE_CASES)
def test_required_daily_pace(
    activated: int, target: int, deadline: date, as_of: date, expected: Fraction | None
) -> None:
    assert required_daily_pace(activated, target, deadline, as_of) == expected


@pytest.mark.parametrize(("activated", "target", "deadline", "as_of", "expected"), REQUIRED_PACE_CASES)
def test_required_daily_pace_is_the_indicator_definition(
    activated: int, target: int, deadline: date, as_of: date, expected: Fraction | None
) -> None:
    """The alert and the map's vneid_l2_required_daily_pace must not disagree."""
    indicator = indicator_required_pace(target, activated, (deadline - as_of).days)
    assert indicator == (None if expected is None else pytest.approx(float(expected)))


PACE_CASES = [
    # case, row, now, expected severity
    # On 9 June: 154.000 to go in the 11 days after today (10–20 June) = 14.000/day needed; the
    # week up to the latest report needs 7 × 14.000 = 98.000.
    ("recent pace exactly enough", l2(1_046_000, 98_000), vn(2023, 6, 9, 9), None),
    ("one activation short over the week", l2(1_046_000, 97_999), vn(2023, 6, 9, 9), Severity.WARNING),
    ("no activations reported this week", l2(1_046_000, 0), vn(2023, 6, 9, 9), Severity.WARNING),
    ("target already met", l2(1_200_000, 0), vn(2023, 6, 9, 9), None),
    ("target met after the deadline", l2(1_200_001, 0, as_of=date(2023, 6, 24)), vn(2023, 6, 25, 9), None),
    ("deadline passed, target missed", l2(1_199_999, 500_000), vn(2023, 6, 21, 0), Severity.CRITICAL),
    # On 19 June: 1 to go on the one day left; the week did 1 a day.
    ("the eve of the deadline, still a chance", l2(1_199_999, 7, as_of=date(2023, 6, 18)), vn(2023, 6, 19, 23),
     None),
    # On the deadline day no day is left after today: short of the target is missed, as the indicator has it.
    ("the deadline day, target not met", l2(1_199_999, 7, as_of=date(2023, 6, 19)), vn(2023, 6, 20, 8),
     Severity.CRITICAL),
    ("target not started", l2(0, 0, start=date(2023, 6, 15)), vn(2023, 6, 9, 9), None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "row", "now", "expected"), PACE_CASES, ids=[c[0] for c in PACE_CASES])
def test_l2_pace(case: str, row: L2Progress, now: datetime, expected: Severity | None) -> None:
    signals = l2_pace_signals(PACE, [row], now)
    assert [s.severity for s in signals] == ([] if expected is None else [expected]), case


def test_l2_pace_warning_summary() -> None:
    # 200.000 to go in 11 days = 18.181,8/day, shown rounded up: 18.182; the week: 119.000 / 7 = 17.000.
    (s,) = l2_pace_signals(PACE, [l2(1_000_000, 119_000)], vn(2023, 6, 9, 9))
    assert s.summary_vi == (
        "Tỉnh Bình Dương: tiến độ kích hoạt định danh điện tử mức 2 chậm — cần 18.182 tài khoản/ngày để đạt "
        "1.200.000 trước hạn 20/06/2023 (còn 200.000 trong 11 ngày), 7 ngày gần nhất chỉ đạt 17.000 tài khoản/ngày"
    )
    assert s.summary_en == (
        "Tỉnh Bình Dương: level-2 e-ID activation too slow — 18,182 accounts/day needed to reach 1,200,000 by "
        "20 Jun 2023 (200,000 to go in 11 days), only 17,000/day over the last 7 days"
    )
    assert s.details["required_daily_pace"] == pytest.approx(200_000 / 11)
    assert s.details["recent_daily_pace"] == 17_000
    assert s.labels.as_dict() == {
        "rule": "vneid_l2_pace_too_slow",
        "stream": "id_issuance",
        "province_code": "74",
        "severity": "warning",
    }


def test_l2_pace_never_shows_equal_paces_when_it_fires() -> None:
    # Needed 14.000 exactly, achieved 13.999,857…/day: shown as 14.000 needed, 13.999 achieved.
    (s,) = l2_pace_signals(PACE, [l2(1_046_000, 97_999)], vn(2023, 6, 9, 9))
    assert "cần 14.000 tài khoản/ngày" in s.summary_vi and "chỉ đạt 13.999 tài khoản/ngày" in s.summary_vi


def test_l2_deadline_passed_summary() -> None:
    (s,) = l2_pace_signals(PACE, [l2(1_150_000, 0, as_of=date(2023, 6, 20))], vn(2023, 6, 21, 8))
    assert s.summary_vi == (
        "Tỉnh Bình Dương: đã quá hạn 20/06/2023, mới kích hoạt 1.150.000/1.200.000 tài khoản định danh điện tử "
        "mức 2 (95,8 %), còn thiếu 50.000"
    )
    assert s.summary_en == (
        "Tỉnh Bình Dương: deadline 20 Jun 2023 passed with 1,150,000/1,200,000 level-2 e-ID accounts activated "
        "(95.8%), 50,000 short"
    )
    assert s.details["required_daily_pace"] is None


def test_l2_deadline_day_report_summary() -> None:
    (s,) = l2_pace_signals(PACE, [l2(1_150_000, 0, as_of=date(2023, 6, 20))], vn(2023, 6, 20, 20))
    assert s.summary_vi.startswith("Tỉnh Bình Dương: đã đến hạn 20/06/2023, mới kích hoạt 1.150.000/1.200.000")
    assert "deadline 20 Jun 2023 reached with" in s.summary_en


def test_l2_one_day_left_is_singular() -> None:
    (s,) = l2_pace_signals(PACE, [l2(1_190_000, 0, as_of=date(2023, 6, 18))], vn(2023, 6, 19, 9))
    assert "(10,000 to go in 1 day)" in s.summary_en and "trong 1 ngày" in s.summary_vi


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "build",
    [
        lambda: L2PaceRule(pace_days=0),
        lambda: L2PaceRule(hold=timedelta(seconds=-1)),
        lambda: CccdCoverageRule(hold=timedelta(seconds=-1)),
    ],
)
def test_nonsense_configuration_is_rejected(build: object) -> None:
    with pytest.raises(RuleConfigError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "build",
    [
        lambda: coverage(-1),
        lambda: coverage(1, target=0),
        lambda: coverage(1, target=1.2),
        lambda: l2(-1, 0),
        lambda: l2(1, 0, target=0),
    ],
)
def test_impossible_observation_is_rejected(build: object) -> None:
    with pytest.raises(RuleInputError):
        build()  # type: ignore[operator]


def test_naive_now_is_rejected() -> None:
    with pytest.raises(RuleInputError):
        cccd_coverage_signals(COVERAGE, [coverage(1)], datetime(2026, 6, 1))
