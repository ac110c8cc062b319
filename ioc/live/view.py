"""One live view: what the clients that share one scope see.

A view owns a LiveHub (its own epoch, sequence numbers and history, so a client resumes within
its own scope's stream) and its own memory of what it last published, so an unchanged row is not
sent again. A snapshot is read with the scope applied in SQL; after a change the feed reads the
changed provinces' cells once for every view (ioc/live/cells.py) and each view sums only the cells
its scope allows, so it never holds a row that belongs to another locality.

What a view publishes:
  province:<code>  the provinces its scope touches, counted over in-scope dossiers only;
  commune:<code>   (scopes that are not national) its in-scope communes, counted the same way;
  alert:<id>       alerts its scope allows (by locality, agency and sector: ioc/live/alerts.py);
  alert_counts     its open alerts counted by state, severity and locality (ioc/live/alert_index.py);
  freshness        the dossier feed's freshness, the same for everyone;
  headline:<stream> the headline numbers of each stream over its scope (ioc/live/headline.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.live.alert_index import ALERT_PAGE, SELECT_OPEN_COUNTS, AlertIndex, counts_for, fold_counts
from ioc.live.alert_queue import QUEUE_RESOLVED_WINDOW, alerts_more, read_queue_page
from ioc.live.alerts import alert_in_scope
from ioc.live.cells import Localities, ProvinceCells, derive_rows, received_today
from ioc.live.headline import HEADLINE_STREAMS, read_headline
from ioc.live.hub import LiveHub
from ioc.status import LOCAL_TZ, LocalityStatus, commune_status, dossier_freshness, province_status


def payload_digest(payload: dict[str, Any]) -> bytes:
    """What a view remembers of a published payload: 16 bytes of BLAKE2b over its JSON.

    Not the payload (a thousand views each remember their rows) and not orjson's bytes either
    (their buffer keeps its spare capacity, kilobytes per row); a collision is 2⁻¹²⁸-unlikely.
    """
    return hashlib.blake2b(orjson.dumps(payload), digest_size=16).digest()


@dataclass(frozen=True)
class Reading:
    """One refresh's clock and dashboard window, shared by every view read for it."""

    now: datetime
    due_soon: datetime
    window: str


@asynccontextmanager
async def one_database_snapshot(conn: Conn) -> AsyncIterator[None]:
    """Run the reads inside against one snapshot of the database.

    A scoped view reads its province rows and its commune rows in separate statements; at READ
    COMMITTED an ingest committing in between would make a commune operator's province row
    disagree with their own commune's row in the same delta.
    """
    await conn.commit()  # SET TRANSACTION must be the first statement of its transaction
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


