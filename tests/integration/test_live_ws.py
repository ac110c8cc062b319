"""The live WebSocket path end to end: ingest API → NOTIFY → feed → hub → /ws, against the real app.

Nothing here polls the server for state: each test awaits the messages the server pushes, with a
timeout. Dossiers are received three weeks ago with a one-working-day procedure, so they are
overdue by the real clock the live feed uses; the alert engine (not scheduled in the test server)
is run by the test with the real ``now``. Every client here is the server's national test admin,
with its access token in the hello; access control itself is tested in test_live_scope.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import ioc.api.live
from alerts.calendar import WorkingCalendar
from alerts.shell import AlertEngine, EvaluationReport
from ioc.metrics import Metrics
from tests.conftest import LiveServer

Message = dict[str, Any]
TIMEOUT = 10.0


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Commune:
    province_code: str
    code: str


HA_NOI = Commune("01", "00004")  # Phường Ba Đình, Thành phố Hà Nội
HO_CHI_MINH = Commune("79", "25747")  # Phường Thủ Dầu Một, Thành phố Hồ Chí Minh
DA_NANG = Commune("48", "20194")  # Phường Hải Vân, Thành phố Đà Nẵng
CAN_THO = Commune("92", "31120")  # Phường Cái Khế, Thành phố Cần Thơ


def overdue_receipt(code: str, commune: Commune) -> dict[str, object]:
    """A dossier received three weeks ago for a one-working-day procedure: long overdue now."""
    return {
        "event_id": f"{code}:received",
        "dossier_code": code,
        "event_type": "received",
        "occurred_at": (datetime.now(UTC) - timedelta(weeks=3)).isoformat(),
        "locality": {"commune_code": commune.code},
        "procedure": {"code": "TEST-1D", "name": "Thủ tục thử nghiệm", "sector": "Tư pháp", "statutory_days": 1},
        "agency": {"code": f"UBND-{commune.code}", "name": f"UBND {commune.code}"},
        "channel": "online",
    }


async def ingest(server: LiveServer, *events: dict[str, object]) -> None:
    response = await asyncio.to_thread(server.post_events, list(events))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events), response.text


async def run_alert_engine(server: LiveServer) -> EvaluationReport:
    async with await psycopg.AsyncConnection.connect(server.db_url) as conn:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.commit()
        report = await AlertEngine(WorkingCalendar(), Metrics()).run_once(conn, datetime.now(UTC))
    assert report.ran
    return report


async def say_hello(ws: ClientConnection, token: str | None, epoch: object = None, last_seq: object = None) -> None:
    """The first message: the resume point, and the credential of a client without a cookie."""
    hello: dict[str, object] = {"type": "hello", "epoch": epoch, "last_seq": last_seq}
    if token is not None:
        hello["token"] = token
    await ws.send(orjson.dumps(hello).decode())


async def receive(ws: ClientConnection, timeout: float = TIMEOUT) -> Message:
    message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


async def receive_until(
    ws: ClientConnection, found: Callable[[Message], bool], timeout: float = TIMEOUT
) -> list[Message]:
    """Every message up to and including the first one ``found`` accepts."""
    seen: list[Message] = []
    async with asyncio.timeout(timeout):
        while True:
            seen.append(await receive(ws, timeout))
            if found(seen[-1]):
                return seen


async def receive_until_all(
    ws: ClientConnection, *wanted: Callable[[Message], bool], timeout: float = TIMEOUT
) -> list[Message]:
    """Every message up to the one by which each of ``wanted`` has accepted some message."""
    pending = list(wanted)

    def found(message: Message) -> bool:
        pending[:] = [w for w in pending if not w(message)]
        return not pending

    return await receive_until(ws, found, timeout)


def changes(message: Message) -> dict[str, Any]:
    if message["type"] != "delta":
        return {}
    result = message["data"]["changes"]
    assert isinstance(result, dict)
    return result


def province_overdue(code: str, overdue: int) -> Callable[[Message], bool]:
    return lambda m: changes(m).get(f"province:{code}", {}).get("overdue") == overdue


def fresh_dossier_feed(message: Message) -> bool:
    return changes(message).get("freshness", {}).get("dossier", {}).get("last_event_at") is not None


def firing_alert_in(province_code: str) -> Callable[[Message], bool]:
    def found(m: Message) -> bool:
        return any(
            key.startswith("alert:") and value["state"] == "firing" and value["province_code"] == province_code
            for key, value in changes(m).items()
        )

    return found


def assert_consecutive(messages: list[Message], after: int) -> None:
    assert [m["seq"] for m in messages] == list(range(after + 1, after + 1 + len(messages)))


class Watcher:
    """A client that stays connected and records every delta, as the reference for the others."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.deltas: list[Message] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                message = orjson.loads(raw)
                assert message["type"] == "delta", message
                self.deltas.append(message)
                self._arrived.set()

    async def wait_for(self, found: Callable[[Message], bool], timeout: float = TIMEOUT) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.deltas:
                    if found(message):
                        return message
                self._arrived.clear()
                await self._arrived.wait()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    return live_server


