"""The live WebSocket under access control, against the real app: who may connect, and that each
client's stream carries only its own scope's data while other localities update alongside.

Clients authenticate as the real ones do: a token in the hello (access or display token), a
bearer header or the session cookie on the handshake. Credentials are written straight into the
server's database (tests/auth_support.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import ioc.api.live
from ingest.reference import CalendarStore
from ioc.api.guard import route_policy
from ioc.auth.credentials import digest
from ioc.auth.policy import Action, Policy
from ioc.auth.scope import Scope
from ioc.db.pool import make_pool
from ioc.live.feed import LiveFeed
from ioc.live.hub import HubMessage, Subscription
from ioc.localities.catalogue import load_catalogue
from ioc.metrics import Metrics
from ioc.settings import Settings
from tests.auth_support import TEST_PASSWORD, access_token, create_user, display_token, user_token
from tests.conftest import LiveServer
from tests.integration.test_live_ws import (
    TIMEOUT,
    Commune,
    Message,
    changes,
    ingest,
    overdue_receipt,
    receive,
    run_alert_engine,
    say_hello,
)

# Two communes of one province: what separates their operators is the commune, not the province.
BA_DINH = Commune("01", "00004")  # Phường Ba Đình, Thành phố Hà Nội
NGOC_HA = Commune("01", "00008")  # Phường Ngọc Hà, Thành phố Hà Nội
COUNTED = ("received", "resolved", "resolved_on_time", "open", "overdue", "due_soon", "late_without_apology")


def commune_scope(commune: Commune) -> Scope:
    return Scope.from_dict({"communes": [commune.code]})


def late_resolution(code: str, commune: Commune) -> dict[str, object]:
    """Resolves an `overdue_receipt` dossier a week ago: late, and so owing an apology."""
    return {
        "event_id": f"{code}:resolved",
        "dossier_code": code,
        "event_type": "resolved",
        "occurred_at": (datetime.now(UTC) - timedelta(weeks=1)).isoformat(),
        "locality": {"commune_code": commune.code},
        "agency": {"code": f"UBND-{commune.code}", "name": f"UBND {commune.code}"},
    }


class Screen:
    """A connected client: records every message and keeps the state a dashboard would."""

    def __init__(self, ws: ClientConnection, snapshot: Message) -> None:
        assert snapshot["type"] == "snapshot", snapshot
        self.ws = ws
        self.raw: list[str] = []
        self.messages: list[Message] = [snapshot]
        data = snapshot["data"]
        self.state: dict[str, Any] = {f"province:{p['code']}": p for p in data["provinces"]}
        self.state |= {f"commune:{c['code']}": c for c in data.get("communes", [])}
        self.state |= {f"alert:{a['id']}": a for a in data["alerts"]}
        self.checks: list[Callable[[Screen], None]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server: LiveServer, token: str) -> Screen:
        ws = await connect(server.ws_url)
        await say_hello(ws, token)
        raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert isinstance(raw, str)
        screen = cls(ws, orjson.loads(raw))
        screen.raw.append(raw)
        return screen

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                assert isinstance(raw, str)
                message = orjson.loads(raw)
                self.raw.append(raw)
                self.messages.append(message)
                self.state |= changes(message)
                self._changed.set()
                for check in self.checks:
                    check(self)  # after every message, not only at the end

    def alerts(self) -> list[dict[str, Any]]:
        return [v for k, v in self.state.items() if k.startswith("alert:") and v is not None]

    async def wait_for(self, found: Callable[[Screen], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not found(self):
                if self._task.done():
                    self._task.result()  # a failed check: raise it here rather than time out
                    raise AssertionError("the connection closed")
                self._changed.clear()
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait([self._task, changed], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.ws.close()


def province_equals_own_commune(commune: Commune) -> Callable[[Screen], None]:
    """A commune operator's province row counts their commune and nothing else."""

    def check(screen: Screen) -> None:
        province, own = (
            screen.state.get(f"province:{commune.province_code}"),
            screen.state.get(f"commune:{commune.code}"),
        )
        assert province is not None and own is not None
        assert {k: province[k] for k in COUNTED} == {k: own[k] for k in COUNTED}, screen.messages[-1]

    return check


