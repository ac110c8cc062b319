"""WebSocket /ws: a snapshot on connect, then numbered deltas; resume after a reconnect.

Access control, in order:
  1. Origin: a browser page of another site may not open the socket (the cookie would ride along);
     refused at the handshake (HTTP 403). No Origin means a non-browser client.
  2. Credentials, before any data: the session or display cookie on the handshake (a bad one is
     refused at the handshake: HTTP 401), or else a token in the first message. Never in the URL:
     URLs end up in logs and browser history.
  3. The stream is the view of the principal's scope: only in-scope rows ever reach it.
  4. The credential is checked again about every `RECHECK_SECONDS`: revoking a display token or a
     session ends the stream it opened. One task per process does it for every client (`CredentialWatch`):
     each client's turn comes at its own jittered time, so a thousand screens connected in the same
     second are not re-checked in the same second, and the clients due together are checked on
     one pooled connection with one SQL statement (ioc/auth/recheck.py).

Per client there is the handler (which sends) and one reader task (which notices a closed
socket); an idle wall screen costs those two coroutines, a subscription and its bounded queue.

The client speaks first: `{"type": "hello", "epoch": …, "last_seq": …}` (nulls on a first visit),
with `"token": "<access or display token>"` when it has no cookie. Close codes: 1008 no hello,
4401 no or bad credential (also when it expires or is revoked), 4403 a role that may not read
status, 1012 the principal's scope changed (reconnect for the new view), 1003 a binary frame (the
hello or any later message: the protocol is JSON text).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from ioc.api.deps import AppState
from ioc.api.guard import authenticate, declare, same_origin
from ioc.auth.policy import Action, Policy, allowed
from ioc.auth.principal import Principal
from ioc.auth.recheck import principals_for_all
from ioc.auth.resolve import Presented, Unauthenticated, presented_credential, principal_for
from ioc.live.hub import Subscription

log = logging.getLogger(__name__)
HELLO_TIMEOUT_SECONDS = 10.0
# How often a connected client's credential is checked again; tests make it short.
RECHECK_SECONDS = 60.0
# Each client's next check lands at RECHECK_SECONDS times a factor drawn from this range.
RECHECK_JITTER = (0.75, 1.25)

POLICY = Policy(Action.STATUS_READ, "list")


@dataclass(frozen=True)
class Closing:
    code: int
    reason: str  # at most 123 bytes of UTF-8 in a close frame


NO_HELLO = Closing(1008, "expected a hello message")
NO_CREDENTIAL = Closing(4401, "cần đăng nhập / authentication required")
BAD_CREDENTIAL = Closing(4401, "thông tin đăng nhập không hợp lệ / invalid credential")
ENDED_CREDENTIAL = Closing(4401, "phiên đã hết hạn hoặc bị thu hồi / credential expired or revoked")
FORBIDDEN = Closing(4403, "vai trò không được xem trạng thái / role may not read status")
SCOPE_CHANGED = Closing(1012, "phạm vi đã thay đổi / scope changed, reconnect")
# The protocol is JSON text; a binary frame (hello or later) ends the stream with 1003.
BINARY_FRAME = Closing(1003, "chỉ nhận khung văn bản JSON / text frames only, binary not supported")


LIVE_PATH = "/ws"


def live_router() -> APIRouter:
    """The /ws route as the route table, the policy matrix and OpenAPI see it; `LiveSocketShortcut`
    serves the connections themselves."""
    router = APIRouter()

    @router.websocket(LIVE_PATH, dependencies=[declare(POLICY)])
    async def live(websocket: WebSocket) -> None:
        await serve_live(websocket)

    return router


class LiveSocketShortcut:
    """ASGI middleware that hands /ws connections straight to `serve_live`.

    A wall screen's connection lives for days, and every frame of the call chain under it lives
    as long: through FastAPI's router (dependency solving, two exit stacks, exception wrappers)
    that is ~12 KiB per idle socket (31 KiB against 20 KiB for a bare ASGI endpoint under the
    same uvicorn, measured with 1,000 clients). The route stays declared in `live_router`, so
    the policy matrix and the route table still list it; only the dispatch is shorter.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == LIVE_PATH:
            await serve_live(WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)


