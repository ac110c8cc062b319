"""Security headers, body limits and CORS origins, driven through a small real Starlette app."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from ioc.api.hardening import (
    CONTENT_SECURITY_POLICY,
    STRICT_TRANSPORT_SECURITY,
    BodySizeLimitMiddleware,
    RequestBodyTooLarge,
    SecurityHeadersMiddleware,
    cors_origins_from,
)
from ioc.db.embedded import free_port

# -- the app under test --------------------------------------------------------------------------

seen_bodies: list[int] = []  # bytes each body-reading route got, to prove the excess never reached it


async def page(request: Request) -> Response:
    return PlainTextResponse("<html>bản đồ</html>", media_type="text/html")


async def api_status(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def api_cached(request: Request) -> Response:
    return JSONResponse({"ok": True}, headers={"Cache-Control": "max-age=60"})


async def api_framed(request: Request) -> Response:
    return JSONResponse({"ok": True}, headers={"X-Frame-Options": "SAMEORIGIN"})


async def echo_size(request: Request) -> Response:
    body = await request.body()
    seen_bodies.append(len(body))
    return JSONResponse({"size": len(body)})


async def swallow_errors(request: Request) -> Response:
    # An application that catches everything and answers 200: the client must still get 413.
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
    except Exception:
        seen_bodies.append(size)
        return JSONResponse({"swallowed": True})
    seen_bodies.append(size)
    return JSONResponse({"size": size})


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk {i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(f"echo: {text}")
    await websocket.close()


ROUTES = [
    Route("/", page),
    Route("/api/v1/status", api_status),
    Route("/api/v1/cached", api_cached),
    Route("/api/v1/framed", api_framed),
    Route("/api/v1/echo", echo_size, methods=["POST"]),
    Route("/api/v1/ingest/dossier-events", echo_size, methods=["POST"]),
    Route("/api/v1/ingestion", echo_size, methods=["POST"]),
    Route("/api/v1/swallow", swallow_errors, methods=["POST"]),
    Route("/stream", stream),
    WebSocketRoute("/ws", echo_socket),
]

LIMITS = {"/api/v1/ingest": 1000, "/api/v1/ingest/dossier-events/small": 10}


def make_app(*, hsts: bool = False) -> Starlette:
    return Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=hsts),
            Middleware(BodySizeLimitMiddleware, default_limit=100, limits=LIMITS),
        ],
    )


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ioc.test")


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:  # an async body: httpx sends it without a Content-Length
        yield part


# -- security headers ------------------------------------------------------------------------------

EXPECTED_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.mark.parametrize("path", ["/", "/api/v1/status", "/stream", "/missing"])
async def test_every_http_response_gets_the_security_headers(path: str) -> None:
    async with client_for(make_app()) as client:
        response = await client.get(path)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert "strict-transport-security" not in response.headers


async def test_hsts_only_when_asked() -> None:
    async with client_for(make_app(hsts=True)) as client:
        response = await client.get("/")
    assert response.headers["strict-transport-security"] == STRICT_TRANSPORT_SECURITY


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [
        ("/api/v1/status", ["no-store"]),
        ("/api/v1/missing", ["no-store"]),  # a 404 from the API is an API answer too
        ("/api/v1/cached", ["max-age=60"]),  # the route's own choice stands
        ("/", []),  # the page and static files keep normal caching
        ("/stream", []),
    ],
)
async def test_api_answers_are_not_cached_unless_the_route_says_so(path: str, cache_control: list[str]) -> None:
    async with client_for(make_app()) as client:
        response = await client.get(path)
    assert response.headers.get_list("cache-control") == cache_control


async def test_a_header_the_route_set_is_not_overridden() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/api/v1/framed")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]


async def test_a_streamed_response_passes_through_chunk_by_chunk() -> None:
    app = make_app()
    sent: list[Message] = []
    request_sent = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/stream", "raw_path": b"/stream", "query_string": b"", "root_path": "", "headers": [],
        "client": ("127.0.0.1", 1234), "server": ("ioc.test", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]
    assert bodies == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]  # not merged into one buffer
    assert dict(sent[0]["headers"])[b"x-frame-options"] == b"DENY"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1: WebSockets and real sockets need one."""
    port = free_port()
    config = uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def test_websockets_pass_through_both_middlewares(served: str) -> None:
    async with connect(f"ws://{served}/ws") as socket:
        await socket.send("xin chào")
        assert await socket.recv() == "echo: xin chào"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_real_server_delivers_the_413_before_closing(served: str, declared: bool) -> None:
    # The rest of a modest body is read and dropped first: closing on unread data would reset the
    # connection, and the client would see a network error instead of the 413.
    seen_bodies.clear()
    body: bytes | AsyncIterator[bytes] = b"x" * 5000 if declared else chunked(*[b"x" * 500] * 10)
    async with httpx.AsyncClient(base_url=f"http://{served}") as client:
        refused = await client.post("/api/v1/echo", content=body)
        accepted = await client.post("/api/v1/echo", content=chunked(b"x" * 40, b"x" * 40))
    assert refused.status_code == 413 and refused.headers["connection"] == "close"
    assert accepted.status_code == 200 and accepted.json() == {"size": 80}
    assert seen_bodies == [80]


