"""The screen and the alert engine must count the same dossiers as "due soon" and "overdue",
including a dossier due exactly at the end of the due-soon horizon (a common case: a receipt
outside office hours starts at the next opening, so its deadline falls at a closing time)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from alerts.calendar import WorkingCalendar
from alerts.rules import due_soon_horizon
from alerts.shell import AlertEngine
from ioc.metrics import Metrics
from ioc.status import province_status
from tests.conftest import LiveServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY_EARLY = datetime(2026, 11, 16, 6, 0, tzinfo=VN)  # before opening: the clock starts at 08:00
NOW = datetime(2026, 11, 16, 8, 0, tzinfo=VN)  # horizon = Monday 17:00 = the deadline below


def receipt(event_id: str, dossier: str) -> dict[str, object]:
    return {
        "event_id": event_id, "dossier_code": dossier, "event_type": "received",
        "occurred_at": MONDAY_EARLY.isoformat(), "channel": "direct",
        "procedure": {"code": "1.001193", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 1},
        "agency": {"code": "UBND-00097", "name": "UBND Phường Hồng Hà"}, "locality": {"commune_code": "00097"},
    }  # fmt: skip


async def test_due_exactly_at_the_horizon_counts_on_screen_and_in_alerts(live_server: LiveServer) -> None:
    response = live_server.post_events([receipt("h-1", "HS-H1")])
    assert response.json()["accepted"] == 1
    calendar = WorkingCalendar()
    horizon = due_soon_horizon(NOW, calendar)
    assert horizon == datetime(2026, 11, 16, 17, 0, tzinfo=VN)

    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        statuses = {s.code: s for s in await province_status(conn, NOW, horizon, "30d")}
        report = await AlertEngine(calendar, Metrics()).run_once(conn, NOW)
        cur = await conn.execute("SELECT rule_id, state FROM alert")
        alerts = await cur.fetchall()

    assert statuses["01"].due_soon == 1 and statuses["01"].overdue == 0
    assert report.transitions == 1
    assert alerts == [("due_soon", "firing")]
