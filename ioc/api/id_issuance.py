"""The ID-issuance stream's routes: the push API, the daily figures, and targets with deadlines.

POST /api/v1/ingest/id-issuance behaves like the dossier route (a source key scoped to streams and
localities, a JSON array or NDJSON, per-item results, accepted items committed before the answer).
Targets are set by leaders for their own localities only: a target outside the caller's scope is
refused (403) and every change is audited. These rows have no agency or sector, so a scope that
names agencies or sectors sees none of them (ioc/auth/scope.py's strict rule).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from ingest.id_issuance import ID_ISSUANCE, VN
from ingest.id_issuance_items import COUNT_FIELDS, MAX_COUNT
from ioc.api.alerts import iso
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, ensure_writable, guard
from ioc.api.stream_ingest import INGEST_BODY, INGEST_RESPONSES, ingest_stream_batch
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import scope_filter_sql
from ioc.localities.catalogue import LocalityCatalogue

IdSource = Annotated[Principal, guard(Policy(Action.INGEST_ID_ISSUANCE, "items"))]
IndicatorReader = Annotated[Principal, guard(Policy(Action.INDICATORS_READ, "list"))]
TargetWriter = Annotated[Principal, guard(Policy(Action.TARGETS_WRITE, "write"))]

Metric = Literal["cccd_coverage", "vneid_l2_activated"]
ProvinceCode = Annotated[str, StringConstraints(min_length=2, max_length=2, pattern=r"^[0-9]{2}$")]
CommuneOrProvince = Annotated[str, StringConstraints(max_length=5, pattern=r"^([0-9]{5})?$")]
ProvinceParam = Annotated[str | None, Query(max_length=2, pattern=r"^[0-9]{2}$")]
CommuneParam = Annotated[str | None, Query(max_length=5, pattern=r"^([0-9]{5})?$",
                                           description="'' = province-wide rows only")]  # fmt: skip
MAX_DAYS = 400  # a year and a bit per request of daily rows

NO_AGENCY_SCOPE = scope_filter_sql(agency=None, sector=None)
TARGET_FIELDS = ("province_code", "commune_code", "metric", "target_value", "start_date", "deadline", "note",
                 "set_by", "set_at")  # fmt: skip
SELECT_TARGETS = f"""
SELECT {", ".join(TARGET_FIELDS)} FROM id_target
WHERE {NO_AGENCY_SCOPE}
  AND (%(province)s::text IS NULL OR province_code = %(province)s)
  AND (%(metric)s::text IS NULL OR metric = %(metric)s)
ORDER BY province_code, commune_code, metric
"""
UPSERT_TARGET = f"""
INSERT INTO id_target ({", ".join(TARGET_FIELDS)})
VALUES (%(province_code)s, %(commune_code)s, %(metric)s, %(target_value)s, %(start_date)s, %(deadline)s, %(note)s,
        %(set_by)s, now())
ON CONFLICT (province_code, commune_code, metric) DO UPDATE SET
    target_value = EXCLUDED.target_value, start_date = EXCLUDED.start_date, deadline = EXCLUDED.deadline,
    note = EXCLUDED.note, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at
RETURNING {", ".join(TARGET_FIELDS)}
"""
DELETE_TARGET = "DELETE FROM id_target WHERE province_code = %s AND commune_code = %s AND metric = %s"
DAILY_FIELDS = ("day", "province_code", "commune_code", *COUNT_FIELDS, "reported_at")
SELECT_DAILY = f"""
SELECT {", ".join(DAILY_FIELDS)} FROM id_issuance_daily
WHERE {NO_AGENCY_SCOPE}
  AND day BETWEEN %(since)s AND %(until)s
  AND (%(province)s::text IS NULL OR province_code = %(province)s)
  AND (%(commune)s::text IS NULL OR commune_code = %(commune)s)
