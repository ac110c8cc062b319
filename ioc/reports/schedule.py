"""The monthly reports, made on a schedule: every province's late list and briefing, XLSX and PDF.

The job runs in the alerts process's scheduler every night at 00:30 local time and makes the
previous month's files that are not stored yet. On the 1st that is all of them (34 provinces × 2
reports × 2 formats); on other nights nothing, unless a night was missed (the process was down on
the 1st) or a report failed, which the next night then makes up. Exactly once, also with several
alerts replicas: a transaction-level advisory lock lets one replica run at a time (the others skip
the round), and the table's unique key makes a second run write nothing. Stored reports cover the
whole province (the national scope); the API shows them to callers who see that whole province.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from psycopg_pool import AsyncConnectionPool

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.reports import store
from ioc.reports.fonts import ReportSettings
from ioc.reports.indicator_source import IndicatorsModule, IndicatorSource
from ioc.reports.months import LOCAL_TZ, month_of, previous_month
from ioc.reports.produce import FORMATS, KINDS, build_document, render_in_thread

log = logging.getLogger(__name__)

REPORTS_LOCK_KEY = 7_311_042_014
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"
SELECT_PROVINCES = "SELECT code FROM locality WHERE level = 'province' ORDER BY code"
JOB_ID = "monthly-reports"


@dataclass
class GenerationSummary:
    month: date
    written: int = 0
    already_stored: int = 0
    failed: list[str] = field(default_factory=list)  # "province/kind: error"
    skipped: bool = False  # another replica held the lock


async def generate_monthly_reports(
    conn: Conn, now: datetime, *, indicators: IndicatorSource, font_dir: Path, month: date | None = None
) -> GenerationSummary:
    """Make and store the missing reports of `month` (default: the month before `now`'s)."""
    target = month or previous_month(month_of(now))
    summary = GenerationSummary(target)
    everything = Scope.everything()
    async with conn.transaction():
        cur = await conn.execute(TRY_LOCK, [REPORTS_LOCK_KEY])
        row = await cur.fetchone()
        if not (row and row[0]):
            summary.skipped = True
            return summary
        stored = await store.stored_keys(conn, target)
        cur = await conn.execute(SELECT_PROVINCES)
        provinces = [str(r[0]) for r in await cur.fetchall()]
        for province in provinces:
            for kind in KINDS:
                missing = [fmt for fmt in FORMATS if (province, kind, fmt) not in stored]
                summary.already_stored += len(FORMATS) - len(missing)
                if not missing:
                    continue
                try:
                    # A savepoint each: one failing report rolls back only itself.
                    async with conn.transaction():
                        doc = await build_document(conn, kind, everything, province_code=province, month=target,
                                                   now=now, indicators=indicators)  # fmt: skip
                        for fmt in missing:
                            rendered = await render_in_thread(doc, fmt, font_dir)
                            written = await store.save(conn, province_code=province, kind=kind, month=target,
                                                       fmt=fmt, content=rendered.content, generated_at=now)  # fmt: skip
                            summary.written += written is not None
                except Exception as exc:  # a bad report never stops the others; the next night retries it
                    log.warning("monthly report %s/%s %s failed: %s", province, kind, target, exc)
                    summary.failed.append(f"{province}/{kind}: {exc}")
    return summary


async def run_monthly_reports(
    pool: AsyncConnectionPool[Conn], indicators: IndicatorSource, font_dir: Path
) -> GenerationSummary | None:
    try:
        async with pool.connection() as conn:
            summary = await generate_monthly_reports(conn, datetime.now(UTC), indicators=indicators,
                                                     font_dir=font_dir)  # fmt: skip
        if summary.written or summary.failed:
            log.info("monthly reports for %s: %d written, %d failed", summary.month, summary.written,
                     len(summary.failed))  # fmt: skip
        return summary
    except Exception:  # a failed round must not stop the schedule; the next night retries
        log.exception("monthly reports failed")
        return None


def register_report_jobs(
    scheduler: BaseScheduler,
    pool: AsyncConnectionPool[Conn],
    *,
    indicators: IndicatorSource | None = None,
    settings: ReportSettings | None = None,
) -> None:
    """Add the nightly job to the alerts process's scheduler (alerts/scheduler.py)."""
    font_dir = (settings or ReportSettings()).font_dir
    scheduler.add_job(
        run_monthly_reports, CronTrigger(hour=0, minute=30, timezone=LOCAL_TZ),
        args=[pool, indicators or IndicatorsModule(), font_dir], id=JOB_ID, max_instances=1, coalesce=True,
        misfire_grace_time=6 * 3600,
    )  # fmt: skip
