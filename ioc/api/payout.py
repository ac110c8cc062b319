"""The payout stream's routes: the push API, the programme list and its administration, and the
cycles of a month for the caller's scope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from ingest.payout_programmes import list_programmes, upsert_programme
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.api.params import Text
from ioc.api.stream_ingest import INGEST_BODY, INGEST_RESPONSES, ingest_stream_batch
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.payout import list_cycles

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROGRAMME_CODE = r"^[a-z][a-z0-9_]{1,63}$"
CYCLE = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"

PayoutSource = Annotated[Principal, guard(Policy(Action.INGEST_PAYOUT, "items"))]
ProgrammeReader = Annotated[Principal, guard(Policy(Action.INDICATORS_READ, "global"))]
ProgrammeAdmin = Annotated[Principal, guard(Policy(Action.PROGRAMMES_MANAGE, "global"))]
CycleReader = Annotated[Principal, guard(Policy(Action.INDICATORS_READ, "list"))]
ProgrammeCode = Annotated[str, Path(pattern=PROGRAMME_CODE)]


class ProgrammeIn(BaseModel):
    name_vi: Text
    name_en: Text
    cashless_target: float = Field(default=0.70, ge=0, le=1)
    active: bool = True


def payout_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["payout"])

    @router.post("/ingest/payout-records", responses=INGEST_RESPONSES, openapi_extra=INGEST_BODY)
    async def ingest_payout_records(request: Request, principal: PayoutSource) -> Response:
        """Cycle reports from a source (see ingest/payout.py for an item); a result per item."""
        return await ingest_stream_batch(request, principal, "payout")

    @router.get("/payout/programmes")
    async def programmes(request: Request, principal: ProgrammeReader) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            return {"programmes": [p.as_dict() for p in await list_programmes(conn)]}

    @router.put("/admin/payout/programmes/{code}", responses={201: {"description": "tạo mới / created"}})
    async def put_programme(
        request: Request, code: ProgrammeCode, body: ProgrammeIn, principal: ProgrammeAdmin, response: Response
    ) -> dict[str, Any]:
        """Create or change a programme; `active: false` retires it (new reports for it are refused)."""
        target = Decimal(str(round(body.cashless_target, 4)))
        async with app_state(request).pool.connection() as conn, conn.transaction():
            programme, created = await upsert_programme(
                conn, code, name_vi=body.name_vi, name_en=body.name_en, cashless_target=target, active=body.active
            )
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="payout.programme_set", target=f"payout_programme:{code}",
                               origin=client_origin(request),
                               details={"created": created, **body.model_dump()})  # fmt: skip
        response.status_code = 201 if created else 200
        return {"programme": programme.as_dict(), "created": created}

    @router.get("/payout/cycles")
    async def cycles(
        request: Request,
        principal: CycleReader,
        cycle: Annotated[str | None, Query(pattern=CYCLE)] = None,
        province_code: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
        programme: Annotated[str | None, Query(pattern=PROGRAMME_CODE)] = None,
        limit: Annotated[int, Query(ge=1, le=20_000)] = 10_000,
    ) -> dict[str, Any]:
        """Each cycle's latest reported state in the month `cycle` (default: this month), in scope."""
        month = _month(cycle) if cycle else datetime.now(UTC).astimezone(LOCAL_TZ).date().replace(day=1)
        async with app_state(request).pool.connection() as conn:
            rows = await list_cycles(
                conn, month, principal.scope, province_code=province_code, programme_code=programme, limit=limit
            )
        return {"cycle": month.strftime("%Y-%m"), "cycles": [r.as_dict() for r in rows]}

    return router


def _month(cycle: str) -> date:
    year, number = cycle.split("-")
    return date(int(year), int(number), 1)
