"""The pure parts of the reports: months, Vietnamese number text, the late list's assembly and
ordering, the briefing's comparison with last month, the documents' wording."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from ioc.reports.briefing import compare
from ioc.reports.formatting import Kind, format_value
from ioc.reports.indicator_source import IndicatorInfo
from ioc.reports.late_list import NO_AGENCY_VI, assemble
from ioc.reports.layout import UNNAMED_OFFICIAL_VI, late_list_document
from ioc.reports.months import MonthError, is_future, month_label_vi, next_month, parse_month, previous_month, window

VN = ZoneInfo("Asia/Ho_Chi_Minh")


# --------------------------------------------------------------------------- months


@pytest.mark.parametrize(("text", "month"), [("2026-09", date(2026, 9, 1)), ("2000-01", date(2000, 1, 1))])
def test_months_are_read_from_yyyy_mm(text: str, month: date) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-9", "2026-13", "2026-00", "26-09", "1999-12", "2026-09-01", ""])
def test_other_month_texts_are_refused(text: str) -> None:
    with pytest.raises(MonthError):
        parse_month(text)


def test_month_arithmetic_crosses_years() -> None:
    assert previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert month_label_vi(date(2026, 9, 1)) == "tháng 09/2026"


def test_a_month_window_is_local_and_stops_at_now() -> None:
    done = window(date(2026, 9, 1), datetime(2026, 11, 1, tzinfo=VN))
    assert (done.start, done.end, done.as_of) == (datetime(2026, 9, 1, tzinfo=VN), datetime(2026, 10, 1, tzinfo=VN),
                                                  datetime(2026, 10, 1, tzinfo=VN))  # fmt: skip
    assert done.complete and done.last_day == date(2026, 9, 30)
    # 22/9 at 23:30 local is already 22/9 in the rollup's local days (16:30 UTC).
    running = window(date(2026, 9, 1), datetime(2026, 9, 22, 23, 30, tzinfo=VN))
    assert not running.complete and running.last_day == date(2026, 9, 22)
    assert is_future(date(2026, 10, 1), datetime(2026, 9, 30, 23, 59, tzinfo=VN))
    assert not is_future(date(2026, 10, 1), datetime(2026, 9, 30, 17, 0, tzinfo=ZoneInfo("UTC")))  # 1/10 00:00 local


# --------------------------------------------------------------------------- numbers in Vietnamese


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (1234567, "count", "1.234.567"),
        (0, "count", "0"),
        (4 / 7, "ratio", "57,1%"),
        (1.0, "ratio", "100,0%"),
        (343_000_000_000, "vnd", "343.000.000.000 đ"),
        (1234.56, "per_day", "1.234,6/ngày"),
        (57.14, "points", "+57,1 điểm %"),
        (-2.5, "points", "-2,5 điểm %"),
        (-0.04, "points", "0,0 điểm %"),  # rounds to nothing: no sign
        (3, "delta", "+3"),
        (-1200, "delta", "-1.200"),
        (None, "ratio", "—"),
        ("Sở Tư pháp", "text", "Sở Tư pháp"),
    ],
)
def test_numbers_read_the_vietnamese_way(value: float | str | None, kind: Kind, text: str) -> None:
    assert format_value(value, kind) == text


# --------------------------------------------------------------------------- briefing


def indicator(better: str, unit: str = "ratio") -> IndicatorInfo:
    return IndicatorInfo("x", "Chỉ số", "Indicator", "dossier", unit, better)


@pytest.mark.parametrize(
    ("better", "value", "previous", "trend"),
    [
        ("higher", 0.9, 0.8, "better"),
        ("higher", 0.8, 0.9, "worse"),
        ("lower", 3.0, 5.0, "better"),  # fewer overdue dossiers
        ("lower", 5.0, 3.0, "worse"),
        ("higher", 0.9, 0.9, "same"),
        ("higher", 0.9, None, None),
        ("lower", None, 3.0, None),
    ],
)
def test_the_change_is_judged_by_the_indicators_direction(
    better: str, value: float | None, previous: float | None, trend: str | None
) -> None:
    row = compare(indicator(better), value, previous)
    assert row.trend == trend
    assert row.change == (None if value is None or previous is None else pytest.approx(value - previous))


# --------------------------------------------------------------------------- late list assembly


def test_the_late_list_sorts_worst_first_and_totals_every_agency() -> None:
    report = assemble(
        province_code="01", province_name="Thành phố Hà Nội", window=window(date(2026, 9, 1), datetime(2026, 10, 9,
        tzinfo=VN)), generated_at=datetime(2026, 10, 9, tzinfo=VN), whole_province=True,
        # agency, resolved, early, on the day, late
        flows=[("A", 10, 6, 2, 2), ("B", 5, 5, 0, 0), ("C", 4, 1, 0, 3), ("", 1, 0, 0, 1)],
        # agency, official, name, late, overdue, without apology
        by_official=[("A", "CB-1", "Phạm Văn Một", 2, 1, 1), ("C", "CB-2", "Đỗ Thị Hai", 3, 0, 3),
                     ("", None, None, 1, 0, 1), ("B", None, None, 0, 2, 2)],
        agency_names={"A": "UBND Phường A", "B": "Sở B", "C": "Công an C"},
    )  # fmt: skip
    # A: 2 late + 1 overdue = 3, C: 3 + 0 = 3 but 3 without apology (first), B: only overdue 2, '' : 1.
    assert [a.code for a in report.agencies] == ["C", "A", "B", ""]
    assert report.agencies[-1].name == NO_AGENCY_VI
    assert [(a.on_time, a.on_time_rate) for a in report.agencies] == [(1, 0.25), (8, 0.8), (5, 1.0), (0, 0.0)]
    total = report.totals
    assert (total.resolved, total.on_time, total.late, total.overdue, total.late_without_apology) == (20, 14, 6, 3, 7)
    assert [o.code for o in report.officials] == ["CB-2", "CB-1"]
    assert [(o.agency_name, o.overdue) for o in report.unnamed] == [("Sở B", 2), (NO_AGENCY_VI, 0)]


def test_the_document_names_unnamed_officials_and_says_when_counts_are_partial() -> None:
    report = assemble(
        province_code="01", province_name="Thành phố Hà Nội", window=window(date(2026, 9, 1), datetime(2026, 9, 20,
        tzinfo=VN)), generated_at=datetime(2026, 9, 20, 10, tzinfo=VN), whole_province=False,
        flows=[("A", 2, 1, 0, 1)], by_official=[("A", None, None, 1, 0, 1)], agency_names={"A": "UBND Phường A"},
    )  # fmt: skip
    doc = late_list_document(report)
    assert doc.lines[0] == "Thành phố Hà Nội — tháng 09/2026"
    assert doc.lines[1] == "Số liệu đến 00:00 ngày 20/09/2026, tháng chưa kết thúc / month in progress"
    assert any("phạm vi được giao" in line for line in doc.lines)
    assert doc.lines[-1].startswith("Trong phạm vi: 2 hồ sơ đã giải quyết, 1 đúng hạn (50,0%), 1 trễ hạn")
    [officials] = [t for t in doc.tables if t.title.startswith("II.")]
    assert [c.text for c in officials.rows[0]] == ["1", UNNAMED_OFFICIAL_VI, "", "UBND Phường A", "1", "0", "1"]
    assert doc.file_stem == "danh-sach-tre-han-01-2026-09"
