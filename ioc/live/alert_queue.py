"""The alert queue, page by page: the snapshot's first page and GET /api/v1/alerts read it here.

The order is the dashboard's (frontend/static/dashboard.js alertOrder, `queue_order` in
ioc/live/alert_index.py): firing, pending, then resolved; critical, warning, info; newest first
(resolved_at, else fired_at, else active_since); then id. A page after a cursor is read by keyset:
the cursor is the last row's key, so a deep page costs what the first does, and a row created
between two pages is never repeated and never hides another one.

Why the SQL is nine branches, one per (state, severity) bucket, each an index range scan of
alert_queue_idx (migration 032) that stops at `limit` rows, merged in order: a single keyset
condition over the mixed-direction order (ranks ascending, time descending) is an OR that no
index range can serve, and one scan across buckets with a "resolved since" bound would walk the
whole history of critical resolutions before reaching today's warnings. Per bucket, the cursor
and the bound are plain ranges on the time column; a bucket the state filter excludes, or that
lies before the cursor, is cut by a one-time filter and costs nothing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.live.alerts import ALERT_COLUMNS, ALERT_SCOPE, alert_row_to_dict

# What "the day's resolutions" means for the live queue: resolved at or after this long before now.
QUEUE_RESOLVED_WINDOW = timedelta(days=1)
STATES = ("firing", "pending", "resolved")  # rank = position
SEVERITIES = ("critical", "warning", "info")  # the table's CHECK allows no other
# The order's expressions, exactly as migration 032's index has them: the planner matches index
# expressions textually, so these strings are the index's contract.
STATE_RANK_SQL = "(CASE state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END)"
SEVERITY_RANK_SQL = "(CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 WHEN 'info' THEN 2 ELSE 3 END)"
QUEUE_AT_SQL = "coalesce(resolved_at, fired_at, active_since)"

# The filters GET /api/v1/alerts offers (the snapshot passes only the scope and `resolved_since`).
_FILTER = f"""(%(state)s::text IS NULL OR state = %(state)s OR (%(state)s = 'open' AND state <> 'resolved'))
    AND (%(province)s::text IS NULL OR province_code = %(province)s)
    AND {ALERT_SCOPE}"""


def _bucket(state_rank: int, severity_rank: int) -> str:
    state = STATES[state_rank]
    key = f"({state_rank}, {severity_rank})"
    after = "(%(after_state)s::int, %(after_severity)s::int)"
    # Parameters and constants only, so PostgreSQL evaluates it once and skips the branch.
    wanted = f"(%(state)s::text IS NULL OR %(state)s = '{state}'" + (
        " OR %(state)s = 'open')" if state != "resolved" else ")"
    )
    since = (
        f"\n     AND {QUEUE_AT_SQL} >= coalesce(%(resolved_since)s::timestamptz, '-infinity')"
        if state == "resolved"
        else ""
    )
    return f"""(SELECT {ALERT_COLUMNS}, {state_rank} AS q_state, {severity_rank} AS q_severity, {QUEUE_AT_SQL} AS q_at
   FROM alert
   WHERE {STATE_RANK_SQL} = {state_rank} AND {SEVERITY_RANK_SQL} = {severity_rank}
     AND {wanted} AND {key} >= {after}
     AND {QUEUE_AT_SQL} <= CASE WHEN {key} > {after} THEN 'infinity'::timestamptz
                                ELSE %(after_at)s::timestamptz END{since}
     AND ({key} > {after} OR {QUEUE_AT_SQL} < %(after_at)s::timestamptz OR id > %(after_id)s::bigint)
     AND {_FILTER}
   ORDER BY {QUEUE_AT_SQL} DESC, id LIMIT %(limit)s)"""


SELECT_QUEUE_PAGE = (
    "SELECT * FROM (\n"
    + "\nUNION ALL\n".join(_bucket(s, v) for s in range(len(STATES)) for v in range(len(SEVERITIES)))
    + "\n) page\nORDER BY q_state, q_severity, q_at DESC, id LIMIT %(limit)s"
)
COUNT_QUEUE = f"""
SELECT count(*) FROM alert
WHERE {_FILTER} AND (state <> 'resolved' OR resolved_at >= coalesce(%(resolved_since)s::timestamptz, '-infinity'))
"""


class CursorError(ValueError):
    """A paging cursor that this server did not make."""


@dataclass(frozen=True)
class QueueKey:
    """An alert's place in the queue: state rank, severity rank, its time (newest first), id.

    A cursor is the key of the last row a page carried, as URL-safe base64 of JSON: opaque to
    clients, who hand `next_cursor` back unchanged.
    """

    state_rank: int
    severity_rank: int
    at: datetime
    id: int

    def sort_tuple(self) -> tuple[int, int, float, int]:
        """Ascending in the queue order (the time negated: newest first)."""
        return (self.state_rank, self.severity_rank, -self.at.timestamp(), self.id)

    def cursor(self) -> str:
        raw = orjson.dumps([self.state_rank, self.severity_rank, self.at.isoformat(), self.id])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_cursor(cls, cursor: str) -> QueueKey:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            state_rank, severity_rank, at, alert_id = orjson.loads(raw)
            stamp = datetime.fromisoformat(at)
            if stamp.tzinfo is None:  # astimezone would take it as the server's local time
                raise ValueError("a cursor's time has an offset")
            # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
            key = cls(state_rank, severity_rank, stamp.astimezone(UTC), alert_id)
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, OverflowError) as exc:
            raise CursorError("malformed cursor") from exc
        if any(type(v) is not int for v in (key.state_rank, key.severity_rank, key.id)) or not (
            0 <= key.state_rank < len(STATES) and 0 <= key.severity_rank < len(SEVERITIES)
        ):
            raise CursorError("malformed cursor")
        return key

    def sql_params(self) -> dict[str, Any]:
        return {"after_state": self.state_rank, "after_severity": self.severity_rank, "after_at": self.at,
                "after_id": self.id}  # fmt: skip


# Before the first row: every bucket's key is above (-1, -1), so no row is cut by the cursor.
QUEUE_START: dict[str, Any] = {"after_state": -1, "after_severity": -1, "after_at": None, "after_id": None}


def queue_key(alert: dict[str, Any]) -> QueueKey:
    """The key of an alert row (times as datetimes or ISO strings), as the SQL computes it."""
    at = alert.get("resolved_at") or alert.get("fired_at") or alert["active_since"]
    return QueueKey(
        STATES.index(str(alert["state"])), SEVERITIES.index(str(alert["severity"])),
        at if isinstance(at, datetime) else datetime.fromisoformat(at), int(alert["id"]),
    )  # fmt: skip


@dataclass(frozen=True)
class QueuePage:
    alerts: list[dict[str, Any]]
    next_cursor: str | None  # None: this was the last page
    total: int | None  # every alert the filters allow; None when not asked for


async def read_queue_page(
    conn: Conn,
    scope: Scope,
    *,
    limit: int,
    after: QueueKey | None = None,
    resolved_since: datetime | None = None,
    state: str | None = None,
    province: str | None = None,
    with_total: bool = False,
) -> QueuePage:
    """One page of the scope's queue after `after` (from the start: None).

    With `with_total`, run it inside one snapshot (REPEATABLE READ) so the count agrees with the page.
    """
    params = {"state": state, "province": province, "resolved_since": resolved_since, "limit": limit + 1,
              **(QUEUE_START if after is None else after.sql_params()), **scope.sql_params()}  # fmt: skip
    cur = await conn.execute(SELECT_QUEUE_PAGE, params)
    rows: list[tuple[Any, ...]] = await cur.fetchall()
    total = None
    if with_total:
        cur = await conn.execute(COUNT_QUEUE, params)
        counted: tuple[Any, ...] | None = await cur.fetchone()
        total = int(counted[0]) if counted else 0
    # One row more than asked was read: whether another page exists, without a last empty one.
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        state_rank, severity_rank, at = page[-1][-3:]
        next_cursor = QueueKey(int(state_rank), int(severity_rank), at, int(page[-1][0])).cursor()
    return QueuePage([alert_row_to_dict(r[:-3]) for r in page], next_cursor, total)


def alerts_more(page: QueuePage, resolved_since: datetime) -> dict[str, str] | None:
    """How a client asks GET /api/v1/alerts for the rest of a snapshot's queue (None: it had it all).

    The snapshot's queue is the open alerts and the resolutions since `resolved_since` (now minus
    QUEUE_RESOLVED_WINDOW), so the REST call passes the same bound and the page's cursor.
    """
    if page.next_cursor is None:
        return None
    return {"resolved_since": resolved_since.isoformat(), "cursor": page.next_cursor}
