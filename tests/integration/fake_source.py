"""A source system's REST API, run by the tests on 127.0.0.1: pages of records by "changed since".

GET /records?changed_since=N answers the records changed after sequence number N, oldest first,
`page_size` at a time: {"data": {"records": [...]}, "paging": {"next": "<last seq>"}}. It can be
told to fail the next requests (HTTP 500, 429 with Retry-After, a dropped connection), to answer
slowly, or to hold a request until released; it logs every request's cursor.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeSource:
    page_size: int = 4
    api_key: str | None = "khoa-nguon-thu"
    delay_seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)  # position + 1 = the change sequence number
    failures: deque[str] = field(default_factory=deque)  # "500", "429:<seconds>", "drop", "401"
    requests: list[str | None] = field(default_factory=list)  # the cursor each request carried
    hold_from: int | None = None  # requests from this number on (1-based) wait for `release`
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, cursor: str | None) -> dict[str, Any]:
        after = int(cursor) if cursor else 0
        with self.lock:
            chunk = self.records[after : after + self.page_size]
        return {"data": {"records": chunk}, "paging": {"next": str(after + len(chunk))}}


def _handler(source: FakeSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the test output stays readable
            pass

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            cursor = query.get("changed_since", [None])[0]
            with source.lock:
                source.requests.append(cursor)
                number = len(source.requests)
                action = source.failures.popleft() if source.failures else ""
            if source.hold_from is not None and number >= source.hold_from:
                source.release.wait(timeout=60)
            if source.delay_seconds:
                threading.Event().wait(source.delay_seconds)
            if action == "drop":
                # Close without a word: the client sees the connection reset or closed early.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if action.startswith("429"):
                self._answer(429, {"error": "slow down"}, {"Retry-After": action.partition(":")[2] or "1"})
                return
            if action in ("500", "401"):
                self._answer(int(action), {"error": action})
                return
            if source.api_key is not None and self.headers.get("X-API-Key") != source.api_key:
                self._answer(401, {"error": "bad key"})
                return
            self._answer(200, source.page(cursor))

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serving(source: FakeSource) -> Iterator[FakeSource]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(source))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    source.url = f"http://127.0.0.1:{server.server_address[1]}/records"
    try:
        yield source
    finally:
        source.release.set()
        server.shutdown()
        server.server_close()
