"""Real local receivers for the delivery tests (no tests here): an HTTP server that records what it
is sent and answers as told, an SMTP server (aiosmtpd), a Web Push subscriber's keys, a pool."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from psycopg_pool import AsyncConnectionPool

from ioc.db.embedded import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class HttpReceiver:
    """A real HTTP server on 127.0.0.1, in a thread. ``answer`` decides each response; ``delay``
    makes it slow (each request has its own thread, so a slow answer blocks nobody else)."""

    port: int = field(default_factory=free_port)
    answer: Callable[[Received], Answer] = lambda r: (200, {"Content-Type": "application/json"}, b'{"ok": true}')
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                got = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                               self.rfile.read(length))  # fmt: skip
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, headers, body = receiver.answer(got)
                if 200 <= status < 300:
                    receiver.requests.append(got)
                else:
                    receiver.refused.append(got)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.refused: list[Received] = []
        self._handler = Handler
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def answer_with(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable[[Received], Answer]:
    payload = json.dumps(body if body is not None else {"ok": status < 300}).encode()
    return lambda r: (status, {"Content-Type": "application/json", **(headers or {})}, payload)


class SmtpReceiver:
    """aiosmtpd on a free port, keeping every message it accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reply = "250 Message accepted for delivery"
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if not receiver.reply.startswith("250"):
                    return receiver.reply
                parsed = message_from_bytes(envelope.original_content, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                receiver.messages.append(parsed)
                receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return receiver.reply

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class PushSubscriber:
    """What a browser holds for one push subscription: its ECDH key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> PushSubscriber:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @property
    def auth_b64(self) -> str:
        return b64url(self.auth)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def open_pool(db_url: str) -> AsyncConnectionPool[Any]:
    async def configure(conn: Any) -> None:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.commit()

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(db_url, min_size=1, max_size=8, configure=configure,
                                                         open=False)  # fmt: skip
    await pool.open(wait=True)
    return pool
