"""Web Push subscriptions of the signed-in person's browsers and phones (VAPID).

The phone page asks for the server's VAPID public key, subscribes with the browser's push
service, and posts the resulting PushSubscription here; the delivery workers
(alerts/delivery/webpush.py) send to every subscription of the people an alert is for.
A subscription is keyed by its endpoint: subscribing again (a new key pair, another account on
the same phone) replaces the row, so one browser never receives a notification twice.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from alerts.delivery.vapid import vapid_public_key as vapid_public_key_of
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

PUSH_PREFIX = "/api/v1/push"
# Push services' endpoints are https URLs of a few hundred characters; 2 KB leaves room.
Endpoint = Annotated[str, StringConstraints(min_length=12, max_length=2048, pattern=r"^https://[^\s\x00]+$")]
# Base64url without padding: p256dh is a 65-byte P-256 point (87 characters), auth 16 bytes (22).
Base64Url = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+={0,2}$")]

UPSERT = """
INSERT INTO push_subscription (user_id, endpoint, p256dh, auth, user_agent) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
    user_agent = excluded.user_agent, created_at = now(), gone_at = NULL
RETURNING id, (xmax = 0) AS inserted
"""
DELETE = "DELETE FROM push_subscription WHERE user_id = %s AND endpoint = %s"
LIST = """
SELECT id, endpoint, user_agent, created_at, gone_at FROM push_subscription WHERE user_id = %s ORDER BY id
"""

PushOwner = Annotated[Principal, guard(Policy(Action.SUBSCRIPTIONS_OWN, "global"))]


class PushKeys(BaseModel):
    p256dh: Base64Url
    auth: Base64Url


class PushSubscriptionIn(BaseModel):
    """The browser's PushSubscription.toJSON(): endpoint, keys, expirationTime (ignored)."""

    endpoint: Endpoint
    keys: PushKeys
    expirationTime: int | None = Field(default=None, ge=0, le=2**53)  # the browser's field name


def _user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise HTTPException(422, "chỉ tài khoản người dùng mới nhận được thông báo / only user accounts can subscribe")
    return principal.user_id


@functools.lru_cache(maxsize=4)
def _public_key(path: Path) -> str:
    # Read (or created) once per process, not on every page load; a new key pair needs a restart
    # anyway, since every browser subscribed with the old one must subscribe again.
    return vapid_public_key_of(path)


def push_router(*, vapid_key_file: Path | None = None) -> APIRouter:
    """`/api/v1/push/...`; `vapid_key_file` is the VAPID private key file the delivery workers use."""
    router = APIRouter(prefix=PUSH_PREFIX, tags=["push"])

    @router.get("/vapid-public-key")
    async def vapid_public_key(principal: PushOwner) -> dict[str, Any]:
        """The application server key for PushManager.subscribe (base64url, uncompressed P-256 point).

        Without Web Push configured (no key file, or the key cannot be read) the answer is still
        200, with `public_key: null` and the reason, so the phone page can say so in words.
        """
        if vapid_key_file is None:
            return {"public_key": None, "reason": "Web Push chưa được cấu hình / Web Push is not configured"}
        try:
            # Created on first use; the alerts process signs with the same file.
            key = _public_key(vapid_key_file)
        except (OSError, ValueError) as exc:
            return {"public_key": None, "reason": f"Web Push chưa sẵn sàng / unavailable: {type(exc).__name__}"}
        return {"public_key": key, "reason": None}

    @router.get("/subscriptions")
    async def my_subscriptions(request: Request, principal: PushOwner) -> dict[str, Any]:
        """This person's push subscriptions (browsers and phones)."""
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(LIST, [_user_id(principal)])
            rows: list[Any] = await cur.fetchall()
        return {"subscriptions": [
            {"id": r[0], "endpoint": r[1], "user_agent": r[2], "created_at": r[3].isoformat(),
             "gone_at": r[4].isoformat() if r[4] else None} for r in rows]}  # fmt: skip

    @router.post("/subscriptions", status_code=201, responses={422: {}})
    async def subscribe(request: Request, body: PushSubscriptionIn, principal: PushOwner) -> dict[str, Any]:
        """Register (or refresh) this browser's push subscription for the signed-in person."""
        user_id = _user_id(principal)
        agent = (request.headers.get("user-agent") or "")[:300]
        async with app_state(request).pool.connection() as conn, conn.transaction():
            cur = await conn.execute(UPSERT, [user_id, body.endpoint, body.keys.p256dh, body.keys.auth, agent])
            row = await cur.fetchone()
            assert row is not None
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="push.subscribe", target=f"push_subscription:{row[0]}",
                               origin=client_origin(request), details={"inserted": bool(row[1])})  # fmt: skip
        return {"id": row[0], "created": bool(row[1])}

    @router.delete("/subscriptions")
    async def unsubscribe(
        request: Request,
        principal: PushOwner,
        endpoint: Annotated[str, Query(min_length=12, max_length=2048, pattern=r"^https://[^\s\x00]+$")],
    ) -> dict[str, Any]:
        """Forget one of this person's subscriptions (by endpoint); another person's is left alone."""
        user_id = _user_id(principal)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            cur = await conn.execute(DELETE, [user_id, endpoint])
            removed = cur.rowcount
            if removed:
                await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                                   action="push.unsubscribe", target="push_subscription",
                                   origin=client_origin(request), details={})  # fmt: skip
        return {"removed": removed}

    return router
