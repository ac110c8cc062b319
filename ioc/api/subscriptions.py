"""One's own alert subscriptions, contact addresses and language.

Every row belongs to the caller: another person's subscription answers 404 as if it did not
exist. A subscription's filters must lie inside the caller's scope (403 otherwise); the planner
narrows by scope again at send time, so a later change of scope takes effect at once.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field, StringConstraints, field_validator

from ioc.api.deps import app_state
from ioc.api.guard import guard
from ioc.api.params import RowId
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import Scope

Own = Annotated[Principal, guard(Policy(Action.SUBSCRIPTIONS_OWN, "global"))]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
ContactChannel = Literal["email", "telegram", "zalo"]

COLUMNS = ("id", "provinces", "communes", "agencies", "sectors", "severities", "channels", "quiet_from", "quiet_to",
           "quiet_allows_critical", "enabled", "created_at", "updated_at")  # fmt: skip
SELECT_MINE = f"SELECT {', '.join(COLUMNS)} FROM alert_subscription WHERE user_id = %s ORDER BY id"
_ADDRESS_PATTERN = {"email": r"^[^@\s]{1,64}@[^@\s]{1,255}$", "telegram": r"^-?[0-9]{1,20}$|^@[A-Za-z0-9_]{5,32}$",
                    "zalo": r"^[A-Za-z0-9_-]{1,64}$"}  # fmt: skip


class SubscriptionIn(BaseModel):
    provinces: list[Code] = Field(default_factory=list, max_length=100)
    communes: list[Code] = Field(default_factory=list, max_length=500)
    agencies: list[Code] = Field(default_factory=list, max_length=200)
    sectors: list[Code] = Field(default_factory=list, max_length=100)
    severities: list[Literal["info", "warning", "critical"]] = Field(default=["warning", "critical"], max_length=3)
    channels: list[Literal["email", "telegram", "zalo", "webpush"]] = Field(min_length=1, max_length=4)
    quiet_from: time | None = Field(default=None, description="giờ yên lặng, giờ địa phương / local quiet hours")
    quiet_to: time | None = None
    quiet_allows_critical: bool = True
    enabled: bool = True

    @field_validator("quiet_from", "quiet_to")
    @classmethod
    def _local_time(cls, value: time | None) -> time | None:
        # Quiet hours are a local clock time (Asia/Ho_Chi_Minh); an offset means nothing here, and
        # one PostgreSQL cannot hold (beyond ±15:59) would otherwise end the request with a 500.
        if value is not None and value.tzinfo is not None:
            raise ValueError("giờ địa phương, không kèm múi giờ / a local time, without a UTC offset")
        return value


class ContactIn(BaseModel):
    address: Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=r"^[^\x00-\x1f\x7f]+$")]


class LanguageIn(BaseModel):
    language: Literal["vi", "en"]


def _own_user(principal: Principal) -> int:
    if principal.user_id is None:
        raise HTTPException(403, "chỉ dành cho tài khoản người dùng / for user accounts only")
    return principal.user_id


def _filters_in_scope(scope: Scope, body: SubscriptionIn, province_of: Any) -> bool:
    """Every named locality, agency and sector must be one the caller's scope can see."""
    if any(not scope.allows_locality(p, None) and not any(province_of(c) == p for c in scope.communes)
           for p in body.provinces):  # fmt: skip
        return False
    if any(not scope.allows_locality(province_of(c), c) for c in body.communes):
        return False
    if scope.agencies is not None and not set(body.agencies) <= scope.agencies:
        return False
    return scope.sectors is None or set(body.sectors) <= scope.sectors


def _view(r: Any) -> dict[str, Any]:
    out = dict(zip(COLUMNS, r, strict=True))
    return {k: v.isoformat() if isinstance(v, datetime | time) else v for k, v in out.items()}


