"""Operator overrides of the working-day calendar (extra days off, swapped working days) and the
deadline policy an administrator sets per province (how a statutory period is counted)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from alerts.calendar import CalendarError, DeadlinePolicy, OfficeHours
from ingest.reference import LOCAL_TZ, policy_from_row
from ioc.api.alerts import iso
from ioc.api.deps import AppState, app_state
from ioc.api.guard import client_origin, guard, sees_province
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
CalendarOneReader = Annotated[Principal, guard(Policy(Action.CALENDAR_READ, "read"))]
CalendarWriter = Annotated[Principal, guard(Policy(Action.CALENDAR_WRITE, "global"))]
ProvinceOrCountry = Annotated[str, StringConstraints(max_length=2, pattern=r"^([0-9]{2})?$")]
ProvinceCode = Annotated[str, StringConstraints(min_length=2, max_length=2, pattern=r"^[0-9]{2}$")]

_POLICY_COLUMNS = (
    "province_code, version, effective_from, office_open, office_close, cut_off, due_instant, break_start, break_end"
)
SELECT_POLICY_VERSIONS = f"""
SELECT {_POLICY_COLUMNS}, note, created_by, created_at FROM deadline_policy
WHERE province_code = %s ORDER BY version DESC
"""
# Versions are numbered per province; the table lock (policies change a few times a year) keeps
# two concurrent changes from taking the same number.
LOCK_POLICIES = "LOCK TABLE deadline_policy IN SHARE ROW EXCLUSIVE MODE"
INSERT_POLICY = f"""
INSERT INTO deadline_policy ({_POLICY_COLUMNS}, note, created_by)
SELECT %(province)s, coalesce(max(version), 0) + 1, %(effective_from)s, %(office_open)s, %(office_close)s,
       %(cut_off)s, %(due_instant)s, %(break_start)s, %(break_end)s, %(note)s, %(created_by)s
