"""Ingest throughput: HTTP API and internal writer, each as a ratio to raw binary COPY.

    .venv/bin/python -m bench.ingest_throughput [--pairs 5] [--events 20000] [--batch 5000]

One embedded PostgreSQL, one migrated database. Each round measures, interleaved, the same
workload three ways on fresh ids (so nothing is a duplicate):
  copy    raw binary COPY of the rows into dossier_event — the peer, the floor of any writer;
  writer  DossierWriter.write on pre-validated batches, one transaction per batch: receipts,
          catalogue, binary COPY of the events, freshness, the projection-queue row — what a
          source waits for with `?ack=stored`;
  applied the writer, then DossierProjector.apply in a second transaction: dossier locks, the
          state fold (working-day deadlines), state and daily-rollup merges, NOTIFY — what a
          source waits for by default (`?ack=applied`);
  http    POST /api/v1/ingest/dossier-events (default ack) to a uvicorn process (a separate
          process, as in production), two concurrent clients: JSON parsing, validation,
          locality resolution, the writer and the projection.
The machine is shared and noisy, so the figures that matter are the per-round ratios to COPY;
the median and spread of each are printed and appended to bench/RESULTS.md with --record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

import httpx
import orjson
import psycopg

from ingest.lifecycle import DossierEvent, EventType
from ingest.parse import parse_batch
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter, copy_events
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source

ROOT = Path(__file__).resolve().parent.parent
PROCEDURES = [
    {"code": "1.001193", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 3},
    {"code": "1.004227", "name": "Cấp giấy chứng nhận quyền sử dụng đất", "sector": "Đất đai", "statutory_days": 15},
    {"code": "2.001610", "name": "Đăng ký thành lập doanh nghiệp", "sector": "Đăng ký kinh doanh",
     "statutory_days": 3},
]  # fmt: skip


def make_events(tag: str, n: int, rng: Random) -> list[dict[str, Any]]:
    """A realistic mix: about a third new receipts, the rest later steps of those dossiers."""
    communes = load_catalogue().communes
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    dossier = 0
    while len(events) < n:
        dossier += 1
        code = f"B-{tag}-{dossier}"
        commune = communes[rng.randrange(len(communes))]
        received = now - timedelta(days=rng.uniform(1, 20))
        base = {
            "dossier_code": code, "locality": {"commune_code": commune.code},
            "agency": {"code": f"UBND-{commune.code}", "name": f"UBND {commune.name}"},
        }  # fmt: skip
        steps = [("received", received), ("resolved", received + timedelta(days=rng.uniform(0.5, 8)))]
        if rng.random() < 0.5:
            steps.append(("returned", steps[-1][1] + timedelta(hours=4)))
        for i, (kind, at) in enumerate(steps):
            event = {**base, "event_id": f"{code}-{i}", "event_type": kind,
                     "occurred_at": min(at, now).isoformat()}  # fmt: skip
            if kind == "received":
                event["procedure"] = PROCEDURES[rng.randrange(len(PROCEDURES))]
                event["channel"] = "online" if rng.random() < 0.5 else "direct"
            events.append(event)
    return events[:n]


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def parsed(events: list[dict[str, Any]], procedures: ProcedureCache) -> Any:
    return parse_batch(
        events, source_id="bench", now=datetime.now(UTC), future_tolerance=timedelta(minutes=5),
        max_age=timedelta(days=3 * 365),
        catalogue=load_catalogue(), procedure_of=procedures.get,
    )  # fmt: skip


def as_rows(events: list[dict[str, Any]]) -> list[DossierEvent]:
    rows = []
    for e in events:
        rows.append(DossierEvent(
            datetime.fromisoformat(e["occurred_at"]), e["dossier_code"], EventType(e["event_type"]), "bench",
            e["event_id"], "01", e["locality"]["commune_code"], e["agency"]["code"],
            e.get("procedure", {}).get("code"), e.get("channel"),
        ))  # fmt: skip
    return rows


async def run_copy(url: str, events: list[dict[str, Any]], batch: int) -> float:
    rows = as_rows(events)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        started = time.perf_counter()
        now = datetime.now(UTC)
        for chunk in batches(rows, batch):
            async with conn.transaction():
                await copy_events(conn, chunk, now)
        return len(rows) / (time.perf_counter() - started)


async def run_writer(url: str, events: list[dict[str, Any]], batch: int, *, apply: bool) -> float:
    procedures, calendars = ProcedureCache(), CalendarStore()
    writer, projector = DossierWriter(procedures), DossierProjector(procedures, calendars)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("SET TIME ZONE 'UTC'")
        await calendars.refresh_if_stale(conn)
        await procedures.prefetch(conn, {str(p["code"]) for p in PROCEDURES})
        await conn.commit()
        prepared = [parsed(chunk, procedures) for chunk in batches(events, batch)]
        await writer.ensure_partitions(conn, [e for b in prepared for _, e, _ in b.accepted])
        started = time.perf_counter()
        for b in prepared:
            async with conn.transaction():
                outcome = await writer.write(conn, "bench", b, datetime.now(UTC))
            if apply:
                async with conn.transaction():
                    await projector.apply(conn, outcome)
            assert outcome.rejected == 0 and outcome.duplicate == 0, outcome.as_dict()["results"][:3]
        elapsed = time.perf_counter() - started
        if not apply:  # the queue rows of this round are applied off the clock, so no round inherits them
            while await projector.catch_up(conn, grace=timedelta(0)):
                pass
        return len(events) / elapsed


async def run_http(base: str, key: str, events: list[dict[str, Any]], batch: int, clients: int = 2) -> float:
    bodies = [orjson.dumps(chunk) for chunk in batches(events, batch)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client() -> None:
        # A new connection per batch, as a source posting a batch now and then opens one: the
        # workers share one listening socket, and a kept-alive connection stays with the worker
        # that accepted it. Two long-lived connections often landed on the same worker, which then
        # did all the work while the other idled (seen with py-spy); a fresh connection goes to a
        # worker free to accept it.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
            while not queue.empty():
                body = queue.get_nowait()
                r = await c.post("/api/v1/ingest/dossier-events", content=body, headers=headers)
                r.raise_for_status()
                summary = r.json()
                assert summary["rejected"] == 0 and summary["duplicate"] == 0, summary["results"][:3]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(events) / (time.perf_counter() - started)


def start_api(url: str, port: int, data_dir: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IOC_DATABASE_URL": url, "IOC_PORT": str(port), "IOC_MAX_BATCH_ITEMS": "20000",
           "IOC_MAX_BODY_BYTES": str(64 * 1024 * 1024), "IOC_DATA_DIR": str(data_dir)}  # fmt: skip
    log = open(data_dir / "api.log", "wb")  # noqa: SIM115 - lives as long as the process
    command = [sys.executable, "-m", "ioc.cli", "api", "--workers", str(workers)]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"API did not start; see {data_dir / 'api.log'}")


def summarise(name: str, values: list[float]) -> str:
    return (f"{name:<16} median {statistics.median(values):>10.3f}  min {min(values):>10.3f}  "
            f"max {max(values):>10.3f}  runs {len(values)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes for the http path")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
    root.chmod(0o755)
    rng = Random(766)
    results: dict[str, list[float]] = {"copy": [], "writer": [], "applied": [], "http": []}
    with EmbeddedPostgres(root / "pgdata") as pg:
        url = pg.url
        apply_migrations(url)
        sync_localities(url, load_catalogue())
        key = register_source(url, "bench", "Benchmark")
        with psycopg.connect(url) as conn:
            conn.execute("SELECT ensure_dossier_event_partitions(now() - interval '60 days', now())")
        port = free_port()
        api = start_api(url, port, root, args.api_workers)
        try:
            warm = make_events("warm", 2_000, rng)
            asyncio.run(run_http(f"http://127.0.0.1:{port}", key, warm, 1_000))
            for i in range(args.pairs):
                order: list[tuple[str, Callable[[list[dict[str, Any]]], Any]]] = [
                    ("copy", lambda ev: run_copy(url, ev, args.batch)),
                    ("writer", lambda ev: run_writer(url, ev, args.batch, apply=False)),
                    ("applied", lambda ev: run_writer(url, ev, args.batch, apply=True)),
                    ("http", lambda ev: run_http(f"http://127.0.0.1:{port}", key, ev, args.batch)),
                ]
                rng.shuffle(order)  # no method always runs on the warmest (or most bloated) table
                for name, fn in order:
                    events = make_events(f"{name}{i}", args.events, rng)
                    rate = asyncio.run(fn(events))
                    results[name].append(rate)
                    print(f"round {i + 1} {name:<7} {rate:>10.0f} events/s", flush=True)
        finally:
            api.terminate()
            api.wait(timeout=30)
    writer_ratio = [w / c for w, c in zip(results["writer"], results["copy"], strict=True)]
    applied_ratio = [w / c for w, c in zip(results["applied"], results["copy"], strict=True)]
    http_ratio = [h / c for h, c in zip(results["http"], results["copy"], strict=True)]
    lines = [
        summarise("copy events/s", results["copy"]),
        summarise("writer events/s", results["writer"]),
        summarise("applied events/s", results["applied"]),
        summarise("http events/s", results["http"]),
        summarise("writer / copy", writer_ratio),
        summarise("applied / copy", applied_ratio),
        summarise("http / copy", http_ratio),
    ]
    print("\n".join(lines))
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
            heading = (
                f"\n### ingest_throughput — {stamp} — {args.pairs} rounds × {args.events} events, batches of "
                f"{args.batch}, {args.api_workers} API workers, {os.cpu_count()} cores\n\n"
            )
            out.write(heading + "```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