async def serve_live(websocket: WebSocket) -> None:
    """One live client, from the handshake to the close (the module docstring's rules)."""
    state: AppState = websocket.app.state.ioc
    if not same_origin(websocket, state.allowed_origins):
        await _refuse_handshake(websocket, 403, "nguồn gốc không được phép / origin not allowed")
        return
    try:
        from_handshake = await authenticate(websocket)
    except HTTPException as exc:
        await _refuse_handshake(websocket, exc.status_code, str(exc.detail))
        return
    await websocket.accept()
    hello = await _receive_hello(websocket)
    if isinstance(hello, Closing):
        await _close(websocket, hello)
        return
    # A credential on the handshake wins; a token in the hello is for clients without a cookie.
    token = hello.get("token")
    presented = None if from_handshake is not None or not isinstance(token, str) else Presented(token, "bearer")
    principal = from_handshake
    if presented is not None:
        try:
            principal = await _resolve(state, presented)
        except Unauthenticated:
            await _close(websocket, BAD_CREDENTIAL)
            return
    if principal is None:
        await _close(websocket, NO_CREDENTIAL)
        return
    if not POLICY.allows_role(principal.role):
        await _close(websocket, FORBIDDEN)
        return
    epoch, last_seq = hello.get("epoch"), hello.get("last_seq")
    closing = await _stream(
        websocket, state, principal, presented,
        # `type(...) is int`: a JSON true is a Python bool, an int subclass, and no sequence number.
        epoch if isinstance(epoch, str) else None, last_seq if type(last_seq) is int else None,
    )  # fmt: skip
    if closing is not None:
        await _close(websocket, closing)


