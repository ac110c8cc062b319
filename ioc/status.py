"""Status by locality: flows from the daily rollup, current counts from partial indexes.

received / resolved / on-time rate come from `dossier_daily` (a few rows per commune, agency,
sector and day); open / overdue / due soon / late without apology come from the partial indexes
on `dossier` that only hold open or late dossiers. No query scans the event log.

A Scope narrows both: every count is taken over in-scope rows only (the rollup is keyed by agency
and sector too, so "province X, sector Y" is still a rollup read), and the localities listed are
those the scope touches. The unrestricted scope keeps its own query text with no scope filter:
the live dashboard asks for it every few seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WINDOW_DAYS: dict[str, int] = {"today": 1, "7d": 7, "30d": 30}
_EVERYTHING = Scope.everything()

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

_CODES = "(%(codes)s::text[] IS NULL OR province_code = ANY(%(codes)s))"
_PROVINCES = "l.level = 'province' AND (%(codes)s::text[] IS NULL OR l.code = ANY(%(codes)s))"
_COMMUNES = "l.level = 'commune' AND l.province_code = %(province)s"
# Rows (rollup and dossier alike carry province, commune, agency and sector) in scope.
_IN_SCOPE = scope_filter_sql()
# The localities a scope touches: granted provinces and the provinces of granted communes; in a
# province, all its communes when the province is granted, else only the granted ones. Agencies
# and sectors narrow the counts, not the list.
_PROVINCES_IN_SCOPE = (
    "(%(scope_national)s OR l.code = ANY(%(scope_provinces)s::text[])"
    " OR l.code IN (SELECT c.province_code FROM locality c WHERE c.code = ANY(%(scope_communes)s::text[])))"
)
_COMMUNES_IN_SCOPE = (
    "(%(scope_national)s OR l.province_code = ANY(%(scope_provinces)s::text[])"
    " OR l.code = ANY(%(scope_communes)s::text[]))"
)

PROVINCE_STATUS = _STATUS_SQL.format(
    key="province_code", rollup_filter=f"AND {_CODES}", dossier_filter=f"AND {_CODES}", locality_filter=_PROVINCES
)
COMMUNE_STATUS = _STATUS_SQL.format(
    key="commune_code",
    rollup_filter="AND province_code = %(province)s",
    dossier_filter="AND province_code = %(province)s",
    locality_filter=_COMMUNES,
)
PROVINCE_STATUS_SCOPED = _STATUS_SQL.format(
    key="province_code",
    rollup_filter=f"AND {_CODES} AND {_IN_SCOPE}",
    dossier_filter=f"AND {_CODES} AND {_IN_SCOPE}",
    locality_filter=f"{_PROVINCES} AND {_PROVINCES_IN_SCOPE}",
)
COMMUNE_STATUS_SCOPED = _STATUS_SQL.format(
    key="commune_code",
    rollup_filter=f"AND province_code = %(province)s AND {_IN_SCOPE}",
    dossier_filter=f"AND province_code = %(province)s AND {_IN_SCOPE}",
    locality_filter=f"{_COMMUNES} AND {_COMMUNES_IN_SCOPE}",
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
    conn: Conn,
    now: datetime,
    due_soon_until: datetime,
    window: str = "30d",
    codes: list[str] | None = None,
    scope: Scope = _EVERYTHING,
) -> list[LocalityStatus]:
    """The provinces `scope` touches (of `codes`, when given), each counted over in-scope rows."""
    params = {"from_day": window_start_day(now, window), "now": now, "soon": due_soon_until, "codes": codes}
    sql = PROVINCE_STATUS
    if not scope.unrestricted:
        sql, params = PROVINCE_STATUS_SCOPED, {**params, **scope.sql_params()}
    cur = await conn.execute(sql, params)
    return [LocalityStatus(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]


async def commune_status(
    conn: Conn,
    now: datetime,
    due_soon_until: datetime,
    province_code: str,
    window: str = "30d",
    scope: Scope = _EVERYTHING,
) -> list[LocalityStatus]:
    """The in-scope communes of one province, each counted over in-scope rows."""
    params = {"from_day": window_start_day(now, window), "now": now, "soon": due_soon_until,
              "province": province_code}  # fmt: skip
    sql = COMMUNE_STATUS
    if not scope.unrestricted:
        sql, params = COMMUNE_STATUS_SCOPED, {**params, **scope.sql_params()}
    cur = await conn.execute(sql, params)
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
