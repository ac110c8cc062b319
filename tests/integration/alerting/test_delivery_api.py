"""Dead letters through the admin API: a permanent error leaves a dead letter an administrator
sees with its error, sends back to the queue once the receiver is fixed, and sees delivered."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from psycopg_pool import AsyncConnectionPool

from alerts.delivery.model import Channel, DeliveryRequest, idempotency_key
from alerts.delivery.outbox import enqueue
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.webhook import WebhookSender
from alerts.delivery.workers import DeliveryWorkers
from ioc.api.deliveries import deliveries_router
from ioc.app import create_app
from ioc.db.embedded import free_port
from ioc.settings import Settings
from tests.auth_support import bearer, user_token
from tests.integration.alerting.test_delivery_support import HttpReceiver, answer_with, open_pool
from tests.unit.alerting.test_delivery_fixtures import PUBLIC_URL, alert, notification


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p = await open_pool(db_url)
    yield p
    await p.close()


@pytest.fixture
def api(db_url: str) -> Iterator[str]:
    """The real app over the test database, with the deliveries router (mounted here if the
    application does not mount it yet)."""
    settings = Settings(database_url=db_url, port=free_port())
    app = create_app(settings, db_url)
    if not any(getattr(r, "path", "") == "/api/v1/deliveries" for r in app.routes):
        app.include_router(deliveries_router())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{settings.port}"
    server.should_exit = True
    thread.join(timeout=15)


async def test_dead_letters_are_visible_and_can_be_retried(
    db_url: str, pool: AsyncConnectionPool[Any], api: str
) -> None:
    hook = HttpReceiver(answer=answer_with(410, {"error": "gone"})).start()
    try:
        sender = WebhookSender(DeliverySettings(public_url=PUBLIC_URL))
        workers = DeliveryWorkers(pool, {Channel.WEBHOOK: sender}, listen=False)
        ok = DeliveryRequest(Channel.WEBHOOK, hook.url("/ok"), notification(alert(1)), idempotency_key("api", 1))
        bad = DeliveryRequest(Channel.WEBHOOK, hook.url("/bad"), notification(alert(2)), idempotency_key("api", 2))
        async with pool.connection() as conn:
            assert await enqueue(conn, [ok, bad]) == 2
        hook.answer = lambda r: answer_with(200)(r) if r.path == "/ok" else answer_with(410, {"error": "gone"})(r)
        assert await workers.run_channel_once(Channel.WEBHOOK) == 2

        admin = httpx.AsyncClient(base_url=api, headers=bearer(user_token(db_url, "quan-tri", "admin")), timeout=30)
        async with admin:
            dead = (await admin.get("/api/v1/deliveries", params={"status": "dead"})).json()["deliveries"]
            assert [(d["address"], d["attempts"], d["kind"], d["alert_count"]) for d in dead] == [
                (bad.address, 1, "alert", 1)]  # fmt: skip
            assert dead[0]["last_error"].startswith("HTTP 410") and dead[0]["dead_at"]
            delivered = await admin.get("/api/v1/deliveries", params={"status": "delivered", "channel": "webhook"})
            assert [d["address"] for d in delivered.json()["deliveries"]] == [ok.address]
            assert (await admin.get("/api/v1/deliveries", params={"channel": "email"})).json() == {"deliveries": []}
            detail = (await admin.get(f"/api/v1/deliveries/{dead[0]['id']}")).json()
            assert detail["payload"] == bad.notification.to_json() and detail["idempotency_key"] == bad.idempotency_key

            # Only a dead letter can be retried; unknown ids are 404.
            ok_id = delivered.json()["deliveries"][0]["id"]
            assert (await admin.post(f"/api/v1/deliveries/{ok_id}/retry")).status_code == 409
            assert (await admin.post("/api/v1/deliveries/999999/retry")).status_code == 404
            assert (await admin.get("/api/v1/deliveries/999999")).status_code == 404

            hook.answer = answer_with(200)  # the receiver is fixed
            retried = await admin.post(f"/api/v1/deliveries/{dead[0]['id']}/retry")
            assert retried.status_code == 200 and retried.json() == {"id": dead[0]["id"], "status": "pending"}
            assert await workers.run_channel_once(Channel.WEBHOOK) == 1
            again = (await admin.get(f"/api/v1/deliveries/{dead[0]['id']}")).json()
            assert (again["status"], again["attempts"], again["last_error"]) == ("delivered", 1, None)
            assert (await admin.get("/api/v1/deliveries", params={"status": "dead"})).json() == {"deliveries": []}

            operator = bearer(user_token(db_url, "van-hanh", "operator"))
            assert (await admin.get("/api/v1/deliveries", headers=operator)).status_code == 403
    finally:
        hook.stop()
    assert [r.path for r in hook.requests] == ["/ok", "/bad"]
    assert hook.requests[1].headers["idempotency-key"] == bad.idempotency_key


async def test_temporary_errors_become_dead_letters_after_the_last_attempt(pool: AsyncConnectionPool[Any]) -> None:
    hook = HttpReceiver(answer=answer_with(503)).start()
    try:
        workers = DeliveryWorkers(pool, {Channel.WEBHOOK: WebhookSender(DeliverySettings())}, listen=False,
                                  max_attempts=3, base_backoff=0.0, max_backoff=0.0)  # fmt: skip
        async with pool.connection() as conn:
            await enqueue(conn, [DeliveryRequest(Channel.WEBHOOK, hook.url("/x"), notification(alert(1)), "k-3")])
        for _ in range(3):
            assert await workers.run_channel_once(Channel.WEBHOOK) == 1
        assert await workers.run_channel_once(Channel.WEBHOOK) == 0
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT status, attempts, last_error FROM delivery")
            assert await cur.fetchone() == ("dead", 3, 'HTTP 503: {"ok": false} (gave up after 3 attempts)')
    finally:
        hook.stop()
