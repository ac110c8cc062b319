"""Alert queue paging and the live credential re-check, each against its peer in the same run.

    .venv/bin/python -m bench.alert_queue [--alerts 200000] [--clients 1000] [--rounds 7]

Against an embedded PostgreSQL 15 (fresh, migrations applied) holding --alerts alerts shaped like
a long-running centre's table: 2 % open (firing and pending), the rest resolutions spread over a
year, three severities, 34 provinces.

  paging  — GET /api/v1/alerts' query (`read_queue_page`: keyset cursor, nine index ranges of
            alert_queue_idx), a page of 50 at a depth of 0, 1,000, 10,000 and 100,000 rows;
            peer: the same order with OFFSET (the usual first implementation), same depth.
            Both national scope, no filters; also the snapshot's page (resolutions of the day).
  recheck — --clients credentials due together (a third access tokens, a third session
            cookies, a third display tokens; every tenth revoked): `principals_for_all`, one
            statement, against `principal_for` once per client on the same connection (the
            re-check before this change). Rolled back after each round.

Median, min and max over --rounds; ratios from medians of the same run. No assertions: a report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.alert_latency import ioc_world
from ioc.auth.credentials import Kind, digest, new_credential
from ioc.auth.recheck import principals_for_all
from ioc.auth.resolve import Presented, Unauthenticated, principal_for
from ioc.auth.scope import Scope
from ioc.live.alert_queue import (
    QUEUE_RESOLVED_WINDOW,
    QUEUE_START,
    SELECT_QUEUE_PAGE,
    QueueKey,
    read_queue_page,
)
from ioc.live.alerts import ALERT_COLUMNS, ALERT_SCOPE

PAGE = 50
DEPTHS = (0, 1_000, 10_000, 100_000)
SEED_ALERTS = """
INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, value, summary_vi, summary_en,
                   active_since, fired_at, resolved_at, updated_at)
SELECT 'overdue', 'bench-' || g, '{}', (ARRAY['critical', 'warning', 'info'])[1 + g %% 3], s.state,
       lpad((1 + g %% 34)::text, 2, '0'), g, 'Cảnh báo #' || g, 'Alert #' || g,
       %(now)s - (g %% 525600) * interval '1 minute' - interval '1 hour',
       CASE WHEN s.state <> 'pending' THEN %(now)s - (g %% 525600) * interval '1 minute' - interval '30 minutes' END,
       CASE WHEN s.state = 'resolved' THEN %(now)s - (g %% 525600) * interval '1 minute' END, %(now)s
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT CASE WHEN g %% 100 = 0 THEN 'firing' WHEN g %% 100 = 1 THEN 'pending'
                     ELSE 'resolved' END AS state) s
"""
# The peer: the same order, paged by OFFSET.
OFFSET_PAGE = f"""
SELECT {ALERT_COLUMNS} FROM alert WHERE {ALERT_SCOPE}
ORDER BY (CASE state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END),
         (CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 WHEN 'info' THEN 2 ELSE 3 END),
         coalesce(resolved_at, fired_at, active_since) DESC, id
