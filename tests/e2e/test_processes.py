"""The production shape of docker-compose.yml, without Docker: a one-shot `ioc migrate`, then
`ioc api` and `ioc alerts` as separate processes on one database, configured only through
IOC_* variables as the containers are. An overdue dossier posted to the api is turned into a
firing alert by the alerts process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ioc.db.embedded import free_port

IOC = [sys.executable, "-m", "ioc.cli"]


@pytest.fixture
def environment(empty_db: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "IOC_DATABASE_URL": empty_db, "IOC_PORT": str(free_port()),
            "IOC_ALERT_INTERVAL_SECONDS": "1", "IOC_DATA_DIR": str(tmp_path)}  # fmt: skip


@pytest.fixture
def processes(environment: dict[str, str], tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    migrate = subprocess.run([*IOC, "migrate"], env=environment, capture_output=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr.decode()[-2000:]
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for role in ("api", "alerts"):
            log = open(tmp_path / f"{role}.log", "wb")  # noqa: SIM115 - closed with the process
            started[role] = subprocess.Popen([*IOC, role], env=environment, stdout=log, stderr=log)
        yield started
    finally:
        for proc in started.values():
            proc.send_signal(signal.SIGTERM)
        for proc in started.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for(predicate: object, timeout: float, what: str, logs: Path) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    detail = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"{what} within {timeout}s\n{detail}")


def test_migrate_api_and_alerts_run_as_separate_processes(
    environment: dict[str, str], processes: dict[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{environment['IOC_PORT']}"
    wait_for(lambda: httpx.get(base + "/readyz", timeout=2).status_code == 200, 60, "api not ready", tmp_path)
    key = subprocess.run([*IOC, "source", "registry", "--name", "Hệ thống một cửa"], env=environment,
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()  # fmt: skip
    received = datetime.now(UTC) - timedelta(days=20)
    event = {
        "event_id": "p-1", "dossier_code": "HS-PROC-1", "event_type": "received",
        "occurred_at": received.isoformat(), "channel": "online",
        "procedure": {"code": "1.001193", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 3},
        "agency": {"code": "UBND-00097", "name": "UBND Phường Hồng Hà"}, "locality": {"commune_code": "00097"},
    }  # fmt: skip
    response = httpx.post(base + "/api/v1/ingest/dossier-events", json=[event],
                          headers={"Authorization": f"Bearer {key}"}, timeout=10)  # fmt: skip
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
    # An operator account made with the CLI, as an administrator would; it signs in for a token.
    subprocess.run([*IOC, "user", "create", "can-bo-97", "--role", "operator", "--commune", "00097",
                    "--password-stdin"], input="mật-khẩu-cán-bộ\n", env=environment, text=True, timeout=60,
                   check=True, capture_output=True)  # fmt: skip
    signed_in = httpx.post(base + "/api/v1/auth/token", json={"username": "can-bo-97", "password": "mật-khẩu-cán-bộ"})
    assert signed_in.status_code == 200, signed_in.text
    operator = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}

    def overdue_alert_fires() -> bool:
        alerts = httpx.get(base + "/api/v1/alerts?state=firing", headers=operator, timeout=2).json()["alerts"]
        return any(a["rule_id"] == "overdue" and a["commune_code"] == "00097" for a in alerts)

    wait_for(overdue_alert_fires, 30, "the alerts process raised no overdue alert", tmp_path)
    assert all(proc.poll() is None for proc in processes.values())
