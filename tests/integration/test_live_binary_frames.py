"""A binary frame on /ws (the protocol is JSON text) closes the socket with 1003, never an ASGI crash.

Before the fix a binary hello reached `receive_text()`, which indexes the ASGI message's "text"
key and raised KeyError inside the app ("Exception in ASGI application"). The server's log is
captured here so such an exception fails the test even if the client happened to see a close.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ioc.api.live import BINARY_FRAME
from tests.conftest import LiveServer

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def shared_server(module_live_server: LiveServer) -> LiveServer:
    return module_live_server


def hello(token: str) -> dict[str, object]:
    return {"type": "hello", "epoch": None, "last_seq": None, "token": token}


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None, "the server did not send a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def asgi_crashes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "Exception in ASGI application" in r.getMessage()
            or r.exc_info is not None]  # fmt: skip


async def test_a_binary_hello_is_closed_with_1003_and_no_asgi_exception(
    shared_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with connect(shared_server.ws_url) as ws:
        await ws.send(orjson.dumps(hello(shared_server.admin_token)))  # bytes: a binary frame
        code, reason = await closed_with(ws)
    assert code == 1003
    assert reason == BINARY_FRAME.reason
    assert reason.startswith("chỉ nhận khung văn bản")  # Vietnamese first
    assert len(reason.encode()) <= 123
    assert asgi_crashes(caplog) == []


async def test_a_binary_frame_after_the_hello_ends_the_stream_with_1003(
    shared_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with connect(shared_server.ws_url) as ws:
        await ws.send(orjson.dumps(hello(shared_server.admin_token)).decode())
        first = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert first["type"] == "snapshot"
        await ws.send(b"\x00\x01binary")
        code, reason = await closed_with(ws)
    assert (code, reason) == (BINARY_FRAME.code, BINARY_FRAME.reason)
    assert asgi_crashes(caplog) == []


async def test_a_text_message_after_the_hello_is_still_ignored(shared_server: LiveServer) -> None:
    """Only binary frames are refused: a chatty text client keeps its stream (the same socket
    then still answers a binary frame with 1003, so the stream was alive until then)."""
    async with connect(shared_server.ws_url) as ws:
        await ws.send(orjson.dumps(hello(shared_server.admin_token)).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "snapshot"
        await ws.send('{"type": "ping"}')
        await ws.send(b"now binary")
        code, _ = await closed_with(ws)
    assert code == 1003
