"""The monthly briefing over the real indicators module, and the monthly schedule that stores every
province's reports exactly once. Fixture: report_fixture.py (Hà Nội, September 2026)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import openpyxl
import pypdf
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ioc.auth.scope import Scope
from ioc.indicators.history_job import run_history_job
from ioc.reports.briefing import briefing
from ioc.reports.fonts import DEFAULT_FONT_DIR
from ioc.reports.indicator_source import IndicatorsModule
from ioc.reports.months import window
from ioc.reports.produce import build_document, render
from ioc.reports.schedule import JOB_ID, generate_monthly_reports, register_report_jobs
from tests.integration.report_fixture import FIRST_OF_OCTOBER, SEPTEMBER, write_fixture

PROVINCES = 34
FILES_PER_PROVINCE = 4  # late list and briefing, XLSX and PDF


async def prepare(db_url: str) -> str:
    """The fixture, and the indicator history job's rollups brought up to date with it."""
    await write_fixture(db_url)
    async with await AsyncConnection.connect(db_url) as conn:
        await run_history_job(conn, datetime.now(UTC))
    return db_url


@pytest.fixture
async def fixture_db(db_url: str) -> str:
    return await prepare(db_url)


# --------------------------------------------------------------------------- briefing


async def test_briefing_pairs_each_indicator_with_last_month(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as conn:
        report = await briefing(conn, Scope.everything(), IndicatorsModule(), province_code="01",
                                province_name="Thành phố Hà Nội", month_window=window(SEPTEMBER, FIRST_OF_OCTOBER),
                                generated_at=FIRST_OF_OCTOBER)  # fmt: skip
    rows = {r.indicator.code: r for r in report.rows}
    # Every indicator of the module, dossier ones first.
    # 15 since the appointment-beyond-statutory finding (issue #12).
    assert len(rows) == 15 and report.rows[0].indicator.stream == "dossier"
    assert "appointment_beyond_statutory_count" in rows
    # On time: September resolved 7 (BD-1..4, CA-1, TP-1, TP-2), 4 of them early or on the day → 4/7;
    # August resolved only BD-0, late → 0/1 = 0. Change +4/7, for the better (higher is better).
    on_time = rows["on_time_rate"]
    assert on_time.value == pytest.approx(4 / 7) and on_time.change == pytest.approx(4 / 7)
    assert (on_time.previous, on_time.trend) == (0.0, "better")
    # Online submissions: all 10 September receipts and August's one were online → 1.0 both months.
    online = rows["online_submission_share"]
    assert (online.value, online.previous, online.change, online.trend) == (1.0, 1.0, 0.0, "same")
    # No stock snapshot was taken in August or September, no payout or ID data: no value, no trend.
    assert rows["overdue_count"].value is None and rows["overdue_count"].trend is None
    assert rows["payout_completion"].value is None and rows["cccd_coverage"].trend is None
    # Satisfaction is fed now, but no dossier of this fixture was rated: no value, no trend.
    assert rows["satisfaction_rate"].indicator.ingested and rows["satisfaction_rate"].value is None


async def test_briefing_files_hold_the_numbers_and_the_diacritics(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as conn:
        doc = await build_document(conn, "briefing", Scope.everything(), province_code="01", month=SEPTEMBER,
                                   now=FIRST_OF_OCTOBER, indicators=IndicatorsModule())  # fmt: skip
    xlsx = render(doc, "xlsx", DEFAULT_FONT_DIR)
    assert xlsx.filename == "ban-tin-thang-01-2026-09.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    on_time = next(r for r in rows if isinstance(r[1], str) and r[1].startswith("Tỷ lệ hồ sơ giải quyết đúng hạn"))
    # STT, indicator, September, August, change in percentage points (4/7 × 100), trend.
    assert on_time == (1, "Tỷ lệ hồ sơ giải quyết đúng hạn\nOn-time resolution rate", pytest.approx(4 / 7), 0,
                       pytest.approx(400 / 7), "Tốt lên")  # fmt: skip
    assert rows[2][:1] == ("Thành phố Hà Nội — tháng 09/2026 (so với tháng 08/2026)",)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(render(doc, "pdf", DEFAULT_FONT_DIR)
                                                                            .content)).pages)  # fmt: skip
    for expected in ("BẢN TIN CHỈ SỐ ĐIỀU HÀNH THÁNG", "Thành phố Hà Nội", "Tháng 09/2026", "Tháng 08/2026",
                     "Tỷ lệ hồ sơ giải quyết đúng hạn", "57,1%", "0,0%", "+57,1 điểm %", "Tốt lên", "Không đổi",
                     "Chi trả an sinh xã hội", "Cấp căn cước công dân và định danh điện tử"):  # fmt: skip
        assert expected in text, expected


