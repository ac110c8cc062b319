"""Silences: list (active / pending / expired), create, end early, and what one mutes right now.

An operator silences only inside their scope: the matchers must pin ``province_code`` (or
``commune_code``) with ``=`` to localities the operator is granted; a national scope (the admin)
may silence anything. A silence that pins no locality is visible to every reader (it may mute
their alerts) but only a national scope may end it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from alerts.notify.dispatcher import row_to_silence
from alerts.notify.matchers import Matcher, MatcherError, matches_all, parse_matchers, pinned_values
from alerts.notify.silences import Silence, SilenceError, active_window, next_window, parse_recurrence, silence_state
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, ensure_readable, ensure_writable, guard
from ioc.api.params import RowId
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.localities.catalogue import LocalityCatalogue

SafeText = Annotated[str, StringConstraints(max_length=1024, pattern=r"^[^\x00]*$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")]

SELECT_SILENCES = """
SELECT id, matchers, starts_at, ends_at, recurrence, comment, created_by, expired_at, reminded_until, created_at,
       expired_by
FROM silence ORDER BY id DESC LIMIT 2000
"""
SELECT_SILENCE = """
SELECT id, matchers, starts_at, ends_at, recurrence, comment, created_by, expired_at, reminded_until, created_at,
       expired_by
FROM silence WHERE id = %s
"""
SELECT_FIRING = """
SELECT id, rule_id, labels, severity, province_code, commune_code, agency_code, sector_code, stream, summary_vi,
       summary_en
FROM alert WHERE state = 'firing' ORDER BY id LIMIT 5000
"""

Reader = Annotated[Principal, guard(Policy(Action.SILENCES_READ, "list"))]
Viewer = Annotated[Principal, guard(Policy(Action.SILENCES_READ, "read"))]
Writer = Annotated[Principal, guard(Policy(Action.SILENCES_WRITE, "write"))]


class MatcherIn(BaseModel):
    label: LabelName
    op: Literal["=", "!=", "=~", "!~"]
    value: SafeText


class SilenceIn(BaseModel):
    matchers: list[MatcherIn] = Field(min_length=1, max_length=32)
    starts_at: AwareDatetime | None = Field(default=None, description="mặc định: bây giờ / default: now")
    ends_at: AwareDatetime | None = None
    recurrence: dict[str, Any] | None = Field(
        default=None,
        description='{"weekly": [{"days": [6], "from": "13:00", "to": "17:00"}]}, '
        '{"yearly": [{"from": "12-30", "to": "01-02"}]} hoặc / or {"holiday": "tet"}',
    )
    comment: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]


def _locality_ok(principal: Principal, matchers: tuple[Matcher, ...], catalogue: LocalityCatalogue) -> bool:
    """Whether the matchers pin a locality inside the principal's scope (a national scope: always)."""
    scope = principal.scope
    if scope.national:
        return True
    provinces = pinned_values(matchers, "province_code")
    communes = pinned_values(matchers, "commune_code")
    if communes:
        return all(scope.allows_locality(catalogue.province_code_of(c), c) for c in communes)
    if provinces:
        return all(scope.allows_locality(p, None) for p in provinces)
    return False


def _visible(principal: Principal, matchers: tuple[Matcher, ...], catalogue: LocalityCatalogue) -> bool:
    pinned = pinned_values(matchers, "province_code") or pinned_values(matchers, "commune_code")
    return not pinned or _locality_ok(principal, matchers, catalogue)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _view(s: Silence, created_at: datetime, expired_by: str | None, now: datetime) -> dict[str, Any]:
    window = next_window(s, now)
    current = active_window(s, now)
    return {
        "id": s.id, "matchers": [m.to_json() for m in s.matchers], "starts_at": _iso(s.starts_at),
        "ends_at": _iso(s.ends_at), "recurrence": s.recurrence.to_json() if s.recurrence else None,
        "comment": s.comment, "created_by": s.created_by, "created_at": _iso(created_at),
        "expired_at": _iso(s.expired_at), "expired_by": expired_by, "state": silence_state(s, now),
        "window": None if window is None else {"start": _iso(window.start), "end": _iso(window.end),
                                               "in_force": current is not None},
    }  # fmt: skip