@pytest.fixture(scope="module")
def shared_server(module_live_server: LiveServer) -> LiveServer:
    return module_live_server


# --------------------------------------------------------------------------- snapshot and deltas


async def test_snapshot_lists_the_34_provinces_by_their_vietnamese_names(server: LiveServer) -> None:
    async with connect(server.ws_url) as ws:
        await say_hello(ws, server.admin_token)
        snapshot = await receive(ws)

    assert snapshot["type"] == "snapshot"
    assert isinstance(snapshot["epoch"], str) and snapshot["epoch"]
    assert isinstance(snapshot["seq"], int)
    provinces = snapshot["data"]["provinces"]
    assert len(provinces) == 34
    names = {p["code"]: p["name"] for p in provinces}
    assert names["01"] == "Thành phố Hà Nội"
    assert names["79"] == "Thành phố Hồ Chí Minh"
    assert names["66"] == "Tỉnh Đắk Lắk"
    assert all(not name.isascii() for name in names.values())  # every name keeps its diacritics
    assert snapshot["data"]["alerts"] == []
    assert "dossier" in snapshot["data"]["freshness"]


async def test_ingested_overdue_dossier_and_its_alert_reach_the_client_without_polling(
    server: LiveServer,
) -> None:
    async with connect(server.ws_url) as ws:
        await say_hello(ws, server.admin_token)
        snapshot = await receive(ws)
        [ha_noi] = [p for p in snapshot["data"]["provinces"] if p["code"] == "01"]
        assert (ha_noi["open"], ha_noi["overdue"]) == (0, 0)

        await ingest(server, overdue_receipt("HS-WS-1", HA_NOI))
        # The refresher publishes the province and the feed's freshness one after the other, so
        # the hub may flush them in one delta or in two.
        deltas = await receive_until_all(ws, province_overdue("01", 1), fresh_dossier_feed)
        [province] = [changes(m)["province:01"] for m in deltas if province_overdue("01", 1)(m)]
        assert (province["name"], province["open"], province["overdue"]) == ("Thành phố Hà Nội", 1, 1)

        await run_alert_engine(server)
        deltas += await receive_until(ws, firing_alert_in("01"))
        [alert] = [v for k, v in changes(deltas[-1]).items() if k.startswith("alert:") and v["rule_id"] == "overdue"]
        assert alert["state"] == "firing"
        assert (alert["province_code"], alert["commune_code"]) == ("01", HA_NOI.code)
        assert "1 hồ sơ quá hạn" in alert["summary_vi"]
        assert f"alert:{alert['id']}" in changes(deltas[-1])

    assert all(m["type"] == "delta" and m["epoch"] == snapshot["epoch"] for m in deltas)
    assert_consecutive(deltas, after=snapshot["seq"])


# --------------------------------------------------------------------------- resuming


async def test_reconnect_with_last_seq_replays_exactly_the_missed_deltas(server: LiveServer) -> None:
    async with connect(server.ws_url) as watcher_ws:
        await say_hello(watcher_ws, server.admin_token)
        assert (await receive(watcher_ws))["type"] == "snapshot"
        watcher = Watcher(watcher_ws)
        try:
            async with connect(server.ws_url) as ws:
                await say_hello(ws, server.admin_token)
                assert (await receive(ws))["type"] == "snapshot"
                await ingest(server, overdue_receipt("HS-RESUME-1", HA_NOI))
                last = (await receive_until(ws, province_overdue("01", 1)))[-1]
            epoch, last_seq = last["epoch"], last["seq"]

            # While the client is away: two provinces change and alerts fire.
            await ingest(server, overdue_receipt("HS-RESUME-2", HO_CHI_MINH))
            await watcher.wait_for(province_overdue("79", 1))
            await ingest(server, overdue_receipt("HS-RESUME-3", DA_NANG))
            await watcher.wait_for(province_overdue("48", 1))
            await run_alert_engine(server)
            newest = await watcher.wait_for(firing_alert_in("48"))

            async with connect(server.ws_url) as ws:
                await say_hello(ws, server.admin_token, epoch, last_seq)
                replayed = await receive_until(ws, lambda m: m["seq"] >= newest["seq"])
                assert_consecutive(replayed, after=last_seq)
                assert all(m["type"] == "delta" and m["epoch"] == epoch for m in replayed)
                missed = {m["seq"]: m for m in watcher.deltas if last_seq < m["seq"] <= newest["seq"]}
                assert {m["seq"]: m for m in replayed} == missed
                seen = {key for m in replayed for key in changes(m)}
                assert {"province:79", "province:48"} <= seen
                assert any(firing_alert_in("79")(m) for m in replayed)

                # And from there on, live deltas follow with no gap.
                await ingest(server, overdue_receipt("HS-RESUME-4", CAN_THO))
                live = await receive_until(ws, province_overdue("92", 1))
                assert_consecutive(live, after=replayed[-1]["seq"])
        finally:
            await watcher.stop()


