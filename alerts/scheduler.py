"""Runs the alert engine on a schedule (APScheduler 3, in the caller's asyncio loop)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import AsyncConnectionPool

from alerts.shell import AlertEngine
from ioc.db.maintenance import apply_retention
from ioc.db.pool import Conn
from ioc.indicators.history_job import schedule_history_jobs
from ioc.reports.schedule import register_report_jobs

log = logging.getLogger(__name__)


async def evaluate_now(pool: AsyncConnectionPool[Conn], engine: AlertEngine) -> None:
    try:
        async with pool.connection() as conn:
            report = await engine.run_once(conn, datetime.now(UTC))
        if report.transitions or report.conflicts:
            log.info("alert evaluation: %s", report)
    except Exception:  # a failed round must not stop the schedule; the next one retries
        log.exception("alert evaluation failed")


def start_alert_scheduler(
    pool: AsyncConnectionPool[Conn], engine: AlertEngine, interval_seconds: float, retention_days: int
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        evaluate_now, "interval", args=[pool, engine], seconds=interval_seconds,
        max_instances=1, coalesce=True, next_run_time=datetime.now(UTC), id="alert-evaluation",
    )  # fmt: skip
    # The process that runs the engine also keeps the event log within its retention period.
    scheduler.add_job(
        apply_retention, "interval", args=[pool, retention_days], hours=6, max_instances=1, coalesce=True,
        next_run_time=datetime.now(UTC), id="event-retention",
    )  # fmt: skip
    # The monthly late lists and briefings of every province (once, whatever the replicas).
    register_report_jobs(scheduler, pool)
    # Indicator history: hourly and daily rollups and stock snapshots (ioc/indicators/history_job.py).
    schedule_history_jobs(scheduler, pool)
    scheduler.start()
    return scheduler
