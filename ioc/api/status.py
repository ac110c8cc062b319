"""Read APIs: status by locality, alerts, one dossier with its history, calendar overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from alerts.rules import due_soon_horizon
from ioc.api.deps import AppState, app_state
from ioc.live.feed import ALERT_COLUMNS, alert_row_to_dict
from ioc.status import commune_status, province_status

SELECT_DOSSIER = """
SELECT d.code, d.status, d.procedure_code, p.name, d.sector, d.statutory_days, d.agency_code, a.name,
       d.province_code, d.commune_code, d.channel, d.received_at, d.due_at, d.paused_at, d.paused_seconds,
       d.resolved_at, d.returned_at, d.closed_at, d.outcome, d.late_since, d.apology_at
FROM dossier d
LEFT JOIN procedure p ON p.code = d.procedure_code
LEFT JOIN agency a ON a.code = d.agency_code
WHERE d.code = %s
"""
DOSSIER_FIELDS = (
    "code", "status", "procedure_code", "procedure_name", "sector", "statutory_days", "agency_code",
    "agency_name", "province_code", "commune_code", "channel", "received_at", "due_at", "paused_at",
    "paused_working_seconds", "resolved_at", "returned_at", "closed_at", "outcome", "late_since", "apology_at",
)  # fmt: skip
SELECT_DOSSIER_EVENTS = """
SELECT occurred_at, event_type, source_id, event_id, ingested_at
FROM dossier_event WHERE dossier_code = %s ORDER BY occurred_at, ingested_at
"""
SELECT_ALERTS = f"""
SELECT {ALERT_COLUMNS} FROM alert
WHERE (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(province)s::text IS NULL OR province_code = %(province)s)
ORDER BY updated_at DESC LIMIT %(limit)s
"""
SELECT_TRANSITIONS = """
SELECT from_state, to_state, at, value, summary_vi FROM alert_transition WHERE alert_id = %s ORDER BY id
"""
SELECT_OVERRIDES = "SELECT day, province_code, kind, note FROM calendar_override ORDER BY day, province_code"
UPSERT_OVERRIDE = """
INSERT INTO calendar_override (day, province_code, kind, note) VALUES (%s, %s, %s, %s)
ON CONFLICT (day, province_code) DO UPDATE SET kind = EXCLUDED.kind, note = EXCLUDED.note
"""
DELETE_OVERRIDE = "DELETE FROM calendar_override WHERE day = %s AND province_code = %s"

WindowParam = Literal["today", "7d", "30d"]


class OverrideIn(BaseModel):
    day: date
    kind: Literal["day_off", "working_day"]
    province_code: str = Field(default="", description="'' for the whole country")
    note: str = Field(default="", max_length=500)


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}


def status_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get("/status/provinces")
    async def provinces(request: Request, window: WindowParam = "30d") -> dict[str, Any]:
        state = app_state(request)
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            rows = await province_status(conn, now, _horizon(state, now), window)
        return {"window": window, "generated_at": now.isoformat(), "provinces": [r.as_dict() for r in rows]}

    @router.get("/status/provinces/{province_code}/communes")
    async def communes(request: Request, province_code: str, window: WindowParam = "30d") -> dict[str, Any]:
        state = app_state(request)
        province = state.catalogue.get(province_code)
        if province is None or province.level != "province":
            raise HTTPException(404, f"unknown province {province_code!r}")
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            rows = await commune_status(conn, now, _horizon(state, now), province_code, window)
        return {"window": window, "province_code": province_code, "communes": [r.as_dict() for r in rows]}

    @router.get("/alerts")
    async def alerts(
        request: Request,
        state_filter: Literal["pending", "firing", "resolved"] | None = Query(None, alias="state"),
        province_code: str | None = None,
        limit: int = Query(200, ge=1, le=1000),
    ) -> dict[str, Any]:
        params = {"state": state_filter, "province": province_code, "limit": limit}
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_ALERTS, params)
            rows = [alert_row_to_dict(r) for r in await cur.fetchall()]
        return {"alerts": rows}

    @router.get("/alerts/{alert_id}")
    async def alert_detail(request: Request, alert_id: int) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(f"SELECT {ALERT_COLUMNS} FROM alert WHERE id = %s", [alert_id])
            row = await cur.fetchone()
            if row is None:
                raise HTTPException(404, f"no alert {alert_id}")
            cur = await conn.execute(SELECT_TRANSITIONS, [alert_id])
            history = [
                _iso(dict(zip(("from_state", "to_state", "at", "value", "summary_vi"), r, strict=True)))
                for r in await cur.fetchall()
            ]
        return {**alert_row_to_dict(row), "history": history}

    @router.get("/dossiers/{code}")
    async def dossier(request: Request, code: str) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_DOSSIER, [code])
            row = await cur.fetchone()
            cur = await conn.execute(SELECT_DOSSIER_EVENTS, [code])
            events = [
                _iso(dict(zip(("occurred_at", "event_type", "source_id", "event_id", "ingested_at"), r, strict=True)))
                for r in await cur.fetchall()
            ]
        if row is None and not events:
            raise HTTPException(404, f"no dossier {code!r}")
        current = _iso(dict(zip(DOSSIER_FIELDS, row, strict=True))) if row else None
        return {"code": code, "state": current, "events": events}

    @router.get("/calendar/overrides")
    async def overrides(request: Request) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_OVERRIDES)
            names = ("day", "province_code", "kind", "note")
            rows = [_iso(dict(zip(names, r, strict=True))) for r in await cur.fetchall()]
        return {"overrides": rows}

    @router.put("/calendar/overrides", status_code=200)
    async def put_override(request: Request, body: OverrideIn) -> dict[str, Any]:
        state = app_state(request)
        if body.province_code and state.catalogue.get(body.province_code) is None:
            raise HTTPException(422, f"unknown province {body.province_code!r}")
        async with state.pool.connection() as conn:
            await conn.execute(UPSERT_OVERRIDE, [body.day, body.province_code, body.kind, body.note])
        state.calendars.invalidate()
        return {"override": _iso(body.model_dump())}

    @router.delete("/calendar/overrides/{day}")
    async def delete_override(request: Request, day: date, province_code: str = "") -> dict[str, Any]:
        state = app_state(request)
        async with state.pool.connection() as conn:
            cur = await conn.execute(DELETE_OVERRIDE, [day, province_code])
        if cur.rowcount == 0:
            raise HTTPException(404, "no such override")
        state.calendars.invalidate()
        return {"deleted": day.isoformat(), "province_code": province_code}

    return router


def _horizon(state: AppState, now: datetime) -> datetime:
    return due_soon_horizon(now, state.calendars.calendar_for(""))
