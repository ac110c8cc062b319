"""From the database to the hub: snapshots, and deltas for what writers say has changed.

Writers `pg_notify('ioc_live', …)` in their transaction with ids only (provinces touched, alert
ids). One LISTEN connection per API process collects them; a refresher re-reads just those rows
a few times per second and publishes the ones whose content changed. Overdue counts also change
by the clock alone (a deadline passes with no event), so every province is re-read periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.rules import due_soon_horizon
from ingest.reference import CalendarStore
from ioc.db.pool import Conn
from ioc.live.channel import LIVE_CHANNEL
from ioc.live.hub import LiveHub
from ioc.metrics import Metrics
from ioc.status import dossier_freshness, province_status

log = logging.getLogger(__name__)

ALERT_COLUMNS = (
    "id, rule_id, severity, state, summary_vi, summary_en, province_code, commune_code, agency_code, "
    "value, active_since, fired_at, resolved_at, updated_at"
)
SELECT_ALERTS_BY_ID = f"SELECT {ALERT_COLUMNS} FROM alert WHERE id = ANY(%s)"
# The snapshot holds every open alert (screens count them) plus the latest resolutions, so a
# screen sees alerts clear without loading a day of history.
SELECT_RECENT_ALERTS = f"""
(SELECT {ALERT_COLUMNS} FROM alert WHERE state <> 'resolved')
UNION ALL
(SELECT {ALERT_COLUMNS} FROM alert
 WHERE state = 'resolved' AND resolved_at > %s - INTERVAL '1 day'
 ORDER BY resolved_at DESC LIMIT 200)
"""


def alert_row_to_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [c.strip() for c in ALERT_COLUMNS.split(",")]
    out = dict(zip(names, row, strict=True))
    for key in ("active_since", "fired_at", "resolved_at", "updated_at"):
        if isinstance(out[key], datetime):
            out[key] = out[key].isoformat()
    return out


class LiveFeed:
    def __init__(
        self,
        *,
        pool: AsyncConnectionPool[Conn],
        url: str,
        calendars: CalendarStore,
        metrics: Metrics,
        window: str,
        expected_every_seconds: int,
        full_refresh_seconds: float = 30.0,
        tick_seconds: float = 0.25,
    ) -> None:
        self._pool, self._url, self._calendars, self._metrics = pool, url, calendars, metrics
        self._window = window
        self._expected = expected_every_seconds
        self._full_refresh_seconds = full_refresh_seconds
        self._tick = tick_seconds
        self._dirty_provinces: set[str] = set()
        self._dirty_alerts: set[int] = set()
        self._everything_dirty = True
        self._published: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self.hub: LiveHub | None = None

    # -- snapshot ---------------------------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with self._pool.connection() as conn:
            provinces = await province_status(conn, now, self._due_soon(now), self._window)
            cur = await conn.execute(SELECT_RECENT_ALERTS, [now])
            alerts = [alert_row_to_dict(r) for r in await cur.fetchall()]
            freshness = await dossier_freshness(conn, self._expected)
        return {
            "provinces": [p.as_dict() for p in provinces],
            "alerts": alerts,
            "freshness": freshness,
            "window": self._window,
            "generated_at": now.isoformat(),
        }

    def _due_soon(self, now: datetime) -> datetime:
        return due_soon_horizon(now, self._calendars.calendar_for(""))

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
        self._wake.set()

    async def listen(self) -> None:
        """Hold one LISTEN connection; after a reconnect, assume everything changed."""
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {LIVE_CHANNEL}")
                    self._everything_dirty = True
                    self._wake.set()
                    backoff = 0.5
                    async for notify in conn.notifies():
                        self.on_notification(notify.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("live LISTEN connection lost (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

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
        """Re-read dirty rows and publish those that changed; returns how many were published."""
        if self.hub is None:
            return 0
        everything = self._everything_dirty
        provinces = None if everything else sorted(self._dirty_provinces)
        alert_ids = sorted(self._dirty_alerts)
        self._everything_dirty = False
        self._dirty_provinces.clear()
        self._dirty_alerts.clear()
        if provinces == [] and not alert_ids:
            return 0
        now = datetime.now(UTC)
        published = 0
        async with self._pool.connection() as conn:
            if provinces is None or provinces:
                for status in await province_status(conn, now, self._due_soon(now), self._window, provinces):
                    published += self._publish_if_changed(f"province:{status.code}", status.as_dict())
                published += self._publish_if_changed("freshness", await dossier_freshness(conn, self._expected))
            if alert_ids:
                cur = await conn.execute(SELECT_ALERTS_BY_ID, [alert_ids])
                for row in await cur.fetchall():
                    alert = alert_row_to_dict(row)
                    published += self._publish_if_changed(f"alert:{alert['id']}", alert)
                    if alert["state"] == "resolved":
                        # A resolved episode never changes again: forget it, or a wall screen's
                        # process running for weeks would keep every alert it ever published.
                        self._published.pop(f"alert:{alert['id']}", None)
        return published

    def _publish_if_changed(self, key: str, payload: dict[str, Any]) -> int:
        if self._published.get(key) == payload or self.hub is None:
            return 0
        self._published[key] = payload
        self.hub.publish(key, payload)
        return 1
