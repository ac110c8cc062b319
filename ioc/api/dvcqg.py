"""The national portal's sync format, served so that an unmodified one-stop system can push to the
command centre instead of (or beside) the portal's adapter.

- `POST /api/v1/dvcqg/login`: the adapter's login, `{username: <source id>, password: <source key>}`
  → `{error_code: 0, session}` (or the source key as Bearer, for gateways that carry one).
- `POST /api/v1/dvcqg`: the envelope `{session, madonvi, service, isUpdating, data}` for
  DongBoHoSoMC and CapNhatTienDoHoSoMC.
- `POST /api/v1/dvcqg/{service}`: a bare array (provincial gateway), optionally with
  `?MaDinhDanhDV=<unit>&isUpdating=True|False` (the query-string variant); authenticated by a Bearer
  source key, or a `session` query parameter or header.
- `GET|PUT /api/v1/admin/dvcqg/units/{source_id}`: the administrator's unit → locality table.

Replies keep the portal's shape (`error_code`, `message`) and add one result per item. The records
are translated by ingest/dvcqg (pure) into native events that go through the push API's own
pipeline: parse_batch → ownership → DossierWriter → DossierProjector. The route does only I/O.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from ingest.dvcqg.envelope import (
    BAD_REQUEST,
    NOT_AUTHENTICATED,
    OK,
    SOME_REFUSED,
    EnvelopeError,
    SyncRequest,
    read_bare,
    read_envelope,
)
from ingest.dvcqg.pipeline import PortalSync, source_lock
from ioc.api.deps import AppState, app_state
from ioc.api.guard import authenticate, client_origin, declare, guard
from ioc.api.ingest import read_capped_body
from ioc.api.ratelimit import retry_after_header
from ioc.auth import audit
from ioc.auth.policy import Action, Policy, Role
from ioc.auth.principal import Principal
from ioc.sources import source_by_id, source_for_key

log = logging.getLogger(__name__)
SYNC_POLICY = Policy(Action.INGEST_DOSSIER, "items")
LOGIN_POLICY = Policy(Action.INGEST_DOSSIER, "global")
Admin = Annotated[Principal, guard(Policy(Action.SOURCES_MANAGE, "global"))]
SESSION_TTL = timedelta(hours=12)
SESSION_PREFIX = "dvcqg_"
MAX_LOGIN_BYTES = 16 * 1024
MAX_UNITS = 10_000
INSERT_SESSION = """
INSERT INTO dvcqg_session (session_sha256, source_id, key_id, expires_at) VALUES (%s, %s, %s, %s)
"""
DELETE_EXPIRED_SESSIONS = "DELETE FROM dvcqg_session WHERE source_id = %s AND expires_at < %s"
SELECT_SESSION = """
SELECT d.source_id, d.key_id FROM dvcqg_session d JOIN source_key k ON k.id = d.key_id
WHERE d.session_sha256 = %s AND d.expires_at > %s AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > %s)
"""
SELECT_ALL_UNITS = """
SELECT unit_key, province_code, commune_code, agency_code, agency_name, updated_at FROM dvcqg_unit
WHERE source_id = %s ORDER BY unit_key
"""
DELETE_UNITS = "DELETE FROM dvcqg_unit WHERE source_id = %s"
INSERT_UNITS = """
INSERT INTO dvcqg_unit (source_id, unit_key, province_code, commune_code, agency_code, agency_name)
SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
"""


def portal_reply(error_code: int, message: str, status_code: int = 200, **extra: Any) -> Response:
    body = {"error_code": error_code, "message": message, **extra}
    if status_code >= 400:
        body["detail"] = message  # the shape every other route of this API answers errors with
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


class PortalError(Exception):
    def __init__(self, status_code: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code, self.error_code = status_code, error_code


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    source_id: str
    principal: Principal


async def _caller(request: Request, session: str | None) -> Caller:
    """The source behind a sync: a source key as Bearer (the guard's own resolution), else a
    portal session. People and screens are refused (403) like on every ingest route."""
    principal = await authenticate(request)
    if principal is None and session:
        principal = await _session_principal(request, session)
    if principal is None:
        raise PortalError(401, NOT_AUTHENTICATED, "phiên không hợp lệ hoặc đã hết hạn / no valid session or key")
    if not SYNC_POLICY.allows_role(principal.role) or principal.source_id is None:
        raise PortalError(403, NOT_AUTHENTICATED, f"vai trò {principal.role.value} không được phép / role may not sync")
    if "dossier" not in principal.streams:
        raise PortalError(403, NOT_AUTHENTICATED, "khóa nguồn không gồm luồng hồ sơ / key does not cover dossiers")
    return Caller(principal.source_id, principal)


async def _session_principal(request: Request, session: str) -> Principal | None:
    state = app_state(request)
    now = datetime.now(UTC)
    async with state.pool.connection() as conn:
        cur = await conn.execute(SELECT_SESSION, [_digest(session), now, now])
        row: Any = await cur.fetchone()
        source = await source_by_id(conn, str(row[0])) if row else None
        await conn.commit()
    if row is None or source is None or source.revoked_at is not None:
        return None
    return Principal(subject=f"source:{source.id}", name=source.name, role=Role.SOURCE, scope=source.scope,
                     credential="source_key", credential_id=str(row[1]), source_id=source.id,
                     streams=source.streams)  # fmt: skip


class UnitIn(BaseModel):
    key: str = Field(min_length=1, max_length=300, description="madonvi, a DonViXuLy name, or a suffix H22")
    province_code: str | None = Field(None, max_length=16)
    commune_code: str | None = Field(None, max_length=16)
    agency_code: str | None = Field(None, min_length=1, max_length=128)
    agency_name: str | None = Field(None, min_length=1, max_length=300)


class UnitsIn(BaseModel):
    units: list[UnitIn] = Field(max_length=MAX_UNITS)


_REPLY = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
    "required": ["error_code", "message"]}}}}  # fmt: skip
_BAD = {"description": "Yêu cầu không đọc được / unreadable request (error_code -1)", **_REPLY}
_ANY_JSON = {"requestBody": {"required": False, "content": {"application/json": {"schema": {}}}}}
SYNC_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _BAD,
    413: {"description": "Lô quá lớn / batch too large; nothing was written", **_REPLY},
}
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {400: _BAD}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "Không có nguồn / no such source"}}


def dvcqg_router() -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/dvcqg/login", dependencies=[declare(LOGIN_POLICY)], responses=LOGIN_RESPONSES,
                 openapi_extra=_ANY_JSON)  # fmt: skip
    async def dvcqg_login(request: Request) -> Response:
        """The adapter's login: username = source id, password = source key → a session."""
        state = app_state(request)
        try:
            principal = await authenticate(request)
            if principal is None:
                body = await read_capped_body(request, MAX_LOGIN_BYTES)
                principal = await _password_principal(request, state, body)
            if principal.role is not Role.SOURCE or principal.source_id is None:
                raise PortalError(403, NOT_AUTHENTICATED, f"vai trò {principal.role.value} không đăng nhập được ở "
                                                          "đây / only data sources sign in here")  # fmt: skip
        except PortalError as exc:
            state.metrics.dvcqg_logins.labels("refused").inc()
            return portal_reply(exc.error_code, str(exc), exc.status_code)
        state.metrics.dvcqg_logins.labels("ok").inc()
        session = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with state.pool.connection() as conn, conn.transaction():
            await conn.execute(DELETE_EXPIRED_SESSIONS, [principal.source_id, now])
            await conn.execute(INSERT_SESSION, [_digest(session), principal.source_id, int(principal.credential_id),
                                                now + SESSION_TTL])  # fmt: skip
        return portal_reply(OK, "Đăng nhập thành công / signed in", session=session,
                            expires_at=(now + SESSION_TTL).isoformat())  # fmt: skip

    @router.post("/api/v1/dvcqg", dependencies=[declare(SYNC_POLICY)], responses=SYNC_RESPONSES,
                 openapi_extra=_ANY_JSON)  # fmt: skip
    async def dvcqg_sync(request: Request) -> Response:
        """The adapter envelope: {session, madonvi, service, isUpdating, data}."""
        return await _sync(request, read_envelope)

    @router.post("/api/v1/dvcqg/{service}", dependencies=[declare(SYNC_POLICY)], responses=SYNC_RESPONSES,
                 openapi_extra=_ANY_JSON)  # fmt: skip
    async def dvcqg_sync_service(request: Request, service: str) -> Response:
        """A bare array for DongBoHoSoMC or CapNhatTienDoHoSoMC; ?MaDinhDanhDV=…&isUpdating=…"""
        query = dict(request.query_params)
        return await _sync(request, lambda document: read_bare(document, service, query))

    @router.get("/api/v1/admin/dvcqg/units/{source_id}", responses=ADMIN_RESPONSES)
    async def dvcqg_units(request: Request, source_id: str, principal: Admin) -> dict[str, Any]:
        state = app_state(request)
        async with state.pool.connection() as conn:
            if await source_by_id(conn, source_id) is None:
                raise HTTPException(404, f"không có nguồn / no source {source_id!r}")
            cur = await conn.execute(SELECT_ALL_UNITS, [source_id])
            rows: list[Any] = await cur.fetchall()
        return {"source_id": source_id, "units": [
            {"key": k, "province_code": p, "commune_code": c, "agency_code": a, "agency_name": n,
             "updated_at": u.isoformat()} for k, p, c, a, n, u in rows]}  # fmt: skip

    @router.put("/api/v1/admin/dvcqg/units/{source_id}", responses=ADMIN_RESPONSES)
    async def dvcqg_set_units(request: Request, source_id: str, body: UnitsIn, principal: Admin) -> dict[str, Any]:
        """Replace the source's table. Each unit names a commune (its province follows) or a province."""
        state = app_state(request)
        rows = [_unit_row(state, unit) for unit in body.units]
        if len({r[0] for r in rows}) != len(rows):
            raise HTTPException(422, "một khóa xuất hiện hai lần / a key appears twice")
        async with state.pool.connection() as conn, conn.transaction():
            if await source_by_id(conn, source_id) is None:
                raise HTTPException(404, f"không có nguồn / no source {source_id!r}")
            await conn.execute(DELETE_UNITS, [source_id])
            if rows:
                await conn.execute(INSERT_UNITS, [source_id, *(list(col) for col in zip(*rows, strict=True))])
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="source.dvcqg_units", target=f"source:{source_id}",
                               origin=client_origin(request), details={"units": len(rows)})  # fmt: skip
        return {"source_id": source_id, "units": len(rows)}

    return router