# --------------------------------------------------------------------------- the schedule


async def count_files(db_url: str) -> int:
    async with await AsyncConnection.connect(db_url) as conn:
        row = await (await conn.execute("SELECT count(*) FROM report_file WHERE month = %s", [SEPTEMBER])).fetchone()
    assert row is not None
    return int(row[0])


async def test_the_schedule_stores_each_file_once_even_when_run_twice(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as conn:
        first = await generate_monthly_reports(conn, FIRST_OF_OCTOBER, indicators=IndicatorsModule(),
                                               font_dir=DEFAULT_FONT_DIR)  # fmt: skip
        second = await generate_monthly_reports(conn, FIRST_OF_OCTOBER, indicators=IndicatorsModule(),
                                                font_dir=DEFAULT_FONT_DIR)  # fmt: skip
    assert first.month == SEPTEMBER and first.failed == []
    assert first.written == PROVINCES * FILES_PER_PROVINCE and first.already_stored == 0
    assert (second.written, second.already_stored) == (0, PROVINCES * FILES_PER_PROVINCE)
    assert await count_files(fixture_db) == PROVINCES * FILES_PER_PROVINCE
    # The stored late list of Hà Nội is the report itself.
    async with await AsyncConnection.connect(fixture_db) as conn:
        row = await (await conn.execute(
            "SELECT content, size_bytes FROM report_file WHERE province_code = '01' AND kind = 'late_list'"
            " AND format = 'pdf' AND month = %s", [SEPTEMBER])).fetchone()  # fmt: skip
    assert row is not None
    content = bytes(row[0])
    assert len(content) == row[1]
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages)
    assert "Thành phố Hà Nội — tháng 09/2026" in text and "7 hồ sơ đã giải quyết, 4 đúng hạn (57,1%)" in text


async def test_two_replicas_at_once_store_each_file_once(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as a, await AsyncConnection.connect(fixture_db) as b:
        runs = await asyncio.gather(*(
            generate_monthly_reports(conn, FIRST_OF_OCTOBER, indicators=IndicatorsModule(), font_dir=DEFAULT_FONT_DIR)
            for conn in (a, b)
        ))  # fmt: skip
    assert sum(r.written for r in runs) == PROVINCES * FILES_PER_PROVINCE
    assert await count_files(fixture_db) == PROVINCES * FILES_PER_PROVINCE


async def test_a_later_night_makes_up_only_what_is_missing(fixture_db: str) -> None:
    async with await AsyncConnection.connect(fixture_db) as conn:
        await generate_monthly_reports(conn, FIRST_OF_OCTOBER, indicators=IndicatorsModule(),
                                       font_dir=DEFAULT_FONT_DIR)  # fmt: skip
        await conn.execute("DELETE FROM report_file WHERE province_code = '79' AND format = 'pdf'")
        await conn.commit()
        night_after = datetime.fromisoformat("2026-10-02T00:30:00+07:00")
        again = await generate_monthly_reports(conn, night_after, indicators=IndicatorsModule(),
                                               font_dir=DEFAULT_FONT_DIR)  # fmt: skip
    assert (again.month, again.written) == (SEPTEMBER, 2)  # 79's late list and briefing PDFs
    assert await count_files(fixture_db) == PROVINCES * FILES_PER_PROVINCE


def test_the_job_runs_nightly_at_half_past_midnight_local_time(db_url: str) -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    pool: AsyncConnectionPool[AsyncConnection[tuple[object, ...]]] = AsyncConnectionPool(db_url, open=False)
    register_report_jobs(scheduler, pool)
    job = scheduler.get_job(JOB_ID)
    assert job is not None and isinstance(job.trigger, CronTrigger)
    assert str(job.trigger.timezone) == "Asia/Ho_Chi_Minh"
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"], fields["day"]) == ("0", "30", "*")