class ScopeView:
    """The hub, the published-state cache and the queries of one scope."""

    __slots__ = ("_published", "expiry", "hub", "provinces", "scope", "subscribers", "task")

    def __init__(self, scope: Scope, provinces: frozenset[str] | None, hub: LiveHub) -> None:
        if (provinces is None) != scope.national:
            raise ValueError("a national scope touches every province; any other lists them")
        self.scope = scope
        self.provinces = provinces
        self.hub = hub
        self._published: dict[str, bytes] = {}
        # Maintained by the feed: live subscriptions, the pending expiry, the hub's flush task.
        self.subscribers = 0
        self.expiry: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.scope.key

    @property
    def lists_communes(self) -> bool:
        # A national view would list 3,321 communes nobody asked for; the others list theirs.
        return not self.scope.national

    def provinces_to_refresh(self, dirty: Collection[str] | None) -> list[str] | None:
        """Which provinces to re-read when `dirty` changed (None: all of them).

        Returns None only for a national view asked to re-read everything, and [] when the
        change concerns nothing this view touches.
        """
        if self.provinces is None:
            return None if dirty is None else sorted(dirty)
        return sorted(self.provinces if dirty is None else self.provinces.intersection(dirty))

    # -- reading ------------------------------------------------------------------------------

    async def read_snapshot(self, conn: Conn, reading: Reading, expected_every_seconds: int) -> dict[str, Any]:
        if not self.lists_communes:
            # The unrestricted national view issues exactly the queries the single feed did.
            provinces = await self._province_rows(conn, reading, None)
            alerts, counts = await self._alert_summary(conn, reading.now)
            freshness = await dossier_freshness(conn, expected_every_seconds)
            headline = await read_headline(conn, self.scope, reading.now)
            return self._snapshot(reading, provinces, alerts, counts, freshness, headline)
        codes = self.provinces_to_refresh(None)
        async with one_database_snapshot(conn):
            provinces = await self._province_rows(conn, reading, codes)
            communes = await self._commune_rows(conn, reading, codes or [])
            alerts, counts = await self._alert_summary(conn, reading.now)
            freshness = await dossier_freshness(conn, expected_every_seconds)
            headline = await read_headline(conn, self.scope, reading.now)
        return {
            **self._snapshot(reading, provinces, alerts, counts, freshness, headline),
            "communes": [c.as_dict() for c in communes],
        }

    def derive_localities(
        self, codes: list[str] | None, cells: Mapping[str, ProvinceCells], localities: Localities
    ) -> dict[str, Any]:
        """The current rows (key → payload) of the given provinces (None: all the view touches)."""
        if codes is None:
            codes = sorted(localities.provinces) if self.provinces is None else sorted(self.provinces)
        return derive_rows(self.scope, codes, cells, localities, with_communes=self.lists_communes)

    def derive_dossier_headline(
        self, reading: Reading, cells: Mapping[str, ProvinceCells], localities: Localities
    ) -> dict[str, Any]:
        """``headline:dossier`` from the cells (ioc/live/headline.py reads the same in SQL)."""
        codes = localities.provinces if self.provinces is None else self.provinces
        today = reading.now.astimezone(LOCAL_TZ).date()
        received = received_today(self.scope, codes, cells)
        return {"available": True, "day": today.isoformat(), "received_today": received}

    def headline_streams_to_refresh(
        self, everything: bool, dossier_provinces: Collection[str] | None, stream_provinces: dict[str, set[str]]
    ) -> list[str]:
        """The streams whose headline this view re-reads, given which provinces changed in each."""
        if everything or dossier_provinces is None:
            return list(HEADLINE_STREAMS)
        changed = {"dossier": set(dossier_provinces), **stream_provinces}
        return [stream for stream in HEADLINE_STREAMS if self.provinces_to_refresh(changed.get(stream, set()))]

    async def read_headline(self, conn: Conn, reading: Reading, streams: list[str]) -> dict[str, Any]:
        """``headline:<stream>`` → payload, for the given streams."""
        rows = await read_headline(conn, self.scope, reading.now, streams)
        return {f"headline:{stream}": payload for stream, payload in rows.items()}

    async def _province_rows(self, conn: Conn, reading: Reading, codes: list[str] | None) -> list[LocalityStatus]:
        rows = await province_status(conn, reading.now, reading.due_soon, reading.window, codes, scope=self.scope)
        # The SQL applies the scope; this second look costs nothing and keeps a mistake there from
        # becoming another locality's numbers on somebody's screen.
        return [r for r in rows if self.provinces is None or r.code in self.provinces]

    async def _commune_rows(self, conn: Conn, reading: Reading, codes: list[str]) -> list[LocalityStatus]:
        rows: list[LocalityStatus] = []
        for province in codes:
            rows += await commune_status(
                conn, reading.now, reading.due_soon, province, reading.window, scope=self.scope
            )
        return [r for r in rows if self.scope.allows_locality(r.province_code, r.code)]

    async def _alert_summary(self, conn: Conn, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        """The first page of the scope's alert queue (with where REST continues it) and its
        open-alert counts."""
        resolved_since = now - QUEUE_RESOLVED_WINDOW
        page = await read_queue_page(conn, self.scope, limit=ALERT_PAGE, resolved_since=resolved_since)
        cur = await conn.execute(SELECT_OPEN_COUNTS, self.scope.sql_params())
        counts = fold_counts(await cur.fetchall(), with_communes=self.lists_communes)  # type: ignore[arg-type]
        # The SQL applies the scope; the second look keeps a mistake there off somebody's screen.
        alerts = [a for a in page.alerts if alert_in_scope(self.scope, a)]
        return {"alerts": alerts, "alerts_more": alerts_more(page, resolved_since)}, counts

    def _snapshot(
        self,
        reading: Reading,
        provinces: list[LocalityStatus],
        alerts: dict[str, Any],
        alert_counts: dict[str, Any],
        freshness: dict[str, Any],
        headline: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "provinces": [p.as_dict() for p in provinces],
            # The first page of the queue (`alerts`) and where GET /api/v1/alerts continues it
            # (`alerts_more`: its resolved_since and cursor; null when there is no more);
            # `alert_counts` counts every open alert.
            **alerts,
            "alert_counts": alert_counts,
            "freshness": freshness,
            "headline": headline,
            "window": reading.window,
            "generated_at": reading.now.isoformat(),
        }

    # -- publishing ---------------------------------------------------------------------------

    def publish_if_changed(self, key: str, payload: dict[str, Any], digest: bytes | None = None) -> int:
        """Publish unless it is what this view last published; `digest` when the caller has it
        (one payload offered to every view: freshness)."""
        encoded = payload_digest(payload) if digest is None else digest
        if self._published.get(key) == encoded:
            return 0
        self._published[key] = encoded
        self.hub.publish(key, payload)
        return 1

    def seed_from_snapshot(self, data: dict[str, Any]) -> None:
        """Remember a new view's first snapshot as published, so its first refresh sends only news.

        Only for a view that has published nothing yet: its only clients are the ones this
        snapshot is for. (A later snapshot must not overwrite what older clients last received.)
        """
        if self._published or self.hub.seq:
            return
        rows = {f"province:{p['code']}": p for p in data.get("provinces", ())}
        rows |= {f"commune:{c['code']}": c for c in data.get("communes", ())}
        rows |= {f"headline:{stream}": entry for stream, entry in data.get("headline", {}).items()}
        for key in ("freshness", "alert_counts"):
            if key in data:
                rows[key] = data[key]
        self._published = {key: payload_digest(payload) for key, payload in rows.items()}

    def publish_rows(self, rows: dict[str, Any]) -> int:
        # No await in here: rows read together leave in the same delta.
        return sum(self.publish_if_changed(key, payload) for key, payload in rows.items())

    def offer_alert(self, alert: dict[str, Any]) -> int:
        """Publish an alert this view's scope allows; returns 1 if it went out."""
        if not alert_in_scope(self.scope, alert):
            return 0
        key = f"alert:{alert['id']}"
        published = self.publish_if_changed(key, alert)
        if alert["state"] == "resolved":
            # A resolved episode never changes again: forget it, or a wall screen's process
            # running for weeks would keep every alert it ever published.
            self._published.pop(key, None)
        return published

    def publish_alert_counts(self, index: AlertIndex) -> int:
        """Publish the scope's open-alert counts if they moved (after alerts changed)."""
        counts = counts_for(self.scope, index.facts_in(self.provinces), with_communes=self.lists_communes)
        return self.publish_if_changed("alert_counts", counts)

    def close(self) -> None:
        """End every subscription and the hub's flush task."""
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self.hub.close()
        if self.task is not None:
            self.task.cancel()