@pytest.mark.parametrize(
    "hello",
    [
        pytest.param(lambda epoch, seq: (None, None), id="first-visit"),
        pytest.param(lambda epoch, seq: ("0123456789abcdef", seq), id="epoch-of-another-process"),
        pytest.param(lambda epoch, seq: (epoch, seq + 1000), id="seq-ahead-of-the-hub"),
        pytest.param(lambda epoch, seq: (epoch, -1), id="negative-seq"),
        pytest.param(lambda epoch, seq: (epoch, str(seq)), id="seq-not-an-integer"),
    ],
)
async def test_a_resume_point_the_hub_cannot_honour_gets_a_snapshot(
    shared_server: LiveServer, hello: Callable[[str, int], tuple[object, object]]
) -> None:
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, shared_server.admin_token)
        current = await receive(ws)
    epoch, last_seq = hello(current["epoch"], current["seq"])
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, shared_server.admin_token, epoch, last_seq)
        first = await receive(ws)
    assert first["type"] == "snapshot"
    assert first["epoch"] == current["epoch"]
    assert len(first["data"]["provinces"]) == 34


async def test_resume_with_nothing_missed_sends_no_snapshot(shared_server: LiveServer) -> None:
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, shared_server.admin_token)
        current = await receive(ws)
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, shared_server.admin_token, current["epoch"], current["seq"])
        with contextlib.suppress(TimeoutError):
            message = await receive(ws, timeout=0.5)
            # Only a delta the hub flushed meanwhile may arrive, and it is the next one.
            assert (message["type"], message["seq"]) == ("delta", current["seq"] + 1)


# --------------------------------------------------------------------------- protocol errors


@pytest.mark.parametrize(
    "first_words",
    [pytest.param(None, id="silence"), pytest.param("xin chào", id="not-json")],
)
async def test_a_client_without_a_hello_is_closed_with_1008(
    shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch, first_words: str | None
) -> None:
    monkeypatch.setattr(ioc.api.live, "HELLO_TIMEOUT_SECONDS", 0.3)
    async with connect(shared_server.ws_url) as ws:
        if first_words is not None:
            await ws.send(first_words)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "expected a hello message"


# --------------------------------------------------------------------------- operations endpoints


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(sample.value)
    return None


async def test_health_readiness_and_metrics(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for path in ("/healthz", "/readyz"):
            response = await http.get(path)
            assert (response.status_code, response.json()) == (200, {"status": "ok"}), path

        async with connect(server.ws_url) as ws:
            await say_hello(ws, server.admin_token)
            assert (await receive(ws))["type"] == "snapshot"
            await ingest(server, overdue_receipt("HS-METRICS", HA_NOI))
            text = (await http.get("/metrics")).text

    assert metric_value(text, "ioc_live_websocket_clients") == 1.0
    assert metric_value(text, "ioc_ingest_events_total", {"stream": "dossier", "result": "accepted"}) == 1.0


async def websocket_clients(http: httpx.AsyncClient) -> float | None:
    return metric_value((await http.get("/metrics")).text, "ioc_live_websocket_clients")


async def test_a_client_that_leaves_is_unsubscribed_without_waiting_for_a_delta(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        async with connect(server.ws_url) as ws:
            await say_hello(ws, server.admin_token)
            assert (await receive(ws))["type"] == "snapshot"
            # Let the hub go quiet: the change below is the last delta for a while.
            await ingest(server, overdue_receipt("HS-LEAVE", HA_NOI))
            await receive_until(ws, province_overdue("01", 1))
            assert await websocket_clients(http) == 1.0

        async with asyncio.timeout(3.0):
            while await websocket_clients(http) != 0.0:
                await asyncio.sleep(0.1)
