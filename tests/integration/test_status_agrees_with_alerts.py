"""The screen and the alert engine must count the same dossiers as "due soon", "overdue" and "late
without apology", including a dossier due exactly at the end of the due-soon horizon (a common
case: a receipt outside office hours starts at the next opening, so its deadline falls at a
closing time).

Alerts are one series per agency (issue 11), so a province's count is the sum of its alerts'
values, and a sector's count (the screen of a sector-scoped person) the sum of that sector's
entries in the alerts' ``details.sectors``. The due-soon rule runs here with its threshold at one
dossier and no hold, so that every due-soon dossier is in an alert to compare with."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from alerts.calendar import WorkingCalendar
from alerts.rulebook.legacy import default_specs
from alerts.rulebook.spec import OverdueParams
from alerts.rules import due_soon_horizon
from alerts.shell import AlertEngine
from ioc.auth.scope import Scope
from ioc.metrics import Metrics
from ioc.status import LocalityStatus, province_status
from tests.conftest import LiveServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY_EARLY = datetime(2026, 11, 16, 6, 0, tzinfo=VN)  # before opening: the clock starts at 08:00
LAST_MONDAY_EARLY = datetime(2026, 11, 9, 6, 0, tzinfo=VN)  # due 9 Nov 17:00: a week late by NOW
NOW = datetime(2026, 11, 16, 8, 0, tzinfo=VN)  # horizon = Monday 17:00 = this week's receipts' deadline
HO_TICH, TU_PHAP = "Hộ tịch", "Tư pháp"
HONG_HA, BA_DINH = ("00097", "UBND Phường Hồng Hà"), ("00004", "UBND Phường Ba Đình")


def receipt(dossier: str, sector: str, place: tuple[str, str], at: datetime = MONDAY_EARLY) -> dict[str, object]:
    commune, agency = place
    return {
        "event_id": f"{dossier}:received", "dossier_code": dossier, "event_type": "received",
        "occurred_at": at.isoformat(), "channel": "direct",
        "procedure": {"code": f"P-{sector}", "name": f"Thủ tục {sector}", "sector": sector, "statutory_days": 1},
        "agency": {"code": f"UBND-{commune}", "name": agency}, "locality": {"commune_code": commune},
    }  # fmt: skip


def alert_totals(rows: list[tuple[str, dict[str, int], float]], sector: str | None = None) -> Counter[str]:
    """Sum of alert values per rule, or of one sector's counts in the alerts' details."""
    totals: Counter[str] = Counter()
    for rule_id, sectors, value in rows:
        totals[rule_id] += int(value) if sector is None else sectors.get(sector, 0)
    return +totals


def counting_engine(calendar: WorkingCalendar) -> AlertEngine:
    specs = tuple(
        replace(s, params=replace(s.params, pre_due_min_count=1), hold=timedelta(0))
        if s.id == "due_soon" and isinstance(s.params, OverdueParams) else s
        for s in default_specs()
    )  # fmt: skip
    return AlertEngine(calendar, Metrics(), rules=specs)


def status_totals(status: LocalityStatus) -> Counter[str]:
    counts = {
        "due_soon": status.due_soon,
        "overdue": status.overdue,
        "late_without_apology": status.late_without_apology,
    }
    return Counter({k: v for k, v in counts.items() if v})


async def test_screen_and_alerts_count_the_same_dossiers_per_province_and_per_sector(live_server: LiveServer) -> None:
    response = live_server.post_events([
        # Due this Monday 17:00 = exactly the due-soon horizon: two sectors at one desk, one elsewhere.
        receipt("HS-H1", HO_TICH, HONG_HA), receipt("HS-H2", HO_TICH, HONG_HA),
        receipt("HS-T1", TU_PHAP, HONG_HA), receipt("HS-T2", TU_PHAP, BA_DINH),
        # Due a week ago: overdue, and owing an apology letter.
        receipt("HS-O1", HO_TICH, HONG_HA, LAST_MONDAY_EARLY), receipt("HS-O2", TU_PHAP, HONG_HA, LAST_MONDAY_EARLY),
    ])  # fmt: skip
    assert response.json()["accepted"] == 6
    calendar = WorkingCalendar()
    horizon = due_soon_horizon(NOW, calendar)
    assert horizon == datetime(2026, 11, 16, 17, 0, tzinfo=VN)

    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        [everything] = [s for s in await province_status(conn, NOW, horizon, "30d") if s.code == "01"]
        by_sector = {}
        for sector in (HO_TICH, TU_PHAP):
            scope = Scope.from_dict({"national": True, "sectors": [sector]})
            [by_sector[sector]] = [s for s in await province_status(conn, NOW, horizon, "30d", scope=scope)
                                   if s.code == "01"]  # fmt: skip
        async with conn.transaction():
            # The packaged rules: four dossiers due soon are a count on the screen, not an alert.
            await AlertEngine(calendar, Metrics()).run_once(conn, NOW)
            cur = await conn.execute("SELECT count(*) FROM alert WHERE rule_id = 'due_soon'")
            assert await cur.fetchone() == (0,)
            raise psycopg.Rollback()
        report = await counting_engine(calendar).run_once(conn, NOW)
        cur = await conn.execute(
            "SELECT rule_id, sector_code, value, state, labels, details FROM alert WHERE province_code = '01'"
        )
        alerts = await cur.fetchall()

    assert {(a[3], a[0]) for a in alerts} == {("firing", "due_soon"), ("firing", "overdue"),
                                              ("firing", "late_without_apology")}  # fmt: skip
    assert all(a[4].get("sector") == a[1] for a in alerts)  # the label and the column agree
    # One series per agency: due soon at Hồng Hà (two sectors, no sector label) and Ba Đình (one,
    # labelled); overdue and late without apology at Hồng Hà only.
    assert report.transitions == len(alerts) == 2 + 1 + 1
    assert {a[1] for a in alerts if a[0] == "due_soon"} == {None, TU_PHAP}
    values = [(str(a[0]), dict(a[5]["sectors"]), float(a[2])) for a in alerts]
    assert (
        status_totals(everything)
        == alert_totals(values)
        == Counter({"due_soon": 4, "overdue": 2, "late_without_apology": 2})
    )
    for sector, status in by_sector.items():
        assert status_totals(status) == alert_totals(values, sector), sector
    assert alert_totals(values, HO_TICH)["due_soon"] == 2 and alert_totals(values, TU_PHAP)["due_soon"] == 2
