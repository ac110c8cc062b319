"""In-process live hub: coalesces changes into numbered deltas and fans them out.

One hub per API process. The LISTEN task calls `publish`; `run` flushes pending changes at most
every `coalesce_seconds` as one delta with the next sequence number; every WebSocket client holds
a `Subscription` with its own bounded queue. Clients see a snapshot (or a replay of the deltas
they missed) and then every later delta exactly once, in order.

Consistency rule: a snapshot is stamped with the hub's sequence number *as it was when the
snapshot started*, and the subscriber's queue is live before that moment. Every delta flushed
while the provider runs therefore reaches the client after the snapshot. A change may be both
inside the snapshot and in a following delta; deltas carry the latest state per key, so applying
one twice is harmless, while a change that is missed would stay wrong on a wall screen for days.

All methods must be called from the event loop that runs the hub (publish is synchronous so the
listener never waits on clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any, Final, Literal

import orjson

SnapshotProvider = Callable[[], Awaitable[dict[str, Any]]]
MessageType = Literal["snapshot", "delta"]


def _ignore(_: int) -> None:
    return None


@dataclass(frozen=True)
class HubMetrics:
    """Hooks for the metrics registry; the API layer wires prometheus-client into these.

    `clients` receives the current number of subscribers (a gauge); `dropped` and `deltas`
    receive increments (counters): messages thrown away for slow clients, deltas published.
    """

    clients: Callable[[int], None] = _ignore
    dropped: Callable[[int], None] = _ignore
    deltas: Callable[[int], None] = _ignore


@dataclass(frozen=True)
class HubMessage:
    """One message to a browser. Shared by all subscribers, so it is serialised once."""

    type: MessageType
    epoch: str
    seq: int
    data: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "epoch": self.epoch, "seq": self.seq, "data": self.data}

    @cached_property
    def json(self) -> str:
        # cached_property writes the instance __dict__ directly, which a frozen dataclass allows.
        return orjson.dumps(self.as_dict()).decode()


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


# Queue items that are not deltas: "your backlog was dropped, take a snapshot" and "stop".
_RESYNC: Final = _Marker("RESYNC")
_CLOSED: Final = _Marker("CLOSED")
_QueueItem = HubMessage | _Marker


@dataclass
class _InflightSnapshot:
    """A snapshot being taken; subscribers that arrive meanwhile share it instead of adding load."""

    seq: int
    task: asyncio.Future[dict[str, Any]]


@dataclass(slots=True)
class _Pending:
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    since: float = 0.0


class Subscription:
    """One client's view of the hub: async-iterate it to get `HubMessage`s in order.

    Its queue is a plain deque with one waiter rather than an asyncio.Queue (three deques and an
    event each): a thousand idle wall screens hold a thousand of these.
    """

    __slots__ = ("_awaiting_resync", "_closed", "_hub", "_items", "_last_seq", "_queue_size", "_ready", "_waiter")

    def __init__(self, hub: LiveHub, queue_size: int) -> None:
        self._hub = hub
        self._queue_size = queue_size
        self._items: deque[_QueueItem] | None = None  # made with the first item: most wait idle
        self._waiter: asyncio.Future[None] | None = None
        # Messages that go out before anything queued: a snapshot or the missed deltas (rare).
        self._ready: deque[HubMessage] | None = None
        self._last_seq = -1
        self._awaiting_resync = False
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backlog(self) -> int:
        """Items queued and not yet taken (deltas, or a resync marker)."""
        return len(self._items) if self._items is not None else 0

    def close(self) -> None:
        """Unsubscribe; a consumer waiting for the next message stops iterating."""
        if self._closed:
            return
        self._closed = True
        self._ready = None
        self._drain()
        self._put(_CLOSED)
        self._hub._remove(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> HubMessage:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._ready:
                message = self._ready.popleft()
                if not self._ready:
                    self._ready = None
                return message
            item = await self._get()
            if item is _CLOSED:
                raise StopAsyncIteration
            if item is _RESYNC:
                await self._resync()
                continue
            assert isinstance(item, HubMessage)
            if item.seq <= self._last_seq:
                continue
            self._last_seq = item.seq
            return item

    async def _get(self) -> _QueueItem:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        assert self._items is not None
        return self._items.popleft()

    def _put(self, item: _QueueItem) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- called by the hub ------------------------------------------------------------------

    def _offer(self, message: HubMessage) -> int:
        """Queue a delta without waiting; returns how many messages were dropped."""
        if self._closed or self._awaiting_resync:
            # The snapshot this client is about to get supersedes the delta.
            return 1 if self._awaiting_resync else 0
        if self.backlog < self._queue_size:
            self._put(message)
            return 0
        dropped = self._drain() + 1
        self._awaiting_resync = True
        self._put(_RESYNC)
        return dropped

    def _start_from_history(self, missed: list[HubMessage], last_seq: int) -> None:
        if missed:
            self._ready = deque(missed)
        self._last_seq = last_seq if not missed else missed[-1].seq

    async def _resync(self) -> None:
        """Replace whatever the client had with a snapshot plus the deltas it predates."""
        self._awaiting_resync = False  # deltas from here on queue up behind the snapshot
        self._ready = None
        snapshot_seq, catch_up, task = self._hub._begin_snapshot()
        data = await asyncio.shield(task)
        if self._closed:
            return
        self._ready = deque([HubMessage("snapshot", self._hub.epoch, snapshot_seq, data), *catch_up])
        self._last_seq = catch_up[-1].seq if catch_up else snapshot_seq

    def _drain(self) -> int:
        count = self.backlog
        self._items = None
        return count


class LiveHub:
    """Coalesce keyed changes into sequenced deltas and fan them out to bounded client queues."""

    # Slots: the live feed opens one hub per scope with a subscriber, a thousand at a time.
    __slots__ = (
        "_client_queue_size", "_clock", "_coalesce_seconds", "_epoch", "_has_pending", "_history",
        "_history_size", "_inflight", "_metrics", "_pending", "_seq", "_snapshot_provider", "_subscribers",
    )  # fmt: skip

    def __init__(
        self,
        *,
        snapshot_provider: SnapshotProvider,
        coalesce_seconds: float = 0.25,
        client_queue_size: int = 64,
        history_size: int = 2048,
        metrics: HubMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if coalesce_seconds < 0 or client_queue_size < 1 or history_size < 0:
            raise ValueError("coalesce_seconds >= 0, client_queue_size >= 1, history_size >= 0")
        self._snapshot_provider = snapshot_provider
        self._coalesce_seconds = coalesce_seconds
        self._client_queue_size = client_queue_size
        self._metrics = metrics or HubMetrics()
        self._clock = clock
        self._epoch = secrets.token_hex(8)
        self._seq = 0
        self._history_size = history_size
        # Made with the first delta, like the event with the first `run`: a view of a quiet
        # commune may never publish, and a thousand views are open at once.
        self._history: deque[HubMessage] | None = None
        self._pending = _Pending()
        self._has_pending: asyncio.Event | None = None
        self._subscribers: set[Subscription] = set()
        self._inflight: _InflightSnapshot | None = None

    @property
    def epoch(self) -> str:
        return self._epoch

    @property
    def seq(self) -> int:
        """Sequence number of the last delta published (0 before the first)."""
        return self._seq

    @property
    def client_count(self) -> int:
        return len(self._subscribers)

    # -- producer side ----------------------------------------------------------------------

    def publish(self, key: str, payload: dict[str, Any]) -> None:
        """Record the latest state of `key`; it goes out with the next flush."""
        if not self._pending.changes:
            self._pending.since = self._clock()
        self._pending.changes[key] = payload
        if self._has_pending is not None:
            self._has_pending.set()

    async def flush_now(self) -> HubMessage | None:
        """Publish pending changes as one delta now (tests, shutdown)."""
        return self._flush()

    def flush(self) -> HubMessage | None:
        """Publish pending changes as one delta now, for a producer that coalesces by itself.

        The live feed already waits one window between refreshes and publishes a refresh's rows
        together; a second wait here would stack on the first (ioc/live/feed.py), so its hubs
        run no flush task and are flushed by the feed right after it publishes.
        """
        return self._flush()

    async def run(self) -> None:
        """Flush forever; a change waits at most `coalesce_seconds`. Idle hubs do not wake."""
        if self._has_pending is None:
            self._has_pending = asyncio.Event()
        while True:
            if not self._pending.changes:
                self._has_pending.clear()
                await self._has_pending.wait()
            due = self._pending.since + self._coalesce_seconds
            delay = due - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self._flush()

    def _flush(self) -> HubMessage | None:
        if self._has_pending is not None:
            self._has_pending.clear()
        if not self._pending.changes:
            return None
        changes, self._pending = self._pending.changes, _Pending()
        self._seq += 1
        delta = HubMessage("delta", self._epoch, self._seq, {"changes": changes})
        if self._history_size:
            if self._history is None:
                self._history = deque(maxlen=self._history_size)
            self._history.append(delta)
        dropped = sum(sub._offer(delta) for sub in list(self._subscribers))
        self._metrics.deltas(1)
        if dropped:
            self._metrics.dropped(dropped)
        return delta

    # -- consumer side ----------------------------------------------------------------------

    async def subscribe(self, last_epoch: str | None, last_seq: int | None) -> Subscription:
        """Register a client; resume from `last_seq` when the history still covers it.

        The first messages are the missed deltas (possibly none) or a snapshot.
        """
        subscription = Subscription(self, self._client_queue_size)
        # Registered before anything is read, so no delta can fall between the two.
        self._subscribers.add(subscription)
        self._metrics.clients(len(self._subscribers))
        try:
            if last_epoch == self._epoch and last_seq is not None and self._covers(last_seq):
                subscription._start_from_history(self._deltas_after(last_seq), last_seq)
            else:
                await subscription._resync()
        except BaseException:
            subscription.close()
            raise
        return subscription

    def close(self) -> None:
        """End every subscription (process shutdown)."""
        for subscription in list(self._subscribers):
            subscription.close()

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            self._metrics.clients(len(self._subscribers))

    def _covers(self, last_seq: int) -> bool:
        """Whether every delta after `last_seq` is still in the history."""
        if last_seq < 0 or last_seq > self._seq:
            return False
        if last_seq == self._seq:
            return True
        return self._history is not None and bool(self._history) and self._history[0].seq <= last_seq + 1

    def _deltas_after(self, last_seq: int) -> list[HubMessage]:
        if not self._history:
            return []
        start = max(0, last_seq + 1 - self._history[0].seq)
        return list(itertools.islice(self._history, start, None))

    def _begin_snapshot(
        self,
    ) -> tuple[int, list[HubMessage], asyncio.Future[dict[str, Any]]]:
        """Start (or join) a snapshot; returns its seq, the deltas it predates, and the task.

        Joining one already running avoids a burst of identical queries when many screens
        reconnect together; the joiner makes up the difference from the history.
        """
        inflight = self._inflight
        if inflight is None or not self._covers(inflight.seq):
            task = asyncio.ensure_future(self._snapshot_provider())
            inflight = _InflightSnapshot(seq=self._seq, task=task)
            self._inflight = inflight
            task.add_done_callback(self._snapshot_done)
        return inflight.seq, self._deltas_after(inflight.seq), inflight.task

    def _snapshot_done(self, task: asyncio.Future[dict[str, Any]]) -> None:
        if self._inflight is not None and self._inflight.task is task:
            self._inflight = None
        # Mark a failure as seen even if every waiter was cancelled; waiters re-raise it.
        with contextlib.suppress(asyncio.CancelledError):
            task.exception()
