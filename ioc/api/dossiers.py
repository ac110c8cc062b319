"""Dossiers for the caller's scope: one dossier with its history, open/overdue lists, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from ingest.lifecycle import DossierEvent, EventType, explain_deadline
from ioc.api.alerts import iso
from ioc.api.deps import AppState, app_state
from ioc.api.guard import client_origin, ensure_readable, guard
from ioc.api.params import CodePath
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import scope_filter_sql

DOSSIER_SCOPE = scope_filter_sql(province="d.province_code", commune="d.commune_code", agency="d.agency_code",
                                 sector="d.sector")  # fmt: skip
# The deadline twice over (migrations/026): `due_at` is the one in force (the source's appointment
# when it sent one), `statutory_due_at` IOC's own calculation beside it; the catalogue's period
# is shown beside the dossier's own, which wins when the source sent one.
_DEADLINE_COLUMNS = (
    "d.statutory_due_at, d.appointment_at, d.appointment_set_at, d.held_due_at, "
    "d.appointment_at > d.statutory_due_at, p.statutory_days"
)
SELECT_DOSSIER = f"""
SELECT d.code, d.status, d.procedure_code, p.name, d.sector, d.statutory_days, d.agency_code, a.name,
       d.province_code, d.commune_code, d.channel, d.received_at, d.due_at, d.paused_at, d.paused_seconds,
       d.resolved_at, d.returned_at, d.closed_at, d.outcome, d.late_since, d.apology_at, {_DEADLINE_COLUMNS}
FROM dossier d
LEFT JOIN procedure p ON p.code = d.procedure_code
LEFT JOIN agency a ON a.code = d.agency_code
WHERE d.code = %s
"""
DOSSIER_FIELDS = (
    "code", "status", "procedure_code", "procedure_name", "sector", "statutory_days", "agency_code",
    "agency_name", "province_code", "commune_code", "channel", "received_at", "due_at", "paused_at",
    "paused_working_seconds", "resolved_at", "returned_at", "closed_at", "outcome", "late_since", "apology_at",
    "statutory_due_at", "appointment_at", "appointment_given_at", "held_due_at", "appointment_beyond_statutory",
    "catalogue_statutory_days",
)  # fmt: skip
# The first eighteen columns make a DossierEvent (ingest/lifecycle.py) for the deadline's explanation.
SELECT_DOSSIER_EVENTS = """
SELECT occurred_at, dossier_code, event_type, source_id, event_id, province_code, commune_code, agency_code,
       procedure_code, channel, handler_code, handler_name, online_level, digitised, payment_channel, rating,
       due_at, statutory_days, ingested_at
FROM dossier_event WHERE dossier_code = %s ORDER BY occurred_at, ingested_at
"""
# Open dossiers by deadline, from the partial index on open dossiers; overdue ones first.
SELECT_OPEN = f"""
SELECT {", ".join("d." + f for f in DOSSIER_FIELDS[:3])}, p.name, d.sector, d.statutory_days, d.agency_code, a.name,
       d.province_code, d.commune_code, d.channel, d.received_at, d.due_at, d.paused_at, d.paused_seconds,
       d.resolved_at, d.returned_at, d.closed_at, d.outcome, d.late_since, d.apology_at, {_DEADLINE_COLUMNS}
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
    ("due_at", "Hạn xử lý"), ("status", "Trạng thái"), ("appointment_at", "Ngày hẹn trả (nguồn)"),
    ("statutory_due_at", "Hạn theo luật định"),
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
        state = app_state(request)
        async with state.pool.connection() as conn:
            cur = await conn.execute(SELECT_DOSSIER, [code])
            row = await cur.fetchone()
            cur = await conn.execute(SELECT_DOSSIER_EVENTS, [code])
            raw_events: list[Any] = await cur.fetchall()
            if row is not None:
                await state.calendars.refresh_if_stale(conn)
                await state.ingest.procedures.prefetch(conn, {str(row[2])})
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
        events = [
            iso({"occurred_at": e[0], "event_type": e[2], "source_id": e[3], "event_id": e[4], "ingested_at": e[18],
                 **({"due_at": e[16]} if e[16] is not None else {})})
            for e in raw_events
        ]  # fmt: skip
        deadline = None
        if current is not None:
            deadline = _explain(state, raw_events, (current["province_code"], current["commune_code"]), current)
        return {"code": code, "state": current, "deadline": deadline, "events": events}

    return router


def _explain(
    state: AppState, raw_events: list[Any], place: tuple[str, str | None], current: dict[str, Any]
) -> dict[str, Any] | None:
    """How the dossier's deadline was reached (ingest/lifecycle.py explain_deadline), replayed from
    the events that count for it with today's calendar. Should an operator have changed the
    calendar since the state was folded, the replay says so rather than disagreeing silently."""
    events = [DossierEvent(e[0], e[1], EventType(e[2]), *e[3:18]) for e in raw_events]
    explained = explain_deadline(events, state.calendars.calendar_for, state.ingest.procedures.get, place)
    if explained is None:
        return None
    out = explained.as_dict()
    stored, replayed = current.get("due_at"), out["due_at"]
    out["recomputed_differs"] = (None if stored is None else datetime.fromisoformat(stored)) != replayed
    return {key: _jsonable(value) for key, value in out.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):  # in UTC, as the state's instants are
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


async def _open_dossiers(
    request: Request, principal: Principal, which: str, province: str | None, commune: str | None, limit: int
) -> list[dict[str, Any]]:
    params = {"overdue": which == "overdue", "now": datetime.now(UTC), "province": province, "commune": commune,
              "limit": limit, **principal.scope.sql_params()}  # fmt: skip
    async with app_state(request).pool.connection() as conn:
        cur = await conn.execute(SELECT_OPEN, params)
        return [iso(dict(zip(DOSSIER_FIELDS, r, strict=True))) for r in await cur.fetchall()]
