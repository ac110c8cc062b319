"""Dossier components from storage: flows (received, resolved, outcomes) and stocks (overdue, late
without an apology, appointment beyond the statutory deadline), now or per time bucket, grouped
by province, commune or agency.

Where each comes from — never from the event log, never by scanning every dossier:

- live flows: `dossier_daily` (written with the dossier state when a batch is applied: exact and
  immediate);
- live stocks: the partial indexes on open and late dossiers (as ioc/status.py);
- flows per hour: `dossier_hourly`; per day / week / month: `dossier_daily_province` when the scope
  sees whole provinces, `dossier_daily_commune` for communes (and for a province seen only through
  some of its communes), `dossier_daily` when the scope names agencies or sectors or the grouping
  is by agency (only that table has those columns);
- stocks per bucket: the snapshots `dossier_stock_hourly` / `dossier_stock_daily`, the last one
  taken in each bucket.

Every query takes the scope: rows outside it are not counted (ioc/auth/scope.py), and a scope
that names agencies or sectors excludes rows without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn
from ioc.indicators.buckets import Bucket, local_day
from ioc.indicators.definitions import DOSSIER_FLOWS
from ioc.indicators.history_job import HOURLY_RETENTION, hour_of
from ioc.indicators.places import Level

Components = dict[str, float | None]
ZONE = "'Asia/Ho_Chi_Minh'"
KEY = {"province": "province_code", "commune": "commune_code", "agency": "agency_code"}
_SUMS = ", ".join(f"sum({c})::bigint" for c in DOSSIER_FLOWS)


@dataclass(frozen=True)
class Selection:
    """Rows to read: the caller's scope, the grouping, the provinces (None: all), one place."""

    scope: Scope
    level: Level
    provinces: list[str] | None = None
    only: str | None = None

    @property
    def narrowed(self) -> bool:
        """The scope names agencies or sectors: only full-detail tables can apply it."""
        return self.scope.agencies is not None or self.scope.sectors is not None