def subscriptions_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/me", tags=["subscriptions"])

    def check(request: Request, principal: Principal, body: SubscriptionIn) -> None:
        catalogue = app_state(request).catalogue
        if not _filters_in_scope(principal.scope, body, catalogue.province_code_of):
            raise HTTPException(403, "bộ lọc ngoài phạm vi được giao / filters outside your scope")
        if (body.quiet_from is None) != (body.quiet_to is None):
            raise HTTPException(422, "quiet_from và quiet_to đi cùng nhau / give both quiet_from and quiet_to")

    @router.get("/subscriptions")
    async def my_subscriptions(request: Request, principal: Own) -> dict[str, Any]:
        uid = _own_user(principal)
        async with app_state(request).pool.connection() as conn:
            rows = await (await conn.execute(SELECT_MINE, [uid])).fetchall()
        return {"subscriptions": [_view(r) for r in rows]}

    @router.post("/subscriptions", status_code=201, responses={403: {}, 422: {}})
    async def create_subscription(request: Request, body: SubscriptionIn, principal: Own) -> dict[str, Any]:
        uid = _own_user(principal)
        check(request, principal, body)
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO alert_subscription (user_id, provinces, communes, agencies, sectors, severities, channels,"
                " quiet_from, quiet_to, quiet_allows_critical, enabled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                f" %s, %s) RETURNING {', '.join(COLUMNS)}",
                [uid, *_values(body)],
            )
            row = await cur.fetchone()
            await conn.commit()
        return _view(row)

    @router.put("/subscriptions/{subscription_id}", responses={403: {}, 404: {}, 422: {}})
    async def update_subscription(
        request: Request, subscription_id: RowId, body: SubscriptionIn, principal: Own
    ) -> dict[str, Any]:
        uid = _own_user(principal)
        check(request, principal, body)
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE alert_subscription SET provinces = %s, communes = %s, agencies = %s, sectors = %s,"
                " severities = %s, channels = %s, quiet_from = %s, quiet_to = %s, quiet_allows_critical = %s,"
                f" enabled = %s, updated_at = now() WHERE id = %s AND user_id = %s RETURNING {', '.join(COLUMNS)}",
                [*_values(body), subscription_id, uid],
            )
            row = await cur.fetchone()
            await conn.commit()
        if row is None:
            raise HTTPException(404, f"không tìm thấy / no subscription {subscription_id}")
        return _view(row)

    @router.delete("/subscriptions/{subscription_id}", responses={404: {}})
    async def delete_subscription(request: Request, subscription_id: RowId, principal: Own) -> dict[str, Any]:
        uid = _own_user(principal)
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute("DELETE FROM alert_subscription WHERE id = %s AND user_id = %s",
                                     [subscription_id, uid])  # fmt: skip
            await conn.commit()
        if cur.rowcount == 0:
            raise HTTPException(404, f"không tìm thấy / no subscription {subscription_id}")
        return {"deleted": subscription_id}

    @router.get("/contacts")
    async def my_contacts(request: Request, principal: Own) -> dict[str, Any]:
        uid = _own_user(principal)
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute("SELECT channel, address FROM user_contact WHERE user_id = %s ORDER BY channel",
                                     [uid])  # fmt: skip
            contacts = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
            cur = await conn.execute("SELECT language FROM app_user WHERE id = %s", [uid])
            row = await cur.fetchone()
        return {"contacts": contacts, "language": row[0] if row else "vi"}

    @router.put("/contacts/{channel}", responses={422: {}})
    async def put_contact(
        request: Request, channel: Annotated[ContactChannel, Path()], body: ContactIn, principal: Own
    ) -> dict[str, Any]:
        import re

        uid = _own_user(principal)
        if not re.match(_ADDRESS_PATTERN[channel], body.address):
            raise HTTPException(422, f"địa chỉ {channel} không hợp lệ / invalid {channel} address")
        async with app_state(request).pool.connection() as conn:
            await conn.execute(
                "INSERT INTO user_contact (user_id, channel, address) VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id, channel) DO UPDATE SET address = EXCLUDED.address",
                [uid, channel, body.address],
            )
            await conn.commit()
        return {"channel": channel, "address": body.address}

    @router.delete("/contacts/{channel}")
    async def delete_contact(
        request: Request, channel: Annotated[ContactChannel, Path()], principal: Own
    ) -> dict[str, Any]:
        uid = _own_user(principal)
        async with app_state(request).pool.connection() as conn:
            await conn.execute("DELETE FROM user_contact WHERE user_id = %s AND channel = %s", [uid, channel])
            await conn.commit()
        return {"deleted": channel}

    @router.put("/language")
    async def put_language(request: Request, body: LanguageIn, principal: Own) -> dict[str, Any]:
        uid = _own_user(principal)
        async with app_state(request).pool.connection() as conn:
            await conn.execute("UPDATE app_user SET language = %s, updated_at = now() WHERE id = %s",
                               [body.language, uid])  # fmt: skip
            await conn.commit()
        return {"language": body.language}

    return router


def _values(body: SubscriptionIn) -> list[Any]:
    return [sorted(set(body.provinces)), sorted(set(body.communes)), sorted(set(body.agencies)),
            sorted(set(body.sectors)), sorted(set(body.severities)), list(dict.fromkeys(body.channels)),
            body.quiet_from, body.quiet_to, body.quiet_allows_critical, body.enabled]  # fmt: skip
