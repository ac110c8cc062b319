"""Event-loop lag: how late a loop runs a callback it was asked to run at a given time.

A task sleeps for a fixed interval and records how much later than asked it woke up. On an idle
loop that is a fraction of a millisecond; whatever holds the loop without yielding (a CPU-bound
pass, a blocking call) shows up one for one, which makes it the direct measure of "this process
could not answer anybody for that long". Observed into `ioc_event_loop_lag_seconds{loop}`
(`api`, `alerts`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

__all__ = ["LoopLagMonitor"]


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


class LoopLagMonitor:
    def __init__(self, observer: Observer, *, interval: float = 0.25) -> None:
        self._observer = observer
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            self._observer.observe(max(0.0, loop.time() - asked))
