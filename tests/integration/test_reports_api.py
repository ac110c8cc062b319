"""The reports API on a real server: downloads, scope (404 outside it), audit, stored reports.

Fixture: report_fixture.py (Hà Nội, September 2026), written into the server's database once.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import openpyxl
import psycopg
import pypdf
import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.reports.fonts import DEFAULT_FONT_DIR
from ioc.reports.indicator_source import IndicatorsModule
from ioc.reports.schedule import generate_monthly_reports
from tests.auth_support import user_token
from tests.conftest import LiveServer, fresh_database, running_app
from tests.integration.report_fixture import FIRST_OF_OCTOBER, write_fixture
from tests.integration.test_report_briefing_and_schedule import prepare

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SEPT = {"month": "2026-09"}


@pytest.fixture(scope="module")
async def server(module_live_server: LiveServer) -> LiveServer:
    await prepare(module_live_server.db_url)
    return module_live_server


_users = itertools.count()


def token(server: LiveServer, role: str, scope: dict[str, Any]) -> str:
    return user_token(server.db_url, f"reports-{role}-{next(_users)}", role, Scope.from_dict(scope))


def get(server: LiveServer, path: str, params: dict[str, str], bearer: str | None = None) -> httpx.Response:
    with server.client(bearer) as client:
        return client.get(path, params=params)


def sheet_text(content: bytes) -> list[Any]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]


def pdf_text(content: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages)


def audited(server: LiveServer) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.db_url) as conn:
        return conn.execute(
            "SELECT actor, target, details FROM audit_log WHERE action = 'export.report' ORDER BY id"
        ).fetchall()


def test_late_list_downloads_as_xlsx_and_pdf_and_is_audited(server: LiveServer) -> None:
    before = len(audited(server))
    xlsx = get(server, "/api/v1/reports/late-list", {"province_code": "01", **SEPT, "format": "xlsx"})
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"] == XLSX
    assert 'filename="danh-sach-tre-han-01-2026-09.xlsx"' in xlsx.headers["content-disposition"]
    cells = sheet_text(xlsx.content)
    assert {
        "Thành phố Hà Nội — tháng 09/2026",
        "Đúng hạn",
        "UBND Phường Ba Đình",
        "Sở Tư pháp Thành phố Hà Nội",
    } <= set(cells)
    pdf = get(server, "/api/v1/reports/late-list", {"province_code": "01", **SEPT, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "7 hồ sơ đã giải quyết, 4 đúng hạn (57,1%), 3 trễ hạn" in pdf_text(pdf.content)
    rows = audited(server)[before:]
    assert [(r[1], r[2]["format"], r[2]["stored"]) for r in rows] == [
        ("report:late_list:01:2026-09", "xlsx", False),
        ("report:late_list:01:2026-09", "pdf", False),
    ]
    assert rows[0][0].startswith("user:admin")


def test_briefing_downloads_with_the_change_against_last_month(server: LiveServer) -> None:
    response = get(server, "/api/v1/reports/briefing", {"province_code": "01", **SEPT, "format": "pdf"})
    assert response.status_code == 200, response.text
    text = pdf_text(response.content)
    assert "BẢN TIN CHỈ SỐ ĐIỀU HÀNH THÁNG" in text and "+57,1 điểm %" in text and "Tốt lên" in text


def test_a_province_outside_the_scope_does_not_exist(server: LiveServer) -> None:
    leader = token(server, "leader", {"provinces": ["01"]})
    for path in ("/api/v1/reports/late-list", "/api/v1/reports/briefing"):
        assert get(server, path, {"province_code": "79", **SEPT}, leader).status_code == 404
        assert get(server, path, {"province_code": "01", **SEPT}, leader).status_code == 200
    # Not a province at all: the same answer.
    assert get(server, "/api/v1/reports/late-list", {"province_code": "00", **SEPT}).status_code == 404


def test_a_commune_operator_gets_their_commune_only(server: LiveServer) -> None:
    operator = token(server, "operator", {"communes": ["00004"]})
    response = get(server, "/api/v1/reports/late-list", {"province_code": "01", **SEPT}, operator)
    assert response.status_code == 200
    cells = sheet_text(response.content)
    assert "Số liệu trong phạm vi được giao, không phải toàn tỉnh / figures for your scope only" in cells
    assert "UBND Phường Ba Đình" in cells and "Sở Tư pháp Thành phố Hà Nội" not in cells
    assert get(server, "/api/v1/reports/late-list", {"province_code": "79", **SEPT}, operator).status_code == 404


def test_subscribers_may_not_read_reports(server: LiveServer) -> None:
    subscriber = token(server, "subscriber", {"provinces": ["01"]})
    assert get(server, "/api/v1/reports/late-list", {"province_code": "01", **SEPT}, subscriber).status_code == 403


@pytest.mark.parametrize("month", ["2999-01", "2026-13", "26-09", "1999-12"])
def test_a_month_that_is_not_a_past_or_current_month_is_refused(server: LiveServer, month: str) -> None:
    assert get(server, "/api/v1/reports/late-list", {"province_code": "01", "month": month}).status_code == 422


async def test_stored_reports_are_listed_and_served_within_scope(server: LiveServer) -> None:
    async with await AsyncConnection.connect(server.db_url) as conn:
        summary = await generate_monthly_reports(conn, FIRST_OF_OCTOBER, indicators=IndicatorsModule(),
                                                 font_dir=DEFAULT_FONT_DIR)  # fmt: skip
    assert summary.failed == []
    with server.client() as admin:
        everything = admin.get("/api/v1/reports", params=SEPT).json()["reports"]
        hanoi = admin.get("/api/v1/reports", params={**SEPT, "province_code": "01"}).json()["reports"]
    assert len(everything) == 34 * 4
    assert {(r["kind"], r["format"]) for r in hanoi} == {(k, f) for k in ("late_list", "briefing")
                                                         for f in ("xlsx", "pdf")}  # fmt: skip
    assert {r["province_name"] for r in hanoi} == {"Thành phố Hà Nội"}
    leader = token(server, "leader", {"provinces": ["01"]})
    seen = get(server, "/api/v1/reports", SEPT, leader).json()["reports"]
    assert {r["province_code"] for r in seen} == {"01"} and len(seen) == 4
    # A commune's operator does not see the province-wide files.
    operator = token(server, "operator", {"communes": ["00004"]})
    assert get(server, "/api/v1/reports", SEPT, operator).json()["reports"] == []

    late_pdf = next(r for r in hanoi if (r["kind"], r["format"]) == ("late_list", "pdf"))
    hcmc = next(r for r in everything if r["province_code"] == "79")
    response = get(server, late_pdf["url"], {}, leader)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert len(response.content) == late_pdf["size_bytes"]
    assert "Thành phố Hà Nội — tháng 09/2026" in pdf_text(response.content)
    assert audited(server)[-1][2] == {"kind": "late_list", "province_code": "01", "month": "2026-09",
                                      "format": "pdf", "stored": True, "report_id": late_pdf["id"]}  # fmt: skip
    assert get(server, hcmc["url"], {}, leader).status_code == 404
    assert get(server, late_pdf["url"], {}, operator).status_code == 404
    assert get(server, "/api/v1/reports/999999999", {}).status_code == 404


@pytest.fixture
def server_without_fonts(pg_server: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("IOC_REPORT_FONT_DIR", str(tmp_path))
    with running_app(fresh_database(pg_server)) as server:
        yield server


async def test_without_the_font_pdf_answers_503_and_says_how_to_fix_it(server_without_fonts: LiveServer) -> None:
    await write_fixture(server_without_fonts.db_url)
    month = f"{datetime.now(UTC):%Y-%m}"
    pdf = get(server_without_fonts, "/api/v1/reports/late-list", {"province_code": "01", "month": month,
                                                                   "format": "pdf"})  # fmt: skip
    assert pdf.status_code == 503 and "fonts-dejavu-core" in pdf.json()["detail"]
    xlsx = get(server_without_fonts, "/api/v1/reports/late-list", {"province_code": "01", "month": month})
    assert xlsx.status_code == 200
