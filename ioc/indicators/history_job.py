"""The periodic job behind indicator history: hourly and coarse daily dossier rollups, and stock
snapshots (migrations/012_indicator_history.sql).

Flows, incrementally by a watermark: the dossiers whose state changed since the last run
(`dossier.updated_at`, less an overlap so that a transaction that started earlier but committed
later is still seen) are compared with what the rollups hold for them (`dossier_hour_ledger`);
the difference — old contributions out, new ones in — is applied to the hourly, commune-daily and
province-daily rollups (plain PostgreSQL: upserts; TimescaleDB: appended to a hypertable whose
continuous aggregates the job then refreshes over the touched range). Re-reading the overlap is
harmless: a dossier whose contributions did not change yields no difference. The contributions
are those of ingest/lifecycle.py `contributions`, at hour rather than day grain.

Stocks: each run snapshots the open-overdue and late-without-apology counts per commune, agency
and sector, replacing the rows of the current hour and of the current local day.

Lag: history lags the dossier state by the job interval (a minute by default) plus one run.
Transactions open longer than `OVERLAP` when the job runs could be missed: ingest transactions
last well under a second. Runs are serialised by an advisory lock (so the upserts need no lock
order), and several processes may schedule the job. All SQL here is set-based; a first run over
existing data is a backfill, done in chunks of `CHUNK_ROWS` dossiers per transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ioc.db.pool import Conn
from ioc.indicators.buckets import LOCAL_TZ

log = logging.getLogger(__name__)

JOB_NAME = "dossier_history"
LOCK_KEY = 7_311_042_012
OVERLAP = timedelta(minutes=5)
CHUNK_ROWS = 500_000
HOURLY_RETENTION = timedelta(days=93)  # hour buckets reach this far back; day buckets and up, as far as events
INTERVAL_SECONDS = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The flow counts, in the order of ingest/lifecycle.py ROLLUP_FIELDS (which they mirror per hour).
COUNTS = (
    "received", "received_online", "resolved", "resolved_early", "resolved_on_time", "resolved_late",
    "received_full_online", "received_level_stated", "digitised", "digitised_known", "fee_payments",
    "fee_payments_online", "ratings", "ratings_satisfied",
)  # fmt: skip
_CAGGS = ("dossier_hourly", "dossier_daily_commune", "dossier_daily_province")
# Set by migrations/015 (TimescaleDB): its remade aggregates are materialised in full once.
FULL_REFRESH_FLAG = "dossier_history_full_refresh"
SELECT_FULL_REFRESH = "SELECT 1 FROM indicator_job_state WHERE name = %s"
DELETE_FULL_REFRESH = "DELETE FROM indicator_job_state WHERE name = %s"
REFRESH_CAGG_ALL = "CALL refresh_continuous_aggregate(%s, NULL::timestamptz, NULL::timestamptz)"

# Room to hash-aggregate a chunk's differences in memory rather than sort them on disk.
WORK_MEM = "SET LOCAL work_mem = '128MB'"
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"
SELECT_MODE = "SELECT ioc_storage_mode()"
SELECT_WATERMARK = "SELECT watermark FROM indicator_job_state WHERE name = %s"
# The upper end of this run's chunk: the updated_at of the CHUNK_ROWS-th dossier after `since`
# (every row sharing that instant is taken too), or the newest one.
SELECT_CHUNK_END = """
SELECT coalesce(
    (SELECT updated_at FROM dossier WHERE updated_at > %(since)s ORDER BY updated_at OFFSET %(rows)s LIMIT 1),
    (SELECT max(updated_at) FROM dossier WHERE updated_at > %(since)s))
