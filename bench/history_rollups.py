"""Indicator history from rollups against the same question asked of the raw rows.

    .venv/bin/python -m bench.history_rollups [--dossiers 10000000] [--rounds 5] [--record]

One embedded PostgreSQL (plain, partitioned mode), one migrated database filled with a year of
simulated dossiers, set-based in SQL (generate_series): `dossier` rows (random communes of all 34
provinces, five procedures, online / direct / postal, about 9 % resolved late), their lifecycle
events in `dossier_event` (received, resolved, returned, apology: about 2.5 per dossier), the
writer's `dossier_daily` rebuilt from them as migration 009 does, and then the history job's own
backfill (ioc/indicators/history_job.py) building the hourly and coarse daily rollups.

Two questions, each answered three ways, interleaved in a shuffled order every round:
  (a) on-time rate and online-submission share per month for one province (Hà Nội), 12 months;
  (b) the same for all 34 provinces, 12 months.
  rollup  ioc.indicators.history.bucket_values — the code path behind the history API (here the
          coarse province-day rollup the history job keeps);
  raw     one SQL over `dossier_event` (receipts and resolutions in the year, the outcome of each
          resolution read from its `dossier` row), grouped by province and month — the peer;
  detail  one SQL over the writer's full-detail `dossier_daily` (commune × agency × sector × day),
          for comparison.
The three answers are compared once and must be equal. The machine is shared and noisy, so the figure
that matters is the per-round ratio raw / rollup; its median and spread are printed, and appended
to bench/RESULTS.md with --record.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

import psycopg

from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.db.pool import Conn
from ioc.indicators.buckets import LOCAL_TZ, bucket_starts
from ioc.indicators.history import bucket_values
from ioc.indicators.history_job import refresh_flows
from ioc.indicators.places import Place, places
from ioc.localities.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
CODES = ["on_time_rate", "online_submission_share"]
WAYS = ("rollup", "raw", "detail")
PROVINCE = "01"

# (code, name, sector, statutory days)
PROCEDURES = [
    ("B.001", "Đăng ký khai sinh", "Hộ tịch", 3),
    ("B.002", "Chứng thực bản sao", "Chứng thực", 1),
    ("B.003", "Cấp giấy chứng nhận quyền sử dụng đất", "Đất đai", 15),
    ("B.004", "Đăng ký thành lập doanh nghiệp", "Đăng ký kinh doanh", 3),
    ("B.005", "Cấp giấy phép xây dựng", "Xây dựng", 10),
]
INSERT_PROCEDURES = "INSERT INTO procedure (code, name, sector, statutory_days) VALUES (%s, %s, %s, %s)"
# Secondary indexes are rebuilt after the load: one sort each instead of millions of inserts.
DROP_INDEXES = [
    "DROP INDEX dossier_event_dossier_idx", "DROP INDEX dossier_open_province_idx",
    "DROP INDEX dossier_open_commune_idx", "DROP INDEX dossier_missing_apology_idx",
    "DROP INDEX dossier_updated_idx", "DROP INDEX IF EXISTS dossier_late_idx",
]  # fmt: skip
CREATE_INDEXES = [
    "CREATE INDEX dossier_event_dossier_idx ON dossier_event (dossier_code, occurred_at)",
    "CREATE INDEX dossier_open_province_idx ON dossier (province_code, due_at) WHERE closed_at IS NULL",
    "CREATE INDEX dossier_open_commune_idx ON dossier (commune_code, due_at) WHERE closed_at IS NULL",
    "CREATE INDEX dossier_missing_apology_idx ON dossier (province_code, late_since)"
    " WHERE apology_at IS NULL AND late_since IS NOT NULL",
    "CREATE INDEX dossier_updated_idx ON dossier (updated_at)",
    "CREATE INDEX dossier_late_idx ON dossier (province_code, closed_at) WHERE late_since IS NOT NULL",
]
# One year of dossiers. Deadlines in calendar days (synthetic data: only consistency matters —
# the rollups and the events are derived from these rows, as the writer derives them from its
# fold). Dossiers received over 30 days ago are all resolved; later ones 60 % of the time.
MAKE_COMMUNES = """
CREATE TEMP TABLE bench_commune AS
SELECT (row_number() OVER (ORDER BY code))::int AS i, code, province_code FROM locality WHERE level = 'commune'
"""
MAKE_PROCEDURES = """
CREATE TEMP TABLE bench_procedure AS
SELECT (row_number() OVER (ORDER BY code))::int AS i, code, sector, statutory_days FROM procedure
"""
INSERT_DOSSIERS = """
WITH x AS (
    SELECT g, 1 + floor(random() * %(communes)s)::int AS ci, 1 + floor(random() * %(procedures)s)::int AS pi,
           %(start)s::timestamptz + random() * (%(end)s::timestamptz - %(start)s::timestamptz) AS received_at,
           random() AS r_channel, random() AS r_delay, random() AS r_open, random() AS r_agency, random() AS r_ret
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
), y AS (
    SELECT x.*, c.code AS commune, c.province_code AS province, p.code AS procedure, p.sector,
           p.statutory_days AS days, x.received_at + p.statutory_days * INTERVAL '1 day' AS due_at,
           CASE WHEN x.received_at < %(end)s::timestamptz - INTERVAL '30 days' OR x.r_open < 0.6
                THEN least(x.received_at + (0.05 + x.r_delay * 1.1 * p.statutory_days) * INTERVAL '1 day',
                           %(end)s::timestamptz - INTERVAL '1 minute')
           END AS resolved_at
    FROM x JOIN bench_commune c ON c.i = x.ci JOIN bench_procedure p ON p.i = x.pi
), z AS (
    SELECT y.*,
           CASE WHEN resolved_at IS NULL THEN NULL
                WHEN resolved_at > due_at THEN 'late'
                WHEN (resolved_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                     < (due_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date THEN 'early'
                ELSE 'on_time' END AS outcome
    FROM y
)
INSERT INTO dossier (code, source_id, procedure_code, sector, statutory_days, agency_code, province_code,
                     commune_code, channel, status, received_at, due_at, paused_seconds, resolved_at, returned_at,
                     closed_at, outcome, late_since, apology_at, last_event_at, updated_at)
SELECT 'BH-' || lpad(g::text, 9, '0'), 'bench', procedure, sector, days,
       CASE WHEN r_agency < 0.6 THEN 'UBND-' || commune ELSE 'SO-' || pi || '-' || province END,
       province, commune,
       CASE WHEN r_channel < 0.45 THEN 'online' WHEN r_channel < 0.95 THEN 'direct' ELSE 'postal' END,
       CASE WHEN resolved_at IS NULL THEN 'received' WHEN r_ret < 0.5 THEN 'returned' ELSE 'resolved' END,
       received_at, due_at, 0, resolved_at,
       CASE WHEN resolved_at IS NOT NULL AND r_ret < 0.5 THEN resolved_at + INTERVAL '4 hours' END,
       resolved_at, outcome,
       CASE WHEN outcome = 'late' THEN due_at END,
       CASE WHEN outcome = 'late' AND r_ret < 0.8 THEN resolved_at + INTERVAL '1 day' END,
       greatest(received_at, coalesce(resolved_at, received_at)), received_at
FROM z ORDER BY g
"""
INSERT_EVENTS = """
INSERT INTO dossier_event (occurred_at, dossier_code, event_type, source_id, event_id, ingested_at, province_code,
                           commune_code, agency_code, procedure_code, channel)
SELECT received_at, code, 'received', 'bench', code || '-r', received_at, province_code, commune_code, agency_code,
       procedure_code, channel FROM dossier WHERE code BETWEEN %(low)s AND %(high)s
UNION ALL
SELECT resolved_at, code, 'resolved', 'bench', code || '-s', resolved_at, province_code, commune_code, agency_code,
       NULL, NULL FROM dossier WHERE code BETWEEN %(low)s AND %(high)s AND resolved_at IS NOT NULL
UNION ALL
SELECT returned_at, code, 'returned', 'bench', code || '-t', returned_at, province_code, commune_code, agency_code,
       NULL, NULL FROM dossier WHERE code BETWEEN %(low)s AND %(high)s AND returned_at IS NOT NULL
UNION ALL
SELECT apology_at, code, 'apology_issued', 'bench', code || '-a', apology_at, province_code, commune_code,
       agency_code, NULL, NULL FROM dossier WHERE code BETWEEN %(low)s AND %(high)s AND apology_at IS NOT NULL
"""
# Migration 009's rebuild of the writer's rollup from the dossier table.
INSERT_DAILY = """
INSERT INTO dossier_daily (day, province_code, commune_code, agency_code, sector, received, received_online,
                           resolved, resolved_early, resolved_on_time, resolved_late)
SELECT day, province_code, commune_code, agency_code, sector, sum(received), sum(received_online), sum(resolved),
       sum(resolved_early), sum(resolved_on_time), sum(resolved_late)
FROM (
    SELECT (received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, province_code,
           coalesce(commune_code, '') AS commune_code, coalesce(agency_code, '') AS agency_code, sector,
           1 AS received, (channel = 'online')::int AS received_online,
           0 AS resolved, 0 AS resolved_early, 0 AS resolved_on_time, 0 AS resolved_late
    FROM dossier
    UNION ALL
    SELECT (resolved_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, province_code, coalesce(commune_code, ''),
           coalesce(agency_code, ''), sector, 0, 0, 1, (outcome = 'early')::int, (outcome = 'on_time')::int,
           (outcome = 'late')::int
    FROM dossier WHERE resolved_at IS NOT NULL AND outcome IS NOT NULL
) contributions
GROUP BY day, province_code, commune_code, agency_code, sector
"""
# The question asked of the raw rows: receipts and resolutions in the year from the event log,
# each resolution's outcome from its dossier. Local months, as the rollups count them.
RAW = """
SELECT e.province_code, date_trunc('month', e.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh') AS month,
       count(*) FILTER (WHERE e.event_type = 'received') AS received,
       count(*) FILTER (WHERE e.event_type = 'received' AND e.channel = 'online') AS online,
       count(*) FILTER (WHERE e.event_type = 'resolved') AS resolved,
       count(*) FILTER (WHERE e.event_type = 'resolved' AND d.outcome IN ('early', 'on_time')) AS in_time
FROM dossier_event e
LEFT JOIN dossier d ON e.event_type = 'resolved' AND d.code = e.dossier_code
WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s AND e.event_type IN ('received', 'resolved')
  {province}
GROUP BY 1, 2
"""

# The same question of the writer's full-detail daily rollup (commune × agency × sector × day),
# for comparison: what the coarse rollups save over it.
DETAIL = """
SELECT province_code, date_trunc('month', day::timestamp) AS month, sum(received), sum(received_online),
       sum(resolved), sum(resolved_early + resolved_on_time)
FROM dossier_daily
WHERE day >= %(start_day)s AND day < %(end_day)s {province}
GROUP BY 1, 2
"""

Answer = dict[tuple[str, date], tuple[float | None, float | None]]


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def timed(label: str, action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    log(f"{label}: {seconds:.1f} s")
    return seconds


def fill(url: str, dossiers: int, start: datetime, end: datetime) -> dict[str, float]:
    """A year of dossiers, their events and the writer's daily rollup, set-based."""
    setup: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.cursor().executemany(INSERT_PROCEDURES, PROCEDURES)
        conn.execute("SELECT ensure_dossier_event_partitions(%s, %s)", [start, end + timedelta(days=2)])
        conn.execute(MAKE_COMMUNES)
        conn.execute(MAKE_PROCEDURES)
        communes = conn.execute("SELECT count(*) FROM bench_commune").fetchone()
        assert communes is not None
        for statement in DROP_INDEXES:
            conn.execute(statement)
        chunk = 1_000_000

        def dossier_rows() -> None:
            for first in range(1, dossiers + 1, chunk):
                conn.execute(INSERT_DOSSIERS, {
                    "start": start, "end": end, "first": first, "last": min(first + chunk - 1, dossiers),
                    "communes": communes[0], "procedures": len(PROCEDURES)})  # fmt: skip

        def event_rows() -> None:
            for first in range(1, dossiers + 1, chunk):
                last = min(first + chunk - 1, dossiers)
                conn.execute(INSERT_EVENTS, {"low": f"BH-{first:09d}", "high": f"BH-{last:09d}"})

        setup["dossiers"] = timed(f"{dossiers:,} dossiers", dossier_rows)
        setup["events"] = timed("their events", event_rows)
        setup["daily"] = timed("dossier_daily (as migration 009 rebuilds it)", lambda: conn.execute(INSERT_DAILY))

        def indexes() -> None:
            for statement in CREATE_INDEXES:
                conn.execute(statement)

        setup["indexes"] = timed("secondary indexes", indexes)
        setup["analyze"] = timed("VACUUM ANALYZE", lambda: conn.execute("VACUUM ANALYZE"))
    return setup


async def backfill(url: str, now: datetime) -> tuple[float, int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        started = time.perf_counter()
        run = await refresh_flows(conn, now)
        seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as sync:
        sync.execute(
            "VACUUM ANALYZE dossier_hourly, dossier_daily_commune, dossier_daily_province, dossier_hour_ledger"
        )
    return seconds, run.dossiers


async def rollup_answer(conn: Conn, provinces: list[Place], starts: list[datetime], now: datetime) -> Answer:
    values = await bucket_values(conn, Scope.everything(), "province", provinces, CODES, starts, "month", now)
    return {(p.code, b.astimezone(LOCAL_TZ).date()): (values[CODES[0]][p.code][b], values[CODES[1]][p.code][b])
            for p in provinces for b in starts}  # fmt: skip


async def raw_answer(conn: Conn, provinces: list[Place], starts: list[datetime], end: datetime) -> Answer:
    province = "AND e.province_code = %(province)s" if len(provinces) == 1 else ""
    cur = await conn.execute(RAW.format(province=province).encode(),
                             {"start": starts[0], "end": end, "province": provinces[0].code})  # fmt: skip
    return _rates(provinces, starts, await cur.fetchall())


async def detail_answer(conn: Conn, provinces: list[Place], starts: list[datetime], end: datetime) -> Answer:
    province = "AND province_code = %(province)s" if len(provinces) == 1 else ""
    cur = await conn.execute(DETAIL.format(province=province).encode(), {
        "start_day": starts[0].astimezone(LOCAL_TZ).date(), "end_day": end.astimezone(LOCAL_TZ).date(),
        "province": provinces[0].code})  # fmt: skip
    return _rates(provinces, starts, await cur.fetchall())


def _rates(provinces: list[Place], starts: list[datetime], rows: list[Any]) -> Answer:
    counts = {(r[0], r[1].date()): r[2:] for r in rows}
    out: Answer = {}
    for p in provinces:
        for b in starts:
            received, online, resolved, in_time = counts.get((p.code, b.astimezone(LOCAL_TZ).date()), (0, 0, 0, 0))
            out[(p.code, b.astimezone(LOCAL_TZ).date())] = (in_time / resolved if resolved else None,
                                                            online / received if received else None)  # fmt: skip
    return out


def same(a: Answer, b: Answer) -> bool:
    if a.keys() != b.keys():
        return False
    for key, (x1, y1) in a.items():
        x2, y2 = b[key]
        for u, v in ((x1, x2), (y1, y2)):
            if (u is None) != (v is None) or (u is not None and v is not None and abs(u - v) > 1e-12):
                return False
    return True


def summarise(name: str, values: list[float], unit: str = "") -> str:
    return (f"{name:<22} median {statistics.median(values):>10.4f}{unit}  min {min(values):>10.4f}{unit}  "
            f"max {max(values):>10.4f}{unit}  runs {len(values)}")  # fmt: skip


async def bench(url: str, rounds: int, now: datetime, start: datetime, end: datetime) -> dict[str, list[float]]:
    """Warm-up and correctness round, then `rounds` interleaved rounds; one open connection per
    side, as a server's pool would hold, so connection set-up is in neither figure."""
    async with (
        await psycopg.AsyncConnection.connect(url) as rollup_conn,
        await psycopg.AsyncConnection.connect(url) as raw_conn,
    ):
        for conn in (rollup_conn, raw_conn):
            await conn.execute("SET TIME ZONE 'UTC'")
            await conn.commit()
        everything = await places(rollup_conn, Scope.everything(), "province")
        one = [p for p in everything if p.code == PROVINCE]
        starts = bucket_starts(start, end, "month")
        questions = {"a": one, "b": everything}

        async def ask(question: str, way: str) -> tuple[float, Answer]:
            chosen = questions[question]
            started = time.perf_counter()
            if way == "rollup":
                answer = await rollup_answer(rollup_conn, chosen, starts, now)
            elif way == "detail":
                answer = await detail_answer(raw_conn, chosen, starts, end)
            else:
                answer = await raw_answer(raw_conn, chosen, starts, end)
            return time.perf_counter() - started, answer

        for q in questions:
            _, rolled = await ask(q, "rollup")
            _, raw = await ask(q, "raw")
            _, detail = await ask(q, "detail")
            if not same(rolled, raw) or not same(rolled, detail):
                raise SystemExit(f"question {q}: the rollup, the raw rows and dossier_daily disagree")
            log(f"question {q}: rollup, raw and dossier_daily answers equal ({len(rolled)} province-months)")
        times: dict[str, list[float]] = {f"{q} {way}": [] for q in questions for way in WAYS}
        rng = Random(766)
        for n in range(rounds):
            jobs = [(q, way) for q in questions for way in WAYS]
            rng.shuffle(jobs)
            for q, way in jobs:
                seconds, _ = await ask(q, way)
                times[f"{q} {way}"].append(seconds)
            log(f"round {n + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.1f} ms" for k, v in times.items()))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()

    began = time.perf_counter()
    # The last twelve whole local months, ending at the start of this month.
    today = datetime.now(LOCAL_TZ)
    end = datetime(today.year, today.month, 1, tzinfo=LOCAL_TZ)
    start = datetime(end.year - 1, end.month, 1, tzinfo=LOCAL_TZ)
    now = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-history-"))
    root.chmod(0o755)
    with EmbeddedPostgres(root / "pgdata") as pg:
        url = pg.url
        apply_migrations(url)
        sync_localities(url, load_catalogue())
        setup = fill(url, args.dossiers, start, end)
        with psycopg.connect(url) as conn:
            events = conn.execute("SELECT count(*) FROM dossier_event").fetchone()
            daily = conn.execute("SELECT count(*) FROM dossier_daily").fetchone()
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        assert events is not None and daily is not None and size is not None
        log(f"{events[0]:,} events, {daily[0]:,} dossier_daily rows, database {size[0]}")
        job_seconds, job_dossiers = asyncio.run(backfill(url, now))
        log(f"history job backfill: {job_dossiers:,} dossiers in {job_seconds:.1f} s")
        with psycopg.connect(url) as conn:
            sizes = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()
                     for t in ("dossier_hourly", "dossier_daily_commune", "dossier_daily_province")}  # fmt: skip
        times = asyncio.run(bench(url, args.rounds, now, start, end))
    shutil.rmtree(root, ignore_errors=True)  # about 8 GB at the default size
    total = time.perf_counter() - began
    lines = [summarise(f"{k} ms", [t * 1000 for t in v]) for k, v in times.items()]
    for q in ("a", "b"):
        for peer in ("raw", "detail"):
            ratios = [slow / rolled for slow, rolled in zip(times[f"{q} {peer}"], times[f"{q} rollup"], strict=True)]
            lines.append(summarise(f"{q} {peer} / rollup", ratios, "×"))
    rows = ", ".join(f"{t} {c[0]:,}" for t, c in sizes.items() if c is not None)
    header = (f"### history_rollups — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {args.dossiers:,} dossiers, "
              f"{events[0]:,} events, {args.rounds} rounds, 2 cores")  # fmt: skip
    details = ("setup: " + ", ".join(f"{k} {v:.0f} s" for k, v in setup.items())
               + f", history job backfill {job_seconds:.0f} s ({job_dossiers:,} dossiers); rollups: {rows}; "
               f"dossier_daily {daily[0]:,} rows; database {size[0]}; whole run {total / 60:.1f} min")  # fmt: skip
    report = "\n".join([header, "", details, "", "```", *lines, "```", ""])
    print(report)
    if args.record:
        results = ROOT / "bench" / "RESULTS.md"
        results.write_text(results.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + report, encoding="utf-8")


if __name__ == "__main__":
    main()
