"""Status by locality, for the caller's scope: every count covers in-scope dossiers only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request

from alerts.rules import due_soon_horizon
from ioc.api.deps import AppState, app_state
from ioc.api.guard import guard, sees_province
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.status import commune_status, province_status

WindowParam = Literal["today", "7d", "30d"]
StatusReader = Annotated[Principal, guard(Policy(Action.STATUS_READ, "list"))]


def status_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["status"])

    @router.get("/status/provinces")
    async def provinces(request: Request, principal: StatusReader, window: WindowParam = "30d") -> dict[str, Any]:
        """One row per province the caller's scope touches, counted over in-scope dossiers only."""
        state = app_state(request)
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            rows = await province_status(conn, now, _horizon(state, now), window, scope=principal.scope)
        return {"window": window, "generated_at": now.isoformat(), "provinces": [r.as_dict() for r in rows]}

    @router.get("/status/provinces/{province_code}/communes", responses={404: {}})
    async def communes(
        request: Request, province_code: str, principal: StatusReader, window: WindowParam = "30d"
    ) -> dict[str, Any]:
        """The in-scope communes of one province; a province outside the scope does not exist here."""
        state = app_state(request)
        scope = principal.scope
        if not sees_province(state.catalogue, scope, province_code):
            raise HTTPException(404, f"không tìm thấy tỉnh / unknown province {province_code!r}")
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            rows = await commune_status(conn, now, _horizon(state, now), province_code, window, scope=scope)
        return {"window": window, "province_code": province_code, "communes": [r.as_dict() for r in rows]}

    return router


def _horizon(state: AppState, now: datetime) -> datetime:
    return due_soon_horizon(now, state.calendars.calendar_for(""))
