"""The FastAPI application: routes, and the background tasks of one API process.

Background tasks per process: one LISTEN connection, the refresher that turns notifications into
deltas for each live view (one view, with its own hub, per distinct scope of connected clients),
an event-loop lag probe, and — when this process also plays the `alerts` role (the embedded
default) — the alert service on a thread and event loop of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerts.service_thread import AlertServiceThread
from ingest.projection_loop import ProjectionLoop
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter
from ioc.api.access import configure_access, secure_app
from ioc.api.admin import admin_router
from ioc.api.alert_rules import alert_rules_router
from ioc.api.alertmanager import alertmanager_router
from ioc.api.alerts import alerts_router
from ioc.api.auth import auth_router
from ioc.api.calendar import calendar_router
from ioc.api.deliveries import deliveries_router
from ioc.api.deps import AppState
from ioc.api.dossiers import dossiers_router
from ioc.api.dvcqg import dvcqg_router
from ioc.api.frontend import frontend_router
from ioc.api.id_issuance import id_issuance_router
from ioc.api.imports import imports_router
from ioc.api.indicators import indicators_router
from ioc.api.ingest import IngestContext, ingest_router
from ioc.api.live import LiveSocketShortcut, live_router
from ioc.api.notification_config import notification_config_router
from ioc.api.ops import ops_router
from ioc.api.payout import payout_router
from ioc.api.push import push_router
from ioc.api.reports import reports_router
from ioc.api.silences import silences_router
from ioc.api.status import status_router
from ioc.api.subscriptions import subscriptions_router
from ioc.db.pool import make_pool
from ioc.live.feed import LiveFeed
from ioc.localities.catalogue import load_catalogue
from ioc.logsafety import install_redaction
from ioc.loop_lag import LoopLagMonitor
from ioc.map.boundaries import province_geojson
from ioc.metrics import Metrics
from ioc.settings import Settings

SHUTDOWN_STEP_SECONDS = 5.0
log = logging.getLogger(__name__)


async def _bounded(step: Awaitable[object], what: str) -> None:
    try:
        await asyncio.wait_for(step, SHUTDOWN_STEP_SECONDS)
    except asyncio.CancelledError:
        pass  # a task cancelled just before ends this way
    except TimeoutError:
        log.warning("shutdown: %s did not finish within %.0f s; going on", what, SHUTDOWN_STEP_SECONDS)


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
        projector = DossierProjector(procedures, calendars)
        feed = LiveFeed(
            pool=pool, url=database_url, calendars=calendars, metrics=metrics,
            window=f"{settings.dashboard_window_days}d" if settings.dashboard_window_days in (7, 30) else "30d",
            expected_every_seconds=settings.dossier_feed_expected_seconds, catalogue=catalogue,
            coalesce_seconds=settings.live_coalesce_seconds, tick_seconds=settings.live_coalesce_seconds,
        )  # fmt: skip
        app.state.ioc = AppState(
            settings=settings, pool=pool, metrics=metrics, catalogue=catalogue, calendars=calendars,
            ingest=IngestContext(procedures, calendars, DossierWriter(procedures), projector), feed=feed,
        )  # fmt: skip
        configure_access(app.state.ioc, settings)
        # After uvicorn has set up its loggers: no credential reaches a log line.
        install_redaction()
        projection = ProjectionLoop(pool, database_url, projector, metrics.dossier_batches_caught_up.inc)
        tasks = [asyncio.create_task(coro) for coro in (feed.listen(), feed.refresh_loop(), projection.run())]
        lag = LoopLagMonitor(metrics.event_loop_lag.labels("api"))
        lag.start()
        # The alert role, when this process plays it, runs on a thread and loop of its own: no
        # CPU-bound alert work may hold the loop that answers requests (alerts/service_thread.py).
        service = AlertServiceThread(database_url, settings, metrics) if run_alerts else None
        if service is not None:
            await service.start()
        try:
            yield
        finally:
            await lag.stop()
            if service is not None:
                await _bounded(service.stop(), "the alert service")
            # Each step is bounded: a stop (Ctrl-C, SIGTERM, docker stop) must end the process even
            # if a job or a client holds on; what did not finish in time is logged and left.
            await _bounded(feed.close(), "the live views")
            for task in tasks:
                task.cancel()
            for task in tasks:
                await _bounded(task, "a live-feed task")
            await _bounded(pool.close(timeout=SHUTDOWN_STEP_SECONDS), "the connection pool")

    app = FastAPI(
        title="IOC — Trung tâm giám sát, điều hành thông minh",
        version="0.1.0",
        lifespan=lifespan,
        # The interactive docs pages load their scripts from a CDN, which a command centre may not
        # reach; the OpenAPI document itself stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(auth_router())
    app.include_router(admin_router())
    app.include_router(ingest_router())
    app.include_router(dvcqg_router())
    app.include_router(payout_router())
    app.include_router(status_router())
    app.include_router(indicators_router())
    app.include_router(alerts_router())
    app.include_router(silences_router())
    app.include_router(notification_config_router())
    app.include_router(subscriptions_router())
    app.include_router(push_router(vapid_key_file=settings.vapid_key_path))
    app.include_router(alert_rules_router())
    app.include_router(deliveries_router())
    app.include_router(alertmanager_router())
    app.include_router(dossiers_router())
    app.include_router(reports_router())
    app.include_router(calendar_router())
    app.include_router(id_issuance_router())
    app.include_router(imports_router())
    app.include_router(live_router())
    app.include_router(ops_router())
    app.include_router(frontend_router(boundary_file=settings.boundary_file, frontend_dir=settings.frontend_dir))
    secure_app(app, settings)
    # Outermost: /ws without the router's and the HTTP middlewares' frames under each socket.
    app.add_middleware(LiveSocketShortcut)
    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes: settings and database URL from IOC_*."""
    settings = Settings()
    return create_app(settings, settings.require_database_url(), run_alerts=False)
