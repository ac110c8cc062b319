"""The ``delivery`` outbox: enqueue messages, claim a channel's due rows, record each outcome.

Claiming takes a channel's due rows with FOR UPDATE SKIP LOCKED (several workers never take the
same row), counts the attempt and pushes ``available_at`` forward by a lease: if the worker dies
mid-send the row simply becomes due again when the lease runs out. Every outcome is recorded only
while the row is still pending with the attempt number it was claimed with, so a worker whose
lease ran out cannot overwrite the outcome of the worker that took the row over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection

from alerts.delivery.model import Channel, DeliveryRequest, Notification

__all__ = [
    "NOTIFY_CHANNEL",
    "DeliveryRow",
    "claim",
    "enqueue",
    "mark_dead",
    "mark_delivered",
    "mark_retry",
]

NOTIFY_CHANNEL = "ioc_delivery"  # payload: the channel name that has new rows

AnyConn = AsyncConnection[Any]

_ENQUEUE = """
WITH inserted AS (
    INSERT INTO delivery (idempotency_key, channel, address, options, payload, user_id)
    SELECT k, c, a, o::jsonb, p::jsonb, u
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[]) AS r (k, c, a, o, p, u)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING channel
)
SELECT channel, count(*) FROM inserted GROUP BY channel
"""

_COLUMNS = "id, idempotency_key, channel, address, options, payload, user_id, attempts, created_at"

_CLAIM = f"""
WITH due AS (
    SELECT id FROM delivery
    WHERE status = 'pending' AND channel = %(channel)s AND available_at <= %(now)s
    ORDER BY available_at, id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
UPDATE delivery d SET attempts = d.attempts + 1, available_at = %(lease_until)s
FROM due WHERE d.id = due.id
RETURNING {", ".join("d." + c.strip() for c in _COLUMNS.split(","))}
"""

_DELIVERED = """
UPDATE delivery SET status = 'delivered', delivered_at = %s, last_error = NULL
WHERE id = %s AND attempts = %s AND status = 'pending'
"""
_RETRY = """
UPDATE delivery SET available_at = %s, last_error = %s
WHERE id = %s AND attempts = %s AND status = 'pending'
"""
_DEAD = """
UPDATE delivery SET status = 'dead', dead_at = %s, last_error = %s
WHERE id = %s AND attempts = %s AND status = 'pending'
"""


@dataclass(frozen=True)
class DeliveryRow:
    """One claimed message; ``attempts`` counts this try (1 on the first)."""

    id: int
    idempotency_key: str
    channel: Channel
    address: str
    notification: Notification
    attempts: int
    created_at: datetime
    options: Mapping[str, Any] = field(default_factory=dict)
    user_id: int | None = None

    @property
    def language(self) -> str:
        """A contact point may force a language ({"language": "en"}); otherwise the planner's."""
        chosen = self.options.get("language") or self.notification.language
        return "en" if chosen == "en" else "vi"

    @classmethod
    def from_db(cls, row: Sequence[Any]) -> DeliveryRow:
        id_, key, channel, address, options, payload, user_id, attempts, created_at = row
        return cls(
            id=int(id_), idempotency_key=str(key), channel=Channel(channel), address=str(address),
            notification=Notification.from_json(payload), attempts=int(attempts), created_at=created_at,
            options=dict(options or {}), user_id=None if user_id is None else int(user_id),
        )  # fmt: skip


async def enqueue(conn: AnyConn, requests: Sequence[DeliveryRequest]) -> int:
    """Insert the requests not already in the outbox (by idempotency key); returns rows inserted.

    One statement for the whole batch. The NOTIFY is transactional: workers wake when the
    caller's transaction commits, never for rows they could not see yet.
    """
    if not requests:
        return 0
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
    for r in requests:
        values = (
            r.idempotency_key, r.channel.value, r.address, orjson.dumps(dict(r.options)).decode(),
            orjson.dumps(r.notification.to_json()).decode(), r.user_id,
        )  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    cur = await conn.execute(_ENQUEUE, list(columns))
    counts = await cur.fetchall()
    for channel, _ in counts:
        await conn.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, channel])
    return sum(int(n) for _, n in counts)


async def claim(conn: AnyConn, channel: Channel, now: datetime, batch: int, lease: timedelta) -> list[DeliveryRow]:
    """Take up to ``batch`` due rows of ``channel``; the caller commits, then sends."""
    params = {"channel": channel.value, "now": now, "batch": batch, "lease_until": now + lease}
    cur = await conn.execute(_CLAIM, params)
    rows = [DeliveryRow.from_db(r) for r in await cur.fetchall()]
    return sorted(rows, key=lambda r: r.id)


async def mark_delivered(conn: AnyConn, row: DeliveryRow, now: datetime) -> bool:
    cur = await conn.execute(_DELIVERED, [now, row.id, row.attempts])
    return cur.rowcount == 1


async def mark_retry(conn: AnyConn, row: DeliveryRow, available_at: datetime, error: str) -> bool:
    cur = await conn.execute(_RETRY, [available_at, error[:2000], row.id, row.attempts])
    return cur.rowcount == 1


async def mark_dead(conn: AnyConn, row: DeliveryRow, now: datetime, error: str) -> bool:
    cur = await conn.execute(_DEAD, [now, error[:2000], row.id, row.attempts])
    return cur.rowcount == 1