def assert_only_about(screen: Screen, own: Commune, other: Commune) -> None:
    allowed = {f"province:{own.province_code}", f"commune:{own.code}", "freshness",
               "headline:dossier", "headline:payout", "headline:id_issuance"}  # fmt: skip
    snapshot = screen.messages[0]["data"]
    assert [p["code"] for p in snapshot["provinces"]] == [own.province_code]
    assert [c["code"] for c in snapshot["communes"]] == [own.code]
    assert all(a["commune_code"] == own.code for a in snapshot["alerts"])
    assert set(snapshot["alert_counts"]["by_commune"]) <= {own.code}
    for message in screen.messages[1:]:
        for key, value in changes(message).items():
            if key.startswith("alert:"):
                assert value["commune_code"] == own.code, message
            elif key == "alert_counts":
                # Counted over its own commune's alerts only: the neighbour never appears.
                assert set(value["by_commune"]) <= {own.code}, message
                open_alerts = sum(n for c in value["by_commune"].values() for n in c.values())
                assert value["firing"] + value["pending"] == open_alerts, message
            else:
                assert key in allowed, message
    for raw in screen.raw:
        assert f'"{other.code}"' not in raw and f"UBND-{other.code}" not in raw, raw


def counted(screen: Screen, key: str, field: str) -> int | None:
    row = screen.state.get(key)
    return None if row is None else int(row[field])


# --------------------------------------------------------------------------- scope isolation


async def test_commune_operators_see_only_their_commune_while_both_update_concurrently(
    live_server: LiveServer,
) -> None:
    db = live_server.db_url
    operator_a = await Screen.open(live_server, user_token(db, "op-ba-dinh", "operator", commune_scope(BA_DINH)))
    operator_b = await Screen.open(live_server, user_token(db, "op-ngoc-ha", "operator", commune_scope(NGOC_HA)))
    leader = await Screen.open(live_server, user_token(db, "lanh-dao", "leader", Scope.everything()))
    try:
        operator_a.checks.append(province_equals_own_commune(BA_DINH))
        operator_b.checks.append(province_equals_own_commune(NGOC_HA))
        # Each scope has its own view: its own stream, numbered on its own.
        epochs = {s.messages[0]["epoch"] for s in (operator_a, operator_b, leader)}
        assert len(epochs) == 3

        rounds = 4
        for r in range(rounds):
            # Ba Đình gets one new dossier a round, Ngọc Hà two: their numbers never coincide.
            batch_a = [overdue_receipt(f"HS-A-{r}", BA_DINH)]
            batch_b = [overdue_receipt(f"HS-B-{r}-{i}", NGOC_HA) for i in range(2)]
            if r > 0:
                batch_a.append(late_resolution(f"HS-A-{r - 1}", BA_DINH))
            jobs: list[Coroutine[Any, Any, object]] = [ingest(live_server, *batch_a), ingest(live_server, *batch_b)]
            if r == rounds - 1:
                jobs.append(run_alert_engine(live_server))
            await asyncio.gather(*jobs)
        await run_alert_engine(live_server)  # every overdue dossier is now in an alert

        open_a, open_b = 1, 2 * rounds  # the last Ba Đình receipt is the only one still open
        received_a, received_b = rounds, 2 * rounds
        await operator_a.wait_for(
            lambda s: (
                counted(s, f"commune:{BA_DINH.code}", "received") == received_a
                and counted(s, f"commune:{BA_DINH.code}", "overdue") == open_a
                and counted(s, "province:01", "resolved") == rounds - 1
                and any(a["state"] == "firing" for a in s.alerts())
            )
        )
        await operator_b.wait_for(
            lambda s: (
                counted(s, f"commune:{NGOC_HA.code}", "received") == received_b
                and counted(s, f"commune:{NGOC_HA.code}", "overdue") == open_b
                and counted(s, "province:01", "overdue") == open_b
                and any(a["state"] == "firing" for a in s.alerts())
            )
        )
        await leader.wait_for(
            lambda s: (
                counted(s, "province:01", "received") == received_a + received_b
                and counted(s, "province:01", "overdue") == open_a + open_b
                and {a["commune_code"] for a in s.alerts() if a["state"] == "firing"} >= {BA_DINH.code, NGOC_HA.code}
            )
        )
        # Let whatever the last refresh had in flight arrive before judging every message.
        await asyncio.sleep(1.0)
    finally:
        for screen in (operator_a, operator_b, leader):
            await screen.close()

    assert_only_about(operator_a, BA_DINH, NGOC_HA)
    assert_only_about(operator_b, NGOC_HA, BA_DINH)
    assert len(operator_a.messages) > 2 and len(operator_b.messages) > 2  # live deltas, not just the snapshot
    # The national leader sees both communes in the province row and both communes' alerts,
    # and (national) no commune rows.
    assert not any(k.startswith("commune:") for m in leader.messages for k in changes(m))
    assert len(leader.messages[0]["data"]["provinces"]) == 34


