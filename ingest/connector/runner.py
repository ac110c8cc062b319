"""The `ioc connectors` process: run every enabled connector when it is due, one after another.

Each run gets a connection of its own (closed after the run, so an advisory lock can never be
left behind on a pooled connection). Between runs the loop sleeps until the next connector is
due, at most `tick_seconds`, so a connector added or enabled through the admin API is picked up
within that time. Several such processes may run: the per-connector lock makes them take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import httpx
from psycopg import AsyncConnection

from ingest.connector.poller import PollDeps, RunResult, poll_connector
from ingest.connector.store import due_connectors, next_run_at
from ioc.db.pool import Conn

log = logging.getLogger(__name__)


async def connect(url: str) -> Conn:
    conn: Conn = await AsyncConnection.connect(url)
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()
    return conn


async def run_due(url: str, deps: PollDeps, *, connector_id: str | None = None, every: bool = False) -> list[RunResult]:
    """One pass: each connector that is due (or every enabled one) runs once."""
    async with await connect(url) as conn:
        due = await due_connectors(conn, datetime.now(UTC), connector_id=connector_id, every=every)
    results = []
    for config in due:
        async with await connect(url) as conn:
            result = await poll_connector(conn, config, deps)
        log.info("connector %s: %d page(s), %d accepted, %d duplicate, %d rejected%s", result.connector_id,
                 result.pages, result.accepted, result.duplicate, result.rejected,
                 f"; error: {result.error}" if result.error else " (skipped: running elsewhere)" if result.skipped
                 else "")  # fmt: skip
        results.append(result)
    return results


async def run_forever(
    url: str, deps: PollDeps, stop: asyncio.Event, *, connector_id: str | None = None, tick_seconds: float = 5.0
) -> None:
    while not stop.is_set():
        try:
            await run_due(url, deps, connector_id=connector_id)
            async with await connect(url) as conn:
                upcoming = await next_run_at(conn)
        except Exception:  # a database hiccup must not end the process: log it and go round again
            log.exception("connector loop failed; retrying in %.0f s", tick_seconds)
            upcoming = None
        wait = tick_seconds
        if upcoming is not None:
            wait = min(tick_seconds, max(0.0, (upcoming - datetime.now(UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.05))


def http_client() -> httpx.AsyncClient:
    # Redirects are not followed: a connector's URL is what the admin configured, nothing else.
    return httpx.AsyncClient(follow_redirects=False, headers={"Accept": "application/json",
                                                              "User-Agent": "IOC-connector/1"})  # fmt: skip


def run_process(url: str, *, once: bool = False, connector_id: str | None = None,
                future_tolerance_seconds: int = 300, tick_seconds: float = 5.0) -> list[RunResult]:  # fmt: skip
    """`ioc connectors`: until SIGINT/SIGTERM (or, with `once`, one pass over every enabled
    connector, each caught up with its source)."""
    import os
    import signal

    from ingest.dvcqg.pipeline import PortalSync
    from ingest.projector import DossierProjector
    from ingest.reference import CalendarStore, ProcedureCache
    from ingest.streams import STREAM_INGESTERS
    from ingest.writer import DossierWriter
    from ioc.localities.catalogue import load_catalogue

    async def main() -> list[RunResult]:
        async with http_client() as client:
            procedures, calendars = ProcedureCache(), CalendarStore()
            portal = PortalSync(
                procedures, calendars, DossierWriter(procedures), DossierProjector(procedures, calendars)
            )
            deps = PollDeps(STREAM_INGESTERS, load_catalogue(), client, environ=dict(os.environ),
                            future_tolerance_seconds=future_tolerance_seconds, portal=portal)  # fmt: skip
            if once:
                return await run_due(url, deps, connector_id=connector_id, every=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info("connectors running (checking every %.0f s)", tick_seconds)
            await run_forever(url, deps, stop, connector_id=connector_id, tick_seconds=tick_seconds)
            return []

    return asyncio.run(main())
