"""Dossiers for the caller's scope: one dossier with its history, open/overdue lists, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from ioc.api.alerts import iso
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, ensure_readable, guard
from ioc.api.params import CodePath
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import scope_filter_sql

DOSSIER_SCOPE = scope_filter_sql(province="d.province_code", commune="d.commune_code", agency="d.agency_code",
                                 sector="d.sector")  # fmt: skip
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
SELECT occurred_at, event_type, source_id, event_id, ingested_at, province_code, commune_code
FROM dossier_event WHERE dossier_code = %s ORDER BY occurred_at, ingested_at
"""
# Open dossiers by deadline, from the partial index on open dossiers; overdue ones first.
SELECT_OPEN = f"""
SELECT {", ".join("d." + f for f in DOSSIER_FIELDS[:3])}, p.name, d.sector, d.statutory_days, d.agency_code, a.name,
       d.province_code, d.commune_code, d.channel, d.received_at, d.due_at, d.paused_at, d.paused_seconds,
       d.resolved_at, d.returned_at, d.closed_at, d.outcome, d.late_since, d.apology_at
FROM dossier d
LEFT JOIN procedure p ON p.code = d.procedure_code
LEFT JOIN agency a ON a.code = d.agency_code
WHERE d.closed_at IS NULL
  AND (NOT %(overdue)s OR d.due_at < %(now)s)
  AND (%(province)s::text IS NULL OR d.province_code = %(province)s)
  AND (%(commune)s::text IS NULL OR d.commune_code = %(commune)s)
  AND {DOSSIER_SCOPE}
ORDER BY d.due_at NULLS LAST, d.code
LIMIT %(limit)s
"""
CSV_HEADERS = (
    ("code", "Mã hồ sơ"), ("procedure_name", "Thủ tục"), ("sector", "Lĩnh vực"), ("agency_name", "Cơ quan"),
    ("province_code", "Mã tỉnh"), ("commune_code", "Mã xã"), ("received_at", "Ngày tiếp nhận"),
    ("due_at", "Hạn xử lý"), ("status", "Trạng thái"),
)  # fmt: skip

DossierViewer = Annotated[Principal, guard(Policy(Action.DOSSIERS_READ, "read"))]
DossierLister = Annotated[Principal, guard(Policy(Action.DOSSIERS_READ, "list"))]
DossierExporter = Annotated[Principal, guard(Policy(Action.DOSSIERS_EXPORT, "list"))]
ProvinceParam = Annotated[str | None, Query(max_length=2, pattern=r"^[0-9]{2}$")]
CommuneParam = Annotated[str | None, Query(max_length=5, pattern=r"^[0-9]{5}$")]


def dossiers_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["dossiers"])

    @router.get("/dossiers", summary="Open (or only overdue) dossiers in scope, earliest deadline first")
    async def open_dossiers(
        request: Request,
        principal: DossierLister,
        which: Annotated[Literal["open", "overdue"], Query(alias="status")] = "overdue",
        province_code: ProvinceParam = None,
        commune_code: CommuneParam = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> dict[str, Any]:
        rows = await _open_dossiers(request, principal, which, province_code, commune_code, limit)
        return {"status": which, "dossiers": rows}

    @router.get("/exports/overdue-dossiers.csv", summary="Overdue dossiers in scope as CSV (audited)",
                response_class=Response, responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
    async def export_overdue(
        request: Request,
        principal: DossierExporter,
        province_code: ProvinceParam = None,
        commune_code: CommuneParam = None,
    ) -> Response:
        rows = await _open_dossiers(request, principal, "overdue", province_code, commune_code, 100_000)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([title for _, title in CSV_HEADERS])
        writer.writerows([[row.get(key) or "" for key, _ in CSV_HEADERS] for row in rows])
        async with app_state(request).pool.connection() as conn:
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="export.overdue_dossiers", target="dossiers:overdue",
                               origin=client_origin(request),
                               details={"rows": len(rows), "province_code": province_code,
                                        "commune_code": commune_code})  # fmt: skip
        # A byte-order mark so that Excel reads the Vietnamese headers as UTF-8.
        return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="ho-so-qua-han.csv"'})  # fmt: skip

    @router.get("/dossiers/{code}", responses={404: {}})
    async def dossier(request: Request, code: CodePath, principal: DossierViewer) -> dict[str, Any]:
        """One dossier's current state and its events. Outside the scope it does not exist."""
        scope = principal.scope
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_DOSSIER, [code])
            row = await cur.fetchone()
            cur = await conn.execute(SELECT_DOSSIER_EVENTS, [code])
            raw_events: list[Any] = await cur.fetchall()
        current = iso(dict(zip(DOSSIER_FIELDS, row, strict=True))) if row else None
        if current is not None:
            visible = scope.allows(current["province_code"], current["commune_code"], current["agency_code"],
                                   current["sector"])  # fmt: skip
            # Only the events that count for the dossier: ones stored for its code before it was
            # registered, placed elsewhere, never shaped it (ingest/ownership.py) and are not shown.
            place = (current["province_code"], current["commune_code"])
            raw_events = [e for e in raw_events if e[5] == place[0] and e[6] in (None, place[1])]
        else:
            # Events still waiting for their receipt: visible when every one of them is in scope.
            visible = bool(raw_events) and all(scope.allows(e[5], e[6], None, None) for e in raw_events)
        ensure_readable(principal, visible, f"dossier {code!r}")
        names = ("occurred_at", "event_type", "source_id", "event_id", "ingested_at")
        events = [iso(dict(zip(names, e[:5], strict=True))) for e in raw_events]
        return {"code": code, "state": current, "events": events}

    return router


async def _open_dossiers(
    request: Request, principal: Principal, which: str, province: str | None, commune: str | None, limit: int
) -> list[dict[str, Any]]:
    params = {"overdue": which == "overdue", "now": datetime.now(UTC), "province": province, "commune": commune,
              "limit": limit, **principal.scope.sql_params()}  # fmt: skip
    async with app_state(request).pool.connection() as conn:
        cur = await conn.execute(SELECT_OPEN, params)
        return [iso(dict(zip(DOSSIER_FIELDS, r, strict=True))) for r in await cur.fetchall()]