async def test_a_province_scoped_display_sees_its_province_and_its_communes(
    shared_server: LiveServer,
) -> None:
    token = display_token(shared_server.db_url, "Màn hình Đà Nẵng", Scope.from_dict({"provinces": ["48"]}))
    screen = await Screen.open(shared_server, token)
    await screen.close()
    data = screen.messages[0]["data"]
    assert [p["code"] for p in data["provinces"]] == ["48"]
    communes = {c["province_code"] for c in data["communes"]}
    assert communes == {"48"} and len(data["communes"]) > 10


async def test_a_sector_restricted_scope_sees_the_alerts_of_its_sector_only(live_server: LiveServer) -> None:
    # The dossier's procedure is in "Tư pháp"; its alerts carry that sector (label and column).
    await ingest(live_server, overdue_receipt("HS-SECTOR", BA_DINH))
    await run_alert_engine(live_server)
    tu_phap = Scope.from_dict({"provinces": ["01"], "sectors": ["Tư pháp"]})
    dat_dai = Scope.from_dict({"provinces": ["01"], "sectors": ["Đất đai"]})
    screen = await Screen.open(live_server, user_token(live_server.db_url, "op-tu-phap", "operator", tu_phap))
    other = await Screen.open(live_server, user_token(live_server.db_url, "op-dat-dai", "operator", dat_dai))
    await screen.close()
    await other.close()
    alerts = screen.messages[0]["data"]["alerts"]
    assert alerts != [] and {a["sector_code"] for a in alerts} == {"Tư pháp"}
    assert other.messages[0]["data"]["alerts"] == []
    [province] = screen.messages[0]["data"]["provinces"]
    assert (province["code"], province["overdue"]) == ("01", 1)


# --------------------------------------------------------------------------- the handshake


@pytest.fixture(scope="module")
def shared_server(module_live_server: LiveServer) -> LiveServer:
    return module_live_server


async def closed_without_data(ws: ClientConnection) -> tuple[int, str]:
    """The close code and reason, asserting that no data frame came before the close."""
    with pytest.raises(ConnectionClosed) as closed:
        message = await asyncio.wait_for(ws.recv(), TIMEOUT)
        pytest.fail(f"expected the connection to close, got {message!r}")
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.parametrize(
    "token", [pytest.param(None, id="no-credential"), pytest.param("ioc_at_not-a-real-token", id="bad-token")]
)
async def test_without_a_valid_credential_the_stream_closes_with_4401_before_any_data(
    shared_server: LiveServer, token: str | None
) -> None:
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, token)
        code, reason = await closed_without_data(ws)
    assert code == 4401
    assert reason


async def test_a_source_key_may_not_read_the_live_feed(shared_server: LiveServer) -> None:
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, shared_server.api_key)
        code, _ = await closed_without_data(ws)
    assert code == 4403