def _unit_row(state: AppState, unit: UnitIn) -> tuple[str, str, str | None, str | None, str | None]:
    catalogue = state.catalogue
    province, commune = unit.province_code, unit.commune_code
    if commune is not None:
        place = catalogue.get(commune)
        if place is None or place.level == "province":
            raise HTTPException(422, f"{unit.key}: không có xã / no commune {commune!r}")
        owner = catalogue.province_code_of(commune)
        if province is not None and province != owner:
            raise HTTPException(422, f"{unit.key}: xã {commune} không thuộc tỉnh / is not in province {province}")
        province = owner
    if province is None or (found := catalogue.get(province)) is None or found.level != "province":
        raise HTTPException(422, f"{unit.key}: cần province_code hoặc commune_code hợp lệ / needs a valid locality")
    return unit.key.strip(), province, commune, unit.agency_code, unit.agency_name


async def _password_principal(request: Request, state: AppState, body: bytes) -> Principal:
    try:
        document = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise PortalError(400, BAD_REQUEST, "thân yêu cầu không phải JSON / body is not JSON") from exc
    username = document.get("username") if isinstance(document, dict) else None
    password = document.get("password") if isinstance(document, dict) else None
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise PortalError(401, NOT_AUTHENTICATED, "cần username và password / username and password required")
    ip = request.client.host if request.client else "unknown"
    if state.login_limiter_by_ip is not None and (wait := state.login_limiter_by_ip.check(ip)) > 0:
        raise HTTPException(429, "quá nhiều lần đăng nhập / too many sign-in attempts",
                            headers={"Retry-After": retry_after_header(wait)})  # fmt: skip
    async with state.pool.connection() as conn:
        identity = await source_for_key(conn, password)
        await conn.commit()
    # The same answer for an unknown source and a wrong key: nothing to learn by guessing.
    if identity is None or identity.source.id != username:
        raise PortalError(401, NOT_AUTHENTICATED, "sai tên đăng nhập hoặc mật khẩu / wrong username or password")
    source = identity.source
    return Principal(subject=f"source:{source.id}", name=source.name, role=Role.SOURCE, scope=source.scope,
                     credential="source_key", credential_id=str(identity.key_id), source_id=source.id,
                     streams=source.streams)  # fmt: skip


