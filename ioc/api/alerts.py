"""Alerts for the caller's scope: the list, one alert with its history, acknowledgement."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from ioc.api.deps import app_state
from ioc.api.guard import client_origin, ensure_readable, ensure_writable, guard
from ioc.api.params import RowId
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import scope_filter_sql
from ioc.live.alerts import ALERT_COLUMNS, alert_row_to_dict

# Alerts carry no sector yet: under the strict scope rule a sector-restricted scope sees none.
ALERT_SCOPE = scope_filter_sql(sector=None)
SELECT_ALERTS = f"""
SELECT {ALERT_COLUMNS} FROM alert
WHERE (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(province)s::text IS NULL OR province_code = %(province)s)
  AND {ALERT_SCOPE}
ORDER BY updated_at DESC LIMIT %(limit)s
"""
SELECT_ALERT = f"SELECT {ALERT_COLUMNS} FROM alert WHERE id = %s"
SELECT_TRANSITIONS = """
SELECT from_state, to_state, at, value, summary_vi FROM alert_transition WHERE alert_id = %s ORDER BY id
"""
SELECT_ACKS = "SELECT at, actor, comment FROM alert_ack WHERE alert_id = %s ORDER BY id"
INSERT_ACK = "INSERT INTO alert_ack (alert_id, actor, comment) VALUES (%s, %s, %s) RETURNING at"

AlertReader = Annotated[Principal, guard(Policy(Action.ALERTS_READ, "list"))]
AlertViewer = Annotated[Principal, guard(Policy(Action.ALERTS_READ, "read"))]
AlertAcker = Annotated[Principal, guard(Policy(Action.ALERTS_ACK, "write"))]


class AckIn(BaseModel):
    comment: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] = Field(
        default="", description="ghi chú / what is being done about it"
    )


def iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}


def alerts_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

    @router.get("")
    async def alerts(
        request: Request,
        principal: AlertReader,
        state_filter: Annotated[Literal["pending", "firing", "resolved"] | None, Query(alias="state")] = None,
        province_code: Annotated[str | None, Query(max_length=10, pattern=r"^[0-9]+$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        params = {"state": state_filter, "province": province_code, "limit": limit, **principal.scope.sql_params()}
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_ALERTS, params)
            rows = [alert_row_to_dict(r) for r in await cur.fetchall()]
        return {"alerts": rows}

    @router.get("/{alert_id}", responses={404: {}})
    async def alert_detail(request: Request, alert_id: RowId, principal: AlertViewer) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            alert = await _alert(conn, alert_id)
            ensure_readable(principal, alert is not None and _in_scope(principal, alert), f"alert {alert_id}")
            assert alert is not None
            cur = await conn.execute(SELECT_TRANSITIONS, [alert_id])
            history = [iso(dict(zip(("from_state", "to_state", "at", "value", "summary_vi"), r, strict=True)))
                       for r in await cur.fetchall()]  # fmt: skip
            cur = await conn.execute(SELECT_ACKS, [alert_id])
            acks = [iso(dict(zip(("at", "actor", "comment"), r, strict=True))) for r in await cur.fetchall()]
        return {**alert, "history": history, "acknowledgements": acks}

    @router.post("/{alert_id}/ack", responses={404: {}, 422: {}})
    async def acknowledge(request: Request, alert_id: RowId, body: AckIn, principal: AlertAcker) -> dict[str, Any]:
        """Acknowledge an alert with a comment: recorded on the alert and in the audit trail."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            alert = await _alert(conn, alert_id)
            if alert is None:
                raise HTTPException(404, f"không tìm thấy / no alert {alert_id}")
            ensure_writable(principal, _in_scope(principal, alert), f"alert {alert_id}")
            cur = await conn.execute(INSERT_ACK, [alert_id, principal.subject, body.comment])
            row: Any = await cur.fetchone()
            assert row is not None
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="alert.acknowledge", target=f"alert:{alert_id}", origin=client_origin(request),
                               details={"comment": body.comment[:500]})  # fmt: skip
        return {"alert_id": alert_id, "acknowledged_at": row[0].isoformat(), "by": principal.subject}

    return router


async def _alert(conn: Any, alert_id: int) -> dict[str, Any] | None:
    cur = await conn.execute(SELECT_ALERT, [alert_id])
    row = await cur.fetchone()
    return alert_row_to_dict(row) if row else None


def _in_scope(principal: Principal, alert: dict[str, Any]) -> bool:
    return principal.scope.allows(alert["province_code"], alert["commune_code"], alert["agency_code"], None)
