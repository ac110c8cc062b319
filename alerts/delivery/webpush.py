"""Web Push to a person's phone or browser (RFC 8030), encrypted (RFC 8291), signed with VAPID (RFC 8292).

The outbox address is a ``push_subscription.id``: the endpoint and keys are read when sending, so
a browser that re-subscribed is reached at its current endpoint. pywebpush encrypts (aes128gcm)
and py_vapid signs; the POST itself goes through httpx like the other HTTP channels. A push
service answering 404/410 has forgotten the subscription for good: it is marked gone and the
message is a dead letter.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from py_vapid import Vapid02
from pywebpush import WebPusher

from alerts.delivery.errors import PermanentError, TemporaryError
from alerts.delivery.http_support import USER_AGENT, raise_for_answer
from alerts.delivery.model import AlertStatus
from alerts.delivery.outbox import DeliveryRow
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.templates import render
from alerts.delivery.vapid import load_or_create_private_key

__all__ = ["PUSH_MAX_BODY_CHARS", "WebPushSender", "push_payload"]

PUSH_MAX_BODY_CHARS = 600  # the encrypted record must stay under ~4 kB; a notification shows less
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

_SUBSCRIPTION = "SELECT endpoint, p256dh, auth, gone_at FROM push_subscription WHERE id = %s"
_GONE = "UPDATE push_subscription SET gone_at = now() WHERE id = %s AND gone_at IS NULL"


def push_payload(row: DeliveryRow, public_url: str) -> dict[str, Any]:
    """What the phone page's service worker receives (pure): title, body, link, alert ids."""
    n = row.notification
    message = render(n, language=row.language, public_url=public_url)
    body = message.short
    if len(body) > PUSH_MAX_BODY_CHARS:
        body = body[: PUSH_MAX_BODY_CHARS - 1] + "…"
    return {
        "title": message.title[:200],
        "body": body,
        "url": message.link,
        "kind": n.kind.value,
        "tag": n.group_key[:64],  # one group replaces its previous notification on the phone
        "alert_ids": [a.id for a in n.alerts][:50],
        "firing_alert_ids": [a.id for a in n.alerts if a.status is AlertStatus.FIRING][:50],
        "severity": max((a.severity for a in n.firing), key=_rank, default="info"),
        "idempotency_key": row.idempotency_key,
        "language": message.language,
    }


class WebPushSender:
    def __init__(
        self, pool: AsyncConnectionPool[Any], settings: DeliverySettings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.http_timeout_s, follow_redirects=False)
        self._vapid = Vapid02(load_or_create_private_key(settings.vapid_private_key_path))

    async def send(self, row: DeliveryRow) -> None:
        subscription_id = _subscription_id(row.address)
        async with self._pool.connection() as conn:
            endpoint, p256dh, auth = await _subscription(conn, subscription_id)
        if urlsplit(endpoint).scheme != "https" and not self._settings.push_allow_http:
            # Browsers' push services are all https; anything else is a forged subscription aiming
            # the server at an internal address.
            raise PermanentError(f"push subscription {subscription_id}: endpoint is not https")
        data = orjson.dumps(push_payload(row, self._settings.public_url))
        pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        try:
            body = pusher.encode(data, "aes128gcm")["body"]
        except Exception as exc:  # malformed keys from the browser: this subscription can never work
            raise PermanentError(f"cannot encrypt for subscription {subscription_id}: {exc}"[:300]) from exc
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm",
            "TTL": str(self._settings.push_ttl_s),
            "Urgency": "high" if any(a.severity == "critical" for a in row.notification.firing) else "normal",
            **self._vapid_headers(endpoint),
        }
        if _TOPIC.match(row.idempotency_key):
            # The push service keeps one pending message per topic: a retried duplicate replaces it.
            headers["Topic"] = row.idempotency_key
        try:
            response = await self._client.post(endpoint, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TemporaryError(f"push timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise TemporaryError(f"push {type(exc).__name__}: {exc}"[:300]) from exc
        if response.status_code in (404, 410):
            async with self._pool.connection() as conn:
                await conn.execute(_GONE, [subscription_id])
            raise PermanentError(f"push subscription {subscription_id} is gone (HTTP {response.status_code})")
        raise_for_answer(response)

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {"sub": self._settings.vapid_subject, "aud": f"{parts.scheme}://{parts.netloc}",
                  "exp": int(time.time()) + 12 * 3600}  # fmt: skip
        signed: dict[str, str] = self._vapid.sign(claims)
        return {"Authorization": signed["Authorization"]}

    async def aclose(self) -> None:
        await self._client.aclose()


def _subscription_id(address: str) -> int:
    try:
        return int(address)
    except ValueError as exc:
        raise PermanentError(f"web push address must be a push_subscription id, not {address[:50]!r}") from exc


async def _subscription(conn: AsyncConnection[Any], subscription_id: int) -> tuple[str, str, str]:
    cur = await conn.execute(_SUBSCRIPTION, [subscription_id])
    row = await cur.fetchone()
    if row is None:
        raise PermanentError(f"push subscription {subscription_id} does not exist")
    endpoint, p256dh, auth, gone_at = row
    if gone_at is not None:
        raise PermanentError(f"push subscription {subscription_id} is gone since {gone_at.isoformat()}")
    return str(endpoint), str(p256dh), str(auth)


def _rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "critical": 2}.get(severity, 0)
