"""The delivery workers: one asyncio task per channel drains that channel's outbox rows.

Isolation between channels is the point. Each channel claims only its own rows, sends them with
its own bounded concurrency and a per-send time limit, and holds no database connection while a
send is in flight, so a receiver that hangs or refuses connections slows nobody but itself. The
workers wake on the ``ioc_delivery`` NOTIFY that ``outbox.enqueue`` sends when rows commit, and
poll anyway (retries come due by the clock, and a notification can be missed while reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from alerts.delivery.backoff import Dead, RetryPolicy, decide
from alerts.delivery.errors import DeliveryError, TemporaryError
from alerts.delivery.metrics import DeliveryMetrics
from alerts.delivery.model import Channel
from alerts.delivery.outbox import NOTIFY_CHANNEL, DeliveryRow, claim, mark_dead, mark_delivered, mark_retry
from alerts.delivery.sender import Sender
from ioc.db.listen import listen_forever

__all__ = ["DeliveryWorkers"]

log = logging.getLogger(__name__)


class DeliveryWorkers:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        senders: Mapping[Channel, Sender],
        *,
        poll_interval: float = 1.0,
        batch: int = 50,
        max_attempts: int = 8,
        base_backoff: float = 5.0,
        max_backoff: float = 900.0,
        lease: float = 120.0,
        concurrency: int = 8,
        send_timeout: float = 30.0,
        metrics: DeliveryMetrics | None = None,
        listen: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._senders = dict(senders)
        self._poll_interval = poll_interval
        self._batch = batch
        self._policy = RetryPolicy(max_attempts=max_attempts, base_backoff_s=base_backoff, max_backoff_s=max_backoff)
        # A claimed batch must be finished before its lease runs out, or another worker would send
        # the same rows again: the lease is at least the worst case of the batch's sends.
        worst_batch = send_timeout * math.ceil(batch / concurrency) + 5.0
        self._lease = timedelta(seconds=max(lease, worst_batch))
        self._concurrency = concurrency
        self._send_timeout = send_timeout
        self._metrics = metrics or DeliveryMetrics()
        self._listen = listen
        self._clock = clock
        self._wake = {channel: asyncio.Event() for channel in self._senders}
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(self._senders)

    def start(self) -> None:
        """Start one task per channel (and the LISTEN task); call from a running event loop."""
        if self._tasks:
            return
        for channel in self._senders:
            self._tasks.append(asyncio.create_task(self._channel_loop(channel), name=f"delivery-{channel.value}"))
        if self._listen:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="delivery-listen"))

    async def stop(self) -> None:
        """Stop every task; rows being sent keep their lease and come back to the next worker."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self, channel: Channel | None = None) -> None:
        """Look at the outbox now rather than at the next poll (one channel, or all)."""
        for ch, event in self._wake.items():
            if channel is None or ch is channel:
                event.set()

    async def run_channel_once(self, channel: Channel, now: datetime | None = None) -> int:
        """Claim one batch of ``channel``'s due rows, send them, record outcomes; returns rows claimed."""
        sender = self._senders[channel]
        claimed_at = now or self._clock()
        started = time.monotonic()
        async with self._pool.connection() as conn, conn.transaction():
            rows = await claim(conn, channel, claimed_at, self._batch, self._lease)
        if not rows:
            return 0
        limit = asyncio.Semaphore(self._concurrency)

        def current() -> datetime:  # the caller's clock, moved on by the time the sends took
            return claimed_at + timedelta(seconds=time.monotonic() - started)

        await asyncio.gather(*(self._deliver(sender, row, limit, current) for row in rows))
        return len(rows)

    # ----------------------------------------------------------------------- internals

    async def _deliver(
        self, sender: Sender, row: DeliveryRow, limit: asyncio.Semaphore, current: Callable[[], datetime]
    ) -> None:
        channel = row.channel.value
        async with limit:
            began = time.monotonic()
            error: DeliveryError | None = None
            try:
                await asyncio.wait_for(sender.send(row), self._send_timeout)
            except DeliveryError as exc:
                error = exc
            except TimeoutError:
                error = TemporaryError(f"no answer within {self._send_timeout:g} s")
            except Exception as exc:  # a bug in a sender must not kill the channel: retry, and say so
                log.exception("delivery %s via %s failed unexpectedly", row.id, channel)
                error = TemporaryError(f"{type(exc).__name__}: {exc}"[:300])
            self._metrics.send_seconds.labels(channel).observe(time.monotonic() - began)
        now = current()
        async with self._pool.connection() as conn, conn.transaction():
            if error is None:
                await mark_delivered(conn, row, now)
                self._metrics.messages.labels(channel, "delivered").inc()
                self._metrics.latency_seconds.labels(channel).observe(max(0.0, (now - row.created_at).total_seconds()))
                return
            outcome = decide(error, row.attempts, now, self._policy)
            if isinstance(outcome, Dead):
                await mark_dead(conn, row, now, outcome.error)
                self._metrics.messages.labels(channel, "dead").inc()
                log.warning("delivery %s via %s is a dead letter: %s", row.id, channel, outcome.error)
            else:
                await mark_retry(conn, row, outcome.available_at, outcome.error)
                self._metrics.messages.labels(channel, "retry").inc()

    async def _channel_loop(self, channel: Channel) -> None:
        event = self._wake[channel]
        while True:
            event.clear()
            try:
                claimed = await self.run_channel_once(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery worker for %s failed; retrying after the poll interval", channel.value)
                claimed = 0
            if claimed >= self._batch:
                continue  # more may be waiting: no pause between full batches
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self._poll_interval)

    async def _listen_loop(self) -> None:
        conninfo = self._pool.conninfo
        if not isinstance(conninfo, str):
            log.warning("delivery LISTEN needs a connection string; relying on polling only")
            return
        # On (re)connecting, wake every channel: whatever was enqueued while nobody listened.
        await listen_forever(conninfo, NOTIFY_CHANNEL, self._wake_for, self.wake, name="delivery")

    def _wake_for(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self.wake(Channel(payload))