def silences_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/silences", tags=["silences"])

    @router.get("")
    async def list_silences(
        request: Request,
        principal: Reader,
        state: Annotated[Literal["active", "pending", "expired"] | None, Query()] = None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        catalogue = app_state(request).catalogue
        async with app_state(request).pool.connection() as conn:
            rows = await (await conn.execute(SELECT_SILENCES)).fetchall()
        out = []
        for r in rows:
            s = row_to_silence(r)
            if not _visible(principal, s.matchers, catalogue):
                continue
            view = _view(s, r[9], r[10], now)  # type: ignore[arg-type]
            if state is None or view["state"] == state:
                out.append(view)
        return {"silences": out}

    @router.post("", status_code=201, responses={403: {}, 422: {}})
    async def create_silence(request: Request, body: SilenceIn, principal: Writer) -> dict[str, Any]:
        now = datetime.now(UTC)
        try:
            matchers = parse_matchers([m.model_dump() for m in body.matchers], allow_empty=False)
            recurrence = parse_recurrence(body.recurrence)
            silence = Silence(0, matchers, body.starts_at or now, body.ends_at, recurrence, body.comment)
        except (MatcherError, SilenceError) as exc:
            raise HTTPException(422, str(exc)) from exc
        where = "silence (ghim province_code/commune_code trong phạm vi / pin a locality in your scope)"
        ensure_writable(principal, _locality_ok(principal, matchers, app_state(request).catalogue), where)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO silence (matchers, starts_at, ends_at, recurrence, comment, created_by)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, created_at",
                [Jsonb([m.to_json() for m in matchers]), silence.starts_at, silence.ends_at,
                 Jsonb(recurrence.to_json()) if recurrence else None, body.comment, principal.subject],
            )  # fmt: skip
            row: Any = await cur.fetchone()
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="silence.create",
                               target=f"silence:{row[0]}", origin=client_origin(request),
                               details={"matchers": [m.to_json() for m in matchers]})  # fmt: skip
        stored = Silence(int(row[0]), matchers, silence.starts_at, silence.ends_at, recurrence, body.comment,
                         principal.subject)  # fmt: skip
        return _view(stored, row[1], None, now)

    @router.get("/{silence_id}", responses={404: {}})
    async def silence_detail(request: Request, silence_id: RowId, principal: Viewer) -> dict[str, Any]:
        now = datetime.now(UTC)
        catalogue = app_state(request).catalogue
        async with app_state(request).pool.connection() as conn:
            row: Any = await (await conn.execute(SELECT_SILENCE, [silence_id])).fetchone()
            s = row_to_silence(row) if row else None
            ensure_readable(principal, s is not None and _visible(principal, s.matchers, catalogue),
                            f"silence {silence_id}")  # fmt: skip
            assert s is not None
            muted = []
            if active_window(s, now) is not None:
                for a in await (await conn.execute(SELECT_FIRING)).fetchall():
                    labels = _labels(a)
                    scope_ok = principal.scope.allows(a[4], a[5], a[6], a[7])  # type: ignore[arg-type]
                    if scope_ok and matches_all(s.matchers, labels):
                        muted.append({"id": a[0], "rule_id": a[1], "severity": a[3], "labels": labels,
                                      "summary_vi": a[9], "summary_en": a[10]})  # fmt: skip
        return {**_view(s, row[9], row[10], now), "muted_alerts": muted}

    @router.post("/{silence_id}/expire", responses={403: {}, 404: {}})
    async def expire_silence(request: Request, silence_id: RowId, principal: Writer) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            row: Any = await (await conn.execute(SELECT_SILENCE + " FOR UPDATE", [silence_id])).fetchone()
            if row is None:
                raise HTTPException(404, f"không tìm thấy / no silence {silence_id}")
            s = row_to_silence(row)
            ensure_writable(principal, _locality_ok(principal, s.matchers, app_state(request).catalogue),
                            f"silence {silence_id}")  # fmt: skip
            if s.expired_at is None or s.expired_at > now:
                await conn.execute("UPDATE silence SET expired_at = %s, expired_by = %s WHERE id = %s",
                                   [now, principal.subject, silence_id])  # fmt: skip
                await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                                   action="silence.expire", target=f"silence:{silence_id}",
                                   origin=client_origin(request))  # fmt: skip
                s = Silence(s.id, s.matchers, s.starts_at, s.ends_at, s.recurrence, s.comment, s.created_by, now)
        return _view(s, row[9], principal.subject, now)

    return router


def _labels(a: Any) -> dict[str, str]:
    raw = a[2] if isinstance(a[2], dict) else {}
    labels = {str(k): str(v) for k, v in raw.items() if v is not None}
    labels.setdefault("rule", str(a[1]))
    labels["severity"] = str(a[3])
    for name, value in zip(("province_code", "commune_code", "agency_code", "sector", "stream"), a[4:9], strict=True):
        if value is not None:
            labels.setdefault(name, str(value))
    return labels
