"""The gateway poller: a fake provincial data-sharing gateway on 127.0.0.1 that speaks the
national portal's format (sign-in for a session, then POSTs with the session envelope); the
poller writes its records through the push route's pipeline, page and cursor together."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg

from ingest.connector.backoff import RetryPolicy
from ingest.connector.config import ConnectorConfig
from ingest.connector.poller import PollDeps, RunResult, poll_connector
from ingest.connector.runner import connect
from ingest.connector.store import save_connector
from ingest.dvcqg.pipeline import PortalSync
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.streams import STREAM_INGESTERS
from ingest.writer import DossierWriter
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from tests.unit.dvcqg_payloads import td_dossier

SOURCE = "lgsp-ha-noi"
FAST = RetryPolicy(attempts=4, base_seconds=0.01, cap_seconds=0.05, max_retry_after_seconds=5)


@dataclass
class FakeGateway:
    """POST /login {username, password} → session; POST /hoso {session, madonvi, service,
    tu_thoi_diem} → {error_code, message, data, next}, two records a page."""

    password: str = "mat-khau-lgsp"
    records: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    expire_next: int = 0  # answer that many page requests with error_code -2 (session expired)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if path == "/login":
                if body != {"username": SOURCE, "password": self.password}:
                    return {"error_code": 1, "message": "Sai tài khoản"}
                self.sessions.append(f"phien-{len(self.sessions) + 1}")
                return {"error_code": 0, "message": "Thành công", "session": self.sessions[-1]}
            self.bodies.append(body)
            if self.expire_next or not self.sessions or body.get("session") != self.sessions[-1]:
                self.expire_next = max(0, self.expire_next - 1)
                return {"error_code": -2, "message": "Phiên hết hạn"}
            after = int(body.get("tu_thoi_diem") or 0)
            chunk = self.records[after : after + 2]
            return {"error_code": 0, "message": "Thành công", "data": chunk, "next": str(after + len(chunk))}


@contextmanager
def serving(gateway: FakeGateway) -> Iterator[FakeGateway]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with gateway.lock:
                gateway.headers.append(dict(self.headers))
            data = json.dumps(gateway.answer(self.path, body), ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()


def config(gateway: FakeGateway, **overrides: Any) -> ConnectorConfig:
    fields: dict[str, Any] = {
        "id": "lgsp-hoso", "stream": "dossier", "source_id": SOURCE, "base_url": f"{gateway.url}/hoso",
        "cursor_param": "tu_thoi_diem", "items_path": "data", "cursor_path": "next", "auth_value": gateway.password,
        "method": "dvcqg", "login_url": f"{gateway.url}/login", "login_username": SOURCE,
        "service": "DongBoHoSoMC", "unit_id": "000.00.00.H26", **overrides,
    }  # fmt: skip
    return ConnectorConfig(**fields)


def prepare(db_url: str) -> None:
    register_source(db_url, SOURCE, "Nền tảng LGSP Hà Nội", streams=frozenset({"dossier"}))
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO procedure (code, name, sector, statutory_days) VALUES "
                     "('1.000001', 'Đăng ký khai sinh', 'Hộ tịch', 10)")  # fmt: skip
        conn.execute("INSERT INTO dvcqg_unit (source_id, unit_key, province_code, commune_code, agency_code) "
                     "VALUES (%s, 'UBND phường Ba Đình', '01', '00004', 'UBND-00004')", [SOURCE])  # fmt: skip


async def run(db_url: str, cfg: ConnectorConfig) -> RunResult:
    procedures, calendars = ProcedureCache(), CalendarStore()
    portal = PortalSync(procedures, calendars, DossierWriter(procedures), DossierProjector(procedures, calendars))
    async with httpx.AsyncClient() as client:
        deps = PollDeps(STREAM_INGESTERS, load_catalogue(), client, policy=FAST, portal=portal)
        async with await connect(db_url) as conn:
            async with conn.transaction():
                await save_connector(conn, cfg)
            return await poll_connector(conn, cfg, deps)


def states(db_url: str) -> dict[str, str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT code, status FROM dossier WHERE source_id = %s", [SOURCE]).fetchall()
    return {str(code): str(status) for code, status in rows}


async def test_the_poller_signs_in_posts_pages_and_writes_dossiers(db_url: str) -> None:
    prepare(db_url)
    received = datetime.now(UTC) - timedelta(days=2)
    with serving(FakeGateway()) as gateway:
        gateway.records = [td_dossier(f"LGSP-{i}", "2", received) for i in range(5)]
        first = await run(db_url, config(gateway))
        assert (first.error, first.pages, first.accepted, first.rejected) == (None, 3, 5, 0)
        assert gateway.sessions == ["phien-1"]  # one sign-in for the run
        assert {b["service"] for b in gateway.bodies} == {"DongBoHoSoMC"}
        assert {b["madonvi"] for b in gateway.bodies} == {"000.00.00.H26"}
        assert all(h.get("dstcode") == "000.00.00.H26" for h in gateway.headers)
        assert states(db_url) == {f"LGSP-{i}": "received" for i in range(5)}

        # A later state of one dossier, and the session refused on the way: signed in again.
        gateway.records.append(td_dossier("LGSP-0", "9", received, finished=received + timedelta(days=1)))
        gateway.expire_next = 1
        second = await run(db_url, config(gateway))
        assert (second.error, second.pages, second.accepted) == (None, 1, 1)
        assert gateway.sessions == ["phien-1", "phien-2", "phien-3"]  # a sign-in per run, one renewal
        assert states(db_url)["LGSP-0"] == "resolved"

        again = await run(db_url, config(gateway))  # caught up: nothing new, nothing twice
        assert (again.error, again.pages, again.accepted) == (None, 0, 0)


async def test_a_refused_sign_in_is_a_connector_error_and_writes_nothing(db_url: str) -> None:
    prepare(db_url)
    with serving(FakeGateway()) as gateway:
        gateway.records = [td_dossier("LGSP-X", "2", datetime.now(UTC) - timedelta(days=1))]
        result = await run(db_url, config(gateway, auth_value="sai-mat-khau"))
    assert result.error is not None and "sign-in" in result.error
    assert result.pages == 0 and states(db_url) == {}
