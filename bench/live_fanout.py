"""Live fan-out: event-to-screen latency and memory per idle WebSocket, IOC against a bare server.

    .venv/bin/python -m bench.live_fanout [--clients 1000] [--rounds 20] [--record]

IOC   — an embedded PostgreSQL and `ioc api` (one process). `--clients` WebSocket clients over as
        many distinct scopes: one national display, every province (displays), and communes spread
        over the provinces (half displays, half operators with a commune scope). Each sends its
        hello with its token and takes its snapshot.
bare  — a `websockets` server in its own process (the library IOC's clients use; no compression,
        as `ioc api` runs) that keeps every client and broadcasts what a control client sends it.
        The same number of clients connect to it.

Memory: each server's RSS (VmRSS) before the clients connect and after they are all connected,
taken their snapshots and sat idle for a few seconds; (after − before) / clients.

Latency, per round (IOC and bare rounds alternate, a second apart so no coalescing window carries
over): IOC — one transaction writes a commune's receipt into the rollup, bumps the dossier feed's
freshness and notifies `ioc_live` as the writer does; t0 = just before its commit. Every screen
shows the freshness, so every client gets a delta. bare — t0 = just before the control client asks
for a broadcast of the IOC delta the national screen received (the same payload). A client's
latency is its first message after t0; p50 / p99 over every client of every round.

Loopback only; each loop is bounded (clients, rounds, a timeout per round).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import Random

import httpx
import orjson
import psycopg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ioc.auth.credentials import digest, new_credential
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.live.channel import NOTIFY_LIVE
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source

ROOT = Path(__file__).resolve().parent.parent
ROUND_TIMEOUT = 15.0
SETTLE_SECONDS = 3.0

BARE_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from websockets.asyncio.server import broadcast, serve

    clients = set()

    async def handler(ws):
        first = await ws.recv()
        if first.startswith("control"):
            async for message in ws:
                broadcast(clients, message)
            return
        await ws.send(first)  # stands in for the snapshot
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def main():
        async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
            print("ready", flush=True)
            await asyncio.Future()

    asyncio.run(main())
    """
)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


# --------------------------------------------------------------------------- scopes and tokens


@dataclass(frozen=True)
class Screen:
    scope: Scope
    token: str


def make_screens(url: str, count: int, rng: Random) -> tuple[list[Screen], str]:
    """`count` distinct scopes with a credential each; and a commune of the first province."""
    catalogue = load_catalogue()
    provinces = sorted(p.code for p in catalogue.provinces)
    scopes: list[Scope] = [Scope.everything()] + [Scope.from_dict({"provinces": [p]}) for p in provinces]
    communes = sorted(c.code for c in catalogue.communes)
    rng.shuffle(communes)
    scopes += [Scope.from_dict({"communes": [c]}) for c in communes[: max(0, count - len(scopes))]]
    scopes = scopes[:count]
    screens: list[Screen] = []
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for i, scope in enumerate(scopes):
            scope_json = orjson.dumps(scope.as_dict()).decode()
            if scope.communes and i % 2:
                token = new_credential("access")
                cur.execute(
                    "INSERT INTO app_user (username, display_name, password_hash, role, scope)"
                    " VALUES (%s, %s, 'x', 'operator', %s) RETURNING id",
                    [f"truc-ban-{i}", f"Trực ban {i}", scope_json],
                )
                row = cur.fetchone()
                assert row is not None
                cur.execute(
                    "INSERT INTO auth_token (token_sha256, kind, user_id, family, expires_at)"
                    " VALUES (%s, 'access', %s, %s, now() + interval '1 day')",
                    [digest(token), row[0], secrets.token_hex(8)],
                )
            else:
                token = new_credential("display")
                cur.execute(
                    "INSERT INTO display_token (screen_name, scope, token_sha256, created_by)"
                    " VALUES (%s, %s, %s, 'bench')",
                    [f"Màn hình {i}", scope_json, digest(token)],
                )
            screens.append(Screen(scope, token))
    commune = next(c for c in sorted(catalogue.communes, key=lambda c: c.code) if c.province_code == provinces[0])
    return screens, commune.code


# --------------------------------------------------------------------------- clients


