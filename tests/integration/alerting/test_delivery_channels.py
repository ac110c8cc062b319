"""Each channel end to end: outbox row → worker → a real local receiver, which checks what arrived.

E-mail goes to an aiosmtpd server; webhook, Telegram and Zalo to a local HTTP server asserting
the exact request; Web Push to a local push service that decrypts the payload with the keys the
test generated for the "browser" and verifies the VAPID signature.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import http_ece
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from psycopg_pool import AsyncConnectionPool

from alerts.delivery.email import EmailSender
from alerts.delivery.model import AlertStatus, Channel, DeliveryRequest, idempotency_key
from alerts.delivery.outbox import enqueue
from alerts.delivery.sender import Sender
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.telegram import TelegramSender
from alerts.delivery.vapid import vapid_public_key
from alerts.delivery.webhook import WebhookSender
from alerts.delivery.webpush import WebPushSender
from alerts.delivery.workers import DeliveryWorkers
from alerts.delivery.zalo import ZaloSender
from tests.auth_support import create_user
from tests.integration.alerting.test_delivery_support import (
    HttpReceiver,
    PushSubscriber,
    SmtpReceiver,
    answer_with,
    b64url_decode,
    open_pool,
)
from tests.unit.alerting.test_delivery_fixtures import PUBLIC_URL, alert, notification

BASE = PUBLIC_URL.rstrip("/")


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p = await open_pool(db_url)
    yield p
    await p.close()


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


async def deliver(pool: AsyncConnectionPool[Any], channel: Channel, sender: Sender, *requests: DeliveryRequest) -> None:
    async with pool.connection() as conn:
        await enqueue(conn, list(requests))
    workers = DeliveryWorkers(pool, {channel: sender}, listen=False, send_timeout=5)
    assert await workers.run_channel_once(channel) == len(requests)


async def status_of(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status, attempts, last_error FROM delivery ORDER BY id")
        rows: list[tuple[Any, ...]] = await cur.fetchall()
        return rows


def req(channel: Channel, address: str, *, language: str = "vi", options: dict[str, Any] | None = None,
        status: AlertStatus = AlertStatus.FIRING) -> DeliveryRequest:  # fmt: skip
    n = notification(alert(42, status), language=language)
    return DeliveryRequest(channel, address, n, idempotency_key(channel, address, status, language), options or {})


async def test_email_reaches_an_smtp_server_in_vietnamese(pool: AsyncConnectionPool[Any]) -> None:
    smtp = SmtpReceiver().start()
    try:
        settings = DeliverySettings(public_url=PUBLIC_URL, smtp_host="127.0.0.1", smtp_port=smtp.port,
                                    smtp_from="Trung tâm IOC <canh-bao@ioc.gov.vn>")  # fmt: skip
        request = req(Channel.EMAIL, "chanh.van.phong@hanoi.gov.vn, pho.giam.doc@hanoi.gov.vn")
        await deliver(pool, Channel.EMAIL, EmailSender(settings), request)
    finally:
        smtp.stop()
    [mail] = smtp.messages
    assert smtp.envelopes == [("canh-bao@ioc.gov.vn", ["chanh.van.phong@hanoi.gov.vn", "pho.giam.doc@hanoi.gov.vn"])]
    assert mail["Subject"] == "[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn"
    assert mail["Message-ID"] == f"<{request.idempotency_key}@ioc.gov.vn>"
    assert mail["From"] == "Trung tâm IOC <canh-bao@ioc.gov.vn>"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "• [Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn" in text and "từ 08:30 12/10/2026" in text
    assert f"{BASE}/alerts/42" in text and f'href="{BASE}/alerts/42"' in html
    assert await status_of(pool) == [("delivered", 1, None)]


async def test_smtp_refusals_are_classified(pool: AsyncConnectionPool[Any]) -> None:
    smtp = SmtpReceiver().start()
    try:
        settings = DeliverySettings(public_url=PUBLIC_URL, smtp_host="127.0.0.1", smtp_port=smtp.port)
        smtp.reply = "451 4.3.0 Hộp thư tạm thời bận"
        await deliver(pool, Channel.EMAIL, EmailSender(settings), req(Channel.EMAIL, "a@x.vn"))
        smtp.reply = "550 5.1.1 No such user"
        await deliver(pool, Channel.EMAIL, EmailSender(settings), req(Channel.EMAIL, "b@x.vn"))
    finally:
        smtp.stop()
    [(s1, _, e1), (s2, _, e2)] = await status_of(pool)
    assert s1 == "pending" and e1.startswith("SMTP 451")
    assert s2 == "dead" and e2.startswith("SMTP 550")


async def test_webhook_posts_json_with_the_idempotency_key(pool: AsyncConnectionPool[Any], http: HttpReceiver) -> None:
    request = req(Channel.WEBHOOK, http.url("/hooks/ioc"))
    await deliver(pool, Channel.WEBHOOK, WebhookSender(DeliverySettings(public_url=PUBLIC_URL)), request)
    [got] = http.requests
    assert got.path == "/hooks/ioc" and got.headers["idempotency-key"] == request.idempotency_key
    assert got.headers["content-type"] == "application/json"
    body = got.json()
    assert body["version"] == "ioc/1" and body["title"] == "[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn"
    assert body["link"] == f"{BASE}/alerts/42" and body["notification"]["alerts"][0]["id"] == 42


async def test_webhook_in_alertmanager_format(pool: AsyncConnectionPool[Any], http: HttpReceiver) -> None:
    request = req(Channel.WEBHOOK, http.url("/am"), options={"format": "alertmanager", "receiver": "prometheus-bridge"},
                  status=AlertStatus.RESOLVED)  # fmt: skip
    await deliver(pool, Channel.WEBHOOK, WebhookSender(DeliverySettings(public_url=PUBLIC_URL)), request)
    [got] = http.requests
    body = got.json()
    assert got.headers["idempotency-key"] == request.idempotency_key
    assert (body["version"], body["status"], body["receiver"]) == ("4", "resolved", "prometheus-bridge")
    assert body["groupKey"] == '{}:{rule="overdue",province_code="01"}' and body["externalURL"] == BASE
    [a] = body["alerts"]
    assert a["status"] == "resolved" and a["labels"]["alertname"] == "overdue" and a["fingerprint"] == "fp0042"
    assert a["startsAt"] == "2026-10-12T01:30:00Z" and a["endsAt"] == "2026-10-12T03:05:00Z"
    assert a["generatorURL"] == f"{BASE}/alerts/42"


async def test_webhook_answers_are_classified(pool: AsyncConnectionPool[Any], http: HttpReceiver) -> None:
    sender = WebhookSender(DeliverySettings(public_url=PUBLIC_URL))
    http.answer = answer_with(503, headers={"Retry-After": "120"})
    await deliver(pool, Channel.WEBHOOK, sender, req(Channel.WEBHOOK, http.url("/busy")))
    http.answer = answer_with(404)
    await deliver(pool, Channel.WEBHOOK, sender, req(Channel.WEBHOOK, http.url("/missing")))
    await deliver(pool, Channel.WEBHOOK, sender, req(Channel.WEBHOOK, "ftp://example/x"))
    rows = await status_of(pool)
    assert [r[0] for r in rows] == ["pending", "dead", "dead"]
    assert rows[0][2].startswith("HTTP 503") and rows[1][2].startswith("HTTP 404")
    async with pool.connection() as conn:  # Retry-After: 120 s pushed the retry that far
        cur = await conn.execute(
            "SELECT available_at - now() > interval '100 seconds' FROM delivery ORDER BY id LIMIT 1"
        )
        assert (await cur.fetchone()) == (True,)


async def test_telegram_send_message_shape(pool: AsyncConnectionPool[Any], http: HttpReceiver) -> None:
    settings = DeliverySettings(public_url=PUBLIC_URL, telegram_base_url=http.url("/tg"), telegram_token="123:ABC")
    await deliver(pool, Channel.TELEGRAM, TelegramSender(settings), req(Channel.TELEGRAM, "-1001234", language="en"))
    [got] = http.requests
    assert got.path == "/tg/bot123:ABC/sendMessage"
    assert got.json() == {
        "chat_id": "-1001234", "parse_mode": "HTML", "disable_web_page_preview": True,
        "text": "<b>[Critical] Ba Đình ward: 3 overdue dossiers</b>\n• Ba Đình ward: 3 overdue dossiers\n"
                f'<a href="{BASE}/alerts/42">Open in IOC</a>',
    }  # fmt: skip


async def test_telegram_flood_wait_is_honoured_and_the_token_never_logged(
    pool: AsyncConnectionPool[Any], http: HttpReceiver
) -> None:
    settings = DeliverySettings(public_url=PUBLIC_URL, telegram_base_url=http.url(), telegram_token="999:SECRET")
    http.answer = answer_with(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 300",
                                    "parameters": {"retry_after": 300}})  # fmt: skip
    await deliver(pool, Channel.TELEGRAM, TelegramSender(settings), req(Channel.TELEGRAM, "1"))
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, last_error, available_at - now() > interval '250 seconds' FROM delivery"
        )
        status, error, later = await cur.fetchone()
    assert status == "pending" and later and "SECRET" not in error


async def test_zalo_message_shape(pool: AsyncConnectionPool[Any], http: HttpReceiver) -> None:
    settings = DeliverySettings(public_url=PUBLIC_URL, zalo_base_url=http.url(), zalo_access_token="zalo-token")
    http.answer = answer_with(200, {"error": 0, "message": "Success", "data": {"message_id": "m1"}})
    await deliver(pool, Channel.ZALO, ZaloSender(settings), req(Channel.ZALO, "7412345678"))
    [got] = http.requests
    assert got.path == "/v3.0/oa/message/cs" and got.headers["access_token"] == "zalo-token"
    text = f"[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn\n• Phường Ba Đình: 3 hồ sơ quá hạn\n{BASE}/alerts/42"
    assert got.json() == {"recipient": {"user_id": "7412345678"}, "message": {"text": text}}
    http.answer = answer_with(200, {"error": -213, "message": "User has not followed the OA"})
    await deliver(pool, Channel.ZALO, ZaloSender(settings), req(Channel.ZALO, "999"))
    assert (await status_of(pool))[1][:2] == ("dead", 1)


async def test_web_push_is_encrypted_for_the_browser_and_signed_with_vapid(
    db_url: str, pool: AsyncConnectionPool[Any], http: HttpReceiver, tmp_path: Path
) -> None:
    browser = PushSubscriber.new()
    user = create_user(db_url, "can-bo-xa", "operator")
    with psycopg.connect(db_url) as conn:
        [sub_id] = conn.execute(
            "INSERT INTO push_subscription (user_id, endpoint, p256dh, auth) VALUES (%s, %s, %s, %s) RETURNING id",
            [user, http.url("/push/sub-1"), browser.p256dh, browser.auth_b64],
        ).fetchone()  # type: ignore[misc]
        [gone_id] = conn.execute(
            "INSERT INTO push_subscription (user_id, endpoint, p256dh, auth) VALUES (%s, %s, %s, %s) RETURNING id",
            [user, http.url("/push/gone"), browser.p256dh, browser.auth_b64],
        ).fetchone()  # type: ignore[misc]
    key_path = tmp_path / "keys" / "vapid-private.pem"
    settings = DeliverySettings(public_url=PUBLIC_URL, vapid_private_key_path=key_path,
                                vapid_subject="mailto:ioc@hanoi.gov.vn", push_allow_http=True)  # fmt: skip
    http.answer = lambda r: (410, {}, b"") if r.path.endswith("/gone") else (201, {}, b"")
    sender = WebPushSender(pool, settings)
    request = req(Channel.WEBPUSH, str(sub_id))
    await deliver(pool, Channel.WEBPUSH, sender, request, req(Channel.WEBPUSH, str(gone_id)))

    [got] = http.requests
    assert got.path == "/push/sub-1"
    assert got.headers["content-encoding"] == "aes128gcm" and got.headers["ttl"] == "86400"
    assert got.headers["urgency"] == "high" and got.headers["topic"] == request.idempotency_key
    # The push service side: the VAPID JWT is signed by the key the phone page subscribed with.
    scheme, _, params = got.headers["authorization"].partition(" ")
    fields = dict(p.split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and fields["k"] == vapid_public_key(key_path)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=http.url())
    assert claims["sub"] == "mailto:ioc@hanoi.gov.vn"
    # The browser side: only the subscriber's keys open the payload.
    payload = http_ece.decrypt(got.body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm")
    import json

    message = json.loads(payload)
    assert message["title"] == "[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn"
    assert message["url"] == f"{BASE}/alerts/42" and message["firing_alert_ids"] == [42]

    rows = await status_of(pool)
    assert rows[0][0] == "delivered" and rows[1][0] == "dead" and "gone" in rows[1][2]
    with psycopg.connect(db_url) as conn:
        gone = conn.execute("SELECT id FROM push_subscription WHERE gone_at IS NOT NULL").fetchall()
    assert gone == [(gone_id,)]
    # A message to a subscription already gone dies without a request.
    await deliver(pool, Channel.WEBPUSH, sender, req(Channel.WEBPUSH, str(gone_id), language="en"))
    assert len(http.requests) == 1 and (await status_of(pool))[2][0] == "dead"


def test_vapid_key_is_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "vapid.pem"
    first = vapid_public_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert vapid_public_key(path) == first and len(b64url_decode(first)) == 65 and "=" not in first
