"""Dossier alerts carry their sector, so a person scoped to a sector sees that sector's alerts only.

Two dossiers at one one-stop desk (same commune, same agency), in two sectors, both overdue: the
engine (run with an explicit ``now``) raises one series per sector. A provincial operator scoped to
the sector "Tư pháp" lists the Tư pháp alerts through GET /api/v1/alerts and not the Đất đai ones,
whose detail answers 404 as if it did not exist; the national admin sees both.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from alerts.calendar import WorkingCalendar
from alerts.shell import AlertEngine
from ioc.auth.scope import Scope
from ioc.metrics import Metrics
from tests.auth_support import bearer, user_token
from tests.conftest import LiveServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
RECEIVED = datetime(2026, 10, 12, 9, 0, tzinfo=VN)  # Monday; one working day: due Tuesday 09:00
NOW = datetime(2026, 10, 14, 10, 0, tzinfo=VN)  # Wednesday: overdue, and a working day without apology
TU_PHAP, DAT_DAI = "Tư pháp", "Đất đai"


def receipt(code: str, sector: str) -> dict[str, object]:
    return {
        "event_id": f"{code}:received", "dossier_code": code, "event_type": "received",
        "occurred_at": RECEIVED.isoformat(), "channel": "online", "locality": {"commune_code": "00004"},
        "agency": {"code": "UBND-00004", "name": "UBND phường Ba Đình"},
        "procedure": {"code": f"P-{code}", "name": f"Thủ tục {sector}", "sector": sector, "statutory_days": 1},
    }  # fmt: skip


async def listed(server: LiveServer, token: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, headers=bearer(token), timeout=30) as client:
        response = await client.get("/api/v1/alerts", params={"state": "open"})
    assert response.status_code == 200, response.text
    alerts = response.json()["alerts"]
    assert isinstance(alerts, list)
    return alerts


async def detail_status(server: LiveServer, token: str, alert_id: int) -> int:
    async with httpx.AsyncClient(base_url=server.url, headers=bearer(token), timeout=30) as client:
        return (await client.get(f"/api/v1/alerts/{alert_id}")).status_code


async def test_a_sector_scoped_operator_sees_the_overdue_alert_of_their_sector_only(live_server: LiveServer) -> None:
    response = await asyncio.to_thread(live_server.post_events, [receipt("HS-TP", TU_PHAP), receipt("HS-DD", DAT_DAI)])
    assert response.json()["accepted"] == 2, response.text
    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        report = await AlertEngine(WorkingCalendar(), Metrics()).run_once(conn, NOW)
    assert report.ran

    everyone = await listed(live_server, live_server.admin_token)
    overdue = {a["sector_code"]: a for a in everyone if a["rule_id"] == "overdue"}
    assert set(overdue) == {TU_PHAP, DAT_DAI}  # one desk, two series: split by sector
    assert all(a["state"] == "firing" and a["agency_code"] == "UBND-00004" for a in overdue.values())
    assert "lĩnh vực Tư pháp" in overdue[TU_PHAP]["summary_vi"]

    scope = Scope.from_dict({"provinces": ["01"], "sectors": [TU_PHAP]})
    token = await asyncio.to_thread(user_token, live_server.db_url, "op-tu-phap", "operator", scope)
    mine = await listed(live_server, token)
    assert {a["sector_code"] for a in mine} == {TU_PHAP}
    assert sorted(a["rule_id"] for a in mine) == ["late_without_apology", "overdue"]
    assert overdue[TU_PHAP]["id"] in {a["id"] for a in mine}
    assert await detail_status(live_server, token, overdue[TU_PHAP]["id"]) == 200
    assert await detail_status(live_server, token, overdue[DAT_DAI]["id"]) == 404
