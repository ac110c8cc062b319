"""The projector loop: applies queued dossier batches that no request is applying.

Woken at once when a source's batch is acknowledged once stored (`?ack=stored`: the writer
notifies `ioc_projection` at commit), and every `interval` seconds regardless, for batches whose
request stopped between its two transactions (a crash, a killed worker): those it takes only after
`grace`, so that it does not race requests that are still applying their own batch. Every API
process runs one; two loops never project the same batch (ingest/projector.py). Every minute it
also merges the daily rollup's pending rows (ingest/rollup_compaction.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool

from ingest.projector import DossierProjector
from ingest.rollup_compaction import compact_rollup
from ingest.writer import PROJECTION_CHANNEL
from ioc.db.listen import listen_forever
from ioc.db.pool import Conn

log = logging.getLogger(__name__)


class ProjectionLoop:
    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        url: str,
        projector: DossierProjector,
        on_projected: Callable[[int], object],
        *,
        interval: float = 5.0,
        grace: timedelta = timedelta(seconds=30),
        compact_every: float = 60.0,
    ) -> None:
        self._pool, self._url, self._projector = pool, url, projector
        self._on_projected = on_projected
        self._interval, self._grace = interval, grace
        # Pending rollup rows are exact the moment they land; merging them is only housekeeping
        # (fewer rows to read), so it runs at its own, slower pace.
        self._compact_every = compact_every
        self._compacted_at = time.monotonic()
        self._wake = asyncio.Event()

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen_forever(self._url, PROJECTION_CHANNEL, lambda _: self._wake.set(), self._wake.set, name="projector")
        )
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
                self._wake.clear()
                try:
                    await self.drain()
                    if time.monotonic() - self._compacted_at >= self._compact_every:
                        async with self._pool.connection() as conn:
                            await compact_rollup(conn)
                        self._compacted_at = time.monotonic()
                except (psycopg.Error, OSError) as exc:
                    log.warning("projector: %s; trying again in %.0f s", exc, self._interval)
                except Exception:  # a bug must not stop the loop: the queue would grow unseen
                    log.exception("projector: unexpected error; trying again in %.0f s", self._interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def drain(self) -> int:
        """Project everything queued and due now; returns how many batches."""
        total = 0
        async with self._pool.connection() as conn:
            while True:
                done = await self._projector.catch_up(conn, grace=self._grace)
                total += done
                if done:
                    self._on_projected(done)
                else:
                    return total
