"""The `alerts` role on its own thread and event loop, for processes that also serve the API.

In the embedded default (`ioc demo`, `ioc api --with-alerts`) one process serves HTTP and
WebSocket requests and runs the alert engine, the notification planner and the delivery workers.
Run on the serving event loop, every CPU-bound stretch of alert work (a rule over thousands of
localities, a planning round over thousands of alerts) stalls every request for as long as it
lasts: the demo froze for 15–42 s at a time. Here the service gets its own thread, its own event
loop and its own connection pool (a psycopg async pool belongs to the loop that opened it), so a
slow round delays only other alert work. The metrics registry is shared: prometheus-client is
thread-safe, and `/metrics` on the API keeps showing the engine's figures.

What is shared with the API is only what is safe across threads: settings, the metrics object
and the database URL. The API's LISTEN loop, hubs and caches stay on the serving loop.
`ioc alerts` (the production layout) runs the service in a process of its own instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

from alerts.service import AlertService
from ingest.reference import CalendarStore
from ioc.db.pool import make_pool
from ioc.loop_lag import LoopLagMonitor
from ioc.metrics import Metrics
from ioc.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["AlertServiceThread"]


class AlertServiceThread:
    """Start with `await start()` (raises what the service's start-up raised, e.g. a broken
    rules file), stop with `await stop()`; both are called from the serving loop."""

    def __init__(self, url: str, settings: Settings, metrics: Metrics, *, stop_timeout: float = 4.5) -> None:
        self._url = url
        self._settings = settings
        self._metrics = metrics
        self._stop_timeout = stop_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stopping: asyncio.Event | None = None

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ioc-alerts", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(self._started)

    async def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            # Joined off the serving loop: a thread that takes long to stop must not stall it.
            await asyncio.to_thread(self._thread.join, self._stop_timeout)
            if self._thread.is_alive():
                log.warning("alert thread did not stop within %.0f s; leaving it", self._stop_timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the starter, or logged
            if not self._started.done():
                self._started.set_exception(exc)
            else:
                log.exception("alert thread ended with an error")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        pool = make_pool(self._settings, self._url)
        await pool.open(wait=True, timeout=30)
        lag = LoopLagMonitor(self._metrics.event_loop_lag.labels("alerts"))
        try:
            calendars = CalendarStore()
            async with pool.connection() as conn:
                await calendars.refresh_if_stale(conn)
            service = AlertService(pool, self._url, self._settings, calendars.calendar_for(""), self._metrics)
            await service.start()
            lag.start()
            self._started.set_result(None)
            try:
                await self._stopping.wait()
            finally:
                await lag.stop()
                await service.stop()
        finally:
            await pool.close(timeout=5)