"""
# What a dossier contributes, as the ledger records it: where, the hours and what was counted.
_LEDGER = ("province_code", "commune_code", "agency_code", "sector", "received_hour", "online", "resolved_hour",
           "outcome", "online_level", "digitised", "paid_hour", "payment_channel", "rated_hour", "rating")  # fmt: skip
_OLD = {"province_code": "old_province", "commune_code": "old_commune", "agency_code": "old_agency",
        "sector": "old_sector"}  # fmt: skip
_OLD_NAMES = [_OLD.get(c, f"old_{c}") for c in _LEDGER]
# The dossiers changed in (since − overlap, upto] whose contributions differ from the ledger's,
# with their old contributions (NULL for a dossier new to the rollups).
STAGE_CHANGED = f"""
CREATE TEMP TABLE history_changed ON COMMIT DROP AS
SELECT c.*, {", ".join(f"l.{c} AS {o}" for c, o in zip(_LEDGER, _OLD_NAMES, strict=True))}
FROM (
    SELECT d.code, d.province_code, coalesce(d.commune_code, '') AS commune_code,
           coalesce(d.agency_code, '') AS agency_code, d.sector,
           date_trunc('hour', d.received_at) AS received_hour, d.channel = 'online' AS online,
           CASE WHEN d.resolved_at IS NOT NULL AND d.outcome IS NOT NULL
                THEN date_trunc('hour', d.resolved_at) END AS resolved_hour,
           CASE WHEN d.resolved_at IS NOT NULL THEN d.outcome END AS outcome,
           d.online_level, d.digitised, date_trunc('hour', d.fee_paid_at) AS paid_hour, d.payment_channel,
           date_trunc('hour', d.rated_at) AS rated_hour, d.rating
    FROM dossier d
    WHERE d.updated_at > %(since)s AND d.updated_at <= %(upto)s
) c
LEFT JOIN dossier_hour_ledger l ON l.code = c.code
WHERE l.code IS NULL
   OR ({", ".join(f"c.{c}" for c in _LEDGER)})
      IS DISTINCT FROM
      ({", ".join(f"l.{c}" for c in _LEDGER)})
"""


def _part(old: bool) -> str:
    """A dossier's contributions (ingest/lifecycle.py `contributions`, per hour) as rows of
    (province, hour, commune, agency, sector, COUNTS...): its own with old=False, and the ledger's,
    negated, with old=True."""

    def col(name: str) -> str:
        return _OLD.get(name, f"old_{name}") if old else name

    sign = "-" if old else ""
    present = f" AND {col('province_code')} IS NOT NULL" if old else ""

    def row(hour: str, counts: dict[str, str]) -> str:
        values = ", ".join(f"{sign}({counts[c]})::int" if c in counts else "0" for c in COUNTS)
        return (
            f"SELECT {col('province_code')}, {col(hour)}, {col('commune_code')}, {col('agency_code')}, "
            f"{col('sector')}, {values}\n    FROM history_changed WHERE {col(hour)} IS NOT NULL{present}"
        )

    online, level, digitised, outcome = col("online"), col("online_level"), col("digitised"), col("outcome")
    return "\n    UNION ALL\n    ".join([
        row("received_hour", {
            "received": "1", "received_online": f"{online}::int",
            "received_full_online": f"coalesce({level} = 'full', false)::int",
            "received_level_stated": f"({level} IS NOT NULL)::int",
            "digitised": f"coalesce({digitised}, false)::int", "digitised_known": f"({digitised} IS NOT NULL)::int",
        }),
        row("resolved_hour", {
            "resolved": "1", "resolved_early": f"({outcome} = 'early')::int",
            "resolved_on_time": f"({outcome} = 'on_time')::int", "resolved_late": f"({outcome} = 'late')::int",
        }),
        row("paid_hour", {
            "fee_payments": "1", "fee_payments_online": f"coalesce({col('payment_channel')} = 'online', false)::int",
        }),
        row("rated_hour", {
            "ratings": "1",
            "ratings_satisfied": f"coalesce({col('rating')} IN ('very_satisfied', 'satisfied'), false)::int",
        }),
    ])  # fmt: skip


# New contributions in, old ones out, summed per hour and key; nothing left where they cancel.
STAGE_DELTA = f"""
CREATE TEMP TABLE history_delta ON COMMIT DROP AS
SELECT province_code, hour_start, commune_code, agency_code, sector,
       {", ".join(f"sum({c})::int AS {c}" for c in COUNTS)}
