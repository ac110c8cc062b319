"""The one PostgreSQL channel writers notify and API processes listen on (payloads: ids only).

PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more, and the error aborts the writer's
whole transaction. A list payload (alert ids, province codes) must therefore never be sent in one
piece when it can grow: ``notify_live`` splits it into as many payloads as needed, each well under
the limit, every one in the same wire format (``{"stream": "alert", "ids": [...]}``), so a listener
handles several messages exactly as it handled one. All of them are sent in one statement and, like
any NOTIFY, delivered only if the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from ioc.db.pool import Conn

__all__ = ["LIVE_CHANNEL", "NOTIFY_BUDGET_BYTES", "NOTIFY_LIVE", "NOTIFY_MAX_BYTES", "chunk_payloads", "notify_live"]

LIVE_CHANNEL = "ioc_live"
NOTIFY_LIVE = f"SELECT pg_notify('{LIVE_CHANNEL}', %s)"
# Several payloads in one round trip; unnest keeps their order.
NOTIFY_LIVE_MANY = (
    f"SELECT pg_notify('{LIVE_CHANNEL}', p) FROM unnest(%s::text[]) WITH ORDINALITY AS u(p, n) ORDER BY n"
)
# PostgreSQL's limit (payload must be shorter than 8000 bytes) and the budget kept under it: the
# margin leaves room for a channel name and any future envelope field without re-measuring.
NOTIFY_MAX_BYTES = 8000
NOTIFY_BUDGET_BYTES = 7000


def chunk_payloads(stream: str, key: str, values: Iterable[int | str], budget: int = NOTIFY_BUDGET_BYTES) -> list[str]:
    """``{"stream": stream, key: [...]}`` payloads, each at most ``budget`` bytes (UTF-8), in order.

    Linear: each value is serialised once and its length added to the running payload. Empty
    input gives no payload. A single value too big for the budget on its own is a caller bug.
    """
    head = orjson.dumps({"stream": stream, key: []})  # b'{"stream":"alert","ids":[]}'
    prefix, suffix = head[:-2], head[-2:]  # ...'[' and ']}'
    payloads: list[str] = []
    parts: list[bytes] = []
    size = len(prefix) + len(suffix)
    for value in values:
        item = orjson.dumps(value)
        extra = len(item) + (1 if parts else 0)
        if parts and size + extra > budget:
            payloads.append((prefix + b",".join(parts) + suffix).decode())
            parts, size = [], len(prefix) + len(suffix)
            extra = len(item)
        if size + extra > budget:
            raise ValueError(f"one value is larger than the NOTIFY budget ({budget} bytes): {value!r}")
        parts.append(item)
        size += extra
    if parts:
        payloads.append((prefix + b",".join(parts) + suffix).decode())
    return payloads


async def notify_live(conn: Conn, stream: str, key: str, values: Sequence[int | str]) -> int:
    """NOTIFY the live channel of ``values`` in bounded payloads; returns how many were sent."""
    payloads = chunk_payloads(stream, key, values)
    if len(payloads) == 1:
        await conn.execute(NOTIFY_LIVE, [payloads[0]])
    elif payloads:
        await conn.execute(NOTIFY_LIVE_MANY, [payloads])
    return len(payloads)
