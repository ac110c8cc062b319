"""The monthly late list over a real database: the hand-computed fixture of report_fixture.py, its
numbers, its scope, and the XLSX and PDF files read back with openpyxl and pypdf."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import pypdf
import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.reports.fonts import DEFAULT_FONT_DIR
from ioc.reports.indicator_source import IndicatorsModule
from ioc.reports.late_list import SELECT_LATE_BY_OFFICIAL, LateList, late_list
from ioc.reports.months import window
from ioc.reports.produce import build_document, render
from tests.integration.report_fixture import FIRST_OF_OCTOBER, SEPTEMBER, write_fixture
from tests.integration.test_status_plans import plan_nodes


@pytest.fixture
async def fixture_db(db_url: str) -> str:
    await write_fixture(db_url)
    return db_url


async def listed(db_url: str, scope: Scope, now: datetime = FIRST_OF_OCTOBER) -> LateList:
    async with await AsyncConnection.connect(db_url) as conn:
        return await late_list(conn, scope, province_code="01", province_name="Thành phố Hà Nội",
                               window=window(SEPTEMBER, now), generated_at=now)  # fmt: skip


def counts(row: Any) -> tuple[int, ...]:
    return (row.resolved, row.on_time, row.late, row.overdue, row.late_without_apology)


async def test_late_list_matches_the_hand_computed_month(fixture_db: str) -> None:
    report = await listed(fixture_db, Scope.everything())
    assert report.complete and report.whole_province
    # Agencies with a late or overdue dossier, worst first: Ba Đình (2 late + 1 overdue), then Tư pháp (1 + 1).
    # Công an Phường Ba Đình resolved its one dossier early: not listed. HCMC's agency: another province.
    assert [(a.name, *counts(a)) for a in report.agencies] == [
        ("UBND Phường Ba Đình", 4, 2, 2, 1, 2),
        ("Sở Tư pháp Thành phố Hà Nội", 2, 1, 1, 1, 2),
    ]
    assert [a.on_time_rate for a in report.agencies] == [2 / 4, 1 / 2]
    # Totals over every agency of the province: 4 + 2 + 1 resolved, 2 + 1 + 1 on time, 4/7 on time.
    assert counts(report.totals) == (7, 4, 3, 2, 4)
    assert report.totals.on_time_rate == pytest.approx(4 / 7)
    # Officials: Đức (1 late + 1 overdue, neither apologised), Nhung (overdue on 30/9, letter only on 6/10),
    # Lan (one late, apologised on 19/9).
    assert [(o.code, o.name, o.agency_name, o.late, o.overdue, o.late_without_apology) for o in report.officials] == [
        ("CB-02", "Trần Văn Đức", "UBND Phường Ba Đình", 1, 1, 2),
        ("CB-03", "Lê Thị Hồng Nhung", "Sở Tư pháp Thành phố Hà Nội", 0, 1, 1),
        ("CB-01", "Nguyễn Thị Lan", "UBND Phường Ba Đình", 1, 0, 0),
    ]
    assert [(o.agency_name, o.late, o.overdue, o.late_without_apology) for o in report.unnamed] == [
        ("Sở Tư pháp Thành phố Hà Nội", 1, 0, 1)
    ]


async def test_a_past_month_reads_the_same_whenever_it_is_generated(fixture_db: str) -> None:
    """TP-3 was overdue on 30/9 and resolved on 5/10: still overdue in September's list in November."""
    at_month_end = await listed(fixture_db, Scope.everything())
    later = await listed(fixture_db, Scope.everything(), now=datetime.fromisoformat("2026-11-20T10:00:00+07:00"))
    assert later.agencies == at_month_end.agencies and later.officials == at_month_end.officials


async def test_the_month_in_progress_counts_up_to_now(fixture_db: str) -> None:
    # On 22/9 at noon: BD-4 (resolved 21/9) is late, BD-5 is not due yet (24/9), TP-3 only received today.
    report = await listed(fixture_db, Scope.everything(), now=datetime.fromisoformat("2026-09-22T12:00:00+07:00"))
    assert not report.complete
    ba_dinh = next(a for a in report.agencies if a.code == "UBND-00004")
    assert counts(ba_dinh) == (4, 2, 2, 0, 1)  # BD-3 apologised on 19/9; BD-4 not
    assert [a.code for a in report.agencies] == ["UBND-00004", "STP-01"]


async def test_a_commune_scope_counts_its_commune_only(fixture_db: str) -> None:
    report = await listed(fixture_db, Scope.from_dict({"communes": ["00004"]}))
    assert not report.whole_province
    # Only Ba Đình's agencies: the Sở Tư pháp works at province level, outside a commune's scope.
    assert [a.code for a in report.agencies] == ["UBND-00004"]
    assert counts(report.totals) == (5, 3, 2, 1, 2)  # Ba Đình 4 + Công an 1 resolved
    assert {o.code for o in report.officials} == {"CB-01", "CB-02"} and report.unnamed == ()


async def test_an_agency_scope_sees_only_that_agency(fixture_db: str) -> None:
    report = await listed(fixture_db, Scope.from_dict({"provinces": ["01"], "agencies": ["STP-01"]}))
    assert [a.code for a in report.agencies] == ["STP-01"] and not report.whole_province
    assert [o.code for o in report.officials] == ["CB-03"]


