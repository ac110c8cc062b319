"""Scheduled housekeeping of the `alerts` role (APScheduler 3, in the caller's asyncio loop).

Rule evaluation and notification planning are not here: they run in alerts/pipeline.py, woken
by incoming data as well as by time. These jobs are the slow, calendar-driven ones.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import AsyncConnectionPool

from ioc.db.maintenance import apply_retention
from ioc.db.pool import Conn
from ioc.indicators.history_job import schedule_history_jobs
from ioc.reports.schedule import register_report_jobs


def start_alert_scheduler(pool: AsyncConnectionPool[Conn], retention_days: int) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
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
