"""Breach-to-notification latency: event ingested → webhook received, IOC against Prometheus +
Alertmanager (Debian packages, shipped settings), in the same run, to the same local receiver.

    .venv/bin/python -m bench.alert_latency [--peer-samples 10] [--ioc-samples 30] [--skip-ioc]
                                            [--skip-peer] [--ioc-mode process|inproc] [--record]

The breach: one dossier past its due date appears in a commune ("overdue dossiers > 0").
  IOC   — an embedded PostgreSQL, `ioc api` and the alerts process (`ioc alerts`, or with
          --ioc-mode inproc the pipeline's entry points run in this process); a webhook contact
          point (Alertmanager payload format) and a route to it; the breach is a receipt event
          POSTed to /api/v1/ingest/dossier-events whose due date has passed. t0 = the POST leaves.
  peer  — `prometheus` and `prometheus-alertmanager` (apt-get installed if missing), run as plain
          processes. Prometheus keeps the `global:` block of the shipped /etc/prometheus/
          prometheus.yml (scrape and evaluation every 15 s); Alertmanager keeps the shipped root
          route's timing and grouping (group_by alertname/cluster/service, group_wait 30 s,
          group_interval 5 m, repeat 3 h). Only the targets, one rule and the receiver are
          ours. A tiny exporter in this process mirrors the ingested value: the gauge
          ioc_bench_overdue_dossiers{service="<sample>"} goes 0 → 1 at t0; the rule is
          `ioc_bench_overdue_dossiers > 0` (no `for`, as IOC's overdue rule has no hold).
Each sample is a fresh breach: a new commune (IOC) or a new service label (peer), so each opens a
new notification group on both sides, and the breach is reset (dossier resolved, gauge back to
0) once its notification arrived. Before each peer sample a random 0–15 s pause spreads the
breach over the scrape/evaluation cycle. The peer takes ≈ 45 s per sample: the default 10
samples cost ≈ 8 minutes; --peer-samples 3 gives a quick, noisier figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PROMETHEUS = Path("/etc/prometheus/prometheus.yml")
SHIPPED_ALERTMANAGER = Path("/etc/prometheus/alertmanager.yml")
GAUGE = "ioc_bench_overdue_dossiers"
PROCEDURE = {"code": "1.001193", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 3}


def free_port() -> int:
    from ioc.db.embedded import free_port as _free

    return _free()


# --------------------------------------------------------------------------- the shared receiver


class Receiver:
    """A local webhook receiver: remembers when each body arrived (monotonic clock)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._arrivals: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8", "replace")
                arrived = time.monotonic()
                self.send_response(200)
                self.end_headers()
                with receiver._cond:
                    receiver._arrivals.append((arrived, body))
                    receiver._cond.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, marker: str, since: float, timeout: float) -> float | None:
        """Arrival time of the first firing notification after `since` that mentions `marker`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for arrived, body in self._arrivals:
                    if arrived >= since and marker in body and _firing(body, marker):
                        return arrived
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def close(self) -> None:
        self._server.shutdown()


def _firing(body: str, marker: str) -> bool:
    """Whether the notification announces `marker` as firing (Alertmanager's webhook payload)."""
    try:
        data = json.loads(body)
    except ValueError:
        return "resolved" not in body
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list):
        return "resolved" not in body.lower()
    return any(marker in json.dumps(a, ensure_ascii=False) and a.get("status", "firing") == "firing" for a in alerts)


# --------------------------------------------------------------------------- the peer


