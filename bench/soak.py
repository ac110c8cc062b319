"""Soak: the product as separate processes at national volume, watched from outside over time.

    .venv/bin/python -m bench.soak [--minutes 30] [--clients 1000] [--rate 50] [--time-scale 60]
                                   [--sample-seconds 30] [--out bench/soak-latest.json]

What runs (all on loopback, on one embedded PostgreSQL 15 made for the run):
  - `ioc api --workers 2` and `ioc alerts --metrics-port P` as separate processes, as production
    runs them (docker-compose.yml);
  - `ioc simulate` replaying the past `--minutes` × `--time-scale` at full national volume (a day
    in 30 minutes by default), so the replay reaches real time as the run ends, then live;
  - `--clients` WebSocket clients over as many distinct scopes: one national display, one per
    province (34), the rest commune displays, each with its own display token (1,000 scopes for
    1,000 clients), all in this process;
  - probes: `/readyz` five times a second, the province status and the alert list once a second,
    each timed from here;
  - G5 probe: a source of its own registers dossiers of a procedure no one else uses, in one
    commune, received one working day before a due instant that falls during the run, and a
    display scoped to that commune and that procedure's sector watches them. With no further
    event, each must show as overdue on that screen once its deadline passes; the delay from the
    deadline to the screen's overdue count changing is G5. Due instants fall within office hours,
    so G5 is measured only when the run overlaps Vietnamese office hours on a working day (the
    report says when it could not be).

Every `--sample-seconds` it records: p50/p99 of each probe over the interval, the API's event-loop
lag (scraped, so from whichever worker answered), firing alerts by rule, the alert process's
evaluation and planning round times and its loop lag, RSS of every process (API master and
workers, alerts, simulator, PostgreSQL in total, this process), the delivery backlog and the
WebSocket clients still connected. The whole series and a summary go to `--out` (JSON) and to the
console. Targets (issue #11): no request waits > 100 ms for alert work, `/readyz` p99 ≤ 100 ms,
RSS flat after warm-up, G5 p99 ≤ 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import websockets

from ingest.lifecycle import LOCAL_TZ
from ingest.reference import CalendarStore
from ioc.auth import bootstrap
from ioc.auth.policy import Role
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source

G5_PROCEDURE = {"code": "BENCH.G5", "name": "Thủ tục đo G5", "sector": "Đo kiểm G5", "statutory_days": 1}
G5_SECTOR = str(G5_PROCEDURE["sector"])
G5_COMMUNE = "00004"  # Phường Ba Đình, Hà Nội: the G5 screen sees it through the G5 sector only


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        out = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(p) for p in out]


def postgres_rss_kib() -> int:
    """All postgres processes (the run's cluster is the only one expected on a bench machine)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    total += rss_kib(int(entry.name))
    return total


def metric_samples(text: str, name: str) -> dict[str, float]:
    """`name{labels} value` lines → {labels: value} (labels as written)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            out[head[len(name) :]] = float(value)
    return out


def histogram_mean(text: str, name: str, labels: str = "") -> tuple[float, float]:
    """(sum, count) of a histogram, to difference between two scrapes."""
    total = metric_samples(text, f"{name}_sum").get(labels, 0.0)
    count = metric_samples(text, f"{name}_count").get(labels, 0.0)
    return total, count


@dataclass
class Probe:
    name: str
    path: str
    every: float
    token: str | None = None
    times: list[float] = field(default_factory=list)
    errors: int = 0

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await client.get(self.path, headers=headers)
                if response.status_code != 200:
                    self.errors += 1
            except httpx.HTTPError:
                self.errors += 1
            self.times.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, self.every - (time.perf_counter() - started)))

    def take(self) -> dict[str, Any]:
        times, self.times = self.times, []
        errors, self.errors = self.errors, 0
        return {
            "n": len(times), "errors": errors,
            "p50_ms": _ms(percentile(times, 0.5)), "p99_ms": _ms(percentile(times, 0.99)),
            "max_ms": _ms(max(times, default=None)),
        }  # fmt: skip


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


@dataclass
class Screens:
    """The WebSocket clients: connected count, messages, and the G5 screen's overdue readings."""

    connected: int = 0
    messages: int = 0
    failures: int = 0
    g5_changes: list[tuple[float, int]] = field(default_factory=list)  # (wall time, overdue count)

    async def client(self, url: str, token: str, stop: asyncio.Event, *, g5: bool = False) -> None:
        try:
            async with websockets.connect(url, max_size=None, open_timeout=60, ping_interval=None) as ws:
                await ws.send(orjson.dumps({"type": "hello", "epoch": None, "last_seq": None, "token": token}).decode())
                self.connected += 1
                try:
                    last = None
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
                        except TimeoutError:
                            continue
                        self.messages += 1
                        if g5:
                            overdue = overdue_in(orjson.loads(raw))
                            if overdue is not None and overdue != last:
                                last = overdue
                                self.g5_changes.append((time.time(), overdue))
                finally:
                    self.connected -= 1
        except (OSError, websockets.WebSocketException, TimeoutError):
            self.failures += 1


def overdue_in(message: Any) -> int | None:
    """The overdue count a G5 screen sees, from a snapshot (`provinces`: its rows, counted over
    in-scope dossiers only) or a delta (`changes`: `province:<code>` rows). The G5 scope is one
    commune and one sector nothing else uses, so its province row counts only the G5 dossiers."""
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        return None
    if message.get("type") == "snapshot" and isinstance(data.get("provinces"), list):
        return sum(int(row.get("overdue", 0)) for row in data["provinces"] if isinstance(row, dict))
    changes = data.get("changes")
    if not isinstance(changes, dict):
        return None
    rows = [row for key, row in changes.items() if key.startswith("province:") and isinstance(row, dict)]
    return sum(int(row.get("overdue", 0)) for row in rows) if rows else None


def g5_receipts(start: datetime, minutes: float, every: float) -> list[tuple[datetime, datetime]]:
    """(received_at, due_at) pairs whose statutory due instant (one working day) falls during the
    run, every `every` seconds from 3 minutes in, as IOC's own calendar computes it."""
    calendar = CalendarStore().calendar_for("")
    pairs = []
    t = start + timedelta(minutes=3)
    end = start + timedelta(minutes=minutes) - timedelta(minutes=2)
    while t < end:
        for back in range(1, 12):
            received = t - timedelta(days=back)
            due = calendar.add_working_days(received, 1)
            if due == t:
                pairs.append((received, due))
                break
        t += timedelta(seconds=every)
    return pairs


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def scopes_for(count: int) -> list[tuple[str, Scope]]:
    catalogue = load_catalogue()
    out: list[tuple[str, Scope]] = [("Toàn quốc", Scope.everything())]
    out += [(f"Tỉnh {p.code}", Scope(provinces=frozenset({p.code}))) for p in catalogue.provinces]
    communes = sorted(catalogue.communes, key=lambda c: c.code)
    step = max(1, len(communes) // max(1, count - len(out)))
    for commune in communes[::step]:
        if len(out) >= count:
            break
        out.append((f"Xã {commune.code}", Scope(communes=frozenset({commune.code}))))
    return out[:count]


async def sample_database(url: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT rule_id, count(*) FROM alert WHERE state = 'firing' GROUP BY rule_id ORDER BY 2 DESC"
        )
        firing = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM delivery "
            "WHERE status = 'pending'"
        )
        pending, oldest = await cur.fetchone() or (0, 0)
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE closed_at IS NULL),"
            " count(*) FILTER (WHERE closed_at IS NULL AND due_at < now()), count(*) FROM dossier"
        )
        open_, overdue, total = await cur.fetchone() or (0, 0, 0)
        cur = await conn.execute("SELECT count(*) FROM dossier_projection_queue")
        queued = (await cur.fetchone() or (0,))[0]
    return {
        "firing_by_rule": firing, "firing_total": sum(firing.values()),
        "deliveries_pending": int(pending), "oldest_pending_delivery_s": round(float(oldest), 1),
        "dossiers": int(total), "open": int(open_), "overdue": int(overdue), "projection_queue": int(queued),
    }  # fmt: skip


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    with EmbeddedPostgres(work / "pgdata") as pg:
        url = pg.url
        subprocess.run([sys.executable, "-m", "ioc.cli", "migrate"], env={**os.environ, "IOC_DATABASE_URL": url},
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        # Credentials first (the product's own bootstrap functions run their own event loops).
        sim_key = register_source(url, "simulator", "Bộ mô phỏng (simulator)")
        g5_key = register_source(url, "bench-g5", "Nguồn đo G5")
        bootstrap.create_user(url, "bench-admin", "Bench", Role.ADMIN, Scope.everything(), "bench-password-soak-42")
        admin = bootstrap.access_token_for(url, "bench-admin", minutes=args.minutes + 60)
        tokens = [bootstrap.create_display(url, f"Màn hình {name}", scope) for name, scope in scopes_for(args.clients)]
        # A commune and a sector that nothing else writes to: the G5 screen sees only its own dossiers.
        g5_commune = G5_COMMUNE
        g5_token = bootstrap.create_display(
            url, "Màn hình G5", Scope(communes=frozenset({g5_commune}), sectors=frozenset({G5_SECTOR}))
        )
        api_port, alerts_port = free_port(), free_port()
        base = f"http://127.0.0.1:{api_port}"
        env = {**os.environ, "IOC_DATABASE_URL": url, "IOC_PORT": str(api_port), "IOC_DATA_DIR": str(work)}
        ioc = [sys.executable, "-m", "ioc.cli"]
        procs = {
            "api": spawn([*ioc, "api", "--workers", "2"], env, work / "api.log"),
            "alerts": spawn([*ioc, "alerts", "--metrics-port", str(alerts_port)], env, work / "alerts.log"),
        }
        try:
            wait_ready(base)
            procs["simulator"] = spawn(
                [*ioc, "simulate", "--key", sim_key, "--url", base, "--rate", str(args.rate),
                 "--time-scale", str(args.time_scale), "--backfill-hours", str(backfill_hours(args)),
                 "--full-volume-live"], env, work / "simulator.log",
            )  # fmt: skip
            world = World(url, base, alerts_port, admin, tokens, g5_key, g5_commune, g5_token, procs)
            return asyncio.run(watch(args, world))
        finally:
            for proc in procs.values():
                stop_process(proc)


def backfill_hours(args: argparse.Namespace) -> float:
    """The replayed past: what `--time-scale` covers in the run's minutes, so the whole run is an
    accelerated replay at full national volume that reaches real time as it ends."""
    return float(args.minutes) * 60 * float(args.time_scale) / 3600


def wait_ready(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the API did not become ready")


@dataclass(frozen=True)
class World:
    url: str
    base: str
    alerts_port: int
    admin: str
    tokens: list[str]
    g5_key: str
    g5_commune: str
    g5_token: str
    procs: dict[str, subprocess.Popen[bytes]]


async def watch(args: argparse.Namespace, world: World) -> dict[str, Any]:
    url, base, alerts_port, admin, procs = world.url, world.base, world.alerts_port, world.admin, world.procs
    tokens, g5_key, g5_commune, g5_token = world.tokens, world.g5_key, world.g5_commune, world.g5_token
    stop = asyncio.Event()
    ws_url = base.replace("http", "ws") + "/ws"
    screens, g5_screen = Screens(), Screens()
    tasks: list[asyncio.Task[None]] = []
    # Connect in waves: a thousand handshakes at once would measure the accept queue, not the product.
    for i, token in enumerate(tokens):
        tasks.append(asyncio.create_task(screens.client(ws_url, token, stop)))
        if i % 50 == 49:
            await asyncio.sleep(0.2)
    tasks.append(asyncio.create_task(g5_screen.client(ws_url, g5_token, stop, g5=True)))

    start = datetime.now(UTC).replace(microsecond=0)  # the calendar works in whole seconds
    pairs = g5_receipts(start, args.minutes, args.g5_every)
    dues: list[datetime] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        if pairs:
            batch = [{
                "event_id": f"g5-{i}", "dossier_code": f"G5-{i:05d}", "event_type": "received",
                "occurred_at": received.isoformat(), "procedure": G5_PROCEDURE, "channel": "direct",
                "locality": {"commune_code": g5_commune},
            } for i, (received, _) in enumerate(pairs)]  # fmt: skip
            response = await client.post("/api/v1/ingest/dossier-events", json=batch,
                                         headers={"Authorization": f"Bearer {g5_key}"})  # fmt: skip
            response.raise_for_status()
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cur = await conn.execute("SELECT due_at FROM dossier WHERE code LIKE 'G5-%' ORDER BY due_at")
                dues = [row[0] for row in await cur.fetchall()]

        probes = [
            Probe("readyz", "/readyz", 0.2),
            Probe("status", "/api/v1/status/provinces", 1.0, admin),
            Probe("alerts", "/api/v1/alerts?limit=50", 1.0, admin),
        ]
        tasks += [asyncio.create_task(p.run(client, stop)) for p in probes]
        series: list[dict[str, Any]] = []
        previous_alerts_metrics = ""
        me = os.getpid()
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            await asyncio.sleep(min(args.sample_seconds, max(0.0, deadline - time.monotonic())))
            row: dict[str, Any] = {"t_s": round((datetime.now(UTC) - start).total_seconds())}
            row.update({p.name: p.take() for p in probes})
            with contextlib.suppress(httpx.HTTPError):
                api_metrics = (await client.get("/metrics")).text
                lag = metric_samples(api_metrics, "ioc_event_loop_lag_seconds_bucket")
                row["api_loop_lag_over_100ms_share"] = _share_over(lag, 'loop="api"', "0.1")
            with contextlib.suppress(httpx.HTTPError):
                alerts_metrics = (await client.get(f"http://127.0.0.1:{alerts_port}/metrics")).text
                row["alerts_process"] = round_times(previous_alerts_metrics, alerts_metrics)
                previous_alerts_metrics = alerts_metrics
            row.update(await sample_database(url))
            api_pid = procs["api"].pid
            row["rss_mib"] = {
                "api_master": rss_kib(api_pid) // 1024,
                "api_workers": [rss_kib(c) // 1024 for c in children(api_pid)],
                "alerts": rss_kib(procs["alerts"].pid) // 1024,
                "simulator": rss_kib(procs["simulator"].pid) // 1024,
                "postgres_total": postgres_rss_kib() // 1024,
                "bench": rss_kib(me) // 1024,
            }
            row["ws_connected"], row["ws_failures"] = screens.connected, screens.failures
            series.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"series": series, "g5": g5_summary(dues, g5_screen.g5_changes, pairs)}


def _share_over(buckets: dict[str, float], loop_label: str, le: str) -> float | None:
    """Share of this loop's lag samples above `le` seconds, from cumulative histogram buckets."""
    within = total = None
    for labels, value in buckets.items():
        if loop_label in labels and f'le="{le}"' in labels:
            within = value
        if loop_label in labels and 'le="+Inf"' in labels:
            total = value
    if not total or within is None:
        return None
    return round(1 - within / total, 5)


def round_times(before: str, after: str) -> dict[str, Any]:
    """Mean duration of the alert process's rounds between two scrapes, per round kind."""
    out: dict[str, Any] = {}
    for name in sorted({m.split("{")[0].rsplit("_", 1)[0] for m in after.splitlines()
                        if m.startswith("ioc_") and "_seconds_sum" in m}):  # fmt: skip
        s1, c1 = histogram_mean(after, name)
        s0, c0 = histogram_mean(before, name) if before else (0.0, 0.0)
        if c1 > c0:
            out[name] = {"rounds": int(c1 - c0), "mean_ms": round((s1 - s0) / (c1 - c0) * 1000, 1)}
    lag = metric_samples(after, "ioc_event_loop_lag_seconds_bucket")
    out["loop_lag_over_100ms_share"] = _share_over(lag, 'loop="alerts"', "0.1")
    return out


def g5_summary(
    dues: list[datetime], changes: list[tuple[float, int]], pairs: list[tuple[datetime, datetime]]
) -> dict[str, Any]:
    if not pairs:
        now = datetime.now(LOCAL_TZ)
        return {"measured": False, "why": f"no due instant falls during the run (local time {now:%a %H:%M}): "
                "deadlines fall within office hours on working days"}  # fmt: skip
    # The screen's overdue count reaching k is the k-th deadline passing (nothing else is in its
    # scope: a commune and a sector only the G5 source uses, and no event follows the receipts).
    delays: list[float] = []
    for k, due in enumerate(dues, start=1):
        seen = next((t for t, n in changes if n >= k), None)
        if seen is not None and due.timestamp() <= time.time():
            delays.append(seen - due.timestamp())
    passed = [d for d in dues if d.timestamp() <= time.time()]
    return {
        "measured": True, "deadlines_passed": len(passed), "seen_on_screen": len(delays),
        "p50_s": _round(percentile(delays, 0.5)), "p99_s": _round(percentile(delays, 0.99)),
        "max_s": _round(max(delays, default=None)),
    }  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summarise(result: dict[str, Any], warmup_rows: int) -> dict[str, Any]:
    series = result["series"]
    after = series[warmup_rows:] or series
    per_probe: dict[str, dict[str, float | None]] = {}
    for name in ("readyz", "status", "alerts"):
        p99s = [r[name]["p99_ms"] for r in after if r[name]["p99_ms"] is not None]
        per_probe[name] = {"worst_interval_p99_ms": max(p99s, default=None),
                           "median_interval_p99_ms": statistics.median(p99s) if p99s else None}  # fmt: skip
    rss: dict[str, list[int]] = defaultdict(list)
    for r in after:
        for proc, value in r["rss_mib"].items():
            rss[proc].append(sum(value) if isinstance(value, list) else value)
    return {
        "probes": per_probe,
        "rss_mib_first_last": {p: (v[0], v[-1]) for p, v in rss.items()},
        "firing_alerts_last": series[-1]["firing_total"] if series else None,
        "g5": result["g5"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=1000)
    # 48× national volume ≈ 108 new dossiers (≈ 300 events) a second: a day at national volume in 30 minutes.
    parser.add_argument("--rate", type=float, default=150.0, help="ceiling on new dossiers per second")
    parser.add_argument("--time-scale", type=float, default=48.0, help="simulated seconds per real second")
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--g5-every", type=float, default=60.0, help="seconds between G5 deadlines")
    parser.add_argument("--warmup-samples", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/soak-latest.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ioc-soak-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # the unprivileged postgres account must reach pgdata when we are root
        result = soak(args, work)
        summary = summarise(result, args.warmup_samples)
        logs = args.out.with_suffix(".logs")
        logs.mkdir(parents=True, exist_ok=True)
        for log in ("api.log", "alerts.log", "simulator.log"):
            shutil.copy(work / log, logs / log)
            errors = [line for line in (work / log).read_text(errors="replace").splitlines() if "ERROR" in line]
            summary[f"{log}_error_lines"] = len(errors)
            summary[f"{log}_first_errors"] = errors[:3]
    args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "summary": summary, **result},
                                   ensure_ascii=False, indent=1, default=str))  # fmt: skip
    print(json.dumps(summary, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
