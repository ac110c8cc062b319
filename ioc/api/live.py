"""WebSocket /ws: a snapshot on connect, then numbered deltas; resume after a reconnect.

Access control, in order:
  1. Origin: a browser page of another site may not open the socket (the cookie would ride along);
     refused at the handshake (HTTP 403). No Origin means a non-browser client.
  2. Credentials, before any data: the session or display cookie on the handshake (a bad one is
     refused at the handshake: HTTP 401), or else a token in the first message. Never in the URL:
     URLs end up in logs and browser history.
  3. The stream is the view of the principal's scope: only in-scope rows ever reach it.
  4. The credential is checked again every `RECHECK_SECONDS`: revoking a display token or a
     session ends the stream it opened.

The client speaks first: `{"type": "hello", "epoch": …, "last_seq": …}` (nulls on a first visit),
with `"token": "<access or display token>"` when it has no cookie. Close codes: 1008 no hello,
4401 no or bad credential (also when it expires or is revoked), 4403 a role that may not read
status, 1012 the principal's scope changed (reconnect for the new view).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from ioc.api.deps import AppState
from ioc.api.guard import authenticate, declare, same_origin
from ioc.auth.policy import Action, Policy, allowed
from ioc.auth.principal import Principal
from ioc.auth.resolve import Presented, Unauthenticated, principal_for

log = logging.getLogger(__name__)
HELLO_TIMEOUT_SECONDS = 10.0
# How often a connected client's credential is checked again; tests make it short.
RECHECK_SECONDS = 60.0

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


def live_router() -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws", dependencies=[declare(POLICY)])
    async def live(websocket: WebSocket) -> None:
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
        if hello is None:
            await _close(websocket, NO_HELLO)
            return
        # A credential on the handshake wins; a token in the hello is for clients without a cookie.
        token = hello.get("token")
        presented = None if from_handshake is not None or not isinstance(token, str) else Presented(token, "bearer")
        principal = from_handshake
        if presented is not None:
            try:
                principal = await _resolve(websocket, state, presented)
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

    return router


async def _stream(
    websocket: WebSocket,
    state: AppState,
    principal: Principal,
    presented: Presented | None,
    epoch: str | None,
    last_seq: int | None,
) -> Closing | None:
    """Send the principal's view until the client leaves or its credential ends; why it ended."""
    async with state.feed.subscribe(principal.scope, epoch, last_seq) as subscription:
        # When the client goes away, end the subscription at once: otherwise this handler
        # would wait for the next delta to notice, holding a hub slot and blocking shutdown.
        reader = asyncio.create_task(_drain_client(websocket))
        reader.add_done_callback(lambda _: subscription.close())
        watcher = asyncio.create_task(_watch_credential(websocket, state, principal, presented))
        watcher.add_done_callback(lambda _: subscription.close())
        try:
            async for message in subscription:
                await websocket.send_text(message.json)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            watcher.cancel()  # no-op when it is the one that ended the stream
    if not watcher.done() or watcher.cancelled():
        return None
    if (error := watcher.exception()) is not None:
        log.error("live credential check failed", exc_info=error)
        return ENDED_CREDENTIAL
    return watcher.result()


async def _watch_credential(
    websocket: WebSocket, state: AppState, principal: Principal, presented: Presented | None
) -> Closing:
    """Resolve the credential again every RECHECK_SECONDS; return once the stream must end."""
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        try:
            current = await _resolve(websocket, state, presented)
        except Unauthenticated:
            return ENDED_CREDENTIAL
        except (psycopg.Error, OSError) as exc:
            # The database being briefly away is no reason to blank every wall screen.
            log.warning("could not re-check a live client's credential: %s", exc)
            continue
        if current is None:
            return ENDED_CREDENTIAL
        if not allowed(current.role, Action.STATUS_READ):
            return FORBIDDEN
        if current.scope.key != principal.scope.key:
            return SCOPE_CHANGED


async def _resolve(websocket: WebSocket, state: AppState, presented: Presented | None) -> Principal | None:
    """The principal behind a hello token, or (None) behind the handshake's own credential."""
    if presented is None:
        try:
            return await authenticate(websocket)
        except HTTPException as exc:
            raise Unauthenticated(str(exc.detail)) from exc
    async with state.pool.connection() as conn:
        principal = await principal_for(conn, presented, datetime.now(UTC), state.oidc)
        await conn.commit()  # a display's last-seen time
    return principal


async def _receive_hello(websocket: WebSocket) -> dict[str, Any] | None:
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT_SECONDS)
        hello = orjson.loads(raw)
    except (TimeoutError, orjson.JSONDecodeError, WebSocketDisconnect):
        return None
    return hello if isinstance(hello, dict) else None


async def _refuse_handshake(websocket: WebSocket, status: int, detail: str) -> None:
    """Answer the upgrade request with an HTTP error; servers without that extension send 403."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status))
    else:
        await websocket.close(code=1008)


async def _close(websocket: WebSocket, closing: Closing) -> None:
    with contextlib.suppress(RuntimeError):
        await websocket.close(code=closing.code, reason=closing.reason)


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a closed socket is noticed promptly."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