async def _sync(request: Request, read: Callable[[Any], SyncRequest]) -> Response:
    state = app_state(request)
    settings, metrics = state.settings, state.metrics
    started = time.perf_counter()
    try:
        body = await read_capped_body(request, settings.max_body_bytes)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise PortalError(400, BAD_REQUEST, f"thân yêu cầu không phải JSON / body is not JSON ({exc})") from exc
        try:
            sync = read(document)
        except EnvelopeError as exc:
            raise PortalError(400, exc.error_code, str(exc)) from exc
        session = sync.session or request.query_params.get("session") or request.headers.get("session")
        caller = await _caller(request, session)
        if state.ingest_limiter is not None and (wait := state.ingest_limiter.check(caller.source_id)) > 0:
            metrics.ingest_batches_refused.labels("dossier", "rate_limited").inc()
            raise HTTPException(429, "quá nhiều lô từ nguồn này / too many batches from this source; nothing written",
                                headers={"Retry-After": retry_after_header(wait)})  # fmt: skip
        if len(sync.items) > settings.max_batch_items:
            raise PortalError(413, BAD_REQUEST, f"lô {len(sync.items)} mục vượt giới hạn / batch exceeds the limit "
                                                f"of {settings.max_batch_items}; nothing was written")  # fmt: skip
    except PortalError as exc:
        return portal_reply(exc.error_code, str(exc), exc.status_code)
    answer = await _ingest(state, caller, sync)
    metrics.ingest_batch_seconds.labels("dossier").observe(time.perf_counter() - started)
    return answer


