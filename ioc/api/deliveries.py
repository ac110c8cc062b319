"""The delivery outbox for administrators: what was sent, what is waiting, what died, and why.

Dead letters (receiver refused the message, or it kept failing) stay in the outbox with their
last error; an administrator fixes the cause (the address, the token) and sends one back to the
queue with a full set of attempts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from alerts.delivery.outbox import NOTIFY_CHANNEL
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.api.params import RowId
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

_SUMMARY_COLUMNS = (
    "id", "idempotency_key", "channel", "address", "status", "attempts", "created_at", "available_at",
    "delivered_at", "dead_at", "last_error", "user_id",
)  # fmt: skip
_SELECT_LIST = f"""
SELECT {", ".join(_SUMMARY_COLUMNS)}, payload->>'kind', payload->>'group_key', jsonb_array_length(payload->'alerts')
FROM delivery
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(channel)s::text IS NULL OR channel = %(channel)s)
  AND (%(before)s::bigint IS NULL OR id < %(before)s)
ORDER BY id DESC LIMIT %(limit)s
"""
_SELECT_ONE = f"SELECT {', '.join(_SUMMARY_COLUMNS)}, options, payload FROM delivery WHERE id = %s"
# Back to the queue with a fresh set of attempts; the last error stays until the next outcome.
_RETRY = """
UPDATE delivery SET status = 'pending', attempts = 0, available_at = now(), dead_at = NULL
WHERE id = %s AND status = 'dead'
RETURNING channel
"""

DeliveriesAdmin = Annotated[Principal, guard(Policy(Action.DELIVERIES_READ, "global"))]
StatusFilter = Literal["pending", "delivered", "dead"]
ChannelFilter = Literal["email", "webhook", "telegram", "zalo", "webpush"]


def deliveries_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/deliveries", tags=["alerts"])

    @router.get("")
    async def deliveries(
        request: Request,
        principal: DeliveriesAdmin,
        status: Annotated[StatusFilter | None, Query(description="pending | delivered | dead")] = None,
        channel: Annotated[ChannelFilter | None, Query()] = None,
        before: Annotated[int | None, Query(ge=1, le=9_223_372_036_854_775_807, description="id < before")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Tin nhắn trong hàng đợi gửi, mới nhất trước / outbox messages, newest first."""
        params = {"status": status, "channel": channel, "before": before, "limit": limit}
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(_SELECT_LIST, params)
            rows = await cur.fetchall()
        out = []
        for r in rows:
            item = _summary(r[: len(_SUMMARY_COLUMNS)])
            item.update(kind=r[-3], group_key=r[-2], alert_count=r[-1])
            out.append(item)
        return {"deliveries": out}

    @router.get("/{delivery_id}", responses={404: {}})
    async def delivery(request: Request, delivery_id: RowId, principal: DeliveriesAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(_SELECT_ONE, [delivery_id])
            row = await cur.fetchone()
        if row is None:
            raise HTTPException(404, f"không tìm thấy tin nhắn / no delivery {delivery_id}")
        n = len(_SUMMARY_COLUMNS)
        return {**_summary(row[:n]), "options": row[n], "payload": row[n + 1]}

    @router.post("/{delivery_id}/retry", responses={404: {}, 409: {}})
    async def retry(request: Request, delivery_id: RowId, principal: DeliveriesAdmin) -> dict[str, Any]:
        """Gửi lại một thư chết / send a dead letter again, with a full set of attempts."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_RETRY, [delivery_id])
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute("SELECT status FROM delivery WHERE id = %s", [delivery_id])
                existing = await cur.fetchone()
                if existing is None:
                    raise HTTPException(404, f"không tìm thấy tin nhắn / no delivery {delivery_id}")
                raise HTTPException(
                    409, f"chỉ gửi lại được thư chết / only a dead letter can be retried (status: {existing[0]})"
                )
            await conn.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, row[0]])
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="delivery.retry", target=f"delivery:{delivery_id}",
                               origin=client_origin(request))  # fmt: skip
        return {"id": delivery_id, "status": "pending"}

    return router


def _summary(row: Any) -> dict[str, Any]:
    item = dict(zip(_SUMMARY_COLUMNS, row, strict=True))
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in item.items()}
