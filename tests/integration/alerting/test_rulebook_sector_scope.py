"""Dossier alerts are one per agency (issue 11); an agency whose dossiers are all in one sector
carries that sector, so a person scoped to the sector sees it, and one mixing sectors carries them
as data only.

Desk A (Ba Đình) has an overdue dossier in "Tư pháp" and one in "Đất đai": one alert, no sector
label, both sectors in its details. Desk B (Ngọc Hà) has one in "Tư pháp": one alert labelled with
it. A provincial operator scoped to "Tư pháp" lists desk B's alerts through GET /api/v1/alerts and
not desk A's (the strict rule of ioc/auth/scope.py: an alert over several sectors is outside a
sector-restricted scope), whose detail answers 404 as if it did not exist; the national admin sees
both. (Formerly one alert per sector at one desk.)
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


def receipt(code: str, sector: str, commune: str = "00004") -> dict[str, object]:
    return {
        "event_id": f"{code}:received", "dossier_code": code, "event_type": "received",
        "occurred_at": RECEIVED.isoformat(), "channel": "online", "locality": {"commune_code": commune},
        "agency": {"code": f"UBND-{commune}", "name": f"UBND {commune}"},
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


async def test_a_sector_scoped_operator_sees_the_agency_alerts_of_their_sector_only(live_server: LiveServer) -> None:
    batch = [receipt("HS-TP", TU_PHAP), receipt("HS-DD", DAT_DAI), receipt("HS-B", TU_PHAP, "00008")]
    response = await asyncio.to_thread(live_server.post_events, batch)
    assert response.json()["accepted"] == 3, response.text
    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        report = await AlertEngine(WorkingCalendar(), Metrics()).run_once(conn, NOW)
    assert report.ran

    everyone = await listed(live_server, live_server.admin_token)
    overdue = {a["agency_code"]: a for a in everyone if a["rule_id"] == "overdue"}
    assert set(overdue) == {"UBND-00004", "UBND-00008"}  # one alert per desk, not per sector
    desk_a, desk_b = overdue["UBND-00004"], overdue["UBND-00008"]
    assert all(a["state"] == "firing" for a in overdue.values())
    assert desk_a["sector_code"] is None and desk_a["value"] == 2
    assert desk_b["sector_code"] == TU_PHAP and "lĩnh vực Tư pháp" in desk_b["summary_vi"]
    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        cur = await conn.execute("SELECT details FROM alert WHERE id = %s", [desk_a["id"]])
        row = await cur.fetchone()
    assert row is not None and row[0]["sectors"] == {TU_PHAP: 1, DAT_DAI: 1}

    scope = Scope.from_dict({"provinces": ["01"], "sectors": [TU_PHAP]})
    token = await asyncio.to_thread(user_token, live_server.db_url, "op-tu-phap", "operator", scope)
    mine = await listed(live_server, token)
    assert {a["sector_code"] for a in mine} == {TU_PHAP}
    assert sorted(a["rule_id"] for a in mine) == ["late_without_apology", "overdue"]
    assert {a["agency_code"] for a in mine} == {"UBND-00008"}
    assert await detail_status(live_server, token, desk_b["id"]) == 200
    assert await detail_status(live_server, token, desk_a["id"]) == 404