@dataclass
class Client:
    ws: ClientConnection
    arrivals: list[float] = field(default_factory=list)
    last: bytes | str = b""

    async def read(self) -> None:
        try:
            async for message in self.ws:
                self.arrivals.append(time.monotonic())
                self.last = message
        except (ConnectionClosed, OSError):  # a client that drops shows up as a missing arrival
            return


async def open_clients(url: str, hellos: list[str], opened: int = 50) -> list[Client]:
    """Connect every client and wait for its first message (snapshot), `opened` at a time."""
    clients: list[Client] = []
    gate = asyncio.Semaphore(opened)

    async def one(hello: str) -> Client:
        async with gate:
            ws = await connect(url, compression=None, max_size=None, open_timeout=60, ping_interval=None)
            await ws.send(hello)
            first = await asyncio.wait_for(ws.recv(), 60)
            client = Client(ws, last=first)
            return client

    clients = list(await asyncio.gather(*(one(h) for h in hellos)))
    return clients


async def round_latencies(clients: list[Client], t0: float) -> list[float]:
    deadline = time.monotonic() + ROUND_TIMEOUT
    while time.monotonic() < deadline:
        if all(any(a > t0 for a in c.arrivals) for c in clients):
            break
        await asyncio.sleep(0.02)
    out = []
    for c in clients:
        after = [a for a in c.arrivals if a > t0]
        out.append(after[0] - t0 if after else float("inf"))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def ioc_change(url: str, source: str, province: str, commune: str) -> float:
    """One committed change every screen shows; the monotonic time just before the commit."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(
            "INSERT INTO dossier_daily (day, province_code, commune_code, sector, received)"
            " VALUES ((now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, %s, %s, 'Tư pháp', 1)",
            [province, commune],
        )
        await conn.execute(
            "INSERT INTO feed_freshness (source_id, stream, last_event_at, last_ingest_at)"
            " VALUES (%s, 'dossier', now(), now()) ON CONFLICT (source_id, stream)"
            " DO UPDATE SET last_event_at = now(), last_ingest_at = now()",
            [source],
        )
        await conn.execute(NOTIFY_LIVE, [orjson.dumps({"stream": "dossier", "provinces": [province]}).decode()])
        t0 = time.monotonic()
        await conn.commit()
    return t0


# --------------------------------------------------------------------------- servers


def start_ioc(url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IOC_DATABASE_URL": url, "IOC_PORT": str(port), "IOC_DATA_DIR": str(data_dir)}
    log = open(data_dir / "api.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "ioc.cli", "api"], env=env, stdout=log, stderr=log)
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


def start_bare(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise RuntimeError("the bare websockets server did not start")
    return proc


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    ioc_latency: list[float] = field(default_factory=list)
    bare_latency: list[float] = field(default_factory=list)
    ioc_kib_per_client: float = 0.0
    bare_kib_per_client: float = 0.0
    ioc_snapshot_bytes: int = 0


async def run(url: str, source: str, screens: list[Screen], commune: str, ioc_port: int, ioc_pid: int,
              bare_port: int, bare_pid: int, rounds: int) -> Figures:  # fmt: skip
    figures = Figures()
    hellos = [orjson.dumps({"type": "hello", "epoch": None, "last_seq": None, "token": s.token}).decode()
              for s in screens]  # fmt: skip
    await asyncio.sleep(SETTLE_SECONDS)
    before = rss_kib(ioc_pid)
    ioc_clients = await open_clients(f"ws://127.0.0.1:{ioc_port}/ws", hellos)
    readers = [asyncio.create_task(c.read()) for c in ioc_clients]
    await asyncio.sleep(SETTLE_SECONDS)
    figures.ioc_kib_per_client = (rss_kib(ioc_pid) - before) / len(ioc_clients)
    figures.ioc_snapshot_bytes = len(ioc_clients[0].last)

    bare_before = rss_kib(bare_pid)
    bare_clients = await open_clients(f"ws://127.0.0.1:{bare_port}", hellos)
    readers += [asyncio.create_task(c.read()) for c in bare_clients]
    await asyncio.sleep(SETTLE_SECONDS)
    figures.bare_kib_per_client = (rss_kib(bare_pid) - bare_before) / len(bare_clients)
    control = await connect(f"ws://127.0.0.1:{bare_port}", compression=None, max_size=None)
    await control.send("control")

    province_code = load_catalogue().province_code_of(commune)
    assert province_code is not None
    # One round unrecorded: the first deltas of a process (imports, caches) are no one's steady state.
    for i in range(-1, rounds):
        t0 = await ioc_change(url, source, province_code, commune)
        latencies = await round_latencies(ioc_clients, t0)
        payload = ioc_clients[0].last  # the national screen's delta: the payload the bare server sends
        await asyncio.sleep(1.0)
        t0 = time.monotonic()
        await control.send(payload)
        bare = await round_latencies(bare_clients, t0)
        if i >= 0:
            figures.ioc_latency += latencies
            figures.bare_latency += bare
        missing = sum(1 for v in latencies + bare if v == float("inf"))
        print(f"round {i + 1 or 'warm-up'}: IOC p50 {percentile(latencies, 0.5) * 1000:7.1f} ms p99 "
              f"{percentile(latencies, 0.99) * 1000:7.1f} ms | bare p50 {percentile(bare, 0.5) * 1000:7.1f} ms "
              f"p99 {percentile(bare, 0.99) * 1000:7.1f} ms | missing {missing}", flush=True)  # fmt: skip
        await asyncio.sleep(1.0)
    await control.close()
    for c in ioc_clients + bare_clients:
        await c.ws.close()
    for task in readers:
        task.cancel()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()
    raise_fd_limit()
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-live-"))
    root.chmod(0o755)
    with EmbeddedPostgres(root / "pgdata") as pg:
        url = pg.url
        apply_migrations(url)
        sync_localities(url, load_catalogue())
        register_source(url, "bench", "Benchmark")
        screens, commune = make_screens(url, args.clients, Random(766))
        ioc_port, bare_port = free_port(), free_port()
        api = start_ioc(url, ioc_port, root)
        bare = start_bare(bare_port)
        try:
            figures = asyncio.run(
                run(url, "bench", screens, commune, ioc_port, api.pid, bare_port, bare.pid, args.rounds)
            )
        finally:
            for proc in (api, bare):
                proc.terminate()
                proc.wait(timeout=30)
    report(figures, args)


def report(f: Figures, args: argparse.Namespace) -> None:
    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    ioc50, ioc99, bare50, bare99 = (
        ms(f.ioc_latency, 0.5),
        ms(f.ioc_latency, 0.99),
        ms(f.bare_latency, 0.5),
        ms(f.bare_latency, 0.99),
    )
    lost = sum(1 for v in f.ioc_latency + f.bare_latency if v == float("inf"))
    lines = [
        f"event-to-screen  IOC  p50 {ioc50:7.1f} ms  p99 {ioc99:7.1f} ms  "
        f"(max {max(f.ioc_latency) * 1000:.1f}, mean {statistics.fmean(f.ioc_latency) * 1000:.1f})",
        f"event-to-screen  bare p50 {bare50:7.1f} ms  p99 {bare99:7.1f} ms  "
        f"(max {max(f.bare_latency) * 1000:.1f}, mean {statistics.fmean(f.bare_latency) * 1000:.1f})",
        f"IOC / bare       p50 {ioc50 / bare50:5.2f}×   p99 {ioc99 / bare99:5.2f}×",
        f"memory / idle WebSocket  IOC {f.ioc_kib_per_client:6.1f} KiB   bare {f.bare_kib_per_client:6.1f} KiB"
        f"   (RSS delta / {args.clients})",
        f"national snapshot {f.ioc_snapshot_bytes} bytes; samples {len(f.ioc_latency)} + {len(f.bare_latency)}"
        f" ({args.rounds} rounds × {args.clients} clients); clients that missed a round: {lost}",
    ]
    print("\n".join(lines))
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(
                f"\n### live_fanout — {stamp} — {args.clients} clients over {args.clients} scopes, "
                f"{args.rounds} rounds, {os.cpu_count()} cores\n\n```\n" + "\n".join(lines) + "\n```\n"
            )


if __name__ == "__main__":
    main()
