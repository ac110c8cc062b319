"""Operator overrides of the working-day calendar: extra days off, swapped working days."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from ioc.api.alerts import iso
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

SELECT_OVERRIDES = """
SELECT day, province_code, kind, note FROM calendar_override
WHERE %(scope_national)s OR province_code = '' OR province_code = ANY(%(provinces)s)
ORDER BY day, province_code
"""
UPSERT_OVERRIDE = """
INSERT INTO calendar_override (day, province_code, kind, note) VALUES (%s, %s, %s, %s)
ON CONFLICT (day, province_code) DO UPDATE SET kind = EXCLUDED.kind, note = EXCLUDED.note
"""
DELETE_OVERRIDE = "DELETE FROM calendar_override WHERE day = %s AND province_code = %s"

CalendarReader = Annotated[Principal, guard(Policy(Action.CALENDAR_READ, "list"))]
CalendarWriter = Annotated[Principal, guard(Policy(Action.CALENDAR_WRITE, "global"))]
ProvinceOrCountry = Annotated[str, StringConstraints(max_length=2, pattern=r"^([0-9]{2})?$")]


class OverrideIn(BaseModel):
    day: date
    kind: Literal["day_off", "working_day"]
    province_code: ProvinceOrCountry = Field(default="", description="'' for the whole country")
    note: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] = ""


def calendar_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])

    @router.get("/overrides")
    async def overrides(request: Request, principal: CalendarReader) -> dict[str, Any]:
        """National overrides and those of the provinces the caller's scope touches."""
        state = app_state(request)
        scope = principal.scope
        provinces = sorted(scope.provinces_touched(state.catalogue.province_code_of) or ())
        async with state.pool.connection() as conn:
            cur = await conn.execute(SELECT_OVERRIDES, {"scope_national": scope.national, "provinces": provinces})
            names = ("day", "province_code", "kind", "note")
            rows = [iso(dict(zip(names, r, strict=True))) for r in await cur.fetchall()]
        return {"overrides": rows}

    @router.put("/overrides", status_code=200, responses={422: {}})
    async def put_override(request: Request, body: OverrideIn, principal: CalendarWriter) -> dict[str, Any]:
        state = app_state(request)
        if body.province_code and state.catalogue.get(body.province_code) is None:
            raise HTTPException(422, f"unknown province {body.province_code!r}")
        async with state.pool.connection() as conn, conn.transaction():
            await conn.execute(UPSERT_OVERRIDE, [body.day, body.province_code, body.kind, body.note])
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="calendar.override_set", target=f"{body.day.isoformat()}/{body.province_code}",
                               origin=client_origin(request), details=iso(body.model_dump()))  # fmt: skip
        state.calendars.invalidate()
        return {"override": iso(body.model_dump())}

    @router.delete("/overrides/{day}", responses={404: {}, 422: {}})
    async def delete_override(
        request: Request,
        day: date,
        principal: CalendarWriter,
        province_code: Annotated[ProvinceOrCountry, Query()] = "",
    ) -> dict[str, Any]:
        state = app_state(request)
        async with state.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(DELETE_OVERRIDE, [day, province_code])
            if cur.rowcount == 0:
                raise HTTPException(404, "no such override")
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="calendar.override_delete", target=f"{day.isoformat()}/{province_code}",
                               origin=client_origin(request))  # fmt: skip
        state.calendars.invalidate()
        return {"deleted": day.isoformat(), "province_code": province_code}

    return router
