"""A slow or dead channel delays no other channel, and its messages arrive once it recovers.

All four channels run at once under ``DeliveryWorkers.start()`` (LISTEN + polling, as in
production). E-mail is healthy; the webhook answers 503; Telegram hangs past the send time
limit; Zalo refuses connections (nothing listens on its port). E-mails are delivered at once,
even ones enqueued while the others keep failing; then the receivers recover and every held
message arrives, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.delivery.email import EmailSender
from alerts.delivery.model import Channel, DeliveryRequest, idempotency_key
from alerts.delivery.outbox import enqueue
from alerts.delivery.sender import Sender
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.telegram import TelegramSender
from alerts.delivery.webhook import WebhookSender
from alerts.delivery.workers import DeliveryWorkers
from alerts.delivery.zalo import ZaloSender
from tests.integration.alerting.test_delivery_support import HttpReceiver, SmtpReceiver, answer_with, open_pool
from tests.unit.alerting.test_delivery_fixtures import PUBLIC_URL, alert, notification


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p = await open_pool(db_url)
    yield p
    await p.close()


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> float:
    """Wait (without blocking the loop the workers run on) until ``predicate`` holds; returns seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - start
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def request(channel: Channel, address: str, n: int) -> DeliveryRequest:
    return DeliveryRequest(channel, address, notification(alert(n)), idempotency_key("iso", channel, n))


async def test_a_down_channel_delays_no_other_and_delivers_after_recovery(pool: AsyncConnectionPool[Any]) -> None:
    smtp = SmtpReceiver().start()
    webhook = HttpReceiver(answer=answer_with(503)).start()  # up, but failing
    telegram = HttpReceiver(delay=3.0).start()  # hangs far past the send time limit
    zalo = HttpReceiver(answer=answer_with(200, {"error": 0}))  # not started: connection refused
    settings = DeliverySettings(
        public_url=PUBLIC_URL, smtp_host="127.0.0.1", smtp_port=smtp.port,
        telegram_base_url=telegram.url(), telegram_token="1:T", zalo_base_url=zalo.url(), zalo_access_token="z",
    )  # fmt: skip
    senders: dict[Channel, Sender] = {Channel.EMAIL: EmailSender(settings), Channel.WEBHOOK: WebhookSender(settings),
               Channel.TELEGRAM: TelegramSender(settings), Channel.ZALO: ZaloSender(settings)}  # fmt: skip
    workers = DeliveryWorkers(pool, senders, poll_interval=0.2, batch=10, max_attempts=1000, base_backoff=0.05,
                              max_backoff=0.3, lease=30, concurrency=4, send_timeout=0.5)  # fmt: skip
    workers.start()
    try:
        async with pool.connection() as conn, conn.transaction():
            await enqueue(conn, [
                request(Channel.WEBHOOK, webhook.url("/hook"), 1), request(Channel.TELEGRAM, "-100", 2),
                request(Channel.ZALO, "84900", 3),
                *(request(Channel.EMAIL, f"can-bo-{i}@hanoi.gov.vn", 10 + i) for i in range(3)),
            ])  # fmt: skip
        assert await eventually(lambda: len(smtp.messages) == 3, timeout=5) < 2.0

        # The three broken channels keep failing and retrying on their own...
        async def failing_for_a_while() -> bool:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT channel, attempts, status FROM delivery WHERE channel <> 'email'")
                rows = {r[0]: r[1:] for r in await cur.fetchall()}
            return all(s == "pending" for _, s in rows.values()) and all(a >= 2 for a, _ in rows.values())

        await eventually(failing_for_a_while, timeout=10)
        assert len(webhook.refused) >= 2 and not webhook.requests
        # ... while e-mail enqueued in the middle of it still goes out at once (woken by NOTIFY).
        async with pool.connection() as conn, conn.transaction():
            await enqueue(conn, [request(Channel.EMAIL, "lanh-dao@hanoi.gov.vn", 20)])
        assert await eventually(lambda: len(smtp.messages) == 4, timeout=5) < 1.0

        # Recovery: each channel's held message arrives.
        webhook.answer = answer_with(200)
        telegram.delay = 0.0
        zalo.start()

        async def all_delivered() -> bool:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM delivery WHERE status <> 'delivered'")
                row = await cur.fetchone()
                return row is not None and row[0] == 0

        await eventually(all_delivered, timeout=15)
    finally:
        await workers.stop()
        for s in (webhook, telegram, zalo):
            s.stop()
        smtp.stop()
    [hook] = webhook.requests
    assert hook.headers["idempotency-key"] == idempotency_key("iso", Channel.WEBHOOK, 1)
    # Every retry carried the same key, so the receiver could have dropped duplicates.
    assert {r.headers["idempotency-key"] for r in webhook.refused} == {hook.headers["idempotency-key"]}
    assert [r.json()["recipient"]["user_id"] for r in zalo.requests] == ["84900"]
    assert telegram.requests[-1].json()["chat_id"] == "-100"
    assert len(smtp.messages) == 4
