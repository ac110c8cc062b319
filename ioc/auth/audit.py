"""The audit trail: who did what, when, from where. Append-only (the table refuses changes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from ioc.db.pool import Conn

Outcome = Literal["ok", "denied", "failed"]

INSERT_AUDIT = """
INSERT INTO audit_log (actor, actor_role, action, target, outcome, client_ip, user_agent, details)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)
"""
SELECT_AUDIT = """
SELECT id, at, actor, actor_role, action, target, outcome, client_ip, user_agent, details
FROM audit_log
WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(action)s::text IS NULL OR action = %(action)s OR starts_with(action, %(action)s::text || '.'))
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC
LIMIT %(limit)s
"""
AUDIT_FIELDS = ("id", "at", "actor", "actor_role", "action", "target", "outcome", "client_ip", "user_agent",
                "details")  # fmt: skip


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as the audit trail records it."""

    client_ip: str | None = None
    user_agent: str | None = None


async def record(
    conn: Conn,
    *,
    actor: str,
    actor_role: str | None,
    action: str,
    target: str = "",
    outcome: Outcome = "ok",
    origin: Origin | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one row. Call it inside the transaction of the change it records, so both or neither land."""
    origin = origin or Origin()
    await conn.execute(
        INSERT_AUDIT,
        [actor, actor_role, action, target, outcome, origin.client_ip, (origin.user_agent or "")[:300] or None,
         orjson.dumps(details or {}).decode()],
    )  # fmt: skip


async def query(
    conn: Conn,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    params = {"actor": actor, "action": action, "since": since, "until": until, "before_id": before_id,
              "limit": limit}  # fmt: skip
    cur = await conn.execute(SELECT_AUDIT, params)
    rows = []
    for row in await cur.fetchall():
        item: dict[str, Any] = dict(zip(AUDIT_FIELDS, row, strict=True))
        item["at"] = item["at"].isoformat()
        rows.append(item)
    return rows