class Exporter:
    """Serves the mirrored gauge for Prometheus to scrape."""

    def __init__(self) -> None:
        self.port = free_port()
        self.values: dict[str, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines = [f"# TYPE {GAUGE} gauge"]
                lines += [f'{GAUGE}{{service="{k}"}} {v}' for k, v in sorted(exporter.values.items())]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()


def ensure_peer_installed() -> None:
    if shutil.which("prometheus") and shutil.which("prometheus-alertmanager"):
        return
    print("installing prometheus and prometheus-alertmanager with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "prometheus", "prometheus-alertmanager"],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip


def peer_configs(work: Path, exporter_port: int, am_port: int, receiver_url: str) -> tuple[Path, Path, dict[str, Any]]:
    """Prometheus and Alertmanager configs: shipped timing, our targets, rule and receiver."""
    shipped_prom = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())
    shipped_am = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    rules = {"groups": [{"name": "ioc_bench", "rules": [{
        "alert": "IocBenchOverdue", "expr": f"{GAUGE} > 0", "labels": {"severity": "critical"},
        "annotations": {"summary": "Overdue dossier ({{ $labels.service }})"},
    }]}]}  # fmt: skip
    (work / "rules.yml").write_text(yaml.safe_dump(rules))
    prom = {
        "global": shipped_prom.get("global", {}),
        "rule_files": [str(work / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "ioc_bench", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }
    shipped_route = shipped_am.get("route", {})
    timing = {k: shipped_route[k] for k in ("group_by", "group_wait", "group_interval", "repeat_interval")
              if k in shipped_route}  # fmt: skip
    am = {
        "route": {**timing, "receiver": "bench"},
        "receivers": [{"name": "bench", "webhook_configs": [{"url": receiver_url}]}],
    }
    prom_path, am_path = work / "prometheus.yml", work / "alertmanager.yml"
    prom_path.write_text(yaml.safe_dump(prom))
    am_path.write_text(yaml.safe_dump(am))
    return prom_path, am_path, {"prometheus_global": prom["global"], "alertmanager_route": timing}


def wait_http(
    url: str, timeout: float = 60, ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok(httpx.get(url, timeout=2)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready within {timeout}s")


@contextmanager
def processes(*commands: tuple[list[str], Path]) -> Iterator[None]:
    procs = []
    try:
        for command, log in commands:
            procs.append(subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT))
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def run_peer(receiver: Receiver, samples: int, work: Path, rng: random.Random) -> tuple[list[float], dict[str, Any]]:
    ensure_peer_installed()
    exporter = Exporter()
    prom_port, am_port = free_port(), free_port()
    prom_cfg, am_cfg, shipped = peer_configs(work, exporter.port, am_port, receiver.url)
    am_cmd = ["prometheus-alertmanager", f"--config.file={am_cfg}", f"--storage.path={work / 'am-data'}",
              f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="]  # fmt: skip
    prom_cmd = ["prometheus", f"--config.file={prom_cfg}", f"--storage.tsdb.path={work / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}"]  # fmt: skip
    latencies: list[float] = []
    try:
        with processes((am_cmd, work / "alertmanager.log"), (prom_cmd, work / "prometheus.log")):
            wait_http(f"http://127.0.0.1:{am_port}/-/ready")
            wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
            wait_http(f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=90,
                      ok=lambda r: '"health":"up"' in r.text)  # fmt: skip
            tag = f"{int(time.time())}"
            for i in range(samples):
                time.sleep(rng.uniform(0, 15))  # a random phase against the 15 s scrape and evaluation
                marker = f"bench-{tag}-{i}"
                exporter.values[marker] = 1.0
                t0 = time.monotonic()
                arrived = receiver.wait_for(marker, t0, timeout=240)
                exporter.values[marker] = 0.0  # reset the breach
                if arrived is None:
                    print(f"  peer sample {i}: no notification within 240 s", flush=True)
                    continue
                latencies.append(arrived - t0)
                print(f"  peer sample {i + 1}/{samples}: {arrived - t0:.2f} s", flush=True)
    finally:
        exporter.close()
    return latencies, shipped


# --------------------------------------------------------------------------- IOC


def ioc_world(work: Path) -> tuple[Any, str, str]:
    from ioc.db.embedded import EmbeddedPostgres
    from ioc.db.localities import sync_localities
    from ioc.db.migrate import apply_migrations
    from ioc.localities.catalogue import load_catalogue
    from ioc.sources import register_source

    pg = EmbeddedPostgres(work / "pg")
    pg.start()
    with psycopg.connect(pg.url_for("postgres"), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "ioc_bench_alerts"')
    url = pg.url_for("ioc_bench_alerts")
    apply_migrations(url)
    sync_localities(url, load_catalogue())
    return pg, url, register_source(url, "bench", "Nguồn đo")


def configure_ioc_routing(url: str, receiver_url: str) -> None:
    """A webhook contact point in Alertmanager's payload format and one route to it (SQL: the
    schema of migration 016), grouped per commune so every sample opens its own group."""
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO contact_point (id, channel, address, options, created_by) "
                     "VALUES ('bench-webhook', 'webhook', %s, '{\"format\": \"alertmanager\"}', 'bench')",
                     [receiver_url])  # fmt: skip
        conn.execute("INSERT INTO notification_route (id, position, matchers, contact_points, group_by, updated_by) "
                     "VALUES ('bench', 0, '[]', '{bench-webhook}', '{rule,commune_code}', 'bench')")  # fmt: skip


def dossier_events(code: str, commune: str, *, resolved: bool) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    received = {
        "event_id": f"{code}-r", "event_type": "received", "dossier_code": code,
        "occurred_at": (now - timedelta(days=20)).isoformat(), "locality": {"commune_code": commune},
        "agency": {"code": f"UBND-{commune}", "name": f"UBND {commune}"}, "procedure": PROCEDURE,
        "channel": "online",
    }  # fmt: skip
    if not resolved:
        return [received]
    return [{**{k: v for k, v in received.items() if k not in ("procedure", "channel")},
             "event_id": f"{code}-done", "event_type": "resolved", "occurred_at": now.isoformat()}]  # fmt: skip


def start_ioc(url: str, work: Path, mode: str) -> tuple[list[subprocess.Popen[bytes]], int]:
    port = free_port()
    env = {**os.environ, "IOC_DATABASE_URL": url, "IOC_PORT": str(port), "IOC_DATA_DIR": str(work)}
    procs = [subprocess.Popen([sys.executable, "-m", "ioc.cli", "api"], env=env,
                              stdout=(work / "api.log").open("wb"), stderr=subprocess.STDOUT)]  # fmt: skip
    if mode == "process":
        procs.append(subprocess.Popen([sys.executable, "-m", "ioc.cli", "alerts"], env=env,
                                      stdout=(work / "alerts.log").open("wb"), stderr=subprocess.STDOUT))  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/readyz")
    return procs, port


def inproc_pipeline(url: str, stop: threading.Event, tick: float) -> threading.Thread:
    """The pipeline's entry points in a loop inside the benchmark (rule engine, notification planner,
    delivery workers): a diagnostic to separate the pipeline's cost from the processes' wake-ups."""

    async def loop() -> None:
        from psycopg_pool import AsyncConnectionPool

        from alerts.calendar import WorkingCalendar
        from alerts.delivery.model import Channel
        from alerts.delivery.settings import DeliverySettings
        from alerts.delivery.webhook import WebhookSender
        from alerts.delivery.workers import DeliveryWorkers
        from alerts.notify.dispatcher import dispatch_once
        from alerts.shell import AlertEngine
        from ioc.metrics import Metrics

        calendar = WorkingCalendar()
        engine = AlertEngine(calendar, Metrics())
        async with AsyncConnectionPool(url, min_size=2, max_size=6, open=False) as pool:
            workers = DeliveryWorkers(pool, {Channel.WEBHOOK: WebhookSender(DeliverySettings())}, poll_interval=tick)
            workers.start()
            try:
                while not stop.is_set():
                    now = datetime.now(UTC)
                    async with pool.connection() as conn:
                        await engine.run_once(conn, now)
                        await conn.commit()
                        await dispatch_once(conn, now, calendar)
                        await conn.commit()
                    await asyncio.sleep(tick)
            finally:
                await workers.stop()

    thread = threading.Thread(target=lambda: asyncio.run(loop()), daemon=True)
    thread.start()
    return thread


def run_ioc(receiver: Receiver, samples: int, work: Path, mode: str, rng: random.Random,
            timeout: float) -> tuple[list[float], str]:  # fmt: skip
    from ioc.localities.catalogue import load_catalogue

    pg, url, key = ioc_world(work)
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []
    latencies: list[float] = []
    note = ""
    try:
        configure_ioc_routing(url, receiver.url)
        procs, port = start_ioc(url, work, mode)
        if mode == "inproc":
            inproc_pipeline(url, stop, tick=0.1)
        communes = [c.code for c in load_catalogue().communes]
        rng.shuffle(communes)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            for i in range(samples):
                time.sleep(rng.uniform(0, 1))
                commune, code = communes[i], f"BENCH-{i}-{rng.randrange(10**9)}"
                t0 = time.monotonic()
                breach = dossier_events(code, commune, resolved=False)
                response = client.post("/api/v1/ingest/dossier-events", json=breach)
                assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
                arrived = receiver.wait_for(f'"{commune}"', t0, timeout=timeout)
                client.post("/api/v1/ingest/dossier-events", json=dossier_events(code, commune, resolved=True))
                if arrived is None:
                    note = f"no webhook within {timeout:.0f} s (sample {i}); see {work}/alerts.log"
                    print(f"  IOC: {note}", flush=True)
                    break
                latencies.append(arrived - t0)
                print(f"  IOC sample {i + 1}/{samples}: {arrived - t0:.3f} s", flush=True)
    finally:
        stop.set()
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.stop()
    return latencies, note


# --------------------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with few samples p99 is the maximum, as it should be)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<28} no samples"
    return (f"{name:<28} p50 {percentile(values, 50):7.3f} s   p99 {percentile(values, 99):7.3f} s   "
            f"min {min(values):7.3f}   max {max(values):7.3f}   mean {statistics.fmean(values):7.3f}   "
            f"n {len(values)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--peer-samples", type=int, default=10)
    parser.add_argument("--ioc-samples", type=int, default=30)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-ioc", action="store_true")
    parser.add_argument("--ioc-mode", choices=("process", "inproc"), default="process",
                        help="process: `ioc api` + `ioc alerts`; inproc: the pipeline's entry points here")  # fmt: skip
    parser.add_argument("--ioc-timeout", type=float, default=30.0, help="seconds to wait for one IOC webhook")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ioc-bench-alerts-"))
    work.chmod(0o755)  # the embedded PostgreSQL runs as an unprivileged account when we are root
    receiver = Receiver()
    results: dict[str, list[float]] = {}
    try:
        if not args.skip_ioc:
            (work / "ioc").mkdir()
            (work / "ioc").chmod(0o755)
            print(f"IOC ({args.ioc_mode}), {args.ioc_samples} samples …", flush=True)
            results["ioc"], _note = run_ioc(receiver, args.ioc_samples, work / "ioc", args.ioc_mode, rng,
                                           args.ioc_timeout)  # fmt: skip
        if not args.skip_peer:
            (work / "peer").mkdir()
            print(f"Prometheus + Alertmanager, {args.peer_samples} samples …", flush=True)
            results["peer"], shipped = run_peer(receiver, args.peer_samples, work / "peer", rng)
            print(f"  shipped settings used: {json.dumps(shipped, default=str)}")
    finally:
        receiver.close()
    print()
    for name, label in (("ioc", "IOC"), ("peer", "Prometheus + Alertmanager")):
        if name in results:
            print(describe(label, results[name]))
    if results.get("ioc") and results.get("peer"):
        ioc_p99, peer_p50 = percentile(results["ioc"], 99), percentile(results["peer"], 50)
        print(f"IOC p99 / peer p50 = {ioc_p99 / peer_p50:.3f}  (targets: IOC p99 ≤ 3 s and ≤ 0.1 × peer median)")
    print(f"raw samples: {json.dumps({k: [round(v, 3) for v in vs] for k, vs in results.items()})}")
    if args.keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
