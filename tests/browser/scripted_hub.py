"""A stand-in for the live hub: the page's routes plus a `/ws` a test scripts message by message.

It lets browser tests check the client side of the protocol (resume, gaps, staleness, the close
codes of access control) without a database; the real hub and the real sign-in are exercised by
test_map_page.py and test_sign_in.py through the whole app. `/api/v1/auth/me` answers with
`identity` (401 when it is None), as the real one does for the signed-in caller.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from ioc.api.frontend import frontend_router
from ioc.localities.catalogue import load_catalogue

CLOSE = object()  # queue this to make the server drop the current socket
NATIONAL_ADMIN: dict[str, Any] = {
    "subject": "user:quan-tri",
    "name": "Quản trị thử nghiệm",
    "role": "admin",
    "scope": {"national": True, "agencies": None, "sectors": None},
    "credential": "session",
}


def province_rows(overdue: Callable[[str], int] = lambda code: int(code) % 7) -> list[dict[str, Any]]:
    rows = []
    for index, p in enumerate(load_catalogue().provinces):
        rows.append(
            {
                "code": p.code,
                "name": p.name,
                "short_name": p.short_name,
                "received": 1000 + index,
                "resolved": 800,
                "on_time_rate": None if index == 0 else 0.75 + (index % 5) * 0.06,
                "open": 200 + index,
                "overdue": overdue(p.code),
                "due_soon": 3,
                "late_without_apology": 1,
            }
        )
    return rows


def freshness(last_ingest_at: datetime | None, expected_every_seconds: int = 300) -> dict[str, Any]:
    at = None if last_ingest_at is None else last_ingest_at.isoformat()
    return {"dossier": {"last_event_at": at, "last_ingest_at": at, "expected_every_seconds": expected_every_seconds}}


class ScriptedHub:
    """Answers each hello with `snapshot_for(hello)`, then sends whatever the test queues."""

    def __init__(self, frontend_dir: Path) -> None:
        self.hellos: list[dict[str, Any]] = []
        self.outbox: queue.Queue[object] = queue.Queue()
        self.epoch = "epoch-1"
        self.seq = 10
        self.app = FastAPI()
        self.identity: dict[str, Any] | None = dict(NATIONAL_ADMIN)
        self.refuse_handshakes = False  # refuse the upgrade itself, as the real server does a bad cookie
        self.handshakes = 0
        self.app.include_router(frontend_router(boundary_file=None, frontend_dir=frontend_dir))
        self.app.add_api_route("/api/v1/auth/me", self._me)
        self.app.add_api_websocket_route("/ws", self._serve)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.url = ""

    def snapshot(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        data = {
            "provinces": province_rows(),
            "alerts": [],
            "freshness": freshness(now),
            "window": "30d",
            "generated_at": now.isoformat(),
        }
        return {"type": "snapshot", "epoch": self.epoch, "seq": self.seq, "data": data}

    def delta(self, changes: dict[str, Any], *, seq: int | None = None) -> None:
        """Queue a delta; `seq` defaults to the next number (pass another to make a gap)."""
        self.seq = self.seq + 1 if seq is None else seq
        self.outbox.put({"type": "delta", "epoch": self.epoch, "seq": self.seq, "data": {"changes": changes}})

    def drop_connection(self, code: int = 1000, reason: str = "") -> None:
        """Close the current socket with `code` (4401 signed out, 4403 forbidden, 1000 plain)."""
        self.outbox.put((CLOSE, code, reason))

    def _me(self) -> Response:
        if self.identity is None:
            return JSONResponse({"detail": "cần đăng nhập / authentication required"}, status_code=401)
        return JSONResponse(self.identity)

    async def _serve(self, websocket: WebSocket) -> None:
        self.handshakes += 1
        if self.refuse_handshakes:
            await websocket.close(code=1008)  # before accept: the upgrade is answered with HTTP 403
            return
        await websocket.accept()
        self.hellos.append(json.loads(await websocket.receive_text()))
        await websocket.send_text(json.dumps(self.snapshot()))
        try:
            while not self._stopping.is_set():
                try:
                    item = self.outbox.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.05)
                    continue
                if isinstance(item, tuple) and item[0] is CLOSE:
                    await websocket.close(code=item[1], reason=item[2])
                    return
                await websocket.send_text(json.dumps(item))
            await websocket.close()
        except WebSocketDisconnect:
            return

    def wait_for_hellos(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.hellos) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.hellos) >= count, f"expected {count} hellos, got {self.hellos}"
        return self.hellos

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning", ws_ping_interval=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="scripted-hub", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted hub did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}/"

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
