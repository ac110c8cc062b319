"""HTTP hardening as plain ASGI middleware: security headers, request body limits, CORS origins.

Plain ASGI (not Starlette's BaseHTTPMiddleware) so that WebSockets pass straight through and
streamed responses are neither buffered nor delayed: each middleware only edits the response
start message, or counts request body bytes as they arrive.

Order when wiring: SecurityHeadersMiddleware outermost, so that the 413 answers of
BodySizeLimitMiddleware carry the headers too.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One policy for the whole product: every script, style, image and connection from our own
# origin (deck.gl and the map tiles are served locally; the command centre may have no internet).
# data:/blob: images and blob: workers are what deck.gl and the page's favicon need.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=()"
# Two years, the value browsers' preload lists ask for; no "preload" (a commitment for the
# whole domain that its owner has to make, not this application).
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"
API_PREFIX = "/api/"


def _header_pairs(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, leaving any a route set itself."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        pairs = [
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("permissions-policy", PERMISSIONS_POLICY),
            ("cross-origin-opener-policy", "same-origin"),
        ]
        if hsts:  # only behind TLS: over plain http the header is meaningless or, on a shared host, harmful
            pairs.append(("strict-transport-security", STRICT_TRANSPORT_SECURITY))
        self._defaults = _header_pairs(pairs)
        # API answers are per-user and live: no shared or browser cache may keep them.
        self._api_defaults = [*self._defaults, *_header_pairs([("cache-control", "no-store")])]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = self._api_defaults if scope["path"].startswith(API_PREFIX) else self._defaults

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in defaults if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestBodyTooLarge(Exception):
    """Raised into the application when the body goes over its limit, and out of the middleware
    when the response had already started (the server then aborts the connection)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


# After an overflow, up to this much of the rest of the body is read and dropped before the 413
# goes out. A server that closes a socket with unread data in it resets the connection, and the
# client may then never see the 413; beyond this much, a clear answer is not worth the bandwidth.
DRAIN_LIMIT_BYTES = 1024 * 1024


async def _drain(receive: Receive, budget: int) -> None:
    while budget >= 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


def _too_large_detail(limit: int) -> str:
    return f"Nội dung yêu cầu vượt quá giới hạn {limit} byte / Request body exceeds the limit of {limit} bytes"


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = _header_pairs(
        [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            # The rest of the body is still on the wire, unread: this connection cannot be reused.
            ("connection", "close"),
        ]
    )
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuses request bodies over a limit chosen by path prefix (the longest prefix wins).

    A declared Content-Length over the limit is refused before the application runs. A body sent
    without one (chunked) is counted as it arrives: the chunk that goes over is never handed on;
    the application's receive() raises `RequestBodyTooLarge` instead, and the client gets 413
    whatever the application then does — unless the response had already started, in which case
    the connection is aborted. Before a 413, up to DRAIN_LIMIT_BYTES of the rest is read and
    dropped so that the answer reaches the client.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, limits: dict[str, int]) -> None:
        if default_limit < 0 or any(limit < 0 for limit in limits.values()):
            raise ValueError("body size limits must not be negative")
        for prefix in limits:
            if not prefix.startswith("/"):
                raise ValueError(f"body size limit prefix {prefix!r} must start with /")
        self.app = app
        self.default_limit = default_limit
        # Stored without a trailing slash and matched on whole path segments, so "/api/v1/ingest"
        # covers "/api/v1/ingest/dossier-events" but not "/api/v1/ingestion".
        self._limits = sorted(
            ((prefix.rstrip("/"), limit) for prefix, limit in limits.items()), key=lambda item: -len(item[0])
        )

    def limit_for(self, path: str) -> int:
        for prefix, limit in self._limits:
            if not prefix or path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "Content-Length không hợp lệ / Invalid Content-Length")
                return
            if int(declared) > limit:
                if int(declared) <= DRAIN_LIMIT_BYTES:
                    await _drain(receive, DRAIN_LIMIT_BYTES)
                await _answer(send, 413, _too_large_detail(limit))
                return

        received = 0
        exceeded = started = answered = body_done = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded, body_done
            if exceeded:
                raise RequestBodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    exceeded = True
                    raise RequestBodyTooLarge(limit)
            return message

        async def refuse() -> None:
            nonlocal answered
            answered = True
            if not body_done:  # past the end, receive() would wait for the client to disconnect
                await _drain(receive, DRAIN_LIMIT_BYTES)
            await _answer(send, 413, _too_large_detail(limit))

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the application answers after the overflow (often a 400 or 500 from
                # the exception above) is replaced by the 413, or dropped if too late for that.
                if not started and not answered:
                    await refuse()
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            if started:
                raise RequestBodyTooLarge(limit)
            if not answered:
                await refuse()


def _content_length(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            return str(value.decode("latin-1").strip())
    return None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def cors_origins_from(value: str) -> list[str]:
    """The CORS allow-list from a comma-separated setting; empty = CORS closed.

    Each entry must be an origin exactly as browsers send it (scheme://host[:port]); entries are
    normalised to that form (lower case, default port dropped) because the match is by string.
    """
    origins: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        origin = _origin(entry)
        if origin not in origins:
            origins.append(origin)
    return origins


def _origin(entry: str) -> str:
    problem = f"{entry!r} is not an origin (scheme://host[:port])"
    if entry == "*":
        raise ValueError(f"{problem}: a wildcard would let any site call the API")
    parts = urlsplit(entry)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise ValueError(f"{problem}: the scheme must be http or https")
    if not parts.netloc or "@" in parts.netloc or not parts.hostname:
        raise ValueError(f"{problem}: it needs a host and nothing else before it")
    if parts.path or parts.query or parts.fragment or entry.endswith(("?", "#")):
        raise ValueError(f"{problem}: remove the path (even a trailing /), query and fragment")
    host = parts.hostname.lower()
    if not all(ch.isascii() and (ch.isalnum() or ch in ".-:") for ch in host):
        raise ValueError(f"{problem}: the host must be ASCII (punycode for IDN) letters, digits, dots and dashes")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{problem}: the port is not a number from 0 to 65535") from exc
    scheme = parts.scheme.lower()
    shown_host = f"[{host}]" if ":" in host else host  # IPv6 literals keep their brackets
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown_host}"
    return f"{scheme}://{shown_host}:{port}"