FROM deadline_policy WHERE province_code = %(province)s
RETURNING version
"""
# Re-computing deadlines after a change: the open dossiers the change governs are queued for the
# projector loop, which refolds each from its event log with the store's calendars (the same path
# as a batch whose request died, ingest/projector.py). In chunks of 500 codes, so one refold
# transaction stays short however many dossiers a province has open. A national change governs
# the provinces without a policy of their own in force.
QUEUE_REFOLD = """
INSERT INTO dossier_projection_queue (source_id, dossier_codes, deferred)
SELECT 'deadline-policy', array_agg(code ORDER BY code), true
FROM (
    SELECT code, (row_number() OVER (ORDER BY code) - 1) / 500 AS chunk
    FROM dossier
    WHERE closed_at IS NULL AND (
        (%(province)s <> '' AND province_code = %(province)s)
        OR (%(province)s = '' AND province_code NOT IN (
            SELECT province_code FROM deadline_policy WHERE province_code <> '' AND effective_from <= %(today)s))
    )
) open_dossiers
GROUP BY chunk
RETURNING cardinality(dossier_codes)
"""


class OverrideIn(BaseModel):
    day: date
    kind: Literal["day_off", "working_day"]
    province_code: ProvinceOrCountry = Field(default="", description="'' for the whole country")
    note: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] = ""


class DeadlinePolicyIn(BaseModel):
    """A new version of a deadline policy (alerts/calendar.py, DeadlinePolicy)."""

    office_open: time = time(8, 0)
    office_close: time = time(17, 0)
    break_start: time | None = Field(default=None, description="the break between sessions, e.g. 11:30")
    break_end: time | None = Field(default=None, description="e.g. 13:30")
    cut_off: time | None = Field(default=None, description="received at or after it: counts from the next working day")
    due_instant: Literal["clock", "end_of_day"] = "clock"
    effective_from: date | None = Field(default=None, description="default today; a future date is not accepted yet")
    note: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] = ""


def _versions(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        policy = policy_from_row(row[:9])
        out.append({**policy.as_dict(), "note": row[9], "created_by": row[10], "created_at": row[11].isoformat()})
    return out


async def _policy_view(state: AppState, province: str) -> dict[str, Any]:
    async with state.pool.connection() as conn:
        await state.calendars.refresh_if_stale(conn)
        cur = await conn.execute(SELECT_POLICY_VERSIONS, [province])
        versions = _versions(await cur.fetchall())
    in_force = state.calendars.policy_for(province)
    return {
        "province_code": province,
        "in_force": in_force.as_dict(),
        # A province without a policy of its own follows the national default (or the built-in one).
        "inherited": in_force.province_code != province or in_force.source != "database",
        "versions": versions,
    }


async def _set_policy(
    state: AppState, request: Request, principal: Principal, province: str, body: DeadlinePolicyIn
) -> dict[str, Any]:
    today = datetime.now(LOCAL_TZ).date()
    effective_from = body.effective_from or today
    if effective_from > today:
        raise HTTPException(
            422, "chưa hỗ trợ chính sách có hiệu lực trong tương lai / future policies are not supported"
        )
    try:
        hours = OfficeHours(body.office_open, body.office_close, body.break_start, body.break_end)
        DeadlinePolicy(hours=hours, cut_off=body.cut_off, due_instant=body.due_instant)
    except CalendarError as exc:
        raise HTTPException(422, str(exc)) from exc
    params = {
        "province": province, "effective_from": effective_from, "office_open": body.office_open,
        "office_close": body.office_close, "cut_off": body.cut_off, "due_instant": body.due_instant,
        "break_start": body.break_start, "break_end": body.break_end,
        "note": body.note, "created_by": principal.subject, "today": today,
    }  # fmt: skip
    previous = state.calendars.policy_for(province).as_dict()
    try:
        async with state.pool.connection() as conn, conn.transaction():
            await conn.execute(LOCK_POLICIES)
            cur = await conn.execute(INSERT_POLICY, params)
            row = await cur.fetchone()
            assert row is not None
            version = cast(int, row[0])
            cur = await conn.execute(QUEUE_REFOLD, params)
            chunks = [cast(int, r[0]) for r in await cur.fetchall()]
            details = {
                **body.model_dump(mode="json"), "effective_from": effective_from.isoformat(), "version": version,
                "previous": previous, "refold_queued": {"dossiers": sum(chunks), "batches": len(chunks)},
            }  # fmt: skip
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="calendar.policy_set", target=province or "national",
                               origin=client_origin(request), details=details)  # fmt: skip
            # Last in the transaction, which sees the new row: the projector sharing this store
            # refolds the queued dossiers with the new policy, never the one it replaces.
            state.calendars.invalidate()
            await state.calendars.refresh_if_stale(conn)
    except BaseException:
        state.calendars.invalidate()  # whatever the store read, the next refresh re-reads it
        raise
    view = await _policy_view(state, province)
    return {**view, "version": version, "refold_queued": details["refold_queued"]}


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

    @router.get("/policy")
    async def national_policy(request: Request, principal: CalendarReader) -> dict[str, Any]:
        """The national default deadline policy in force, and its versions (newest first)."""
        return await _policy_view(app_state(request), "")

    @router.put("/policy", status_code=200, responses={422: {}})
    async def put_national_policy(
        request: Request, body: DeadlinePolicyIn, principal: CalendarWriter
    ) -> dict[str, Any]:
        """A new version of the national default; open dossiers of provinces without a policy of
        their own are queued to be refolded with it."""
        return await _set_policy(app_state(request), request, principal, "", body)

    @router.get("/policy/{province_code}", responses={404: {}})
    async def province_policy(request: Request, province_code: str, principal: CalendarOneReader) -> dict[str, Any]:
        """The policy in force in one province (its own or the national one) and its own versions."""
        state = app_state(request)
        if not sees_province(state.catalogue, principal.scope, province_code):
            raise HTTPException(404, f"không tìm thấy tỉnh / unknown province {province_code!r}")
        return await _policy_view(state, province_code)

    @router.put("/policy/{province_code}", status_code=200, responses={422: {}})
    async def put_province_policy(
        request: Request, province_code: ProvinceCode, body: DeadlinePolicyIn, principal: CalendarWriter
    ) -> dict[str, Any]:
        """A new version of one province's policy; its open dossiers are queued to be refolded."""
        state = app_state(request)
        province = state.catalogue.get(province_code)
        if province is None or province.level != "province":
            raise HTTPException(422, f"unknown province {province_code!r}")
        return await _set_policy(state, request, principal, province_code, body)

    return router
