"""One run of one connector: fetch pages from the stored cursor on, write each page and its cursor
in one transaction, until the source has nothing newer.

Why this gives no gap and no duplicate when the process dies at any moment: a page's items and
the cursor that follows them commit together, so the stored cursor always names the first page
not yet stored. Killed before the commit, the page is fetched again and written once; killed
after it, the next run starts at the next page. Record ids guard a second time (the ingesters
count an item already stored as a duplicate and change nothing), for sources whose "changed
since" repeats the boundary item.

Replicas: a run holds a session advisory lock on its connector, on a connection of its own that
is closed when the run ends (a killed process releases it with its connection); a second poller
skips the connector instead of fetching the same pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from ingest.batch import BatchContext, StreamIngester
from ingest.connector.backoff import RetryPolicy
from ingest.connector.config import ConnectorConfig
from ingest.connector.fetch import ConnectorError, Page, Sleep, fetch_page
from ingest.connector.gateway import GatewayClient
from ingest.connector.store import ADVANCE, ENSURE_STATE, FINISH_RUN, LOCK_STATE, SELECT_CURSOR
from ingest.dvcqg.envelope import SERVICES, SyncRequest
from ingest.dvcqg.pipeline import PortalSync, source_lock
from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue
from ioc.sources import source_by_id

log = logging.getLogger(__name__)
TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(%s, 7311042013))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 7311042013))"
MAX_PAGES_PER_RUN = 1000  # then the next run goes on: other connectors get their turn


@dataclass
class RunResult:
    connector_id: str
    pages: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    error: str | None = None
    skipped: bool = False  # another poller holds this connector


@dataclass(frozen=True)
class PollDeps:
    """What a run needs besides its connection; tests pass fast retries and a hook."""

    ingesters: Mapping[str, StreamIngester]
    catalogue: LocalityCatalogue
    client: httpx.AsyncClient
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    environ: Mapping[str, str] | None = None
    future_tolerance_seconds: int = 300
    max_pages: int = MAX_PAGES_PER_RUN
    sleep: Sleep | None = None
    rng: random.Random | None = None
    # Called after each page's commit, before the next fetch (tests stop a run right there).
    after_page: Callable[[Page], Awaitable[None]] | None = None
    # Dossiers in the national portal's format (method "dvcqg"): the push route's pipeline.
    portal: PortalSync | None = None
    retention_days: int = 3 * 365  # as Settings.retention_days


async def poll_connector(conn: Conn, config: ConnectorConfig, deps: PollDeps) -> RunResult:
    """Run `config` once on `conn` (idle, dedicated to this run)."""
    result = RunResult(config.id)
    lock_key = f"connector:{config.id}"
    async with conn.transaction():
        cur = await conn.execute(TRY_LOCK, [lock_key])
        row: Any = await cur.fetchone()
    if not row[0]:
        result.skipped = True
        return result
    try:
        async with conn.transaction():
            await conn.execute(ENSURE_STATE, [config.id, config.initial_cursor])
        try:
            await _pages(conn, config, deps, result)
        except ConnectorError as exc:
            result.error = str(exc)[:1000]
            log.warning("connector %s: %s", config.id, result.error)
        except Exception as exc:  # e.g. a database error while writing a page: that page rolled back
            result.error = f"{type(exc).__name__}: {exc}"[:1000]
            log.exception("connector %s failed", config.id)
        now = datetime.now(UTC)
        async with conn.transaction():
            await conn.execute(FINISH_RUN, {"id": config.id, "now": now, "error": result.error,
                                            "next": now + timedelta(seconds=config.interval_seconds)})  # fmt: skip
    finally:
        with contextlib.suppress(Exception):  # a broken connection releases the lock as it closes
            async with conn.transaction():
                await conn.execute(UNLOCK, [lock_key])
    return result


async def _pages(conn: Conn, config: ConnectorConfig, deps: PollDeps, result: RunResult) -> None:
    if config.method == "dvcqg":
        await _gateway_pages(conn, config, deps, result)
        return
    ingester = deps.ingesters.get(config.stream)
    if ingester is None:
        raise ConnectorError(f"no ingester for stream {config.stream!r}")
    async with conn.transaction():
        source = await source_by_id(conn, config.source_id)
        cur = await conn.execute(SELECT_CURSOR, [config.id])
        row: Any = await cur.fetchone()
    if source is None or source.revoked_at is not None:
        raise ConnectorError(f"source {config.source_id!r} does not exist or is revoked")
    if config.stream not in source.streams:
        raise ConnectorError(f"source {config.source_id!r} may not write the {config.stream} stream")
    cursor: str | None = row[0]
    in_scope = None if source.scope.national else source.scope.allows_locality
    headers = config.auth_headers(dict(deps.environ or {}))
    extra: dict[str, Any] = {"sleep": deps.sleep} if deps.sleep else {}
    while result.pages < deps.max_pages:
        page = await fetch_page(deps.client, config, cursor, policy=deps.policy, headers=headers, rng=deps.rng, **extra)
        if not page.items:
            return  # caught up
        if page.next_cursor is None:
            raise ConnectorError(f"the answer has items but no next cursor at {config.cursor_path!r}")
        ctx = BatchContext(config.source_id, datetime.now(UTC), deps.catalogue, in_scope,
                           deps.future_tolerance_seconds)  # fmt: skip
        async with conn.transaction():
            cur = await conn.execute(LOCK_STATE, [config.id])
            stored: Any = await cur.fetchone()
            if stored is None or stored[0] != cursor:
                raise ConnectorError("the stored cursor moved under this run; it stops here")
            outcome = await ingester.ingest(conn, page.items, ctx)
            counts = {s: outcome.count(s) for s in ("accepted", "duplicate", "rejected")}
            await conn.execute(ADVANCE, {"id": config.id, "cursor": page.next_cursor, "now": ctx.now, **counts})
        result.pages += 1
        result.accepted += counts["accepted"]
        result.duplicate += counts["duplicate"]
        result.rejected += counts["rejected"]
        if counts["rejected"]:
            reasons = sorted({str(r.get("reason")) for r in outcome.results if r["status"] == "rejected"})
            log.warning("connector %s: %d item(s) rejected (%s)", config.id, counts["rejected"], ", ".join(reasons))
        if deps.after_page is not None:
            await deps.after_page(page)
        if page.next_cursor == cursor:
            return  # the source gives no newer cursor: nothing more this run
        cursor = page.next_cursor


async def _gateway_pages(conn: Conn, config: ConnectorConfig, deps: PollDeps, result: RunResult) -> None:
    """A provincial gateway in the national portal's format: sign in, POST for each page, and
    write each page's records through the push route's own pipeline (ingest/dvcqg/pipeline.py),
    the page and its cursor in one transaction as for any connector."""
    portal = deps.portal
    service = SERVICES.get(config.service or "")
    if portal is None or service is None or config.stream != "dossier":
        raise ConnectorError("a dvcqg connector needs the dossier stream, a service and the portal pipeline")
    async with conn.transaction():
        source = await source_by_id(conn, config.source_id)
        cur = await conn.execute(SELECT_CURSOR, [config.id])
        row: Any = await cur.fetchone()
    if source is None or source.revoked_at is not None:
        raise ConnectorError(f"source {config.source_id!r} does not exist or is revoked")
    if "dossier" not in source.streams:
        raise ConnectorError(f"source {config.source_id!r} may not write the dossier stream")
    cursor: str | None = row[0]
    in_scope = None if source.scope.national else source.scope.allows_locality
    gateway = GatewayClient(deps.client, config, config.credential(dict(deps.environ or {})), deps.policy,
                            deps.sleep or asyncio.sleep, deps.rng or random.Random())  # fmt: skip
    while result.pages < deps.max_pages:
        page = await gateway.page(cursor)
        if not page.items:
            return  # caught up
        if page.next_cursor is None:
            raise ConnectorError(f"the answer has items but no next cursor at {config.cursor_path!r}")
        sync = SyncRequest(service, page.items, config.unit_id, None, None)
        async with source_lock(conn, config.source_id):
            prepared = await portal.prepare(
                conn, config.source_id, sync, now=datetime.now(UTC), catalogue=deps.catalogue, in_scope=in_scope,
                future_tolerance=timedelta(seconds=deps.future_tolerance_seconds),
                max_age=timedelta(days=deps.retention_days),
            )  # fmt: skip
            async with conn.transaction():
                cur = await conn.execute(LOCK_STATE, [config.id])
                stored: Any = await cur.fetchone()
                if stored is None or stored[0] != cursor:
                    raise ConnectorError("the stored cursor moved under this run; it stops here")
                written = await portal.write(conn, prepared)
                counts = {s: written.count(s) for s in ("accepted", "duplicate", "rejected")}
                await conn.execute(ADVANCE, {"id": config.id, "cursor": page.next_cursor, "now": prepared.now,
                                             **counts})  # fmt: skip
            try:
                await portal.apply(conn, written)
            except psycopg.Error as exc:  # stored and queued: the projector loop applies it
                log.warning("connector %s: page stored, not yet applied (%s)", config.id, type(exc).__name__)
        result.pages += 1
        result.accepted += counts["accepted"]
        result.duplicate += counts["duplicate"]
        result.rejected += counts["rejected"]
        if counts["rejected"]:
            reasons = sorted({str(r.get("reason")) for r in written.results if r["status"] == "rejected"})
            log.warning("connector %s: %d record(s) rejected (%s)", config.id, counts["rejected"], ", ".join(reasons))
        if deps.after_page is not None:
            await deps.after_page(page)
        if page.next_cursor == cursor:
            return
        cursor = page.next_cursor
