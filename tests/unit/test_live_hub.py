"""Live hub: coalescing, sequencing, resume, slow clients and the snapshot race."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from ioc.live.hub import HubMessage, HubMetrics, LiveHub, Subscription

SNAPSHOT = {"provinces": {"01": {"open": 10}}}


async def static_snapshot() -> dict[str, Any]:
    return dict(SNAPSHOT)


@dataclass
class RecordedMetrics:
    clients: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    deltas: list[int] = field(default_factory=list)

    def hooks(self) -> HubMetrics:
        return HubMetrics(clients=self.clients.append, dropped=self.dropped.append, deltas=self.deltas.append)


async def next_message(subscription: Subscription, timeout: float = 2.0) -> HubMessage:
    return await asyncio.wait_for(anext(subscription), timeout)


async def publish_deltas(hub: LiveHub, count: int) -> None:
    for _ in range(count):
        hub.publish("province:01", {"open": hub.seq + 1})
        await hub.flush_now()


@pytest.mark.parametrize(
    ("publishes", "expected_changes"),
    [
        (
            [("province:01", {"v": 1}), ("province:01", {"v": 2}), ("province:01", {"v": 3})],
            {"province:01": {"v": 3}},
        ),
        (
            [("province:01", {"v": 1}), ("alert:7", {"state": "open"}), ("province:01", {"v": 2})],
            {"province:01": {"v": 2}, "alert:7": {"state": "open"}},
        ),
        ([("alert:1", {})], {"alert:1": {}}),
    ],
)
@pytest.mark.asyncio
async def test_publishes_within_a_window_collapse_into_one_delta(
    publishes: list[tuple[str, dict[str, Any]]], expected_changes: dict[str, Any]
) -> None:
    hub = LiveHub(snapshot_provider=static_snapshot)
    for key, payload in publishes:
        hub.publish(key, payload)

    delta = await hub.flush_now()

    assert delta is not None
    assert (delta.type, delta.seq, delta.epoch) == ("delta", 1, hub.epoch)
    assert delta.data == {"changes": expected_changes}
    assert hub.seq == 1


@pytest.mark.asyncio
async def test_sequence_increases_by_one_per_non_empty_flush() -> None:
    metrics = RecordedMetrics()
    hub = LiveHub(snapshot_provider=static_snapshot, metrics=metrics.hooks())
    seqs = []
    for round_ in range(5):
        if round_ != 2:  # an empty window publishes nothing and burns no number
            hub.publish("province:01", {"round": round_})
        delta = await hub.flush_now()
        seqs.append(None if delta is None else delta.seq)

    assert seqs == [1, 2, None, 3, 4]
    assert hub.seq == 4
    assert metrics.deltas == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("published", "history_size", "resume_epoch", "last_seq", "expected"),
    [
        # expected: ("replay", [seqs]) or ("snapshot", seq)
        (5, 10, "same", 2, ("replay", [3, 4, 5])),
        (5, 10, "same", 5, ("replay", [])),
        (5, 10, "same", 0, ("replay", [1, 2, 3, 4, 5])),
        (5, 3, "same", 2, ("replay", [3, 4, 5])),
        (5, 3, "same", 1, ("snapshot", 5)),  # delta 2 has left the history
        (5, 10, "other", 2, ("snapshot", 5)),  # another process or a restart
        (5, 10, None, None, ("snapshot", 5)),  # a first connection
        (5, 10, "same", None, ("snapshot", 5)),
        (5, 10, "same", 9, ("snapshot", 5)),  # ahead of us: cannot be ours
        (5, 10, "same", -1, ("snapshot", 5)),
        (0, 10, "same", 0, ("replay", [])),
    ],
)
@pytest.mark.asyncio
async def test_resume_replays_missed_deltas_or_falls_back_to_snapshot(
    published: int,
    history_size: int,
    resume_epoch: str | None,
    last_seq: int | None,
    expected: tuple[str, Any],
) -> None:
    hub = LiveHub(snapshot_provider=static_snapshot, history_size=history_size)
    await publish_deltas(hub, published)
    epoch = hub.epoch if resume_epoch == "same" else resume_epoch

    subscription = await hub.subscribe(epoch, last_seq)
    await publish_deltas(hub, 1)  # a live delta after the resume point

    kind, value = expected
    if kind == "replay":
        replayed = [(await next_message(subscription)).seq for _ in value]
        assert replayed == value
    else:
        snapshot = await next_message(subscription)
        assert (snapshot.type, snapshot.seq, snapshot.epoch) == ("snapshot", value, hub.epoch)
        assert snapshot.data == SNAPSHOT
    live = await next_message(subscription)
    assert (live.type, live.seq) == ("delta", published + 1)


@pytest.mark.asyncio
async def test_slow_client_is_resynced_and_does_not_hold_back_others() -> None:
    metrics = RecordedMetrics()
    hub = LiveHub(snapshot_provider=static_snapshot, client_queue_size=3, metrics=metrics.hooks())
    slow = await hub.subscribe(None, None)
    fast = await hub.subscribe(None, None)
    assert (await next_message(fast)).type == "snapshot"

    fast_seqs = []
    for _ in range(10):
        await publish_deltas(hub, 1)
        fast_seqs.append((await next_message(fast)).seq)

    assert fast_seqs == list(range(1, 11))
    assert slow.backlog <= 3  # bounded: its backlog was thrown away, not kept
    first = await next_message(slow)
    assert (first.type, first.seq) == ("snapshot", 0)
    resync = await next_message(slow)
    assert (resync.type, resync.seq) == ("snapshot", 10)
    await publish_deltas(hub, 1)
    assert (await next_message(slow)).seq == 11
    assert (await next_message(fast)).seq == 11
    assert sum(metrics.dropped) == 10  # deltas 1-3 queued then thrown away, 4-10 never queued


@pytest.mark.parametrize("deltas_during_snapshot", [0, 1, 4])
@pytest.mark.asyncio
async def test_deltas_published_while_a_snapshot_is_taken_arrive_once_in_order(
    deltas_during_snapshot: int,
) -> None:
    hub: LiveHub

    async def busy_snapshot() -> dict[str, Any]:
        await asyncio.sleep(0)
        await publish_deltas(hub, deltas_during_snapshot)
        await asyncio.sleep(0)
        return {"seen_seq": hub.seq}

    hub = LiveHub(snapshot_provider=busy_snapshot)
    await publish_deltas(hub, 2)

    subscription = await hub.subscribe(None, None)
    await publish_deltas(hub, 2)

    snapshot = await next_message(subscription)
    assert (snapshot.type, snapshot.seq) == ("snapshot", 2)
    following = [(await next_message(subscription)).seq for _ in range(deltas_during_snapshot + 2)]
    assert following == list(range(3, 3 + deltas_during_snapshot + 2))
    assert subscription.backlog == 0


@pytest.mark.asyncio
async def test_subscribers_arriving_during_a_snapshot_share_it_and_catch_up() -> None:
    release = asyncio.Event()
    calls = 0

    async def slow_snapshot() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"call": calls}

    hub = LiveHub(snapshot_provider=slow_snapshot)
    first = asyncio.create_task(hub.subscribe(None, None))
    await asyncio.sleep(0)
    await publish_deltas(hub, 2)
    second = asyncio.create_task(hub.subscribe(None, None))
    await asyncio.sleep(0)
    await publish_deltas(hub, 1)
    release.set()

    for task in (first, second):
        subscription = await task
        messages = [await next_message(subscription) for _ in range(4)]
        assert [(m.type, m.seq) for m in messages] == [
            ("snapshot", 0),
            ("delta", 1),
            ("delta", 2),
            ("delta", 3),
        ]
    assert calls == 1


@pytest.mark.asyncio
async def test_unsubscribing_decrements_client_count_and_ends_iteration() -> None:
    metrics = RecordedMetrics()
    hub = LiveHub(snapshot_provider=static_snapshot, metrics=metrics.hooks())
    async with await hub.subscribe(None, None) as one:
        two = await hub.subscribe(None, None)
        assert hub.client_count == 2
        await next_message(one)
        waiting = asyncio.create_task(anext(one))
        await asyncio.sleep(0)
    assert hub.client_count == 1
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 2.0)
    two.close()
    two.close()
    assert hub.client_count == 0
    assert metrics.clients == [1, 2, 1, 0]


@pytest.mark.asyncio
async def test_failed_snapshot_fails_subscribe_and_leaves_no_client() -> None:
    async def broken() -> dict[str, Any]:
        raise RuntimeError("database down")

    hub = LiveHub(snapshot_provider=broken)
    with pytest.raises(RuntimeError, match="database down"):
        await hub.subscribe(None, None)
    assert hub.client_count == 0


@pytest.mark.asyncio
async def test_run_flushes_after_the_coalescing_window() -> None:
    hub = LiveHub(snapshot_provider=static_snapshot, coalesce_seconds=0.01)
    runner = asyncio.create_task(hub.run())
    try:
        subscription = await hub.subscribe(None, None)
        await next_message(subscription)
        hub.publish("province:79", {"v": 1})
        hub.publish("province:79", {"v": 2})
        delta = await next_message(subscription)
        assert (delta.seq, delta.data) == (1, {"changes": {"province:79": {"v": 2}}})
    finally:
        runner.cancel()


@pytest.mark.asyncio
async def test_message_json_follows_the_browser_protocol() -> None:
    hub = LiveHub(snapshot_provider=static_snapshot)
    hub.publish("province:01", {"name": "Hà Nội", "open": 3})
    delta = await hub.flush_now()
    assert delta is not None
    assert json.loads(delta.json) == {
        "type": "delta",
        "epoch": hub.epoch,
        "seq": 1,
        "data": {"changes": {"province:01": {"name": "Hà Nội", "open": 3}}},
    }


def test_epoch_differs_between_hubs() -> None:
    assert LiveHub(snapshot_provider=static_snapshot).epoch != LiveHub(snapshot_provider=static_snapshot).epoch