FROM (
    -- (names the columns of the union)
    SELECT province_code, received_hour AS hour_start, commune_code, agency_code, sector,
           {", ".join(f"0 AS {c}" for c in COUNTS)}
    FROM history_changed WHERE false
    UNION ALL
    {_part(False)}
    UNION ALL
    {_part(True)}
) parts
GROUP BY province_code, hour_start, commune_code, agency_code, sector
HAVING {" OR ".join(f"sum({c}) <> 0" for c in COUNTS)}
"""
_SET = ", ".join(f"{c} = {{t}}.{c} + EXCLUDED.{c}" for c in COUNTS)
_SUMS = ", ".join(f"sum({c})" for c in COUNTS)
_COLS = ", ".join(COUNTS)
# Local day of an hour: hours are whole, and the zone has a fixed offset.
_DAY = "((hour_start AT TIME ZONE 'Asia/Ho_Chi_Minh')::date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')"
UPSERT_HOURLY = f"""
INSERT INTO dossier_hourly (province_code, hour_start, commune_code, agency_code, sector, {_COLS})
SELECT province_code, hour_start, commune_code, agency_code, sector, {_COLS}
FROM history_delta WHERE hour_start >= %(hourly_from)s
ON CONFLICT (province_code, hour_start, commune_code, agency_code, sector) DO UPDATE SET
{_SET.format(t="dossier_hourly")}
"""
UPSERT_DAILY_COMMUNE = f"""
INSERT INTO dossier_daily_commune (province_code, day_start, commune_code, {_COLS})
SELECT province_code, {_DAY}, commune_code, {_SUMS}
FROM history_delta GROUP BY 1, 2, 3
ON CONFLICT (province_code, day_start, commune_code) DO UPDATE SET {_SET.format(t="dossier_daily_commune")}
"""
UPSERT_DAILY_PROVINCE = f"""
INSERT INTO dossier_daily_province (province_code, day_start, {_COLS})
SELECT province_code, {_DAY}, {_SUMS}
FROM history_delta GROUP BY 1, 2
ON CONFLICT (province_code, day_start) DO UPDATE SET {_SET.format(t="dossier_daily_province")}
"""
APPEND_DELTAS = f"""
INSERT INTO dossier_flow_delta (at, province_code, commune_code, agency_code, sector, {_COLS})
SELECT hour_start, province_code, commune_code, agency_code, sector, {_COLS} FROM history_delta
"""
SELECT_DELTA_RANGE = "SELECT min(hour_start), max(hour_start) FROM history_delta"
UPSERT_LEDGER = f"""
INSERT INTO dossier_hour_ledger (code, {", ".join(_LEDGER)})
SELECT code, {", ".join(_LEDGER)} FROM history_changed
ON CONFLICT (code) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _LEDGER)}
"""
SAVE_WATERMARK = """
INSERT INTO indicator_job_state (name, watermark, last_run_at, last_rows) VALUES (%s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE SET watermark = EXCLUDED.watermark, last_run_at = EXCLUDED.last_run_at,
                                 last_rows = EXCLUDED.last_rows
"""
REFRESH_CAGG = "CALL refresh_continuous_aggregate(%s, %s::timestamptz, %s::timestamptz)"

# The stocks as status.py counts them (ioc/status.py `open` and `owing`), and the open dossiers
# promised beyond their statutory deadline, per commune, agency and sector, read through the
# partial indexes on open, late and beyond-statutory dossiers.
STAGE_STOCKS = """
CREATE TEMP TABLE history_stocks ON COMMIT DROP AS
SELECT province_code, commune_code, agency_code, sector,
       sum(overdue)::int AS overdue, sum(owing)::int AS late_without_apology,
       sum(beyond)::int AS appointment_beyond_statutory
FROM (
    SELECT province_code, coalesce(commune_code, '') AS commune_code, coalesce(agency_code, '') AS agency_code,
           sector, 1 AS overdue, (apology_at IS NULL)::int AS owing, 0 AS beyond
    FROM dossier WHERE closed_at IS NULL AND due_at < %(now)s
    UNION ALL
    SELECT province_code, coalesce(commune_code, ''), coalesce(agency_code, ''), sector, 0, 1, 0
    FROM dossier WHERE apology_at IS NULL AND late_since IS NOT NULL
    UNION ALL
    SELECT province_code, coalesce(commune_code, ''), coalesce(agency_code, ''), sector, 0, 0, 1
    FROM dossier WHERE closed_at IS NULL AND appointment_at > statutory_due_at
) parts
GROUP BY province_code, commune_code, agency_code, sector
"""
_PROVINCES = "province_code IN (SELECT code FROM locality WHERE level = 'province')"
DELETE_STOCK_HOUR = f"DELETE FROM dossier_stock_hourly WHERE {_PROVINCES} AND hour_start = %(hour)s"
DELETE_STOCK_DAY = f"DELETE FROM dossier_stock_daily WHERE {_PROVINCES} AND day_start = %(day)s"
INSERT_STOCK_HOUR = """
INSERT INTO dossier_stock_hourly (province_code, hour_start, commune_code, agency_code, sector, overdue,
                                  late_without_apology, appointment_beyond_statutory, taken_at)
SELECT province_code, %(hour)s, commune_code, agency_code, sector, overdue, late_without_apology,
       appointment_beyond_statutory, %(now)s
FROM history_stocks
"""
INSERT_STOCK_DAY = """
INSERT INTO dossier_stock_daily (province_code, day_start, commune_code, agency_code, sector, overdue,
                                 late_without_apology, appointment_beyond_statutory, taken_at)
SELECT province_code, %(day)s, commune_code, agency_code, sector, overdue, late_without_apology,
       appointment_beyond_statutory, %(now)s
FROM history_stocks
"""
MARK_SNAPSHOT = """
INSERT INTO dossier_stock_snapshot (grain, bucket_start, taken_at) VALUES (%s, %s, %s)
ON CONFLICT (grain, bucket_start) DO UPDATE SET taken_at = EXCLUDED.taken_at
"""
PRUNE_HOURLY = "DELETE FROM dossier_hourly WHERE hour_start < %s"
PRUNE_STOCK_HOURLY = f"DELETE FROM dossier_stock_hourly WHERE {_PROVINCES} AND hour_start < %s"
PRUNE_SNAPSHOT_HOURS = "DELETE FROM dossier_stock_snapshot WHERE grain = 'hour' AND bucket_start < %s"


@dataclass(frozen=True)
class HistoryRun:
    ran: bool  # False: another process holds the lock
    dossiers: int = 0  # dossiers whose contributions changed
    delta_rows: int = 0
    watermark: datetime | None = None
    chunks: int = 0


def hour_of(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_day_start(t: datetime) -> datetime:
    """Local midnight of t's local day, as an aware datetime (UTC+7 fixed)."""
    local = t.astimezone(LOCAL_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def refresh_flows(conn: Conn, now: datetime, *, chunk_rows: int = CHUNK_ROWS) -> HistoryRun:
    """Bring the flow rollups up to date with the dossier table; one transaction per chunk."""
    await conn.commit()
    autocommit = conn.autocommit
    await conn.set_autocommit(True)  # each chunk its own transaction; refreshing aggregates needs none
    try:
        return await _refresh_chunks(conn, now, chunk_rows)
    finally:
        await conn.set_autocommit(autocommit)


async def _refresh_chunks(conn: Conn, now: datetime, chunk_rows: int) -> HistoryRun:
    mode_row = await (await conn.execute(SELECT_MODE)).fetchone()
    timescale = mode_row is not None and mode_row[0] == "timescaledb"
    if timescale:
        await _full_refresh_once(conn)
    total = delta_rows = chunks = 0
    watermark: datetime | None = None
    while True:
        touched: tuple[datetime, datetime] | None = None
        async with conn.transaction():
            await conn.execute("SET LOCAL TIME ZONE 'UTC'")
            await conn.execute(WORK_MEM)
            locked = await (await conn.execute(TRY_LOCK, [LOCK_KEY])).fetchone()
            if not locked or not locked[0]:
                return HistoryRun(False)
            row = await (await conn.execute(SELECT_WATERMARK, [JOB_NAME])).fetchone()
            since: datetime = row[0] if row else _EPOCH  # type: ignore[assignment]
            watermark = since
            end = await (await conn.execute(SELECT_CHUNK_END, {"since": since, "rows": chunk_rows})).fetchone()
            upto: datetime | None = end[0] if end else None  # type: ignore[assignment]
            if upto is None:
                await conn.execute(SAVE_WATERMARK, [JOB_NAME, since, now, 0])
                break
            changed, deltas, touched = await _apply_chunk(conn, since - OVERLAP, upto, now, timescale)
            await conn.execute(SAVE_WATERMARK, [JOB_NAME, upto, now, changed])
            total, delta_rows, chunks, watermark = total + changed, delta_rows + deltas, chunks + 1, upto
        if timescale and touched is not None:
            await _refresh_aggregates(conn, *touched)
        more = await (await conn.execute("SELECT EXISTS (SELECT 1 FROM dossier WHERE updated_at > %s)", [upto]))\
            .fetchone()  # fmt: skip
        if not more or not more[0]:
            break
    return HistoryRun(True, total, delta_rows, watermark, chunks)


async def _apply_chunk(
    conn: Conn, since: datetime, upto: datetime, now: datetime, timescale: bool
) -> tuple[int, int, tuple[datetime, datetime] | None]:
    await conn.execute(STAGE_CHANGED, {"since": since, "upto": upto})
    changed = await _count(conn, "history_changed")
    if not changed:
        return 0, 0, None
    await conn.execute(STAGE_DELTA)
    deltas = await _count(conn, "history_delta")
    touched: tuple[datetime, datetime] | None = None
    if deltas:
        if timescale:
            await conn.execute(APPEND_DELTAS)
            low_high = await (await conn.execute(SELECT_DELTA_RANGE)).fetchone()
            if low_high is not None and low_high[0] is not None:
                touched = (low_high[0], low_high[1])  # type: ignore[assignment]
        else:
            await conn.execute(UPSERT_HOURLY, {"hourly_from": hour_of(now - HOURLY_RETENTION)})
            await conn.execute(UPSERT_DAILY_COMMUNE)
            await conn.execute(UPSERT_DAILY_PROVINCE)
    await conn.execute(UPSERT_LEDGER)
    return changed, deltas, touched


async def _full_refresh_once(conn: Conn) -> None:
    """Materialise remade aggregates in full (migrations/015 asks for it), before any partial
    refresh: a partial one alone would move their watermark past older, unmaterialised buckets,
    which would then read as empty. Autocommit: TimescaleDB refreshes outside a transaction."""
    if await (await conn.execute(SELECT_FULL_REFRESH, [FULL_REFRESH_FLAG])).fetchone() is None:
        return
    for view in _CAGGS:
        await conn.execute(REFRESH_CAGG_ALL, [view])
    await conn.execute(DELETE_FULL_REFRESH, [FULL_REFRESH_FLAG])


async def _refresh_aggregates(conn: Conn, low: datetime, high: datetime) -> None:
    """Materialise the continuous aggregates over the hours the deltas touched (a refresh only
    covers whole buckets inside its window, so the window is widened by a day each side). Runs
    outside a transaction, as TimescaleDB requires."""
    for view in _CAGGS:
        await conn.execute(REFRESH_CAGG, [view, low - timedelta(days=1), high + timedelta(days=2)])


async def snapshot_stocks(conn: Conn, now: datetime) -> int:
    """Replace the current hour's and local day's stock snapshots with the counts as of `now`."""
    async with conn.transaction():
        await conn.execute("SET LOCAL TIME ZONE 'UTC'")
        await conn.execute(STAGE_STOCKS, {"now": now})
        groups = await _count(conn, "history_stocks")
        slot = {"hour": hour_of(now), "day": local_day_start(now), "now": now}
        for statement in (DELETE_STOCK_HOUR, INSERT_STOCK_HOUR, DELETE_STOCK_DAY, INSERT_STOCK_DAY):
            await conn.execute(statement, slot)
        await conn.execute(MARK_SNAPSHOT, ["hour", hour_of(now), now])
        await conn.execute(MARK_SNAPSHOT, ["day", local_day_start(now), now])
    return groups


async def prune(conn: Conn, now: datetime) -> None:
    """Hour buckets older than HOURLY_RETENTION go (plain mode; in TimescaleDB mode the hourly
    aggregate keeps them, and queries stop at the same horizon in both modes)."""
    cutoff = hour_of(now - HOURLY_RETENTION)
    async with conn.transaction():
        mode = await (await conn.execute(SELECT_MODE)).fetchone()
        if mode is not None and mode[0] != "timescaledb":
            await conn.execute(PRUNE_HOURLY, [cutoff])
        await conn.execute(PRUNE_STOCK_HOURLY, [cutoff])
        await conn.execute(PRUNE_SNAPSHOT_HOURS, [cutoff])


async def run_history_job(conn: Conn, now: datetime) -> HistoryRun:
    """One run: flows up to date, then a stock snapshot as of `now`."""
    run = await refresh_flows(conn, now)
    if run.ran:
        await snapshot_stocks(conn, now)
    return run


async def history_job(pool: AsyncConnectionPool[Conn]) -> None:
    """The scheduled entry point: a failed run is logged and the next one retries."""
    try:
        async with pool.connection() as conn:
            run = await run_history_job(conn, datetime.now(UTC))
        if run.dossiers:
            log.info("indicator history: %d dossiers, %d rollup rows changed", run.dossiers, run.delta_rows)
    except Exception:
        log.exception("indicator history job failed")


async def prune_job(pool: AsyncConnectionPool[Conn]) -> None:
    try:
        async with pool.connection() as conn:
            await prune(conn, datetime.now(UTC))
    except Exception:
        log.exception("indicator history pruning failed")


def schedule_history_jobs(scheduler: Any, pool: AsyncConnectionPool[Conn]) -> None:
    """Add the history job (every INTERVAL_SECONDS) and its pruning (every 6 hours) to an
    APScheduler scheduler (alerts/scheduler.py)."""
    now = datetime.now(UTC)
    scheduler.add_job(history_job, "interval", args=[pool], seconds=INTERVAL_SECONDS, max_instances=1,
                      coalesce=True, next_run_time=now, id="indicator-history")  # fmt: skip
    scheduler.add_job(prune_job, "interval", args=[pool], hours=6, max_instances=1, coalesce=True,
                      next_run_time=now + timedelta(minutes=5), id="indicator-history-prune")  # fmt: skip


async def _count(conn: Conn, table: str) -> int:
    row = await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone()  # table: a constant name
    return int(row[0]) if row else 0  # type: ignore[call-overload]