async def test_an_overflow_in_the_last_chunk_does_not_wait_for_more() -> None:
    # Past the end of the body a server's receive() blocks until the client goes away: the
    # middleware must not try to drain then.
    client_gone = asyncio.Event()
    messages: list[Message] = [{"type": "http.request", "body": b"x" * 200, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await client_gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/echo", "raw_path": b"/api/v1/echo", "query_string": b"", "root_path": "", "headers": [],
        "client": ("127.0.0.1", 1234), "server": ("ioc.test", 80),
    }  # fmt: skip
    await asyncio.wait_for(make_app()(scope, receive, send), timeout=5)
    assert sent[0]["status"] == 413


# -- body size limits ---------------------------------------------------------------------------------

LIMIT_CASES = [
    # (path, body size, limit that applies)
    ("/api/v1/echo", 100, 100),
    ("/api/v1/echo", 101, 100),
    ("/api/v1/ingest/dossier-events", 1000, 1000),  # the ingest route's own, bigger limit
    ("/api/v1/ingest/dossier-events", 1001, 1000),
    ("/api/v1/ingestion", 101, 100),  # prefixes match whole path segments only
]


@pytest.mark.parametrize(("path", "size", "limit"), LIMIT_CASES)
async def test_a_declared_content_length_over_the_limit_is_refused_up_front(path: str, size: int, limit: int) -> None:
    seen_bodies.clear()
    async with client_for(make_app()) as client:
        response = await client.post(path, content=b"x" * size)
    if size <= limit:
        assert response.status_code == 200 and response.json() == {"size": size}
    else:
        assert response.status_code == 413
        assert f"{limit} byte" in response.json()["detail"] and response.json()["detail"].startswith("Nội dung")
        assert seen_bodies == []  # the application never ran
        assert response.headers["x-frame-options"] == "DENY"  # refusals carry the security headers too


@pytest.mark.parametrize(("path", "size", "limit"), LIMIT_CASES)
async def test_a_streamed_body_is_counted_as_it_arrives(path: str, size: int, limit: int) -> None:
    seen_bodies.clear()
    parts = [b"x" * 40] * (size // 40) + [b"x" * (size % 40)]
    async with client_for(make_app()) as client:
        response = await client.post(path, content=chunked(*parts))
    assert response.status_code == (200 if size <= limit else 413)
    assert seen_bodies == ([size] if size <= limit else [])


async def test_an_application_that_swallows_the_overflow_still_answers_413() -> None:
    seen_bodies.clear()
    async with client_for(make_app()) as client:
        response = await client.post("/api/v1/swallow", content=chunked(b"x" * 60, b"x" * 60, b"x" * 60))
    assert response.status_code == 413
    assert seen_bodies == [60]  # the chunk that went over the limit never reached it


async def test_an_overflow_after_the_response_started_aborts_it() -> None:
    received: list[bytes] = []

    async def answers_early(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                message = await receive()
                received.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except RequestBodyTooLarge:
            pass
        await send({"type": "http.response.body", "body": b"done"})

    app = BodySizeLimitMiddleware(answers_early, default_limit=100, limits={})
    async with client_for(app) as client:
        with pytest.raises(RequestBodyTooLarge):
            await client.post("/upload", content=chunked(b"x" * 60, b"x" * 60))
    assert received == [b"x" * 60]


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/v1/ingest", 1000),
        ("/api/v1/ingest/dossier-events", 1000),
        ("/api/v1/ingest/dossier-events/small", 10),  # longest prefix wins
        ("/api/v1/ingest/dossier-events/small/x", 10),
        ("/api/v1/ingestion", 100),
        ("/", 100),
    ],
)
def test_the_longest_prefix_sets_the_limit(path: str, limit: int) -> None:
    middleware = BodySizeLimitMiddleware(make_app(), default_limit=100, limits={**LIMITS, "/api/v1/ingest/": 1000})
    assert middleware.limit_for(path) == limit


async def test_an_invalid_content_length_is_refused() -> None:
    seen_bodies.clear()
    transport = httpx.ASGITransport(app=make_app())
    request = httpx.Request("POST", "http://ioc.test/api/v1/echo", headers={"Content-Length": "-5"}, content=b"")
    response = await transport.handle_async_request(request)
    assert response.status_code == 400 and seen_bodies == []


@pytest.mark.parametrize("limits", [{"api": 10}, {"/api": -1}])
def test_bad_limits_are_refused(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        BodySizeLimitMiddleware(make_app(), default_limit=100, limits=limits)


# -- CORS origins ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("  ,  ", []),
        ("https://ioc.hanoi.gov.vn", ["https://ioc.hanoi.gov.vn"]),
        (
            "https://ioc.hanoi.gov.vn, http://127.0.0.1:5173",
            ["https://ioc.hanoi.gov.vn", "http://127.0.0.1:5173"],
        ),
        ("HTTPS://IOC.Example:443", ["https://ioc.example"]),  # as browsers send it
        ("http://[::1]:8000", ["http://[::1]:8000"]),
        ("https://a.example,https://a.example", ["https://a.example"]),
    ],
)
def test_cors_origins_are_parsed_and_normalised(value: str, expected: list[str]) -> None:
    assert cors_origins_from(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "ioc.example",
        "ftp://ioc.example",
        "https://ioc.example/",
        "https://ioc.example/app",
        "https://ioc.example?x=1",
        "https://ioc.example#top",
        "https://user@ioc.example",
        "https://ioc.example:99999",
        "https://",
        "https://ioc example",
        "https://good.example, javascript:alert(1)",
    ],
)
def test_anything_but_an_origin_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        cors_origins_from(value)