async def test_a_bearer_header_on_the_handshake_is_a_credential(shared_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {shared_server.admin_token}"}
    async with connect(shared_server.ws_url, additional_headers=headers) as ws:
        await say_hello(ws, None)
        assert (await receive(ws))["type"] == "snapshot"


async def test_a_bad_credential_on_the_handshake_is_refused_there(shared_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(shared_server.ws_url, additional_headers={"Cookie": "ioc_session=ioc_ss_nope"}):
            pass
    assert refused.value.response.status_code == 401


async def test_a_session_cookie_from_login_opens_the_stream(shared_server: LiveServer) -> None:
    create_user(shared_server.db_url, "nguoi-dung-cookie", "subscriber", commune_scope(BA_DINH))
    async with httpx.AsyncClient(base_url=shared_server.url, timeout=TIMEOUT) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"username": "nguoi-dung-cookie", "password": TEST_PASSWORD}
        )
    if response.status_code == 404:
        pytest.skip("the login route is not mounted yet")
    assert response.status_code == 200, response.text
    cookie = response.cookies.get("ioc_session")
    assert cookie
    async with connect(shared_server.ws_url, additional_headers={"Cookie": f"ioc_session={cookie}"}) as ws:
        await say_hello(ws, None)
        snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot"
    assert [c["code"] for c in snapshot["data"]["communes"]] == [BA_DINH.code]


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        pytest.param("https://ioc.example.invalid", False, id="foreign-origin"),
        pytest.param("null", False, id="opaque-origin"),
        pytest.param(None, True, id="own-origin"),
    ],
)
async def test_the_origin_is_checked_before_the_handshake_is_accepted(
    shared_server: LiveServer, origin: str | None, accepted: bool
) -> None:
    own = shared_server.url  # http://127.0.0.1:<port>
    if accepted:
        async with connect(shared_server.ws_url, origin=own) as ws:  # type: ignore[arg-type]
            await say_hello(ws, shared_server.admin_token)
            assert (await receive(ws))["type"] == "snapshot"
        return
    with pytest.raises(InvalidStatus) as refused:
        async with connect(shared_server.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
            await say_hello(ws, shared_server.admin_token)
    assert refused.value.response.status_code == 403


# --------------------------------------------------------------------------- credentials that end


async def revoke_display(db_url: str, token: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await conn.execute("UPDATE display_token SET revoked_at = now() WHERE token_sha256 = %s", [digest(token)])


async def test_revoking_a_display_token_ends_the_wall_screens_stream(
    shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ioc.api.live, "RECHECK_SECONDS", 0.2)
    token = display_token(shared_server.db_url, "Màn hình phòng họp", Scope.everything())
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, token)
        assert (await receive(ws))["type"] == "snapshot"
        await asyncio.sleep(0.6)  # a few re-checks pass while the token is valid
        await revoke_display(shared_server.db_url, token)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)  # deltas may still arrive until then
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_an_access_token_that_expires_ends_the_stream(
    shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ioc.api.live, "RECHECK_SECONDS", 0.2)
    user_id = create_user(shared_server.db_url, "het-han", "leader")
    token = access_token(shared_server.db_url, user_id, hours=2 / 3600)
    async with connect(shared_server.ws_url) as ws:
        await say_hello(ws, token)
        assert (await receive(ws))["type"] == "snapshot"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


# --------------------------------------------------------------------------- route table and resume


def test_every_close_reason_fits_in_a_close_frame() -> None:
    closings = [v for v in vars(ioc.api.live).values() if isinstance(v, ioc.api.live.Closing)]
    assert len(closings) >= 5
    assert all(len(c.reason.encode()) <= 123 for c in closings)


def test_the_route_table_shows_the_websockets_policy() -> None:
    [route] = [r for r in ioc.api.live.live_router().routes if getattr(r, "path", None) == "/ws"]
    assert route_policy(route) == Policy(Action.STATUS_READ, "list")


async def test_a_scoped_client_resumes_its_own_view_after_a_reconnect(live_server: LiveServer) -> None:
    token = user_token(live_server.db_url, "op-resume", "operator", commune_scope(BA_DINH))
    async with connect(live_server.ws_url) as ws:
        await say_hello(ws, token)
        snapshot = await receive(ws)
    # The view outlives its last client for a grace period: the missed deltas are replayed.
    await ingest(live_server, overdue_receipt("HS-SCOPE-RESUME", BA_DINH), overdue_receipt("HS-OTHER", NGOC_HA))
    async with connect(live_server.ws_url) as ws:
        await say_hello(ws, token, snapshot["epoch"], snapshot["seq"])
        first = await receive(ws)
        seen = [first]
        while counted_in(seen, f"commune:{BA_DINH.code}", "overdue") != 1:
            seen.append(await receive(ws))
    assert first["type"] == "delta" and first["epoch"] == snapshot["epoch"]
    assert [m["seq"] for m in seen] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seen)))
    assert not any(NGOC_HA.code in key for m in seen for key in changes(m))


