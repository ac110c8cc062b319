"""The alert pipeline loop: evaluate rules, plan notifications, as soon as data arrives.

A breach should reach a phone in seconds, not at the next 15-second tick: this loop LISTENs on
the live channel the ingest writers notify, and a notification about a stream wakes an
evaluation at once (debounced, so a burst of batches costs one evaluation). Alerts posted in
Alertmanager's format notify the same channel with ``stream = "alert"`` and wake the planner.
Without notifications the loop still evaluates every ``evaluate_every`` and plans every
``plan_every`` (group wait / interval / repeat, escalation steps and silence ends are timed).

Each step opens its own connection and is guarded by its own advisory lock inside the called
function, so two `alerts` processes never double-evaluate or double-send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from psycopg_pool import AsyncConnectionPool

from ioc.db.listen import listen_forever
from ioc.db.pool import Conn
from ioc.live.channel import LIVE_CHANNEL

log = logging.getLogger(__name__)

# Streams whose data can change a rule's answer; other notifications (alert ids) only re-plan.
DATA_STREAMS = frozenset({"dossier", "payout", "id_issuance"})

Step = Callable[[Conn, datetime], Awaitable[object]]
# Evaluate the rules reading these streams, or every rule (None: the periodic full round).
Evaluate = Callable[[Conn, datetime, frozenset[str] | None], Awaitable[object]]


@dataclass(frozen=True)
class PipelineTiming:
    evaluate_every: float = 15.0
    plan_every: float = 1.0
    # A burst of ingest batches within this many seconds is evaluated once.
    debounce: float = 0.05


class AlertPipeline:
    """Runs ``evaluate`` (rules → alerts) then ``plan`` (alerts → deliveries) on wake-ups."""

    def __init__(
        self, pool: AsyncConnectionPool[Conn], url: str, evaluate: Evaluate, plan: Step, timing: PipelineTiming
    ) -> None:
        self._pool = pool
        self._url = url
        self._evaluate = evaluate
        self._plan = plan
        self._timing = timing
        self._data_changed = asyncio.Event()
        self._changed_streams: set[str] = set()
        self._alerts_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._run())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def on_notification(self, payload: str) -> None:
        try:
            stream = orjson.loads(payload).get("stream")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if stream in DATA_STREAMS:
            self._changed_streams.add(stream)
            self._data_changed.set()
        elif stream == "alert":
            self._alerts_changed.set()

    async def run_once(self, *, evaluate: bool, streams: frozenset[str] | None = None) -> None:
        """One round: evaluate the rules if asked (only those reading `streams` when given), then
        plan notifications. Errors are logged."""
        if evaluate:
            await self._step("evaluation", lambda conn, now: self._evaluate(conn, now, streams), datetime.now(UTC))
        await self._step("notification planning", self._plan, datetime.now(UTC))

    async def _step(self, name: str, step: Step, now: datetime) -> None:
        try:
            async with self._pool.connection() as conn:
                await step(conn, now)
        except Exception:  # one failed round must not end the loop; the next one retries
            log.exception("alert %s failed", name)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_evaluation = loop.time()
        while True:
            timeout = max(0.0, min(next_evaluation - loop.time(), self._timing.plan_every))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._either_changed(), timeout)
            if self._data_changed.is_set():
                await asyncio.sleep(self._timing.debounce)
            due = loop.time() >= next_evaluation
            # New data re-evaluates only the rules that read its streams; the periodic round, all.
            streams = None if due else frozenset(self._changed_streams)
            evaluate = due or bool(streams)
            self._changed_streams.clear()
            self._data_changed.clear()
            self._alerts_changed.clear()
            started = time.perf_counter()
            await self.run_once(evaluate=evaluate, streams=streams)
            if due:
                next_evaluation = loop.time() + self._timing.evaluate_every
            log.debug("alert round (evaluate=%s) took %.3fs", evaluate, time.perf_counter() - started)

    async def _either_changed(self) -> None:
        waits = [asyncio.create_task(e.wait()) for e in (self._data_changed, self._alerts_changed)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _listen(self) -> None:
        await listen_forever(self._url, LIVE_CHANNEL, self.on_notification, self._missed_everything, name="alert")

    def _missed_everything(self) -> None:
        # Whatever happened while nobody listened is evaluated at once, every stream.
        self._changed_streams.update(DATA_STREAMS)
        self._data_changed.set()
