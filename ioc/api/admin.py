"""Administration: accounts, wall displays, data sources and their keys, the audit trail.

Admin only (see ioc/auth/policy.py). Every change is written to the audit trail in the same
transaction as the change itself. Secrets (passwords, new tokens and keys) appear only in the
response that creates them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from ioc import sources
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.api.params import CodePath, Identifier, RowId, Text
from ioc.auth import accounts, audit, displays
from ioc.auth.policy import Action, Policy, Role
from ioc.auth.principal import Principal
from ioc.auth.scope import Scope, ScopeError
from ioc.localities.catalogue import LocalityCatalogue

NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256, pattern=r"^[^\x00]+$")]
PersonRole = Literal["admin", "leader", "operator", "subscriber"]

UserAdmin = Annotated[Principal, guard(Policy(Action.USERS_MANAGE, "global"))]
DisplayAdmin = Annotated[Principal, guard(Policy(Action.DISPLAYS_MANAGE, "global"))]
SourceAdmin = Annotated[Principal, guard(Policy(Action.SOURCES_MANAGE, "global"))]
Auditor = Annotated[Principal, guard(Policy(Action.AUDIT_READ, "global"))]


class ScopeIn(BaseModel):
    national: bool = False
    provinces: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]] = Field(
        default_factory=list, max_length=34
    )
    communes: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]] = Field(
        default_factory=list, max_length=4000
    )
    agencies: list[Text] | None = Field(default=None, max_length=500)
    sectors: list[Text] | None = Field(default=None, max_length=100)


class UserIn(BaseModel):
    username: Identifier
    display_name: Text
    password: NewPassword
    role: PersonRole
    scope: ScopeIn
    email: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")] | None = None


class UserPatch(BaseModel):
    display_name: Text | None = None
    role: PersonRole | None = None
    scope: ScopeIn | None = None
    password: NewPassword | None = None
    disabled: bool | None = None


class DisplayIn(BaseModel):
    screen_name: Text
    scope: ScopeIn


class SourceIn(BaseModel):
    id: Identifier
    name: Text
    streams: list[Literal["dossier", "payout", "id_issuance", "alerts"]] = Field(default=["dossier"], min_length=1)
    scope: ScopeIn


class RotateIn(BaseModel):
    # How long the old key keeps working: enough for the source's operators to deploy the new one.
    grace_hours: float = Field(default=168.0, ge=0, le=24 * 90)


def checked_scope(catalogue: LocalityCatalogue, body: ScopeIn) -> Scope:
    """A scope from the request, with every locality checked against the catalogue (422 otherwise)."""
    try:
        scope = Scope.from_dict(body.model_dump())
    except ScopeError as exc:
        raise HTTPException(422, f"scope: {exc}") from exc
    for code, level in [*((p, "province") for p in scope.provinces), *((c, "commune") for c in scope.communes)]:
        unit = catalogue.get(code)
        if unit is None or unit.level != level:
            raise HTTPException(422, f"scope: unknown {level} {code!r}")
    return scope


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

    # -- accounts ---------------------------------------------------------------------------

    @router.get("/users")
    async def list_users(request: Request, principal: UserAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            return {"users": [u.as_dict() for u in await accounts.list_users(conn)]}

    @router.post("/users", status_code=201, responses={409: {}, 422: {}})
    async def create_user(request: Request, body: UserIn, principal: UserAdmin) -> dict[str, Any]:
        state = app_state(request)
        scope = checked_scope(state.catalogue, body.scope)
        async with state.pool.connection() as conn, conn.transaction():
            try:
                user = await accounts.create_user(
                    conn, username=body.username, display_name=body.display_name, password=body.password,
                    role=Role(body.role), scope=scope, email=body.email,
                )  # fmt: skip
            except accounts.AccountError as exc:
                raise HTTPException(409 if "taken" in str(exc) else 422, str(exc)) from exc
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="user.create",
                               target=f"user:{user.username}", origin=client_origin(request),
                               details={"role": user.role.value, "scope": scope.as_dict()})  # fmt: skip
        return {"user": user.as_dict()}

    @router.get("/users/{user_id}", responses={404: {}})
    async def get_user(request: Request, user_id: RowId, principal: UserAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            user = await accounts.user_by_id(conn, user_id)
        if user is None:
            raise HTTPException(404, f"no user {user_id}")
        return {"user": user.as_dict()}

    @router.patch("/users/{user_id}", responses={404: {}, 422: {}})
    async def update_user(request: Request, user_id: RowId, body: UserPatch, principal: UserAdmin) -> dict[str, Any]:
        """Change a name, role, scope or password, or disable / enable. A change of role, scope or
        password, or disabling, ends the account's sessions."""
        state = app_state(request)
        scope = checked_scope(state.catalogue, body.scope) if body.scope else None
        async with state.pool.connection() as conn, conn.transaction():
            user = await accounts.user_by_id(conn, user_id)
            if user is None:
                raise HTTPException(404, f"no user {user_id}")
            if principal.user_id == user_id and (body.disabled or (body.role and body.role != "admin")):
                raise HTTPException(422, "an admin cannot disable or demote their own account")
            try:
                updated = await accounts.update_user(
                    conn, user, display_name=body.display_name, role=Role(body.role) if body.role else None,
                    scope=scope, password=body.password, disabled=body.disabled,
                )  # fmt: skip
            except accounts.AccountError as exc:
                raise HTTPException(422, str(exc)) from exc
            changed = sorted(k for k, v in body.model_dump(exclude={"password"}).items() if v is not None)
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="user.update",
                               target=f"user:{user.username}", origin=client_origin(request),
                               details={"changed": changed + (["password"] if body.password else []),
                                        "role": updated.role.value, "scope": updated.scope.as_dict(),
                                        "disabled": updated.disabled_at is not None})  # fmt: skip
        return {"user": updated.as_dict()}

    # -- wall displays ----------------------------------------------------------------------

    @router.get("/displays")
    async def list_displays(request: Request, principal: DisplayAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            return {"displays": [d.as_dict() for d in await displays.list_displays(conn)]}

    @router.post("/displays", status_code=201, responses={422: {}})
    async def create_display(request: Request, body: DisplayIn, principal: DisplayAdmin) -> dict[str, Any]:
        """A read-only token for one wall screen; shown only in this response."""
        state = app_state(request)
        scope = checked_scope(state.catalogue, body.scope)
        async with state.pool.connection() as conn, conn.transaction():
            display, token = await displays.create_display(conn, body.screen_name, scope, principal.subject)
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="display.create",
                               target=f"display:{display.id}", origin=client_origin(request),
                               details={"screen_name": display.screen_name, "scope": scope.as_dict()})  # fmt: skip
        return {"display": display.as_dict(), "token": token}

    @router.delete("/displays/{display_id}", responses={404: {}})
    async def revoke_display(request: Request, display_id: RowId, principal: DisplayAdmin) -> dict[str, Any]:
        """Revoke a screen's token; a screen showing the dashboard is cut off within a minute."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            display = await displays.revoke_display(conn, display_id)
            if display is None:
                raise HTTPException(404, f"no display {display_id}")
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="display.revoke",
                               target=f"display:{display_id}", origin=client_origin(request))  # fmt: skip
        return {"display": display.as_dict()}

    # -- data sources -----------------------------------------------------------------------

    @router.get("/sources")
    async def list_sources(request: Request, principal: SourceAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            return {"sources": [s.as_dict() for s in await sources.list_sources(conn)]}

    @router.post("/sources", status_code=201, responses={409: {}, 422: {}})
    async def create_source(request: Request, body: SourceIn, principal: SourceAdmin) -> dict[str, Any]:
        """A data source with its first API key (shown only in this response)."""
        state = app_state(request)
        scope = checked_scope(state.catalogue, body.scope)
        if scope.agencies is not None or scope.sectors is not None:
            # Items are checked by locality; an event need not name its agency or sector.
            raise HTTPException(422, "scope: a source's scope names localities only (no agencies or sectors)")
        async with state.pool.connection() as conn, conn.transaction():
            try:
                source, key = await sources.create_source(conn, body.id, body.name, frozenset(body.streams), scope)
            except sources.SourceError as exc:
                raise HTTPException(409, str(exc)) from exc
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="source.create",
                               target=f"source:{source.id}", origin=client_origin(request),
                               details={"streams": sorted(source.streams), "scope": scope.as_dict()})  # fmt: skip
        return {"source": source.as_dict(), "api_key": key}

    @router.get("/sources/{source_id}", responses={404: {}})
    async def get_source(request: Request, source_id: CodePath, principal: SourceAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            source = await sources.source_by_id(conn, source_id)
            if source is None:
                raise HTTPException(404, f"no source {source_id!r}")
            keys = await sources.source_keys(conn, source_id, datetime.now(UTC))
        return {"source": source.as_dict(), "keys": keys}

    @router.post("/sources/{source_id}/keys", status_code=201, responses={404: {}, 422: {}})
    async def rotate_source_key(
        request: Request, source_id: CodePath, body: RotateIn, principal: SourceAdmin
    ) -> dict[str, Any]:
        """Start a rotation: a new key now; the old ones keep working for `grace_hours`."""
        now = datetime.now(UTC)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            source = await sources.source_by_id(conn, source_id)
            if source is None or source.revoked_at is not None:
                raise HTTPException(404, f"no active source {source_id!r}")
            key_id, key = await sources.rotate_key(conn, source_id, timedelta(hours=body.grace_hours), now)
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="source.rotate",
                               target=f"source:{source_id}", origin=client_origin(request),
                               details={"new_key_id": key_id, "grace_hours": body.grace_hours})  # fmt: skip
        return {"key_id": key_id, "api_key": key, "old_keys_expire_at": (now + timedelta(hours=body.grace_hours))
                .isoformat()}  # fmt: skip

    @router.post("/sources/{source_id}/keys/finish-rotation", responses={404: {}})
    async def finish_rotation(request: Request, source_id: CodePath, principal: SourceAdmin) -> dict[str, Any]:
        """End the rotation now: every key but the newest stops working."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            if await sources.source_by_id(conn, source_id) is None:
                raise HTTPException(404, f"no source {source_id!r}")
            ended = await sources.finish_rotation(conn, source_id)
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="source.finish_rotation", target=f"source:{source_id}",
                               origin=client_origin(request), details={"keys_ended": ended})  # fmt: skip
        return {"keys_ended": ended}

    @router.delete("/sources/{source_id}/keys/{key_id}", responses={404: {}})
    async def revoke_source_key(
        request: Request, source_id: CodePath, key_id: RowId, principal: SourceAdmin
    ) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn, conn.transaction():
            if not await sources.revoke_key(conn, source_id, key_id):
                raise HTTPException(404, f"no active key {key_id} for source {source_id!r}")
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="source.key_revoke", target=f"source:{source_id}",
                               origin=client_origin(request), details={"key_id": key_id})  # fmt: skip
        return {"revoked_key_id": key_id}

    @router.delete("/sources/{source_id}", responses={404: {}})
    async def revoke_source(request: Request, source_id: CodePath, principal: SourceAdmin) -> dict[str, Any]:
        """Revoke the source: none of its keys works any more; its data stays."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            if await sources.source_by_id(conn, source_id) is None:
                raise HTTPException(404, f"no source {source_id!r}")
            await sources.revoke_source(conn, source_id)
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="source.revoke",
                               target=f"source:{source_id}", origin=client_origin(request))  # fmt: skip
        return {"revoked": source_id}

    # -- audit trail ------------------------------------------------------------------------

    @router.get("/audit")
    async def audit_log(
        request: Request,
        principal: Auditor,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[
            str | None, Query(max_length=100, description="an action or its prefix, e.g. 'login'")
        ] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: Annotated[int | None, Query(ge=1, le=9_223_372_036_854_775_807)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        """Newest first; page with `before_id` (the smallest id of the previous page)."""
        for value in (actor, action):
            if value is not None and "\x00" in value:
                raise HTTPException(422, "NUL characters are not allowed")
        async with app_state(request).pool.connection() as conn:
            rows = await audit.query(conn, actor=actor, action=action, since=since, until=until, before_id=before_id,
                                     limit=limit)  # fmt: skip
        return {"entries": rows}

    return router