def counted_in(messages: list[Message], key: str, field: str) -> int | None:
    values = [changes(m)[key][field] for m in messages if key in changes(m)]
    return values[-1] if values else None


# --------------------------------------------------------------------------- the feed's views


@contextlib.asynccontextmanager
async def running_feed(db_url: str, metrics: Metrics, grace: float) -> AsyncIterator[LiveFeed]:
    """A LiveFeed over a real pool, driven by hand: no LISTEN task, no refresh loop."""
    pool = make_pool(Settings(database_url=db_url), db_url)
    await pool.open(wait=True, timeout=30)
    feed = LiveFeed(
        pool=pool, url=db_url, calendars=CalendarStore(), metrics=metrics, catalogue=load_catalogue(),
        window="30d", expected_every_seconds=300, coalesce_seconds=0.01, view_grace_seconds=grace,
    )  # fmt: skip
    try:
        yield feed
    finally:
        await feed.close()
        await pool.close()


async def next_message(subscription: Subscription) -> HubMessage:
    return await asyncio.wait_for(anext(subscription), TIMEOUT)


async def test_one_view_per_scope_refreshed_only_for_its_provinces_and_kept_for_a_grace_period(
    db_url: str,
) -> None:
    metrics = Metrics()

    def clients() -> float | None:
        return metrics.registry.get_sample_value("ioc_live_websocket_clients")

    async with running_feed(db_url, metrics, grace=0.3) as feed:
        ba_dinh, same = commune_scope(BA_DINH), Scope.from_dict({"communes": [BA_DINH.code]})
        async with (
            feed.subscribe(ba_dinh, None, None) as first,
            feed.subscribe(same, None, None) as second,
            feed.subscribe(Scope.everything(), None, None) as national,
        ):
            assert (feed.view_count, clients()) == (2, 3.0)
            snapshots = [await next_message(s) for s in (first, second, national)]
            assert [m.type for m in snapshots] == ["snapshot"] * 3
            assert snapshots[0].epoch == snapshots[1].epoch != snapshots[2].epoch  # equal scopes share a view

            # The first refresh re-reads everything and finds nothing the snapshots did not carry.
            assert await feed.refresh_once() == 0

            # Hồ Chí Minh City and Ngọc Hà (Hà Nội, beside Ba Đình) changed: Ba Đình's view re-reads
            # Hà Nội only, finds its own numbers unchanged and publishes nothing.
            await received_today(db_url, "79", "25747")
            await received_today(db_url, NGOC_HA.province_code, NGOC_HA.code)
            feed.on_notification(orjson.dumps({"stream": "dossier", "provinces": ["79", "01"]}).decode())
            # The national view's headline counts today's receipts too: it changes with them.
            assert await feed.refresh_once() == 3
            national_delta = await next_message(national)
            assert set(national_delta.data["changes"]) == {"province:79", "province:01", "headline:dossier"}
            with pytest.raises(TimeoutError):
                leaked = await asyncio.wait_for(anext(first), 0.3)
                raise AssertionError(f"Ba Đình's view published {leaked.data}")

        assert (feed.view_count, clients()) == (2, 0.0)  # kept for a reconnect
        async with feed.subscribe(ba_dinh, snapshots[0].epoch, snapshots[0].seq) as again:
            # Resumed in the kept view: it published nothing since, so nothing comes (a new view
            # would have sent a snapshot).
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(again), 0.3)
        await asyncio.sleep(0.6)
        assert feed.view_count == 0  # the grace period passed with nobody back


async def received_today(db_url: str, province_code: str, commune_code: str) -> None:
    """One dossier received today in the rollup, as an ingest would leave it."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await conn.execute(
            "INSERT INTO dossier_daily (day, province_code, commune_code, sector, received)"
            " VALUES ((now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, %s, %s, 'Tư pháp', 1)",
            [province_code, commune_code],
        )
