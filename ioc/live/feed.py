"""From the database to the views: snapshots, and deltas for what writers say has changed.

Writers `pg_notify('ioc_live', …)` in their transaction with ids only (provinces touched, alert
ids). One LISTEN connection per API process collects them; a refresher re-reads just those rows
a few times per second and publishes the ones whose content changed. Overdue counts also change
by the clock alone (a deadline passes with no event), so every province is re-read periodically.
The payout and ID-issuance writers notify too (stream and provinces): those change only the
headline entries of the views touching those provinces (ioc/live/headline.py).

Clients see the feed through views, one per distinct scope with a subscriber (ioc/live/view.py):
each has its own hub and reads only what its scope allows. A view outlives its last subscriber
by a grace period, so a screen that reconnects resumes where it was instead of taking a snapshot.
Changed provinces are re-read only by the views that touch them; changed alerts are read once
and handed to every view whose scope allows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.rules import due_soon_horizon
from ingest.reference import CalendarStore
from ioc.auth.scope import Scope
from ioc.db.listen import listen_forever
from ioc.db.pool import Conn
from ioc.live.alerts import ALERT_COLUMNS, SELECT_ALERTS_BY_ID, alert_row_to_dict
from ioc.live.channel import LIVE_CHANNEL
from ioc.live.headline import HEADLINE_STREAMS
from ioc.live.hub import HubMetrics, LiveHub, Subscription
from ioc.live.view import Reading, ScopeView
from ioc.localities.catalogue import LocalityCatalogue
from ioc.metrics import Metrics
from ioc.status import dossier_freshness

__all__ = ["ALERT_COLUMNS", "LiveFeed", "alert_row_to_dict"]  # the alert helpers: older imports

log = logging.getLogger(__name__)

VIEW_GRACE_SECONDS = 60.0


class LiveFeed:
    def __init__(
        self,
        *,
        pool: AsyncConnectionPool[Conn],
        url: str,
        calendars: CalendarStore,
        metrics: Metrics,
        catalogue: LocalityCatalogue,
        window: str,
        expected_every_seconds: int,
        coalesce_seconds: float = 0.25,
        full_refresh_seconds: float = 30.0,
        tick_seconds: float = 0.25,
        view_grace_seconds: float = VIEW_GRACE_SECONDS,
    ) -> None:
        self._pool, self._url, self._calendars, self._metrics = pool, url, calendars, metrics
        self._catalogue = catalogue
        self._window = window
        self._expected = expected_every_seconds
        self._coalesce_seconds = coalesce_seconds
        self._full_refresh_seconds = full_refresh_seconds
        self._tick = tick_seconds
        self._grace = view_grace_seconds
        self._hub_metrics = metrics.hub_metrics()
        self._dirty_provinces: set[str] = set()
        self._dirty_alerts: set[int] = set()
        # Payout and ID-issuance writers name the provinces they touched: only headlines change.
        self._dirty_streams: dict[str, set[str]] = {}
        self._everything_dirty = True
        self._wake = asyncio.Event()
        self._views: dict[str, ScopeView] = {}

    @property
    def client_count(self) -> int:
        """Subscribers across every view (the clients gauge)."""
        return sum(view.hub.client_count for view in self._views.values())

    @property
    def view_count(self) -> int:
        return len(self._views)

    # -- views ------------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self, scope: Scope, epoch: str | None, last_seq: int | None) -> AsyncIterator[Subscription]:
        """A subscription to `scope`'s view: a snapshot or the missed deltas, then live deltas."""
        view = self._acquire(scope)
        try:
            async with await view.hub.subscribe(epoch, last_seq) as subscription:
                yield subscription
        finally:
            self._release(view)

    def _acquire(self, scope: Scope) -> ScopeView:
        view = self._views.get(scope.key)
        if view is None:
            view = self._open_view(scope)
        if view.expiry is not None:
            view.expiry.cancel()
            view.expiry = None
        view.subscribers += 1
        return view

    def _release(self, view: ScopeView) -> None:
        view.subscribers -= 1
        if view.subscribers == 0 and self._views.get(view.key) is view:
            view.expiry = asyncio.get_running_loop().call_later(self._grace, self._expire, view)

    def _expire(self, view: ScopeView) -> None:
        view.expiry = None
        if view.subscribers == 0 and self._views.get(view.key) is view:
            del self._views[view.key]
            view.close()

    def _open_view(self, scope: Scope) -> ScopeView:
        view: ScopeView

        async def snapshot() -> dict[str, Any]:
            return await self._snapshot(view)

        hub = LiveHub(
            snapshot_provider=snapshot, coalesce_seconds=self._coalesce_seconds,
            metrics=HubMetrics(
                # One gauge for the process: every view reports the total, not its own count.
                clients=lambda _: self._hub_metrics.clients(self.client_count),
                dropped=self._hub_metrics.dropped, deltas=self._hub_metrics.deltas,
            ),
        )  # fmt: skip
        view = ScopeView(scope, scope.provinces_touched(self._catalogue.province_code_of), hub)
        view.task = asyncio.create_task(hub.run(), name=f"live-view {scope.key}")
        self._views[view.key] = view
        return view

    async def close(self) -> None:
        """End every view, its subscriptions and its flush task (process shutdown)."""
        views, self._views = list(self._views.values()), {}
        for view in views:
            view.close()
        for view in views:
            if view.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await view.task

    # -- snapshot ---------------------------------------------------------------------------

    async def _snapshot(self, view: ScopeView) -> dict[str, Any]:
        async with self._pool.connection() as conn:
            return await view.read_snapshot(conn, self._reading(), self._expected)

    def _reading(self) -> Reading:
        now = datetime.now(UTC)
        return Reading(now, due_soon_horizon(now, self._calendars.calendar_for("")), self._window)

    # -- listening --------------------------------------------------------------------------

    def on_notification(self, payload: str) -> None:
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("ignoring malformed notification %r", payload[:200])
            return
        stream = message.get("stream")
        self._metrics.notifications.labels(str(stream)).inc()
        if stream == "dossier":
            self._dirty_provinces.update(message.get("provinces", []))
        elif stream == "alert":
            self._dirty_alerts.update(int(i) for i in message.get("ids", []))
        elif stream in HEADLINE_STREAMS:
            self._dirty_streams.setdefault(str(stream), set()).update(message.get("provinces", []))
        self._wake.set()

    async def listen(self) -> None:
        """Hold one LISTEN connection; after a reconnect, assume everything changed."""
        await listen_forever(self._url, LIVE_CHANNEL, self.on_notification, self._all_changed, name="live")

    def _all_changed(self) -> None:
        self._everything_dirty = True
        self._wake.set()

    # -- refreshing -------------------------------------------------------------------------

    async def refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self._full_refresh_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._full_refresh_seconds)
            self._wake.clear()
            if loop.time() >= next_full:
                self._everything_dirty = True
                next_full = loop.time() + self._full_refresh_seconds
            try:
                await self.refresh_once()
            except (psycopg.Error, OSError) as exc:
                log.warning("live refresh failed: %s", exc)
                self._everything_dirty = True
            # Coalescing: however many notifications arrive, at most a few refreshes per second.
            await asyncio.sleep(self._tick)

    async def refresh_once(self) -> int:
        """Re-read dirty rows for the views concerned and publish those that changed.

        Returns how many (view, key) changes were published.
        """
        everything = self._everything_dirty
        dirty = None if everything else set(self._dirty_provinces)
        alert_ids = sorted(self._dirty_alerts)
        streams, self._dirty_streams = self._dirty_streams, {}
        self._everything_dirty = False
        self._dirty_provinces.clear()
        self._dirty_alerts.clear()
        views = list(self._views.values())
        if not views or (dirty == set() and not alert_ids and not streams):
            return 0
        reading = self._reading()
        published = 0
        async with self._pool.connection() as conn:
            # Everything a view publishes in one refresh is read before any of it is published:
            # an await between two publishes lets the hub flush, splitting one change into two deltas.
            freshness = await dossier_freshness(conn, self._expected) if dirty is None or dirty else None
            for view in views:
                rows: dict[str, Any] = {}
                codes = view.provinces_to_refresh(dirty) if dirty is None or dirty else []
                if codes is None or codes:
                    rows |= await view.read_localities(conn, reading, codes)
                headline_streams = view.headline_streams_to_refresh(everything, dirty, streams)
                if headline_streams:
                    rows |= await view.read_headline(conn, reading, headline_streams)
                published += view.publish_rows(rows)
                if freshness is not None:
                    published += view.publish_if_changed("freshness", freshness)
            if alert_ids:
                cur = await conn.execute(SELECT_ALERTS_BY_ID, [alert_ids])
                for row in await cur.fetchall():
                    alert = alert_row_to_dict(row)
                    published += sum(view.offer_alert(alert) for view in views)
        return published
