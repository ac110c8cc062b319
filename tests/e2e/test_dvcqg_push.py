"""End to end without a screen: a fake one-stop system, written the way OpenCPS's
DVCQGIntegrationActionImpl talks to the portal's adapter, is pointed at the command centre instead.
It signs in (getAccessToken: {username, password} → session), syncs the dossier
(DongBoHoSoMC in the session envelope, isUpdating "False" then "True") and, only after an
error_code 0, sends the current action (CapNhatTienDoHoSoMC). A WebSocket client watching the
province sees its overdue count go up when the late dossier arrives and down when it is resolved,
and the overdue alert fires for it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from websockets.asyncio.client import connect

from tests.conftest import LiveServer
from tests.integration.test_live_ws import (
    firing_alert_in,
    province_overdue,
    receive,
    receive_until,
    run_alert_engine,
    say_hello,
)
from tests.unit.dvcqg_payloads import envelope, progress, td_dossier

DSTCODE = "000.00.00.H26"  # the caller's unit code at the portal (sent as the dstcode header and madonvi)


@dataclass
class FakeOneStop:
    """The provincial one-stop system's side: its adapter settings and its cached session."""

    adapter_url: str
    username: str
    password: str
    session: str | None = None
    calls: list[str] = field(default_factory=list)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Charset": "utf-8",
                   "dstcode": DSTCODE}  # fmt: skip
        with httpx.Client(timeout=6.0) as client:  # OpenCPS's read timeout
            response = client.post(self.adapter_url + path, json=body, headers=headers)
        self.calls.append(f"{path} {response.status_code}")
        reply: dict[str, Any] = response.json()
        return reply

    def access_token(self) -> str:
        if self.session is None:
            reply = self._post("/login", {"username": self.username, "password": self.password})
            assert str(reply["error_code"]) == "0", reply
            self.session = str(reply["session"])
        return self.session

    def sync(self, dossier: dict[str, Any], step: dict[str, Any], *, updating: bool) -> dict[str, Any]:
        """syncDossierAndDossierStatus: the dossier, then (only on success) its latest action."""
        body = envelope("DongBoHoSoMC", [dossier], session=self.access_token(), unit=DSTCODE, updating=updating)
        reply = self._post("", body)
        if str(reply["error_code"]) == "0":
            status = envelope("CapNhatTienDoHoSoMC", [step], session=self.access_token(), unit=DSTCODE)
            assert str(self._post("", status)["error_code"]) == "0"
        return reply


async def test_a_one_stop_system_pushes_and_the_overdue_count_moves(live_server: LiveServer) -> None:
    server = live_server
    with server.client() as admin:
        units = {"units": [{"key": "UBND phường Ba Đình", "commune_code": "00004", "agency_code": "UBND-00004"}]}
        assert admin.put("/api/v1/admin/dvcqg/units/test-source", json=units).status_code == 200
    # The procedure catalogue (from the national database, with its statutory time) knows it.
    with psycopg.connect(server.db_url) as conn:
        conn.execute("INSERT INTO procedure (code, name, sector, statutory_days) VALUES "
                     "('1.000001', 'Đăng ký khai sinh', 'Hộ tịch', 1)")  # fmt: skip
    one_stop = FakeOneStop(f"{server.url}/api/v1/dvcqg", "test-source", server.api_key)
    received = datetime.now(UTC) - timedelta(weeks=3)

    async with connect(server.ws_url) as ws:
        await say_hello(ws, server.admin_token)
        snapshot = await receive(ws)
        [ha_noi] = [p for p in snapshot["data"]["provinces"] if p["code"] == "01"]
        assert ha_noi["overdue"] == 0

        late = td_dossier("H26.1-OS-0001", "4", received)
        reply = await asyncio.to_thread(one_stop.sync, late, progress("H26.1-OS-0001", "4", received + timedelta(
            hours=2)), updating=False)  # fmt: skip
        assert (reply["error_code"], reply["results"][0]["status"]) == (0, "accepted")
        await receive_until(ws, province_overdue("01", 1))

        await run_alert_engine(server)
        await receive_until(ws, firing_alert_in("01"))

        finished = datetime.now(UTC) - timedelta(minutes=1)
        done = td_dossier("H26.1-OS-0001", "9", received, finished=finished)
        reply = await asyncio.to_thread(one_stop.sync, done, progress("H26.1-OS-0001", "9", finished),
                                        updating=True)  # fmt: skip
        assert reply["error_code"] == 0
        await receive_until(ws, province_overdue("01", 0))
    # One sign-in for the whole conversation: the session was cached and reused.
    assert one_stop.calls == ["/login 200", *([" 200"] * 4)]
