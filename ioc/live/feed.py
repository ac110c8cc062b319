"""From the database to the views: snapshots, and deltas for what writers say has changed.

Writers `pg_notify('ioc_live', …)` in their transaction with ids only (provinces touched, alert
ids). One LISTEN connection per API process collects them; a refresher re-reads just those rows
and publishes the ones whose content changed. Overdue counts also change by the clock alone (a
deadline passes with no event), so every province is re-read periodically. The payout and
ID-issuance writers notify too (stream and provinces): those change only the headline entries of
the views touching those provinces (ioc/live/headline.py).

Clients see the feed through views, one per distinct scope with a subscriber (ioc/live/view.py):
each has its own hub and sees only what its scope allows. A view outlives its last subscriber by
a grace period, so a screen that reconnects resumes where it was instead of taking a snapshot.

One pass per change, whatever the number of views: the changed provinces' cells are read once
(ioc/live/cells.py) and kept per province, and every view touching them sums its own rows from
them in memory; changed alerts are read once and handed to the views of their province, which
re-count their open alerts from the feed's alert index (ioc/live/alert_index.py). So a commune
screen's latency does not grow with the number of other views.

One coalescing window between a commit and the wire: the refresher refreshes as soon as a
notification arrives, then waits `coalesce_seconds` before the next refresh (changes arriving
meanwhile go out together); the views' hubs are flushed right after each refresh, not on a
timer of their own.

Nothing is missed: notifications sent while the LISTEN connection was down are lost, so after a
reconnect (and after a refresh that failed) the next refresh re-reads every province and every
alert that may have changed meanwhile (the open ones, those the feed knew open, and those
resolved since its last read), and publishes what differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.rules import due_soon_horizon
from ingest.reference import CalendarStore
from ioc.auth.scope import Scope
from ioc.db.listen import listen_forever
from ioc.db.pool import Conn
from ioc.live.alert_index import SELECT_CATCH_UP, AlertIndex
from ioc.live.alerts import ALERT_COLUMNS, SELECT_ALERTS_BY_ID, alert_row_to_dict
from ioc.live.cells import Localities, ProvinceCells, group_cells, read_cells
from ioc.live.channel import LIVE_CHANNEL
from ioc.live.headline import HEADLINE_STREAMS
from ioc.live.hub import HubMetrics, LiveHub, Subscription
from ioc.live.view import Reading, ScopeView, payload_digest
from ioc.localities.catalogue import LocalityCatalogue
from ioc.metrics import Metrics
from ioc.status import LOCAL_TZ, dossier_freshness

__all__ = ["ALERT_COLUMNS", "LiveFeed", "alert_row_to_dict"]  # the alert helpers: older imports

log = logging.getLogger(__name__)

VIEW_GRACE_SECONDS = 60.0
# A client's queue holds deltas its socket has not taken yet; past this many it gets a snapshot.
CLIENT_QUEUE_SIZE = 16
# Alerts resolved this long before the feed's last read are re-read after an outage too: the
# database's clock and this process's may disagree a little.
CATCH_UP_MARGIN = timedelta(seconds=30)


# Deltas each view keeps for clients that resume after a reconnect. Every view publishes up to a
# few deltas a second (freshness, headline, counts) and a process holds a view per distinct scope:
# at a thousand scopes, 2,048 each held ~0.4 GB per worker once full (bench/soak.py saw API RSS
# climb ~25 MiB a minute). 256 cover a minute at the busiest and much longer when quiet; a client
# away longer gets a fresh snapshot, which is small (counts and the first page of alerts).
VIEW_HISTORY_SIZE = 256


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
        tick_seconds: float | None = None,
        view_grace_seconds: float = VIEW_GRACE_SECONDS,
    ) -> None:
        self._pool, self._url, self._calendars, self._metrics = pool, url, calendars, metrics
        self._catalogue = catalogue
        self._window = window
        self._expected = expected_every_seconds
        # `tick_seconds` is the window's older name; there is one window, not one each.
        self._window_seconds = coalesce_seconds if tick_seconds is None else tick_seconds
        self._full_refresh_seconds = full_refresh_seconds
        self._grace = view_grace_seconds
        self._hub_metrics = metrics.hub_metrics()
        # Shared by every view's hub; the clients gauge is the process's, counted by join / leave.
        self._view_metrics = HubMetrics(dropped=self._hub_metrics.dropped, deltas=self._hub_metrics.deltas)
        self._dirty_provinces: set[str] = set()
        self._dirty_alerts: set[int] = set()
        # Payout and ID-issuance writers name the provinces they touched: only headlines change.
        self._dirty_streams: dict[str, set[str]] = {}
        self._everything_dirty = True
        self._alerts_catch_up = True
        self._wake = asyncio.Event()
        self._views: dict[str, ScopeView] = {}
        # Views by the provinces they touch (national ones apart): who a change concerns.
        self._views_by_province: dict[str, set[ScopeView]] = {}
        self._national_views: set[ScopeView] = set()
        # The catalogue's localities (the ones the locality table was loaded from at start-up).
        self._localities = Localities.of(catalogue)
        self._cells: dict[str, ProvinceCells] = {}
        self._cells_complete = False
        self._alerts = AlertIndex()
        self._alerts_read_at: datetime | None = None
        self._headline_day: date | None = None
        self._headline_pending: dict[ScopeView, set[str]] = {}
        self._headline_task: asyncio.Task[None] | None = None
        # Provinces alerts moved away from in the current refresh: their counts change too.
        self._moved_from: set[str | None] = set()
        self._client_count = 0

    @property
    def client_count(self) -> int:
        """Subscribers across every view (the clients gauge)."""
        return self._client_count

    @property
    def view_count(self) -> int:
        return len(self._views)

    # -- views ------------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self, scope: Scope, epoch: str | None, last_seq: int | None) -> AsyncIterator[Subscription]:
        """A subscription to `scope`'s view: a snapshot or the missed deltas, then live deltas."""
        subscription, view = await self.join(scope, epoch, last_seq)
        try:
            yield subscription
        finally:
            subscription.close()
            self.leave(view)

    async def join(self, scope: Scope, epoch: str | None, last_seq: int | None) -> tuple[Subscription, ScopeView]:
        """`subscribe` without the context manager, for the WebSocket handler: a generator frame
        and its manager less under each of a thousand idle sockets. Pair with `leave(view)`."""
        view = self._acquire(scope)
        try:
            subscription = await view.hub.subscribe(epoch, last_seq)
        except BaseException:
            self._release(view)
            raise
        self._count_clients(1)
        return subscription, view

    def leave(self, view: ScopeView) -> None:
        self._count_clients(-1)
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
            self._forget(view)
            view.close()

    def _forget(self, view: ScopeView) -> None:
        del self._views[view.key]
        self._national_views.discard(view)
        for code in view.provinces or ():
            members = self._views_by_province.get(code)
            if members is not None:
                members.discard(view)
                if not members:
                    del self._views_by_province[code]

    def _count_clients(self, change: int) -> None:
        # One gauge for the process: every view reports the total, kept here rather than summed.
        self._client_count += change
        self._hub_metrics.clients(self._client_count)

    def _open_view(self, scope: Scope) -> ScopeView:
        view: ScopeView

        async def snapshot() -> dict[str, Any]:
            return await self._snapshot(view)

        hub = LiveHub(
            # No flush task and no window of its own: the feed flushes it after each refresh.
            snapshot_provider=snapshot, coalesce_seconds=0.0, client_queue_size=CLIENT_QUEUE_SIZE,
            history_size=VIEW_HISTORY_SIZE, metrics=self._view_metrics,
        )  # fmt: skip
        view = ScopeView(scope, scope.provinces_touched(self._catalogue.province_code_of), hub)
        self._views[view.key] = view
        if view.provinces is None:
            self._national_views.add(view)
        for code in view.provinces or ():
            self._views_by_province.setdefault(code, set()).add(view)
        return view

    def _views_of(self, provinces: set[str | None]) -> set[ScopeView]:
        """The views a change in these provinces concerns (None: a row without a province)."""
        if None in provinces:
            return set(self._views.values())
        out = set(self._national_views)
        for code in provinces:
            out |= self._views_by_province.get(code or "", set())
        return out

    async def close(self) -> None:
        """End every view and its subscriptions (process shutdown)."""
        if self._headline_task is not None:
            self._headline_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._headline_task
        views, self._views = list(self._views.values()), {}
        self._views_by_province.clear()
        self._national_views.clear()
        for view in views:
            view.close()
        for view in views:
            if view.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await view.task

    # -- snapshot ---------------------------------------------------------------------------

    async def _snapshot(self, view: ScopeView) -> dict[str, Any]:
        async with self._pool.connection() as conn:
            data = await view.read_snapshot(conn, self._reading(), self._expected)
        view.seed_from_snapshot(data)
        return data

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
        """Hold one LISTEN connection; after a reconnect, catch up on everything, alerts included."""
        await listen_forever(self._url, LIVE_CHANNEL, self.on_notification, self.catch_up, name="live")

    def catch_up(self) -> None:
        """Re-read everything that may have changed unseen (a LISTEN outage, a failed refresh)."""
        self._everything_dirty = True
        self._alerts_catch_up = True
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
                self.catch_up()
            # The one coalescing window: however many notifications arrive, at most one refresh
            # per window; the first change after a quiet spell goes out at once.
            await asyncio.sleep(self._window_seconds)

    async def refresh_once(self) -> int:
        """Re-read what changed, once for every view, and publish to each view what changed for it.

        Returns how many (view, key) changes were published. On failure what it took is put back
        (and the caller asks for a catch-up), so nothing it was told about is forgotten.
        """
        everything, catch_up = self._everything_dirty, self._alerts_catch_up
        dirty = None if everything else set(self._dirty_provinces)
        alert_ids = set(self._dirty_alerts)
        streams, self._dirty_streams = self._dirty_streams, {}
        self._everything_dirty = self._alerts_catch_up = False
        self._dirty_provinces.clear()
        self._dirty_alerts.clear()
        try:
            return await self._refresh(everything, catch_up, dirty, alert_ids, streams)
        except BaseException:
            self._everything_dirty |= everything or bool(dirty)
            self._dirty_provinces |= dirty or set()
            self._alerts_catch_up |= catch_up
            self._dirty_alerts |= alert_ids
            for stream, codes in streams.items():
                self._dirty_streams.setdefault(stream, set()).update(codes)
            raise

    async def _refresh(
        self,
        everything: bool,
        catch_up: bool,
        dirty: set[str] | None,
        alert_ids: set[int],
        streams: dict[str, set[str]],
    ) -> int:
        views = list(self._views.values())
        if not views:
            # Nobody to publish to: the cells may go stale, so the next view's refresh reads all;
            # and the next view's snapshot reads today's headlines, so no restating is owed.
            self._cells_complete = False
            self._headline_day = datetime.now(UTC).astimezone(LOCAL_TZ).date()
        if not catch_up and not alert_ids and (not views or (dirty == set() and not streams)):
            return 0
        reading = self._reading()
        localities_changed = dirty is None or bool(dirty)
        async with self._pool.connection() as conn:
            alerts = await self._read_alerts(conn, reading.now, catch_up, alert_ids)
            if not views:
                return 0
            localities = self._localities
            if localities_changed:
                codes = None if dirty is None or not self._cells_complete else sorted(dirty)
                read = await read_cells(conn, reading.now, reading.due_soon, reading.window, codes)
                grouped = group_cells(read, localities.provinces if codes is None else codes)
                if codes is None:
                    self._cells, self._cells_complete = grouped, True
                else:
                    self._cells.update(grouped)
            freshness = await dossier_freshness(conn, self._expected) if localities_changed else None
            # Every view's rows are ready before any is published, with no query per view.
            rows: dict[ScopeView, dict[str, Any]] = {}
            headlines: dict[ScopeView, list[str]] = {}
            restate = self._restate_headlines(reading, everything, catch_up)
            touched: set[str | None] = {*dirty, *_provinces_of(streams)} if dirty is not None else set()
            concerned = set(views) if dirty is None else self._views_of(touched)
            for view in concerned:
                rows[view], others = self._view_rows(view, reading, everything, restate, dirty, streams, localities)
                if others:
                    headlines[view] = others
        published = 0
        for view, changed in rows.items():
            published += view.publish_rows(changed)
        if freshness is not None:
            # The dossier feed's freshness is everyone's, whichever province the change was in.
            digest = payload_digest(freshness)
            for view in views:
                published += view.publish_if_changed("freshness", freshness, digest)
        recount = self._views_of({a["province_code"] for a in alerts} | self._moved_from) if alerts else set()
        self._moved_from = set()
        for alert in alerts:
            for view in self._views_of({alert["province_code"]}):
                published += view.offer_alert(alert)
        for view in recount:
            published += view.publish_alert_counts(self._alerts)
        for view in views:
            view.hub.flush()
        if headlines:
            self._schedule_headlines(headlines)
        return published

    def _restate_headlines(self, reading: Reading, everything: bool, catch_up: bool) -> bool:
        """Whether every view's payout and ID headlines are re-read: after an outage, or a new day.

        They change with their writers' notifications, and by the clock only when the local day
        turns (the cycle's month, the days left to a deadline); the periodic refresh that keeps
        overdue counts right need not re-read them.
        """
        today = reading.now.astimezone(LOCAL_TZ).date()
        if not (catch_up or (everything and today != self._headline_day)):
            return False
        self._headline_day = today
        return True

    def _view_rows(
        self,
        view: ScopeView,
        reading: Reading,
        everything: bool,
        restate: bool,
        dirty: set[str] | None,
        streams: dict[str, set[str]],
        localities: Localities,
    ) -> tuple[dict[str, Any], list[str]]:
        """A view's rows from the cells; and the payout / ID headlines it must read itself."""
        out: dict[str, Any] = {}
        codes = view.provinces_to_refresh(dirty) if dirty is None or dirty else []
        if codes is None or codes:
            out |= view.derive_localities(codes, self._cells, localities)
        if everything and not restate:
            headline_streams = ["dossier", *view.headline_streams_to_refresh(False, set(), streams)]
        else:
            headline_streams = view.headline_streams_to_refresh(everything, dirty, streams)
        if "dossier" in headline_streams:
            out["headline:dossier"] = view.derive_dossier_headline(reading, self._cells, localities)
        return out, sorted({s for s in headline_streams if s != "dossier"})

    def _schedule_headlines(self, headlines: dict[ScopeView, list[str]]) -> None:
        """Read the payout and ID headlines in the background.

        They are still a query per view (per-scope indicator state); after an outage or when the
        day turns every view needs them, which for a thousand views takes seconds. So they are
        read by a task of their own, after the pass above has flushed: no dossier or alert
        change waits behind them.
        """
        for view, streams in headlines.items():
            self._headline_pending.setdefault(view, set()).update(streams)
        if self._headline_task is None or self._headline_task.done():
            self._headline_task = asyncio.create_task(self._read_headlines(), name="live headlines")

    async def _read_headlines(self) -> None:
        while self._headline_pending:
            pending, self._headline_pending = self._headline_pending, {}
            reading = self._reading()
            try:
                async with self._pool.connection() as conn:
                    for view, streams in pending.items():
                        if self._views.get(view.key) is view:
                            view.publish_rows(await view.read_headline(conn, reading, sorted(streams)))
                            view.hub.flush()  # one view's headlines together, at once
            except (psycopg.Error, OSError) as exc:
                log.warning("live headline refresh failed: %s", exc)
                self.catch_up()
                return

    async def _read_alerts(
        self, conn: Conn, now: datetime, catch_up: bool, alert_ids: set[int]
    ) -> list[dict[str, Any]]:
        """The alerts to offer to the views: those notified, and (catching up) those that changed."""
        out: list[dict[str, Any]] = []
        self._moved_from = set()
        if catch_up:
            # The first read (start-up) wants the open alerts, not every resolution in history.
            since = (self._alerts_read_at or now) - CATCH_UP_MARGIN
            cur = await conn.execute(SELECT_CATCH_UP, {"known": self._alerts.known_ids(), "since": since})
            seen: set[int] = set()
            for row in await cur.fetchall():
                alert = alert_row_to_dict(row)
                seen.add(alert["id"])
                alert_ids.discard(alert["id"])
                if self._note(alert) or (alert["state"] == "resolved" and self._alerts_read_at is not None):
                    out.append(alert)
            self._alerts.forget_missing(seen)
        if alert_ids:
            cur = await conn.execute(SELECT_ALERTS_BY_ID, [sorted(alert_ids)])
            for row in await cur.fetchall():
                alert = alert_row_to_dict(row)
                self._note(alert)
                out.append(alert)  # notified: offered even if unchanged (views skip repeats)
        if catch_up:
            self._alerts_read_at = now
        return out

    def _note(self, alert: dict[str, Any]) -> bool:
        previous = self._alerts.get(int(alert["id"]))
        if previous is not None and previous.province_code != alert["province_code"]:
            self._moved_from.add(previous.province_code)
        return self._alerts.update(alert)


def _provinces_of(streams: dict[str, set[str]]) -> set[str]:
    return {code for codes in streams.values() for code in codes}