async def _ingest(state: AppState, caller: Caller, sync: SyncRequest) -> Response:
    settings, ingest = state.settings, state.ingest
    portal = PortalSync(ingest.procedures, ingest.calendars, ingest.writer, ingest.projector)
    principal = caller.principal
    in_scope = None if principal.scope.national else principal.scope.allows_locality
    async with state.pool.connection() as conn, source_lock(conn, caller.source_id):
        prepared = await portal.prepare(
            conn, caller.source_id, sync, now=datetime.now(UTC), catalogue=state.catalogue, in_scope=in_scope,
            future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
            max_age=timedelta(days=settings.retention_days),
        )  # fmt: skip
        async with conn.transaction():
            written = await portal.write(conn, prepared)
        try:
            await portal.apply(conn, written)
        except psycopg.Error as exc:  # stored and queued: the projector loop applies it (as ingest.py)
            log.warning("dvcqg: batch %s stored but not yet applied (%s)", written.outcome.queue_id,
                        type(exc).__name__)  # fmt: skip
    counts = {s: written.count(s) for s in ("accepted", "duplicate", "rejected")}
    outcome = written.outcome
    for status, n, events in (("accepted", counts["accepted"], outcome.accepted),
                              ("duplicate", counts["duplicate"], outcome.duplicate),
                              ("rejected", counts["rejected"], outcome.rejected)):  # fmt: skip
        if n:
            state.metrics.dvcqg_items.labels(sync.service.value, status).inc(n)
        if events:
            state.metrics.ingest_events.labels("dossier", status).inc(events)
    if counts["rejected"]:
        return portal_reply(SOME_REFUSED, f"{counts['rejected']} mục bị từ chối, xem results / items refused, see "
                                          "results; các mục khác đồng bộ thành công", **counts,
                            service=sync.service.value, results=written.results)  # fmt: skip
    return portal_reply(OK, "Đồng bộ thành công / synced", **counts, service=sync.service.value,
                        results=written.results)  # fmt: skip
