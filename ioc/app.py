"""The FastAPI application: routes, and the background tasks of one API process.

Background tasks per process: the live hub's flusher, one LISTEN connection, the refresher that
turns notifications into deltas, and — when this process also plays the `alerts` role (the
embedded default) — the alert scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerts.scheduler import start_alert_scheduler
from alerts.shell import AlertEngine
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter
from ioc.api.deps import AppState
from ioc.api.frontend import frontend_router
from ioc.api.ingest import IngestContext, ingest_router
from ioc.api.live import live_router
from ioc.api.ops import ops_router
from ioc.api.status import status_router
from ioc.db.pool import make_pool
from ioc.live.feed import LiveFeed
from ioc.live.hub import LiveHub
from ioc.localities.catalogue import load_catalogue
from ioc.map.boundaries import province_geojson
from ioc.metrics import Metrics
from ioc.settings import Settings


def create_app(settings: Settings, database_url: str, *, run_alerts: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A broken boundary file is a configuration error: refuse to start rather than serve a
        # map that fails on first load. (Deriving the default shapes here also warms the cache.)
        catalogue = load_catalogue()
        province_geojson(catalogue, settings.boundary_file)
        metrics = Metrics()
        pool = make_pool(settings, database_url)
        await pool.open(wait=True, timeout=30)
        calendars = CalendarStore()
        procedures = ProcedureCache()
        async with pool.connection() as conn:
            await calendars.refresh_if_stale(conn)
        feed = LiveFeed(
            pool=pool, url=database_url, calendars=calendars, metrics=metrics,
            window=f"{settings.dashboard_window_days}d" if settings.dashboard_window_days in (7, 30) else "30d",
            expected_every_seconds=settings.dossier_feed_expected_seconds,
            tick_seconds=settings.live_coalesce_seconds,
        )  # fmt: skip
        hub = LiveHub(
            snapshot_provider=feed.snapshot, coalesce_seconds=settings.live_coalesce_seconds,
            metrics=metrics.hub_metrics(),
        )  # fmt: skip
        feed.hub = hub
        app.state.ioc = AppState(
            settings=settings, pool=pool, metrics=metrics, catalogue=catalogue, calendars=calendars,
            ingest=IngestContext(procedures, calendars, DossierWriter(procedures, calendars)), hub=hub,
        )  # fmt: skip
        tasks = [asyncio.create_task(coro) for coro in (hub.run(), feed.listen(), feed.refresh_loop())]
        scheduler = None
        if run_alerts:
            engine = AlertEngine(calendars.calendar_for(""), metrics)
            scheduler = start_alert_scheduler(
                pool, engine, settings.alert_interval_seconds, settings.retention_days
            )
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            hub.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await pool.close()

    app = FastAPI(
        title="IOC — Trung tâm giám sát, điều hành thông minh",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(ingest_router())
    app.include_router(status_router())
    app.include_router(live_router())
    app.include_router(ops_router())
    app.include_router(frontend_router(boundary_file=settings.boundary_file, frontend_dir=settings.frontend_dir))
    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes: settings and database URL from IOC_*."""
    settings = Settings()
    return create_app(settings, settings.require_database_url(), run_alerts=False)