ORDER BY day, province_code, commune_code
LIMIT %(limit)s
"""


class TargetIn(BaseModel):
    province_code: ProvinceCode
    commune_code: CommuneOrProvince = Field(default="", description="'' = the whole province")
    metric: Metric
    target_value: float = Field(
        ge=0, le=MAX_COUNT, allow_inf_nan=False,
        description="cccd_coverage: a share 0–1; vneid_l2_activated: a number of accounts",
    )  # fmt: skip
    start_date: date | None = None
    deadline: date
    note: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] = ""


def target_problem(target: TargetIn, catalogue: LocalityCatalogue) -> str | None:
    """Why a target cannot be stored, in Vietnamese and English; None when it can. Pure."""
    province = catalogue.get(target.province_code)
    if province is None or province.level != "province":
        return f"không có tỉnh {target.province_code} / unknown province {target.province_code!r}"
    if target.commune_code:
        commune = catalogue.get(target.commune_code)
        if commune is None or commune.province_code != target.province_code:
            return (f"xã {target.commune_code} không thuộc tỉnh {target.province_code} / commune "
                    f"{target.commune_code!r} is not in province {target.province_code!r}")  # fmt: skip
    if target.metric == "cccd_coverage" and target.target_value > 1:
        return "cccd_coverage là tỉ lệ 0–1 (1 = 100%) / cccd_coverage is a share 0–1 (1 = 100 %)"
    if target.metric == "vneid_l2_activated" and not target.target_value.is_integer():
        return "vneid_l2_activated là số tài khoản (số nguyên) / vneid_l2_activated is a whole number of accounts"
    if target.start_date is not None and target.start_date > target.deadline:
        return "start_date sau deadline / start_date is after the deadline"
    return None


def _target_row(row: Any) -> dict[str, Any]:
    out = iso(dict(zip(TARGET_FIELDS, row, strict=True)))
    out["target_value"] = float(out["target_value"])
    return out


def id_issuance_router() -> APIRouter:
    router = APIRouter(tags=["id_issuance"])

    @router.post("/api/v1/ingest/id-issuance", responses=INGEST_RESPONSES, openapi_extra=INGEST_BODY,
                 summary="Push CCCD / VNeID level-2 daily reports (a result per item)")  # fmt: skip
    async def ingest_id_issuance(request: Request, principal: IdSource) -> Response:
        """Daily reports per locality (see ingest/id_issuance_items.py for an item)."""
        return await ingest_stream_batch(request, principal, ID_ISSUANCE.stream)

    @router.get("/api/v1/id/daily", summary="Daily CCCD / VNeID figures in scope")
    async def daily(
        request: Request,
        principal: IndicatorReader,
        province_code: ProvinceParam = None,
        commune_code: CommuneParam = None,
        since: Annotated[date | None, Query(alias="from")] = None,
        until: Annotated[date | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
    ) -> dict[str, Any]:
        """The report in force for each locality and day (commune_code '' = a province-wide report)."""
        until = until or datetime.now(VN).date()
        # The last 30 days by default (fewer near year 1, where date arithmetic would overflow).
        since = since or until - timedelta(days=min(30, (until - date.min).days))
        if since > until or (until - since).days > MAX_DAYS:
            raise HTTPException(422, f"from..to phải trong {MAX_DAYS} ngày / from must be before to, "
                                f"at most {MAX_DAYS} days apart")  # fmt: skip
        params = {"since": since, "until": until, "province": province_code, "commune": commune_code,
                  "limit": limit + 1, **principal.scope.sql_params()}  # fmt: skip
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_DAILY, params)
            rows = [iso(dict(zip(DAILY_FIELDS, r, strict=True))) for r in await cur.fetchall()]
        return {"from": since.isoformat(), "to": until.isoformat(), "rows": rows[:limit],
                "truncated": len(rows) > limit}  # fmt: skip

    @router.get("/api/v1/id/targets", summary="CCCD coverage and VNeID level-2 targets in scope")
    async def targets(
        request: Request,
        principal: IndicatorReader,
        province_code: ProvinceParam = None,
        metric: Annotated[Metric | None, Query()] = None,
    ) -> dict[str, Any]:
        params = {"province": province_code, "metric": metric, **principal.scope.sql_params()}
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_TARGETS, params)
            return {"targets": [_target_row(r) for r in await cur.fetchall()]}

    @router.put("/api/v1/id/targets", summary="Set a target and its deadline (audited)", responses={422: {}})
    async def put_target(request: Request, body: TargetIn, principal: TargetWriter) -> dict[str, Any]:
        state = app_state(request)
        if (problem := target_problem(body, state.catalogue)) is not None:
            raise HTTPException(422, problem)
        where = f"{body.province_code}/{body.commune_code or '-'}/{body.metric}"
        ensure_writable(principal, principal.scope.allows(body.province_code, body.commune_code or None), where)
        values = {**body.model_dump(), "set_by": principal.subject}
        async with state.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(UPSERT_TARGET, values)
            row = await cur.fetchone()
            assert row is not None, "an upsert returns its row"
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="id_target.set", target=where, origin=client_origin(request),
                               details=iso(body.model_dump()))  # fmt: skip
        return {"target": _target_row(row)}

    @router.delete("/api/v1/id/targets/{province_code}/{metric}", summary="Remove a target (audited)")
    async def delete_target(
        request: Request,
        principal: TargetWriter,
        province_code: Annotated[str, Path(min_length=2, max_length=2, pattern=r"^[0-9]{2}$")],
        metric: Annotated[Metric, Path()],
        commune_code: Annotated[CommuneOrProvince, Query()] = "",
    ) -> dict[str, Any]:
        where = f"{province_code}/{commune_code or '-'}/{metric}"
        ensure_writable(principal, principal.scope.allows(province_code, commune_code or None), where)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            cur = await conn.execute(DELETE_TARGET, [province_code, commune_code, metric])
            if cur.rowcount == 0:
                raise HTTPException(404, f"không có chỉ tiêu / no target {where}")
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="id_target.delete", target=where, origin=client_origin(request))  # fmt: skip
        return {"deleted": {"province_code": province_code, "commune_code": commune_code, "metric": metric}}

    return router
