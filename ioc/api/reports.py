"""Monthly reports: the late list and the briefing on demand (XLSX or PDF), and the stored ones.

On demand, a report counts the caller's scope only; a province the scope does not touch does not
exist here (404). Stored reports (made each month by the schedule, ioc/reports/schedule.py) cover
a whole province, so they are listed and served to callers who see that whole province. Every
download is an export and goes to the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ioc.api.deps import app_state
from ioc.api.guard import client_origin, ensure_readable, guard
from ioc.api.params import RowId
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import Scope
from ioc.localities.catalogue import LocalityCatalogue
from ioc.reports import store
from ioc.reports.fonts import FontMissing, ReportSettings
from ioc.reports.indicator_source import IndicatorsModule, IndicatorSource
from ioc.reports.months import MonthError, is_future, parse_month
from ioc.reports.produce import MEDIA_TYPES, ReportFormat, ReportKind, UnknownProvince, build_document, render_in_thread

ReportReader = Annotated[Principal, guard(Policy(Action.REPORTS_READ, "read"))]
ReportLister = Annotated[Principal, guard(Policy(Action.REPORTS_READ, "list"))]
ProvinceQuery = Annotated[str, Query(min_length=2, max_length=2, pattern=r"^[0-9]{2}$", description="mã tỉnh")]
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
MonthQuery = Annotated[str, Query(min_length=7, max_length=7, pattern=MONTH_PATTERN, description="YYYY-MM")]
FormatQuery = Annotated[Literal["xlsx", "pdf"], Query(alias="format")]
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES.values()},
          "description": "Tệp báo cáo / the report file"},
    503: {"description": "Máy chủ thiếu phông chữ cho PDF / the server lacks the PDF font",
          "content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}},
                                                      "required": ["detail"]}}}},
}  # fmt: skip


def touches_province(scope: Scope, catalogue: LocalityCatalogue, province_code: str) -> bool:
    """Whether `province_code` is a province the scope grants, whole or through one of its communes."""
    province = catalogue.get(province_code)
    if province is None or province.level != "province":
        return False
    if scope.national or province_code in scope.provinces:
        return True
    return any((c := catalogue.get(code)) is not None and c.province_code == province_code for code in scope.communes)


def reports_router(indicators: IndicatorSource | None = None, settings: ReportSettings | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
    source: IndicatorSource = indicators or IndicatorsModule()
    font_dir = (settings or ReportSettings()).font_dir

    async def on_demand(
        request: Request, principal: Principal, kind: ReportKind, province_code: str, month_text: str,
        fmt: ReportFormat,
    ) -> Response:  # fmt: skip
        state = app_state(request)
        ensure_readable(principal, touches_province(principal.scope, state.catalogue, province_code),
                        f"province {province_code!r}")  # fmt: skip
        try:
            month = parse_month(month_text)
        except MonthError as exc:
            raise HTTPException(422, str(exc)) from exc
        now = datetime.now(UTC)
        whole = principal.scope.sees_whole_province(province_code)
        if is_future(month, now):
            raise HTTPException(422, "tháng chưa đến / that month has not begun")
        try:
            async with state.pool.connection() as conn:
                doc = await build_document(conn, kind, principal.scope, province_code=province_code, month=month,
                                           now=now, indicators=source)  # fmt: skip
                rendered = await render_in_thread(doc, fmt, font_dir)
                await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                                   action="export.report", target=f"report:{kind}:{province_code}:{month_text}",
                                   origin=client_origin(request),
                                   details={"kind": kind, "province_code": province_code, "month": month_text,
                                            "format": fmt, "stored": False, "whole_province": whole})  # fmt: skip
        except UnknownProvince as exc:
            raise HTTPException(404, f"không tìm thấy tỉnh / unknown province {province_code!r}") from exc
        except FontMissing as exc:
            raise HTTPException(503, str(exc)) from exc
        return _file(rendered.content, rendered.media_type, rendered.filename)

    @router.get("/late-list", response_class=Response, responses=_FILE_RESPONSES,
                summary="Danh sách cơ quan, cá nhân trễ hạn / monthly list of late agencies and officials")  # fmt: skip
    async def late_list_report(
        request: Request, principal: ReportReader, province_code: ProvinceQuery, month: MonthQuery,
        fmt: FormatQuery = "xlsx",
    ) -> Response:  # fmt: skip
        return await on_demand(request, principal, "late_list", province_code, month, fmt)

    @router.get("/briefing", response_class=Response, responses=_FILE_RESPONSES,
                summary="Bản tin chỉ số tháng / monthly briefing: each indicator and its change")  # fmt: skip
    async def briefing_report(
        request: Request, principal: ReportReader, province_code: ProvinceQuery, month: MonthQuery,
        fmt: FormatQuery = "xlsx",
    ) -> Response:  # fmt: skip
        return await on_demand(request, principal, "briefing", province_code, month, fmt)

    @router.get("", summary="Báo cáo đã lập theo lịch / reports made by the monthly schedule")
    async def stored_reports(
        request: Request,
        principal: ReportLister,
        province_code: Annotated[str | None, Query(max_length=2, pattern=r"^[0-9]{2}$")] = None,
        kind: Literal["late_list", "briefing"] | None = None,
        month: Annotated[str | None, Query(min_length=7, max_length=7, pattern=MONTH_PATTERN)] = None,
        fmt: Annotated[Literal["xlsx", "pdf"] | None, Query(alias="format")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> dict[str, Any]:
        try:
            month_day = parse_month(month) if month else None
        except MonthError as exc:
            raise HTTPException(422, str(exc)) from exc
        async with app_state(request).pool.connection() as conn:
            rows = await store.list_reports(conn, principal.scope, province_code=province_code, kind=kind,
                                            month=month_day, fmt=fmt, limit=limit)  # fmt: skip
        return {"reports": [r.as_dict() for r in rows]}

    @router.get("/{report_id}", response_class=Response, responses={200: _FILE_RESPONSES[200]},
                summary="Tải một báo cáo đã lập / download a stored report")  # fmt: skip
    async def stored_report(request: Request, report_id: RowId, principal: ReportReader) -> Response:
        async with app_state(request).pool.connection() as conn:
            found = await store.read_report(conn, report_id)
            visible = found is not None and principal.scope.sees_whole_province(found[0].province_code)
            ensure_readable(principal, visible, f"report {report_id}")
            assert found is not None
            meta, content = found
            month_text = f"{meta.month:%Y-%m}"
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="export.report", target=f"report:{meta.kind}:{meta.province_code}:{month_text}",
                               origin=client_origin(request),
                               details={"kind": meta.kind, "province_code": meta.province_code, "month": month_text,
                                        "format": meta.format, "stored": True, "report_id": meta.id})  # fmt: skip
        stem = "danh-sach-tre-han" if meta.kind == "late_list" else "ban-tin-thang"
        return _file(content, MEDIA_TYPES[meta.format], f"{stem}-{meta.province_code}-{month_text}.{meta.format}")

    return router


def _file(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip
