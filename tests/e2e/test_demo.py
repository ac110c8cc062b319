"""The README's demo command, end to end: `ioc demo` (what `make demo` runs after set-up) starts its
own PostgreSQL, serves the map, runs the simulator, and alerts appear; Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ioc.db.embedded import free_port

MAP_READY_WITHIN_SECONDS = 60
ALERTS_WITHIN_SECONDS = 120


def _get(url: str, headers: dict[str, str] | None = None) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5, headers=headers)
    except httpx.HTTPError:
        return None


def _sign_in_as_demo_admin(base: str, root: Path, log_path: Path) -> dict[str, str]:
    """The demo prints the admin's password and keeps it in the data folder; sign in with it."""
    password = (root / "admin-password.txt").read_text(encoding="utf-8").strip()
    assert f"admin / {password}" in log_path.read_text(), "the demo did not print how to sign in"
    response = httpx.post(base + "/api/v1/auth/token", json={"username": "admin", "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_demo_brings_up_map_and_alerts() -> None:
    root = Path(tempfile.mkdtemp(prefix="ioc-demo-"))
    root.chmod(0o755)
    port = free_port()
    env = {**os.environ, "IOC_DATA_DIR": str(root), "IOC_PORT": str(port), "IOC_SIMULATE_RATE": "30",
           "IOC_ALERT_INTERVAL_SECONDS": "5"}  # fmt: skip
    env.pop("IOC_DATABASE_URL", None)
    log_path = root / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ioc.cli", "demo"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        geojson = None
        while time.monotonic() - started < MAP_READY_WITHIN_SECONDS:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            page = _get(base + "/")
            shapes = _get(base + "/api/v1/map/provinces.geojson")
            if page is not None and page.status_code == 200 and shapes is not None and shapes.status_code == 200:
                geojson = shapes.json()
                break
            time.sleep(0.5)
        assert geojson is not None, "map not served within a minute:\n" + log_path.read_text()[-3000:]
        assert len(geojson["features"]) == 34
        assert "Trung tâm giám sát" in page.text  # type: ignore[union-attr]

        assert _get(base + "/api/v1/alerts").status_code == 401  # type: ignore[union-attr]
        admin = _sign_in_as_demo_admin(base, root, log_path)
        # Payout and ID alerts fire within seconds of their first reports (rules run as data
        # arrives); the overdue dossiers come as the simulator's back-filled week catches up.
        firing: list[dict[str, object]] = []
        while time.monotonic() - started < ALERTS_WITHIN_SECONDS and not firing:
            response = _get(base + "/api/v1/alerts?state=firing", admin)
            if response is not None and response.status_code == 200:
                firing = [a for a in response.json()["alerts"] if a["rule_id"] == "overdue"]
            time.sleep(1)
        assert firing, "no overdue alert fired while the simulator ran:\n" + log_path.read_text()[-3000:]
        # The back-fill starts a little over a week ago: the 7-day window fills once it passes that.
        received = 0
        while time.monotonic() - started < ALERTS_WITHIN_SECONDS and not received:
            status = httpx.get(base + "/api/v1/status/provinces?window=7d", headers=admin, timeout=5).json()
            assert len(status["provinces"]) == 34
            received = sum(p["received"] for p in status["provinces"])
            time.sleep(1)
        assert received > 0, "no dossier received in the last 7 days:\n" + log_path.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    assert not (root / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL still running after exit"


def test_sigterm_stops_the_embedded_database_too() -> None:
    # What `docker stop`, systemd or `timeout` send: the cluster must not outlive the process.
    root = Path(tempfile.mkdtemp(prefix="ioc-demo-term-"))
    root.chmod(0o755)
    port = free_port()
    env = {**os.environ, "IOC_DATA_DIR": str(root), "IOC_PORT": str(port), "IOC_SIMULATE_RATE": "5"}
    env.pop("IOC_DATABASE_URL", None)
    log_path = root / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ioc.cli", "demo"], env=env, stdout=log, stderr=log)
    try:
        started = time.monotonic()
        while (ready := _get(f"http://127.0.0.1:{port}/readyz")) is None or ready.status_code != 200:
            assert proc.poll() is None and time.monotonic() - started < 60, log_path.read_text()[-3000:]
            time.sleep(0.3)
        assert (root / "pgdata" / "postmaster.pid").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, log_path.read_text()[-3000:]
    assert not (root / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL outlived SIGTERM"