OFFSET %(offset)s LIMIT %(limit)s
"""


def stats(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:9.3f} ms  min {min(values) * 1000:9.3f}  "
            f"max {max(values) * 1000:9.3f}  n {len(values)}")  # fmt: skip


async def timed(rounds: int, work: Callable[[], Awaitable[Any]]) -> list[float]:
    await work()  # warm: plan caches, buffers
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        await work()
        out.append(time.perf_counter() - start)
    return out


async def bench_paging(url: str, rounds: int) -> dict[str, float]:
    scope = Scope.everything()
    medians: dict[str, float] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # The cursor at each depth: the key of the row just before it (read once, untimed).
        key_sql = OFFSET_PAGE.replace(
            ALERT_COLUMNS, "id, state, severity, coalesce(resolved_at, fired_at, active_since)"
        )
        cur = await conn.execute(key_sql, {"offset": 0, "limit": max(DEPTHS), **scope.sql_params()})
        keys = await cur.fetchall()
        for depth in DEPTHS:
            after = None
            if depth:
                row: Any = keys[depth - 1]
                ranks = ({"firing": 0, "pending": 1}.get(row[1], 2), ("critical", "warning", "info").index(row[2]))
                after = QueueKey(ranks[0], ranks[1], row[3], int(row[0]))

            async def keyset_page(after: QueueKey | None = after) -> None:
                await read_queue_page(conn, scope, limit=PAGE, after=after)

            async def offset_page(depth: int = depth) -> None:
                cur = await conn.execute(OFFSET_PAGE, {"offset": depth, "limit": PAGE, **scope.sql_params()})
                await cur.fetchall()

            async def keyset_sql(after: QueueKey | None = after) -> None:
                params = {"state": None, "province": None, "resolved_since": None, "limit": PAGE + 1,
                          **(QUEUE_START if after is None else after.sql_params()), **scope.sql_params()}  # fmt: skip
                cur = await conn.execute(SELECT_QUEUE_PAGE, params)
                await cur.fetchall()

            keyset = await timed(rounds, keyset_page)
            bare = await timed(rounds, keyset_sql)
            offset = await timed(rounds, offset_page)
            medians[f"keyset@{depth}"] = statistics.median(keyset)
            medians[f"offset@{depth}"] = statistics.median(offset)
            medians[f"bare@{depth}"] = statistics.median(bare)
            print(f"page of {PAGE} at depth {depth:>7}  keyset  {stats(keyset)}  (read_queue_page, rows as dicts)")
            print(f"page of {PAGE} at depth {depth:>7}  keyset  {stats(bare)}  (its SQL only)")
            print(f"page of {PAGE} at depth {depth:>7}  OFFSET  {stats(offset)}")
        params = {"state": None, "province": None, "resolved_since": None, "limit": PAGE + 1, **QUEUE_START,
                  **scope.sql_params()}  # fmt: skip
        cur = await conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + SELECT_QUEUE_PAGE, params)
        explained: Any = await cur.fetchone()
        plan = explained[0][0]
        planning, execution = plan["Planning Time"], plan["Execution Time"]
        print(f"first page, server side: planning {planning:.3f} ms, execution {execution:.3f} ms")
        since = datetime.now(UTC) - QUEUE_RESOLVED_WINDOW
        snap = await timed(rounds, lambda: read_queue_page(conn, scope, limit=PAGE, resolved_since=since))
        medians["snapshot"] = statistics.median(snap)
        print(f"snapshot's first page (day's resolutions)  {stats(snap)}")
    return medians


def seed_credentials(url: str, n: int) -> list[Presented]:
    presented: list[Presented] = []
    scope = '{"national": true}'
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute(
            "INSERT INTO app_user (username, display_name, role, scope) SELECT 'bench-' || g, 'Người đo ' || g,"
            " 'leader', %s::jsonb FROM generate_series(1, %s) g RETURNING id", [scope, n]).fetchall()]  # fmt: skip
        expires = datetime.now(UTC) + timedelta(hours=1)
        for i, user_id in enumerate(ids):
            kind: Kind = ("access", "session", "display")[i % 3]
            token = new_credential(kind)
            revoked = datetime.now(UTC) if i % 10 == 0 else None
            if kind == "display":
                conn.execute("INSERT INTO display_token (screen_name, scope, token_sha256, created_by, revoked_at)"
                             " VALUES (%s, %s::jsonb, %s, 'bench', %s)", [f"Màn hình {i}", scope, digest(token),
                                                                         revoked])  # fmt: skip
            else:
                conn.execute("INSERT INTO auth_token (token_sha256, kind, user_id, family, expires_at, revoked_at)"
                             " VALUES (%s, %s, %s, %s, %s, %s)", [digest(token), kind, user_id, f"f{i}", expires,
                                                                 revoked])  # fmt: skip
            presented.append(Presented(token, "cookie" if kind == "session" else "bearer"))
    return presented


async def bench_recheck(url: str, presented: list[Presented], rounds: int) -> dict[str, float]:
    async with await psycopg.AsyncConnection.connect(url) as conn:

        async def batch() -> None:
            await principals_for_all(conn, presented, datetime.now(UTC))
            await conn.rollback()

        async def one_by_one() -> None:
            now = datetime.now(UTC)
            for credential in presented:
                with contextlib.suppress(Unauthenticated):
                    await principal_for(conn, credential, now)
            await conn.rollback()

        batched = await timed(rounds, batch)
        single = await timed(rounds, one_by_one)
    print(f"re-check of {len(presented)} clients  one statement     {stats(batched)}")
    print(f"re-check of {len(presented)} clients  one per client    {stats(single)}")
    return {"batch": statistics.median(batched), "single": statistics.median(single)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"{platform.platform()}, Python {platform.python_version()}; {args.alerts} alerts, {args.clients} clients")
    with tempfile.TemporaryDirectory(prefix="ioc-bench-queue-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        pg, url, _ = ioc_world(work)
        try:
            with psycopg.connect(url) as conn:
                conn.execute(SEED_ALERTS, {"now": datetime.now(UTC), "n": args.alerts})
                conn.execute("ANALYZE alert")
            paging = asyncio.run(bench_paging(url, args.rounds))
            recheck = asyncio.run(bench_recheck(url, seed_credentials(url, args.clients), args.rounds))
        finally:
            pg.stop()
    for depth in DEPTHS:
        ratio = paging[f"bare@{depth}"] / paging[f"offset@{depth}"]
        print(f"depth {depth:>7}: keyset SQL / OFFSET SQL = {ratio:.3f}")
    print(f"keyset depth {max(DEPTHS)} / depth 0 = {paging[f'keyset@{max(DEPTHS)}'] / paging['keyset@0']:.2f}")
    print(f"re-check one statement / one per client = {recheck['batch'] / recheck['single']:.3f}")


if __name__ == "__main__":
    main()