def _where(sel: Selection, key_expr: str, *, full_detail: bool, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """AND-clauses for provinces, scope and the one place, with their parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if sel.provinces is not None:
        parts.append(f"{prefix}province_code = ANY(%(provinces)s::text[])")
        params["provinces"] = sel.provinces
    if not sel.scope.unrestricted:
        columns = {"province": f"{prefix}province_code", "commune": f"{prefix}commune_code"}
        if full_detail:
            parts.append(scope_filter_sql(**columns, agency=f"{prefix}agency_code", sector=f"{prefix}sector"))
        else:
            parts.append(scope_filter_sql(**columns, agency=None, sector=None))
        params.update(sel.scope.sql_params())
    if sel.level != "province":
        parts.append(f"{key_expr} <> ''")
    if sel.only is not None:
        parts.append(f"{key_expr} = %(only)s")
        params["only"] = sel.only
    return "".join(f" AND {p}" for p in parts), params


def _flows(row: Sequence[Any]) -> Components:
    return {name: float(v or 0) for name, v in zip(DOSSIER_FLOWS, row, strict=True)}


# -- live ----------------------------------------------------------------------------------------


async def live_flows(conn: Conn, sel: Selection, from_day: date, to_day: date) -> dict[str, Components]:
    """Flows over the local days [from_day, to_day], from the exact daily rollup."""
    key = f"coalesce({KEY[sel.level]}, '')"
    where, params = _where(sel, key, full_detail=True)
    sql = f"SELECT {key}, {_SUMS} FROM dossier_daily WHERE day >= %(from)s AND day <= %(to)s{where} GROUP BY 1"
    cur = await conn.execute(sql.encode(), {**params, "from": from_day, "to": to_day})
    return {str(row[0]): _flows(row[1:]) for row in await cur.fetchall()}


async def live_stocks(conn: Conn, sel: Selection, now: datetime) -> dict[str, Components]:
    """Overdue and late-without-apology counts at `now`, counted as ioc/status.py counts them."""
    key = f"coalesce({KEY[sel.level]}, '')"
    where, params = _where(sel, key, full_detail=True)
    sql = f"""
    SELECT key, sum(overdue)::bigint, sum(owing)::bigint, sum(beyond)::bigint FROM (
        SELECT {key} AS key, 1 AS overdue, (apology_at IS NULL)::int AS owing, 0 AS beyond
        FROM dossier WHERE closed_at IS NULL AND due_at < %(now)s{where}
        UNION ALL
        SELECT {key}, 0, 1, 0 FROM dossier WHERE apology_at IS NULL AND late_since IS NOT NULL{where}
        UNION ALL
        SELECT {key}, 0, 0, 1 FROM dossier WHERE closed_at IS NULL AND appointment_at > statutory_due_at{where}
    ) parts GROUP BY key
    """
    cur = await conn.execute(sql.encode(), {**params, "now": now})
    rows: list[Any] = await cur.fetchall()
    return {
        str(k): {"overdue": float(o), "late_without_apology": float(w), "appointment_beyond_statutory": float(b)}
        for k, o, w, b in rows
    }


# -- per bucket ----------------------------------------------------------------------------------


def flow_source(sel: Selection, bucket: Bucket) -> str:
    """The rollup that answers this selection's flows per bucket."""
    if bucket == "hour":
        return "dossier_hourly"
    if sel.narrowed or sel.level == "agency":
        return "dossier_daily"
    if (
        sel.level == "province"
        and sel.provinces is not None
        and all(sel.scope.sees_whole_province(p) for p in sel.provinces)
    ):
        return "dossier_daily_province"
    if sel.level == "province" and sel.scope.unrestricted:
        return "dossier_daily_province"
    return "dossier_daily_commune"


def hourly_horizon(now: datetime) -> datetime:
    """Hour buckets before this are not kept (HOURLY_RETENTION): their flows are unknown."""
    return hour_of(now - HOURLY_RETENTION)


async def bucket_flows(
    conn: Conn, sel: Selection, start: datetime, end: datetime, bucket: Bucket, now: datetime
) -> dict[tuple[str, datetime], Components]:
    """Flows per (place, bucket start) for buckets in [start, end) (both on bucket boundaries)."""
    source = flow_source(sel, bucket)
    key = KEY[sel.level]
    if source == "dossier_daily":
        key = f"coalesce({key}, '')"
        bucket_expr = f"date_trunc(%(unit)s, day::timestamp) AT TIME ZONE {ZONE}"
        time_filter = "day >= %(start_day)s AND day < %(end_day)s"
    elif source == "dossier_hourly":
        bucket_expr = "hour_start"
        time_filter = "hour_start >= greatest(%(start)s, %(horizon)s) AND hour_start < %(end)s"
    else:
        bucket_expr = f"date_trunc(%(unit)s, day_start AT TIME ZONE {ZONE}) AT TIME ZONE {ZONE}"
        time_filter = "day_start >= %(start)s AND day_start < %(end)s"
    where, params = _where(sel, key, full_detail=source in ("dossier_daily", "dossier_hourly"))
    if source == "dossier_daily_province" and not sel.scope.unrestricted:
        # Whole provinces: the scope is already satisfied by the province list.
        where, params = _where(Selection(Scope.everything(), sel.level, sel.provinces, sel.only), key,
                               full_detail=False)  # fmt: skip
    sql = f"SELECT {key}, {bucket_expr}, {_SUMS} FROM {source} WHERE {time_filter}{where} GROUP BY 1, 2"
    params.update({
        "unit": bucket, "start": start, "end": end, "start_day": local_day(start), "end_day": local_day(end),
        "horizon": hourly_horizon(now),
    })  # fmt: skip
    cur = await conn.execute(sql.encode(), params)
    return {(str(row[0]), row[1]): _flows(row[2:]) for row in await cur.fetchall()}  # type: ignore[misc]


async def bucket_stocks(
    conn: Conn, sel: Selection, start: datetime, end: datetime, bucket: Bucket
) -> tuple[list[datetime], dict[tuple[str, datetime], Components]]:
    """The buckets in [start, end) that have a stock snapshot, and per (place, bucket) the counts
    of the last snapshot taken in it (a place absent from a snapshotted bucket counted zero)."""
    grain, table, column = ("hour", "dossier_stock_hourly", "hour_start") if bucket == "hour" else (
        "day", "dossier_stock_daily", "day_start")  # fmt: skip
    key = f"t.{KEY[sel.level]}"
    where, params = _where(sel, key, full_detail=True, prefix="t.")
    snaps_sql = f"""
    SELECT date_trunc(%(unit)s, bucket_start AT TIME ZONE {ZONE}) AT TIME ZONE {ZONE} AS bucket,
           max(bucket_start) AS last_start
    FROM dossier_stock_snapshot
    WHERE grain = %(grain)s AND bucket_start >= %(start)s AND bucket_start < %(end)s
    GROUP BY 1
    """
    sql = f"""
    WITH snaps AS ({snaps_sql})
    SELECT {key}, s.bucket, sum(t.overdue)::bigint, sum(t.late_without_apology)::bigint,
           sum(t.appointment_beyond_statutory)::bigint
    FROM snaps s JOIN {table} t ON t.{column} = s.last_start
    WHERE true{where}
    GROUP BY 1, 2
    """
    params.update({"unit": bucket, "grain": grain, "start": start, "end": end})
    cur = await conn.execute(snaps_sql.encode(), params)
    snapshotted = sorted(row[0] for row in await cur.fetchall())  # type: ignore[type-var]
    cur = await conn.execute(sql.encode(), params)
    rows: list[Any] = await cur.fetchall()
    counts = {
        (str(k), b): {"overdue": float(o), "late_without_apology": float(w), "appointment_beyond_statutory": float(x)}
        for k, b, o, w, x in rows
    }
    return snapshotted, counts  # type: ignore[return-value]
