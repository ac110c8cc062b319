"""The outbox against the real database: idempotent enqueue, claiming, leases, stale outcomes, NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.delivery.model import Channel, DeliveryRequest, idempotency_key
from alerts.delivery.outbox import NOTIFY_CHANNEL, claim, enqueue, mark_delivered, mark_retry
from tests.integration.alerting.test_delivery_support import open_pool
from tests.unit.alerting.test_delivery_fixtures import alert, notification

NOW = datetime(2026, 10, 12, 1, 30, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p = await open_pool(db_url)
    yield p
    await p.close()


def request(n: int, channel: Channel = Channel.WEBHOOK) -> DeliveryRequest:
    key = idempotency_key("test", channel, n)
    return DeliveryRequest(channel, f"http://127.0.0.1:9/{n}", notification(alert(n)), key, {"format": "alertmanager"})


async def make_due(pool: AsyncConnectionPool[Any]) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE delivery SET available_at = %s", [NOW])


async def test_enqueue_inserts_each_idempotency_key_once(pool: AsyncConnectionPool[Any]) -> None:
    async with pool.connection() as conn:
        assert await enqueue(conn, [request(1), request(2), request(1)]) == 2  # a duplicate inside one batch
        assert await enqueue(conn, [request(1), request(2)]) == 0  # planned again: nothing new
        assert await enqueue(conn, [request(2), request(3, Channel.EMAIL)]) == 1
        assert await enqueue(conn, []) == 0
        cur = await conn.execute(
            "SELECT channel, address, options, payload, status, attempts FROM delivery ORDER BY id"
        )
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == ["webhook", "webhook", "email"]
    assert rows[0][2] == {"format": "alertmanager"} and rows[0][4:] == ("pending", 0)
    assert rows[0][3] == notification(alert(1)).to_json()


async def test_claim_takes_a_channels_due_rows_and_skips_locked_ones(pool: AsyncConnectionPool[Any]) -> None:
    async with pool.connection() as conn:
        await enqueue(conn, [request(1), request(2), request(3), request(4, Channel.EMAIL)])
    await make_due(pool)
    async with pool.connection() as first, first.transaction():
        mine = await claim(first, Channel.WEBHOOK, NOW, 2, LEASE)
        async with pool.connection() as second, second.transaction():
            theirs = await claim(second, Channel.WEBHOOK, NOW, 10, LEASE)  # first's rows are locked: skipped
            emails = await claim(second, Channel.EMAIL, NOW, 10, LEASE)
    assert [r.notification.alerts[0].id for r in mine] == [1, 2]
    assert [r.notification.alerts[0].id for r in theirs] == [3]
    assert [r.channel for r in emails] == [Channel.EMAIL] and emails[0].attempts == 1
    async with pool.connection() as conn:
        assert await claim(conn, Channel.WEBHOOK, NOW, 10, LEASE) == []  # all leased now


async def test_a_crashed_workers_rows_come_back_when_the_lease_ends(pool: AsyncConnectionPool[Any]) -> None:
    async with pool.connection() as conn:
        await enqueue(conn, [request(1)])
    await make_due(pool)
    async with pool.connection() as conn:
        [crashed] = await claim(conn, Channel.WEBHOOK, NOW, 10, LEASE)  # ... and the worker dies
        assert await claim(conn, Channel.WEBHOOK, NOW + timedelta(seconds=59), 10, LEASE) == []
        [again] = await claim(conn, Channel.WEBHOOK, NOW + timedelta(seconds=61), 10, LEASE)
        assert (crashed.id, crashed.attempts, again.attempts) == (again.id, 1, 2)
        # The first worker's late outcome no longer counts; the current holder's does.
        assert not await mark_delivered(conn, crashed, NOW + timedelta(seconds=62))
        assert await mark_retry(conn, again, NOW + timedelta(seconds=90), "HTTP 503")
        [third] = await claim(conn, Channel.WEBHOOK, NOW + timedelta(seconds=90), 10, LEASE)
        assert await mark_delivered(conn, third, NOW + timedelta(seconds=91))
        cur = await conn.execute("SELECT status, attempts, last_error, delivered_at FROM delivery")
        assert await cur.fetchone() == ("delivered", 3, None, NOW + timedelta(seconds=91))


async def test_enqueue_notifies_workers_when_the_transaction_commits(
    db_url: str, pool: AsyncConnectionPool[Any]
) -> None:
    listener = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    try:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        async with pool.connection() as conn, conn.transaction():
            await enqueue(conn, [request(1), request(2, Channel.EMAIL), request(3, Channel.EMAIL)])
        payloads: set[str] = set()

        async def collect() -> None:
            async for note in listener.notifies():
                payloads.add(note.payload)
                if payloads == {"webhook", "email"}:
                    return

        await asyncio.wait_for(collect(), 5)
    finally:
        await listener.close()
