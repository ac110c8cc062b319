"""Status by locality: flows from the daily rollup, current counts from partial indexes.

received / resolved / on-time rate come from `dossier_daily` (a few rows per commune and day);
open / overdue / due soon / late without apology come from the partial indexes on `dossier`
that only hold open or late dossiers. No query scans the event log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ioc.db.pool import Conn

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WINDOW_DAYS: dict[str, int] = {"today": 1, "7d": 7, "30d": 30}

_STATUS_SQL = """
WITH flows AS (
    SELECT {key} AS code, sum(received) AS received, sum(resolved) AS resolved,
           sum(resolved_early + resolved_on_time) AS on_time
    FROM dossier_daily
    WHERE day >= %(from_day)s {rollup_filter}
    GROUP BY 1
), open AS (
    SELECT {key} AS code, count(*) AS open,
           count(*) FILTER (WHERE due_at < %(now)s) AS overdue,
           count(*) FILTER (WHERE due_at >= %(now)s AND due_at <= %(soon)s) AS due_soon
    FROM dossier
    WHERE closed_at IS NULL {dossier_filter}
    GROUP BY 1
), owing AS (
    SELECT code, sum(n) AS n FROM (
        SELECT {key} AS code, count(*) AS n FROM dossier
        WHERE apology_at IS NULL AND late_since IS NOT NULL {dossier_filter} GROUP BY 1
        UNION ALL
        SELECT {key} AS code, count(*) AS n FROM dossier
        WHERE closed_at IS NULL AND due_at < %(now)s AND apology_at IS NULL {dossier_filter} GROUP BY 1
    ) parts GROUP BY code
)
SELECT l.code, l.name, l.short_name, l.province_code,
       coalesce(f.received, 0)::int, coalesce(f.resolved, 0)::int, coalesce(f.on_time, 0)::int,
       coalesce(o.open, 0)::int, coalesce(o.overdue, 0)::int, coalesce(o.due_soon, 0)::int,
       coalesce(w.n, 0)::int
FROM locality l
LEFT JOIN flows f ON f.code = l.code
LEFT JOIN open o ON o.code = l.code
LEFT JOIN owing w ON w.code = l.code
WHERE {locality_filter}
ORDER BY l.code
"""

PROVINCE_STATUS = _STATUS_SQL.format(
    key="province_code",
    rollup_filter="AND (%(codes)s::text[] IS NULL OR province_code = ANY(%(codes)s))",
    dossier_filter="AND (%(codes)s::text[] IS NULL OR province_code = ANY(%(codes)s))",
    locality_filter="l.level = 'province' AND (%(codes)s::text[] IS NULL OR l.code = ANY(%(codes)s))",
)
COMMUNE_STATUS = _STATUS_SQL.format(
    key="commune_code",
    rollup_filter="AND province_code = %(province)s",
    dossier_filter="AND province_code = %(province)s",
    locality_filter="l.level = 'commune' AND l.province_code = %(province)s",
)
SELECT_FRESHNESS = """
SELECT max(last_event_at), max(last_ingest_at) FROM feed_freshness WHERE stream = 'dossier'
"""


@dataclass(frozen=True)
class LocalityStatus:
    code: str
    name: str
    short_name: str
    province_code: str
    received: int
    resolved: int
    resolved_on_time: int
    open: int
    overdue: int
    due_soon: int
    late_without_apology: int

    @property
    def on_time_rate(self) -> float | None:
        return self.resolved_on_time / self.resolved if self.resolved else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "on_time_rate": self.on_time_rate}


def window_start_day(now: datetime, window: str) -> Any:
    today = now.astimezone(LOCAL_TZ).date()
    return today - timedelta(days=WINDOW_DAYS[window] - 1)


async def province_status(
    conn: Conn, now: datetime, due_soon_until: datetime, window: str = "30d", codes: list[str] | None = None
) -> list[LocalityStatus]:
    params = {"from_day": window_start_day(now, window), "now": now, "soon": due_soon_until, "codes": codes}
    cur = await conn.execute(PROVINCE_STATUS, params)
    return [LocalityStatus(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]


async def commune_status(
    conn: Conn, now: datetime, due_soon_until: datetime, province_code: str, window: str = "30d"
) -> list[LocalityStatus]:
    params = {"from_day": window_start_day(now, window), "now": now, "soon": due_soon_until,
              "province": province_code}  # fmt: skip
    cur = await conn.execute(COMMUNE_STATUS, params)
    return [LocalityStatus(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]


async def dossier_freshness(conn: Conn, expected_every_seconds: int) -> dict[str, Any]:
    cur = await conn.execute(SELECT_FRESHNESS)
    row = await cur.fetchone()
    last_event, last_ingest = row if row else (None, None)
    return {
        "dossier": {
            "last_event_at": last_event.isoformat() if isinstance(last_event, datetime) else None,
            "last_ingest_at": last_ingest.isoformat() if isinstance(last_ingest, datetime) else None,
            "expected_every_seconds": expected_every_seconds,
        }
    }
