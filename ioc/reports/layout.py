"""Reports as documents: a title, a few lines, titled tables of typed cells. Pure.

Both renderers (XLSX, PDF) draw any Document, so the wording of a report lives here once:
Vietnamese first with its diacritics, English second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.reports.briefing import STREAM_TITLES_EN, STREAM_TITLES_VI, Briefing, BriefingRow
from ioc.reports.formatting import Kind, format_value
from ioc.reports.late_list import AgencyLate, LateList, OfficialLate
from ioc.reports.months import LOCAL_TZ, month_label_vi

UNNAMED_OFFICIAL_VI = "(chưa ghi nhận cán bộ xử lý)"
TRENDS_VI = {"better": "Tốt lên", "worse": "Xấu đi", "same": "Không đổi"}
_VALUE_KIND: dict[str, Kind] = {"ratio": "ratio", "count": "count", "vnd": "vnd", "per_day": "per_day"}
_CHANGE_KIND: dict[str, Kind] = {"ratio": "points", "count": "delta", "vnd": "delta_vnd", "per_day": "delta_per_day"}


@dataclass(frozen=True)
class Cell:
    value: str | int | float | None
    kind: Kind = "text"

    @property
    def text(self) -> str:
        return format_value(self.value, self.kind)


@dataclass(frozen=True)
class Column:
    title_vi: str
    title_en: str
    width: float  # relative to the other columns
    numeric: bool = True


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total: tuple[Cell, ...] | None = None
    empty_text: str = "Không có / none"


@dataclass(frozen=True)
class Document:
    title_vi: str
    title_en: str
    lines: tuple[str, ...]  # province and month, the figures' date, the scope, a summary
    tables: tuple[Table, ...]
    notes: tuple[str, ...]
    file_stem: str  # ASCII, for the download's file name


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%H:%M ngày %d/%m/%Y")


def _header_lines(report: LateList | Briefing, month_text: str) -> list[str]:
    lines = [f"{report.province_name} — {month_text}"]
    if report.complete:
        last = report.as_of.astimezone(LOCAL_TZ).date() - timedelta(days=1)
        lines.append(f"Số liệu hết ngày {last:%d/%m/%Y} / figures to the month's end")
    else:
        lines.append(f"Số liệu đến {_local(report.as_of)}, tháng chưa kết thúc / month in progress")
    lines.append(f"Lập lúc {_local(report.generated_at)} / generated")
    if not report.whole_province:
        lines.append("Số liệu trong phạm vi được giao, không phải toàn tỉnh / figures for your scope only")
    return lines


# --------------------------------------------------------------------------- late list

AGENCY_COLUMNS = (
    Column("STT", "No.", 0.5),
    Column("Cơ quan", "Agency", 3.2, numeric=False),
    Column("Đã giải quyết", "Resolved", 1.1),
    Column("Đúng hạn", "On time", 1.0),
    Column("Trễ hạn", "Late", 1.0),
    Column("Tỷ lệ đúng hạn", "On-time rate", 1.1),
    Column("Quá hạn chưa giải quyết", "Overdue, open", 1.3),
    Column("Trễ hạn chưa xin lỗi", "Late, no apology", 1.3),
)
OFFICIAL_COLUMNS = (
    Column("STT", "No.", 0.5),
    Column("Cán bộ xử lý", "Official", 2.2, numeric=False),
    Column("Mã cán bộ", "Code", 1.2, numeric=False),
    Column("Cơ quan", "Agency", 2.6, numeric=False),
    Column("Trễ hạn", "Late", 1.0),
    Column("Quá hạn chưa giải quyết", "Overdue, open", 1.3),
    Column("Trễ hạn chưa xin lỗi", "Late, no apology", 1.3),
)


def _agency_cells(r: AgencyLate) -> tuple[Cell, ...]:
    return (
        Cell(r.resolved, "count"), Cell(r.on_time, "count"), Cell(r.late, "count"), Cell(r.on_time_rate, "ratio"),
        Cell(r.overdue, "count"), Cell(r.late_without_apology, "count"),
    )  # fmt: skip


def _official_cells(o: OfficialLate) -> tuple[Cell, ...]:
    return (Cell(o.late, "count"), Cell(o.overdue, "count"), Cell(o.late_without_apology, "count"))


def late_list_document(report: LateList) -> Document:
    month_text = month_label_vi(report.month)
    t = report.totals
    rate = Cell(t.on_time_rate, "ratio").text
    summary = (
        f"{'Toàn tỉnh' if report.whole_province else 'Trong phạm vi'}: {Cell(t.resolved, 'count').text} hồ sơ đã giải "
        f"quyết, {Cell(t.on_time, 'count').text} đúng hạn ({rate}), {Cell(t.late, 'count').text} trễ hạn; "
        f"{Cell(t.overdue, 'count').text} hồ sơ quá hạn chưa giải quyết; {Cell(t.late_without_apology, 'count').text} "
        "hồ sơ trễ hạn chưa có thư xin lỗi."
    )
    agencies = Table(
        "I. Cơ quan có hồ sơ trễ hạn / Agencies with late dossiers",
        AGENCY_COLUMNS,
        tuple((Cell(i, "count"), Cell(r.name), *_agency_cells(r)) for i, r in enumerate(report.agencies, 1)),
        total=(Cell(""), Cell("Tổng cộng (toàn bộ cơ quan) / all agencies"), *_agency_cells(t)),
        empty_text="Không có cơ quan trễ hạn trong tháng / no agency was late this month",
    )
    people = [*report.officials, *report.unnamed]
    officials = Table(
        "II. Cá nhân có hồ sơ trễ hạn / Officials with late dossiers",
        OFFICIAL_COLUMNS,
        tuple(
            (
                Cell(i, "count"),
                Cell(o.name or o.code or UNNAMED_OFFICIAL_VI),
                Cell(o.code or ""),
                Cell(o.agency_name),
                *_official_cells(o),
            )
            for i, o in enumerate(people, 1)
        ),
        empty_text="Không có cá nhân trễ hạn trong tháng / no official was late this month",
    )
    notes = (
        "Đúng hạn: giải quyết trước hoặc trong ngày hẹn trả. Quá hạn: chưa giải quyết khi đã quá hạn vào cuối "
        "tháng. Trễ hạn chưa xin lỗi: hồ sơ trễ hoặc quá hạn chưa có thư xin lỗi đến cuối tháng.",
        "On time: resolved early or on the due day. Overdue: still open past the deadline at the month's end. "
        "Late, no apology: late or overdue with no apology letter by the month's end.",
    )
    return Document(
        title_vi="DANH SÁCH CƠ QUAN, CÁ NHÂN TRỄ HẠN GIẢI QUYẾT HỒ SƠ THỦ TỤC HÀNH CHÍNH",
        title_en="Agencies and officials late in resolving administrative dossiers",
        lines=(*_header_lines(report, month_text), summary),
        tables=(agencies, officials),
        notes=notes,
        file_stem=f"danh-sach-tre-han-{report.province_code}-{report.month:%Y-%m}",
    )


# --------------------------------------------------------------------------- briefing


def _briefing_cells(i: int, row: BriefingRow) -> tuple[Cell, ...]:
    unit = row.indicator.unit
    kind = _VALUE_KIND.get(unit, "count")
    change_kind = _CHANGE_KIND.get(unit, "delta")
    # A share's change in percentage points, rounded off float noise (0.90 − 0.85 = 0.05000000000000004).
    change = round(row.change * 100, 9) if row.change is not None and unit == "ratio" else row.change
    return (
        Cell(i, "count"), Cell(f"{row.indicator.name_vi}\n{row.indicator.name_en}"), Cell(row.value, kind),
        Cell(row.previous, kind), Cell(change, change_kind), Cell(_trend_text(row)),
    )  # fmt: skip


def _trend_text(row: BriefingRow) -> str:
    if not row.indicator.ingested:
        return "Chưa có nguồn dữ liệu / not ingested yet"
    return TRENDS_VI.get(row.trend or "", "—")


def briefing_document(report: Briefing) -> Document:
    this, before = month_label_vi(report.month), month_label_vi(report.previous_month)
    columns = (
        Column("STT", "No.", 0.5),
        Column("Chỉ số", "Indicator", 4.0, numeric=False),
        Column(this[0].upper() + this[1:], "This month", 1.4),
        Column(before[0].upper() + before[1:], "Last month", 1.4),
        Column("Thay đổi", "Change", 1.4),
        Column("Đánh giá", "Trend", 1.1, numeric=False),
    )
    tables = []
    streams = list(dict.fromkeys(row.indicator.stream for row in report.rows))
    for number, stream in enumerate(streams, 1):
        rows = [row for row in report.rows if row.indicator.stream == stream]
        title = f"{_roman(number)}. {STREAM_TITLES_VI.get(stream, stream)} / {STREAM_TITLES_EN.get(stream, stream)}"
        tables.append(Table(title, columns, tuple(_briefing_cells(i, r) for i, r in enumerate(rows, 1))))
    better = sum(r.trend == "better" for r in report.rows)
    worse = sum(r.trend == "worse" for r in report.rows)
    summary = f"So với {before}: {better} chỉ số tốt lên, {worse} chỉ số xấu đi / against last month: " \
              f"{better} better, {worse} worse."  # fmt: skip
    notes = (
        "Thay đổi của tỷ lệ tính bằng điểm phần trăm. “—”: chưa có số liệu.",
        "A share's change is in percentage points. “—”: no data yet.",
    )
    return Document(
        title_vi="BẢN TIN CHỈ SỐ ĐIỀU HÀNH THÁNG",
        title_en="Monthly briefing: the indicators and their change against last month",
        lines=(*_header_lines(report, f"{this} (so với {before})"), summary),
        tables=tuple(tables),
        notes=notes,
        file_stem=f"ban-tin-thang-{report.province_code}-{report.month:%Y-%m}",
    )


def _roman(n: int) -> str:
    return ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")[n - 1] if 0 < n <= 10 else str(n)