async def _stream(
    websocket: WebSocket,
    state: AppState,
    principal: Principal,
    presented: Presented | None,
    epoch: str | None,
    last_seq: int | None,
) -> Closing | None:
    """Send the principal's view until the client leaves or its credential ends; why it ended."""
    # The credential to check again: the hello's token, else the handshake's cookie or header.
    credential = presented or presented_credential(websocket.headers, websocket.cookies)
    subscription, view = await state.feed.join(principal.scope, epoch, last_seq)
    watched = _Watched(principal.scope.key, credential, subscription)
    watch = _watch_of(websocket, state)
    watch.add(watched)
    # When the client goes away, end the subscription at once: otherwise this handler
    # would wait for the next delta to notice, holding a hub slot and blocking shutdown.
    reader = asyncio.create_task(_drain_client(websocket))
    reader.add_done_callback(lambda _: subscription.close())
    try:
        while True:
            # No local name for the message: an idle client would keep its last one (often
            # the snapshot) alive until the next delta.
            await websocket.send_text((await anext(subscription)).json)
    except (StopAsyncIteration, WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.cancel()
        watch.remove(watched)
        subscription.close()
        state.feed.leave(view)
    if watched.closing is None and reader.done() and not reader.cancelled():
        return reader.result()  # the client's own fault (a binary frame), or None: it left
    return watched.closing


@dataclass(eq=False, slots=True)
class _Watched:
    """One live client as the credential watch sees it."""

    scope_key: str
    credential: Presented | None
    subscription: Subscription
    closing: Closing | None = None  # set when the watch ended the stream: the close code to send
    done: bool = False


@dataclass
class CredentialWatch:
    """Re-checks every live client's credential from one task: those due together, in one statement.

    Clients wait in a heap by due time; the task sleeps until the earliest, takes every client
    due by then, resolves their credentials in one statement, ends the streams whose
    credential ended, and schedules the rest again with fresh jitter. It stops when no client
    is left and starts again with the next one.
    """

    state: AppState
    _heap: list[tuple[float, int, _Watched]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _task: asyncio.Task[None] | None = None
    _live: int = 0

    def add(self, watched: _Watched) -> None:
        self._live += 1
        self._schedule(watched)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live credential watch")

    def remove(self, watched: _Watched) -> None:
        if not watched.done:
            watched.done = True  # left in the heap; skipped when its turn comes
            self._live -= 1
        if self._live == 0 and self._task is not None:
            # Nobody left to watch (the last screen went, or shutdown): no task lingers.
            self._task.cancel()
            self._task = None
            self._heap.clear()

    def _schedule(self, watched: _Watched) -> None:
        due = asyncio.get_running_loop().time() + RECHECK_SECONDS * random.uniform(*RECHECK_JITTER)
        heapq.heappush(self._heap, (due, next(self._order), watched))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._heap:
            delay = self._heap[0][0] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            due: list[_Watched] = []
            while self._heap and self._heap[0][0] <= now:
                _, _, watched = heapq.heappop(self._heap)
                if not watched.done:
                    due.append(watched)
            if due:
                await self._check(due)

    async def _check(self, due: list[_Watched]) -> None:
        try:
            verdicts = await _verdicts(self.state, [w.credential for w in due], [w.scope_key for w in due])
        except (psycopg.Error, OSError) as exc:
            # The database being briefly away is no reason to blank every wall screen.
            log.warning("could not re-check %d live clients' credentials: %s", len(due), exc)
            verdicts = [None] * len(due)
        for watched, closing in zip(due, verdicts, strict=True):
            if watched.done:
                continue
            if closing is None:
                self._schedule(watched)
            else:
                watched.closing = closing
                self.remove(watched)
                watched.subscription.close()


def _watch_of(websocket: WebSocket, state: AppState) -> CredentialWatch:
    """The application's watch, created with its first live client."""
    watch = getattr(websocket.app.state, "live_credential_watch", None)
    if not isinstance(watch, CredentialWatch):
        watch = CredentialWatch(state)
        websocket.app.state.live_credential_watch = watch
    return watch


async def _verdicts(
    state: AppState, credentials: list[Presented | None], scope_keys: list[str]
) -> list[Closing | None]:
    """For each credential, why its stream must end (None: it may go on).

    One connection, one statement for every session, access and display token due
    (`principals_for_all`), one commit (the displays' last-seen times)."""
    now = datetime.now(UTC)
    present = [c for c in credentials if c is not None]
    async with state.pool.connection() as conn:
        principals = iter(await principals_for_all(conn, present, now, state.oidc))
        await conn.commit()
    return [
        ENDED_CREDENTIAL if credential is None else _verdict(next(principals), scope_key)
        for credential, scope_key in zip(credentials, scope_keys, strict=True)
    ]


def _verdict(current: Principal | None, scope_key: str) -> Closing | None:
    """Whether a stream may go on under its credential's principal as it is now (pure)."""
    if current is None:
        return ENDED_CREDENTIAL
    if not allowed(current.role, Action.STATUS_READ):
        return FORBIDDEN
    if current.scope.key != scope_key:
        return SCOPE_CHANGED
    return None


async def _resolve(state: AppState, presented: Presented) -> Principal:
    """The principal behind a hello token."""
    async with state.pool.connection() as conn:
        principal = await principal_for(conn, presented, datetime.now(UTC), state.oidc)
        await conn.commit()  # a display's last-seen time
    return principal


async def _receive_hello(websocket: WebSocket) -> dict[str, Any] | Closing:
    """The hello, or why the client is closed before it (none in time, not JSON, a binary frame)."""
    try:
        # The raw ASGI message, not receive_text(): that one indexes message["text"] and a binary
        # frame (which carries "bytes") would raise KeyError inside the ASGI app.
        message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_SECONDS)
    except (TimeoutError, WebSocketDisconnect, RuntimeError):
        return NO_HELLO
    if message["type"] != "websocket.receive":
        return NO_HELLO
    raw = message.get("text")
    if raw is None:
        return BINARY_FRAME if message.get("bytes") is not None else NO_HELLO
    try:
        hello = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NO_HELLO
    return hello if isinstance(hello, dict) else NO_HELLO


async def _refuse_handshake(websocket: WebSocket, status: int, detail: str) -> None:
    """Answer the upgrade request with an HTTP error; servers without that extension send 403."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status))
    else:
        await websocket.close(code=1008)


async def _close(websocket: WebSocket, closing: Closing) -> None:
    with contextlib.suppress(RuntimeError):
        await websocket.close(code=closing.code, reason=closing.reason)


async def _drain_client(websocket: WebSocket) -> Closing | None:
    """Read (and ignore) what the client sends, so a closed socket is noticed promptly.

    Text messages are ignored; a binary frame ends the stream (returned: the close to send)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        # The ASGI messages themselves: one frame less than receive_text under every socket.
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if message.get("text") is None and message.get("bytes") is not None:
                return BINARY_FRAME
    return None