def xlsx_rows(content: bytes) -> list[tuple[Any, ...]]:
    """Every row of the one sheet, without the empty cells at its end (tables differ in width)."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    rows = []
    sheet = book.active
    assert sheet is not None
    for row in sheet.iter_rows(values_only=True):
        cells = list(row)
        while cells and cells[-1] is None:
            cells.pop()
        rows.append(tuple(cells))
    return rows


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


async def test_xlsx_holds_the_numbers_and_the_diacritics(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as conn:
        doc = await build_document(conn, "late_list", Scope.everything(), province_code="01", month=SEPTEMBER,
                                   now=FIRST_OF_OCTOBER, indicators=IndicatorsModule())  # fmt: skip
    rendered = render(doc, "xlsx", DEFAULT_FONT_DIR)
    assert rendered.filename == "danh-sach-tre-han-01-2026-09.xlsx"
    rows = xlsx_rows(rendered.content)
    cells = {c for row in rows for c in row if isinstance(c, str)}
    assert "Thành phố Hà Nội — tháng 09/2026" in cells
    assert {"Đúng hạn", "Trễ hạn", "Tỷ lệ đúng hạn", "Cán bộ xử lý"} <= cells
    # The rows hold numbers, not text: STT, agency, resolved, on time, late, on-time rate, overdue, no apology.
    assert (1, "UBND Phường Ba Đình", 4, 2, 2, 0.5, 1, 2) in rows
    assert (2, "Sở Tư pháp Thành phố Hà Nội", 2, 1, 1, 0.5, 1, 2) in rows
    total = next(r for r in rows if len(r) > 1 and isinstance(r[1], str) and r[1].startswith("Tổng cộng"))
    assert total[2:8] == (7, 4, 3, pytest.approx(4 / 7), 2, 4)
    assert (1, "Trần Văn Đức", "CB-02", "UBND Phường Ba Đình", 1, 1, 2) in rows
    assert (3, "Nguyễn Thị Lan", "CB-01", "UBND Phường Ba Đình", 1, 0, 0) in rows
    assert any(r[1:2] == ("(chưa ghi nhận cán bộ xử lý)",) and r[3] == "Sở Tư pháp Thành phố Hà Nội" for r in rows)


async def test_pdf_holds_the_numbers_and_the_diacritics(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as conn:
        doc = await build_document(conn, "late_list", Scope.everything(), province_code="01", month=SEPTEMBER,
                                   now=FIRST_OF_OCTOBER, indicators=IndicatorsModule())  # fmt: skip
    rendered = render(doc, "pdf", DEFAULT_FONT_DIR)
    assert rendered.content.startswith(b"%PDF") and rendered.media_type == "application/pdf"
    text = pdf_text(rendered.content)
    for expected in ("DANH SÁCH CƠ QUAN, CÁ NHÂN TRỄ HẠN", "Thành phố Hà Nội — tháng 09/2026", "Đúng hạn",
                     "UBND Phường Ba Đình", "Sở Tư pháp Thành phố Hà Nội", "Trần Văn Đức", "Lê Thị Hồng Nhung",
                     "Số liệu hết ngày 30/09/2026"):  # fmt: skip
        assert expected in text, expected
    # The summary line in Vietnamese number style: 4 of 7 on time = 57,1%; each agency 50,0%.
    assert "7 hồ sơ đã giải quyết, 4 đúng hạn (57,1%), 3 trễ hạn" in text
    assert text.count("50,0%") == 2
    # The TrueType font is embedded (PDF's base fonts know only Latin-1): a font file rides along.
    assert b"/FontFile2" in rendered.content


def test_a_missing_font_directory_is_a_clear_error(tmp_path: Path) -> None:
    from ioc.reports.fonts import FontMissing
    from ioc.reports.layout import Document

    doc = Document("Tiêu đề", "Title", (), (), (), "x")
    with pytest.raises(FontMissing) as missing:
        render(doc, "pdf", tmp_path)
    assert "fonts-dejavu-core" in str(missing.value) and "IOC_REPORT_FONT_DIR" in str(missing.value)
    assert render(doc, "xlsx", tmp_path).content  # the spreadsheet needs no font


@pytest.mark.parametrize(
    "scope", [Scope.everything(), Scope.from_dict({"communes": ["00004"]})], ids=["national", "commune"]
)
def test_the_late_list_reads_partial_indexes_not_the_whole_province(db_url: str, scope: Scope) -> None:
    """Late and overdue dossiers are a few per cent of a province's: the list reaches them through
    the partial indexes on late and on open dossiers (tables here are tiny, so sequential scans are
    switched off: a plan that still scans `dossier` would mean no index can answer)."""
    month = window(SEPTEMBER, FIRST_OF_OCTOBER)
    params = {"province": "01", "first_day": month.first_day, "last_day": month.last_day, "start": month.start,
              "as_of": month.as_of, **scope.sql_params()}  # fmt: skip
    with psycopg.connect(db_url) as conn:
        conn.execute("SET enable_seqscan = off")
        row = conn.execute(b"EXPLAIN (FORMAT JSON) " + SELECT_LATE_BY_OFFICIAL.encode(), params).fetchone()
    assert row is not None
    nodes = plan_nodes(row[0][0]["Plan"])
    assert not any(kind == "Seq Scan" and relation.startswith("dossier") for kind, relation, _ in nodes), nodes
    used = {index for _, relation, index in nodes if relation == "dossier"}
    assert "dossier_late_idx" in used, nodes
    assert used <= {"dossier_late_idx", "dossier_open_province_idx", "dossier_open_commune_idx"}, nodes
