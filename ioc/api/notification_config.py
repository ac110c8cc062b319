"""Notification configuration for administrators: contact points, routes, escalation policies,
inhibit rules (list / create-or-replace / delete), and "send a test message" to a contact point.

Bodies are validated by the same functions as the YAML file (alerts/notify/config.py), so the API
and the file accept exactly the same objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field, StringConstraints

from alerts.delivery.model import DeliveryRequest, Notification, NotificationKind, idempotency_key
from alerts.delivery.outbox import enqueue
from alerts.notify.config import (
    FORGET_DELETION,
    REMEMBER_DELETION,
    parse_contact_point,
    parse_route,
    save_contact_point,
    save_inhibit_rule,
    save_policy,
    save_route,
)
from alerts.notify.escalation import parse_policy
from alerts.notify.inhibition import parse_inhibit_rule
from alerts.notify.matchers import MatcherError
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.api.silences import LabelName, MatcherIn
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

Admin = Annotated[Principal, guard(Policy(Action.ROUTING_MANAGE, "global"))]
ObjectId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{1,62}$")]
IdText = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,62}$")]
OptionValue = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | int | bool
ChannelName = Literal["email", "telegram", "zalo", "webpush"]


class ContactPointIn(BaseModel):
    channel: Literal["email", "webhook", "telegram", "zalo"]
    address: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]
    options: dict[Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00]*$")], OptionValue] = Field(
        default_factory=dict, max_length=20, description='{"format": "alertmanager"}, {"language": "en"}'
    )


class RouteIn(BaseModel):
    position: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    matchers: list[MatcherIn] = Field(default_factory=list, max_length=32)
    contact_points: list[IdText] = Field(min_length=1, max_length=20)
    group_by: list[LabelName] = Field(default_factory=lambda: ["rule", "province_code"], max_length=10)
    group_wait_s: int = Field(default=1, ge=0, le=86_400)
    group_interval_s: int = Field(default=300, ge=0, le=86_400)
    repeat_interval_s: int = Field(default=14_400, ge=1, le=30 * 86_400)
    continue_matching: bool = True


def _default_channels() -> list[ChannelName]:
    return ["email", "webpush"]


class StepIn(BaseModel):
    after_working_minutes: int = Field(ge=0, le=100_000)
    level: Literal["commune", "province", "national"]
    roles: list[Literal["admin", "leader", "operator", "subscriber"]] = Field(min_length=1, max_length=4)
    channels: list[ChannelName] = Field(default_factory=_default_channels, min_length=1, max_length=4)


class PolicyIn(BaseModel):
    position: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    matchers: list[MatcherIn] = Field(default_factory=list, max_length=32)
    steps: list[StepIn] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=100)


class InhibitIn(BaseModel):
    source_matchers: list[MatcherIn] = Field(min_length=1, max_length=32)
    target_matchers: list[MatcherIn] = Field(min_length=1, max_length=32)
    equal: list[LabelName] = Field(default_factory=list, max_length=20)


SELECTS = {
    "contact_point": "SELECT id, channel, address, options, created_by, updated_at FROM contact_point ORDER BY id",
    "notification_route": "SELECT id, position, matchers, contact_points, group_by, group_wait_s, group_interval_s,"
    " repeat_interval_s, continue_matching, updated_by, updated_at FROM notification_route ORDER BY position, id",
    "escalation_policy": "SELECT id, position, matchers, steps, repeat, updated_by, updated_at FROM escalation_policy"
    " ORDER BY position, id",
    "inhibit_rule": "SELECT id, source_matchers, target_matchers, equal, updated_by, updated_at FROM inhibit_rule"
    " ORDER BY id",
}
COLUMNS = {
    "contact_point": ("id", "channel", "address", "options", "created_by", "updated_at"),
    "notification_route": ("id", "position", "matchers", "contact_points", "group_by", "group_wait_s",
                           "group_interval_s", "repeat_interval_s", "continue_matching", "updated_by", "updated_at"),
    "escalation_policy": ("id", "position", "matchers", "steps", "repeat", "updated_by", "updated_at"),
    "inhibit_rule": ("id", "source_matchers", "target_matchers", "equal", "updated_by", "updated_at"),
}  # fmt: skip


def _row(table: str, r: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in zip(COLUMNS[table], r, strict=True)}


T = TypeVar("T")


def _parsed(parse: Callable[[dict[str, Any]], T], object_id: str, body: BaseModel) -> T:
    """The object a PUT body describes, or 422 naming what is wrong with it."""
    try:
        return parse({"id": object_id, **body.model_dump()})
    except MatcherError as exc:
        raise HTTPException(422, str(exc)) from exc


def notification_config_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/notify", tags=["notification config"])

    async def listing(request: Request, table: str) -> list[dict[str, Any]]:
        async with app_state(request).pool.connection() as conn:
            return [_row(table, r) for r in await (await conn.execute(SELECTS[table])).fetchall()]

    async def delete(request: Request, principal: Principal, table: str, object_id: str) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn, conn.transaction():
            if table == "contact_point":
                cur = await conn.execute(
                    "SELECT id FROM notification_route WHERE %s = ANY(contact_points)", [object_id]
                )
                users = [r[0] for r in await cur.fetchall()]
                if users:
                    raise HTTPException(409, f"điểm liên lạc đang được tuyến dùng / used by routes {users}")
            cur = await conn.execute(f"DELETE FROM {table} WHERE id = %s", [object_id])  # table: a fixed name above
            if cur.rowcount == 0:
                raise HTTPException(404, f"không tìm thấy / no {table} {object_id}")
            # Remembered, so the notification file does not bring it back at the next start.
            await conn.execute(REMEMBER_DELETION, [table, object_id, principal.subject])
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action=f"{table}.delete", target=f"{table}:{object_id}",
                               origin=client_origin(request))  # fmt: skip
        return {"deleted": object_id}

    async def save(
        request: Request,
        principal: Principal,
        table: str,
        object_id: str,
        body: BaseModel,
        write: Callable[[Any], Awaitable[None]],
    ) -> None:
        """Write the object (``write(conn)``), forget an earlier deletion of it, audit — one transaction."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            await write(conn)
            await conn.execute(FORGET_DELETION, [table, object_id])
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action=f"{table}.save", target=f"{table}:{object_id}", origin=client_origin(request),
                               details=body.model_dump(mode="json"))  # fmt: skip

    # ---------------------------------------------------------------- contact points

    @router.get("/contact-points")
    async def list_contact_points(request: Request, principal: Admin) -> dict[str, Any]:
        return {"contact_points": await listing(request, "contact_point")}

    @router.put("/contact-points/{cp_id}", responses={422: {}})
    async def put_contact_point(request: Request, cp_id: ObjectId, body: ContactPointIn,
                                principal: Admin) -> dict[str, Any]:  # fmt: skip
        cp = _parsed(parse_contact_point, cp_id, body)
        await save(request, principal, "contact_point", cp_id, body,
                   lambda conn: save_contact_point(conn, cp, principal.subject))  # fmt: skip
        return {"id": cp.id, "channel": cp.channel.value, "address": cp.address, "options": dict(cp.options)}

    @router.delete("/contact-points/{cp_id}", responses={404: {}, 409: {}})
    async def delete_contact_point(request: Request, cp_id: ObjectId, principal: Admin) -> dict[str, Any]:
        return await delete(request, principal, "contact_point", cp_id)

    @router.post("/contact-points/{cp_id}/test", responses={404: {}})
    async def test_contact_point(request: Request, cp_id: ObjectId, principal: Admin) -> dict[str, Any]:
        """Queue a TEST message to the contact point (delivered by the channel's worker)."""
        now = datetime.now(UTC)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT id, channel, address, options FROM contact_point WHERE id = %s", [cp_id])
            row: Any = await cur.fetchone()
            if row is None:
                raise HTTPException(404, f"không tìm thấy / no contact point {cp_id}")
            cp = parse_contact_point({"id": row[0], "channel": row[1], "address": row[2], "options": row[3]})
            note = Notification(NotificationKind.TEST, f"test:{cp.id}", {}, (), now, cp.language,
                                {"requested_by": principal.subject})  # fmt: skip
            key = idempotency_key("test", cp.id, now.isoformat())
            await enqueue(conn, [DeliveryRequest(cp.channel, cp.address, note, key, dict(cp.options))])
        return {"contact_point": cp.id, "idempotency_key": key, "queued_at": now.isoformat()}

    # ---------------------------------------------------------------- routes

    @router.get("/routes")
    async def list_routes(request: Request, principal: Admin) -> dict[str, Any]:
        return {"routes": await listing(request, "notification_route")}

    @router.put("/routes/{route_id}", responses={422: {}})
    async def put_route(request: Request, route_id: ObjectId, body: RouteIn, principal: Admin) -> dict[str, Any]:
        route = _parsed(parse_route, route_id, body)

        async def write(conn: Any) -> None:
            cur = await conn.execute("SELECT id FROM contact_point WHERE id = ANY(%s)", [list(route.contact_points)])
            missing = set(route.contact_points) - {r[0] for r in await cur.fetchall()}
            if missing:
                raise HTTPException(422, f"contact_points: không có / unknown {sorted(missing)}")
            await save_route(conn, route, principal.subject)

        await save(request, principal, "notification_route", route_id, body, write)
        return {"id": route_id, **body.model_dump(mode="json")}

    @router.delete("/routes/{route_id}", responses={404: {}})
    async def delete_route(request: Request, route_id: ObjectId, principal: Admin) -> dict[str, Any]:
        return await delete(request, principal, "notification_route", route_id)

    # ---------------------------------------------------------------- escalation policies

    @router.get("/escalation-policies")
    async def list_policies(request: Request, principal: Admin) -> dict[str, Any]:
        return {"escalation_policies": await listing(request, "escalation_policy")}

    @router.put("/escalation-policies/{policy_id}", responses={422: {}})
    async def put_policy(request: Request, policy_id: ObjectId, body: PolicyIn, principal: Admin) -> dict[str, Any]:
        policy = _parsed(parse_policy, policy_id, body)
        await save(request, principal, "escalation_policy", policy_id, body,
                   lambda conn: save_policy(conn, policy, principal.subject))  # fmt: skip
        return {"id": policy_id, **body.model_dump(mode="json")}

    @router.delete("/escalation-policies/{policy_id}", responses={404: {}})
    async def delete_policy(request: Request, policy_id: ObjectId, principal: Admin) -> dict[str, Any]:
        return await delete(request, principal, "escalation_policy", policy_id)

    # ---------------------------------------------------------------- inhibit rules

    @router.get("/inhibit-rules")
    async def list_inhibit_rules(request: Request, principal: Admin) -> dict[str, Any]:
        return {"inhibit_rules": await listing(request, "inhibit_rule")}

    @router.put("/inhibit-rules/{rule_id}", responses={422: {}})
    async def put_inhibit_rule(
        request: Request, rule_id: ObjectId, body: InhibitIn, principal: Admin
    ) -> dict[str, Any]:
        rule = _parsed(parse_inhibit_rule, rule_id, body)
        await save(request, principal, "inhibit_rule", rule_id, body,
                   lambda conn: save_inhibit_rule(conn, rule, principal.subject))  # fmt: skip
        return {"id": rule_id, **body.model_dump(mode="json")}

    @router.delete("/inhibit-rules/{rule_id}", responses={404: {}})
    async def delete_inhibit_rule(request: Request, rule_id: ObjectId, principal: Admin) -> dict[str, Any]:
        return await delete(request, principal, "inhibit_rule", rule_id)

    return router
