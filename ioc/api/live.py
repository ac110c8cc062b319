"""WebSocket /ws: a snapshot on connect, then numbered deltas; resume after a reconnect.

The client speaks first: `{"type": "hello", "epoch": …, "last_seq": …}` (nulls on a first
visit). Keeping credentials and the resume point out of the URL leaves room for the access issue
to authenticate in that first message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ioc.api.deps import AppState

log = logging.getLogger(__name__)
HELLO_TIMEOUT_SECONDS = 10.0


def live_router() -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def live(websocket: WebSocket) -> None:
        state: AppState = websocket.app.state.ioc
        await websocket.accept()
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT_SECONDS)
            hello = orjson.loads(raw)
        except (TimeoutError, orjson.JSONDecodeError, WebSocketDisconnect):
            with contextlib.suppress(RuntimeError):
                await websocket.close(code=1008, reason="expected a hello message")
            return
        epoch = hello.get("epoch") if isinstance(hello, dict) else None
        last_seq = hello.get("last_seq") if isinstance(hello, dict) else None
        # `type(...) is int`: a JSON true is a Python bool, an int subclass, and no sequence number.
        subscription = await state.hub.subscribe(
            epoch if isinstance(epoch, str) else None, last_seq if type(last_seq) is int else None
        )
        async with subscription:
            # When the client goes away, end the subscription at once: otherwise this handler
            # would wait for the next delta to notice, holding a hub slot and blocking shutdown.
            reader = asyncio.create_task(_drain_client(websocket))
            reader.add_done_callback(lambda _: subscription.close())
            try:
                async for message in subscription:
                    await websocket.send_text(message.json)
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                reader.cancel()

    return router


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a closed socket is noticed promptly."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
