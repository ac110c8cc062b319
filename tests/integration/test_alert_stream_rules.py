"""Payout and ID-issuance alerts through the real engine and database, with an explicit ``now``.

Rows go straight into the current-state tables the stream writers maintain (``payout_cycle``,
``id_issuance_daily``, ``id_target``), then ``AlertEngine.run_once`` runs at chosen instants.

The payout cycle of August 2026 opens Thursday 27 August with a deadline of Thursday 3 September:
29–30 August is a weekend and 31 August – 2 September are days off (National Day, the 31st
swapped for Saturday 22 August), so the cycle has three working days (27, 28 August, 3 September).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.calendar import WorkingCalendar
from alerts.shell import AlertEngine
from ioc.db.pool import Conn
from ioc.metrics import Metrics

VN = ZoneInfo("Asia/Ho_Chi_Minh")
HANOI, HCMC, THU_DAU_MOT = "01", "79", "25747"


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


@asynccontextmanager
async def connect(db_url: str) -> AsyncIterator[Conn]:
    conn: Conn = await psycopg.AsyncConnection.connect(db_url)
    try:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.commit()
        yield conn
    finally:
        await conn.close()


# --------------------------------------------------------------------------- rows


INSERT_CYCLE = """
INSERT INTO payout_cycle (province_code, commune_code, programme_code, cycle_month, cycle_opens_on, deadline,
    beneficiaries_due, paid_total, paid_bank, paid_card, paid_ewallet, paid_cash, failed, amount_due_vnd,
    amount_paid_vnd, reported_at, source_id, record_id)
VALUES (%(province)s, %(commune)s, %(programme)s, %(month)s, %(opens)s, %(deadline)s, %(due)s, %(paid)s,
    %(bank)s, 0, 0, %(cash)s, 0, %(due)s * 1000000, %(paid)s * 1000000, %(at)s, 'test', %(record)s)
ON CONFLICT (province_code, cycle_month, programme_code, commune_code) DO UPDATE SET
    paid_total = EXCLUDED.paid_total, paid_bank = EXCLUDED.paid_bank, paid_cash = EXCLUDED.paid_cash,
    amount_paid_vnd = EXCLUDED.amount_paid_vnd, reported_at = EXCLUDED.reported_at
"""
INSERT_ID_DAY = """
INSERT INTO id_issuance_daily (province_code, commune_code, day, cccd_received, cccd_issued, l2_received,
    l2_approved, l2_activated, eligible_population, cccd_issued_total, l2_activated_total, reported_at,
    source_id, record_id)
VALUES (%(province)s, %(commune)s, %(day)s, 0, 0, 0, 0, %(activated)s, %(eligible)s, %(issued_total)s,
    %(activated_total)s, %(at)s, 'test', %(record)s)
"""
INSERT_TARGET = """
INSERT INTO id_target (province_code, commune_code, metric, target_value, start_date, deadline, set_by)
VALUES (%s, %s, %s, %s, %s, %s, 'test')
"""


async def put_cycle(
    conn: Conn, *, month: date, opens: date, deadline: date, due: int, paid: int, cashless: int,
    province: str = HANOI, commune: str = "", programme: str = "nguoi_co_cong",
) -> None:  # fmt: skip
    await conn.execute(INSERT_CYCLE, {
        "province": province, "commune": commune, "programme": programme, "month": month, "opens": opens,
        "deadline": deadline, "due": due, "paid": paid, "bank": cashless, "cash": paid - cashless,
        "at": vn(opens.year, opens.month, opens.day, 10), "record": f"{province}-{commune}-{month}-{paid}",
    })  # fmt: skip
    await conn.commit()


async def put_id_day(
    conn: Conn, day: date, *, activated: int, activated_total: int, eligible: int, issued_total: int,
    province: str = HCMC, commune: str = "",
) -> None:  # fmt: skip
    await conn.execute(INSERT_ID_DAY, {
        "province": province, "commune": commune, "day": day, "activated": activated, "eligible": eligible,
        "issued_total": issued_total, "activated_total": activated_total,
        "at": vn(day.year, day.month, day.day, 18), "record": f"{province}-{commune}-{day}",
    })  # fmt: skip


@dataclass(frozen=True)
class Alert:
    rule_id: str
    state: str
    severity: str
    labels: dict[str, str]
    province_code: str | None
    commune_code: str | None
    value: float
    summary_vi: str
    details: dict[str, Any]


async def run(db_url: str, now: datetime) -> dict[str, Alert]:
    """Evaluate at ``now``; the open alerts of the stream rules, by rule id (one series each here)."""
    async with connect(db_url) as conn:
        report = await AlertEngine(WorkingCalendar(), Metrics()).run_once(conn, now)
        assert report.ran
        cur = await conn.execute(
            "SELECT rule_id, state, severity, labels, province_code, commune_code, value, summary_vi, details "
            "FROM alert WHERE state <> 'resolved' AND labels ? 'stream' ORDER BY id"
        )
        rows = [Alert(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]
    by_rule = {a.rule_id: a for a in rows}
    assert len(by_rule) == len(rows), rows
    return by_rule


async def states_of(db_url: str, rule_id: str) -> list[tuple[str, str]]:
    async with connect(db_url) as conn:
        cur = await conn.execute("SELECT state, severity FROM alert WHERE rule_id = %s ORDER BY id", [rule_id])
        return [(str(r[0]), str(r[1])) for r in await cur.fetchall()]


# --------------------------------------------------------------------------- payouts


async def test_payout_cycle_behind_schedule_then_late_then_paid(db_url: str) -> None:
    async with connect(db_url) as conn:
        # July's cycle was left unpaid: once August's has opened, July's is not looked at.
        await put_cycle(conn, month=date(2026, 7, 1), opens=date(2026, 7, 1), deadline=date(2026, 7, 20),
                        due=1000, paid=100, cashless=100)  # fmt: skip
        # August's: 500 of 1.000 paid, 300 of them cashless (60 % < the 70 % target).
        await put_cycle(conn, month=date(2026, 8, 1), opens=date(2026, 8, 27), deadline=date(2026, 9, 3),
                        due=1000, paid=500, cashless=300)  # fmt: skip
        # September's has not opened yet on 2 September: it does not replace August's.
        await put_cycle(conn, month=date(2026, 9, 1), opens=date(2026, 9, 25), deadline=date(2026, 10, 5),
                        due=1000, paid=0, cashless=0)  # fmt: skip

    # Wednesday 2 September, a holiday: 2 of the 3 working days are gone (66,6 %); 50 % paid is
    # below 66,6 − 10 = 56,6 %.
    alerts = await run(db_url, vn(2026, 9, 2, 12))
    behind, cashless = alerts["payout_behind_schedule"], alerts["payout_cashless_below_target"]
    assert (behind.state, behind.severity, behind.value) == ("firing", "warning", 0.5)
    assert behind.labels == {
        "rule": "payout_behind_schedule", "kind": "payout_behind_schedule", "stream": "payout", "province_code": HANOI,
        "programme_code": "nguoi_co_cong", "cycle": "2026-08", "severity": "warning",
    }  # fmt: skip
    assert (behind.province_code, behind.commune_code) == (HANOI, None)
    assert behind.summary_vi == (
        "Thành phố Hà Nội – Người có công với cách mạng, kỳ 08/2026: chi trả chậm tiến độ — mới chi trả 50 % "
        "(500/1.000 đối tượng) khi đã qua 66,6 % thời gian của kỳ (2/3 ngày làm việc, hạn 03/09/2026)"
    )
    assert behind.details["cycle_working_days"] == 3
    assert cashless.severity == "warning" and "không dùng tiền mặt 60 % (300/500 lượt chi trả)" in cashless.summary_vi

    # Friday 4 September: the deadline has passed with 500 unpaid. The same alert turns critical.
    alerts = await run(db_url, vn(2026, 9, 4, 9))
    assert alerts["payout_behind_schedule"].severity == "critical"
    assert (
        "quá hạn chi trả 03/09/2026, còn 500 đối tượng chưa được chi trả" in alerts["payout_behind_schedule"].summary_vi
    )
    assert await states_of(db_url, "payout_behind_schedule") == [("firing", "critical")]

    # Everyone paid, 80 % cashless: both conditions clear and both alerts resolve.
    async with connect(db_url) as conn:
        await put_cycle(conn, month=date(2026, 8, 1), opens=date(2026, 8, 27), deadline=date(2026, 9, 3),
                        due=1000, paid=1000, cashless=800)  # fmt: skip
    assert await run(db_url, vn(2026, 9, 4, 10)) == {}
    assert await states_of(db_url, "payout_behind_schedule") == [("resolved", "critical")]
    assert await states_of(db_url, "payout_cashless_below_target") == [("resolved", "warning")]


async def test_payout_on_schedule_over_a_weekend_raises_nothing(db_url: str) -> None:
    async with connect(db_url) as conn:
        # Opens Monday 12 October, deadline Sunday 18: five working days. Saturday 10:00 has all
        # of them gone, so 85 % paid is behind (< 90 %), while 95 % is not.
        await put_cycle(conn, month=date(2026, 10, 1), opens=date(2026, 10, 12), deadline=date(2026, 10, 18),
                        due=2000, paid=1900, cashless=1900, commune=THU_DAU_MOT, province=HCMC)  # fmt: skip
    assert await run(db_url, vn(2026, 10, 17, 10)) == {}
    async with connect(db_url) as conn:
        await conn.execute("UPDATE payout_cycle SET paid_total = 1700, paid_bank = 1700")
        await conn.commit()
    behind = (await run(db_url, vn(2026, 10, 17, 10)))["payout_behind_schedule"]
    assert behind.labels["commune_code"] == THU_DAU_MOT
    assert behind.summary_vi.startswith("Phường Thủ Dầu Một – Người có công với cách mạng, kỳ 10/2026:")


# --------------------------------------------------------------------------- ID issuance


async def test_cccd_coverage_and_l2_pace(db_url: str) -> None:
    today = date(2026, 9, 2)
    async with connect(db_url) as conn:
        # Seven complete days before today (26 August – 1 September), 10.000 activations a day;
        # 1.046.000 accounts activated by 1 September.
        for back in range(7, 0, -1):
            day = today - timedelta(days=back)
            await put_id_day(conn, day, activated=10_000, activated_total=1_046_000 - (back - 1) * 10_000,
                             eligible=1_970_000, issued_total=1_850_000)  # fmt: skip
        await conn.execute(INSERT_TARGET, [HCMC, "", "cccd_coverage", 0.95, None, date(2026, 12, 31)])
        await conn.execute(INSERT_TARGET, [HCMC, "", "vneid_l2_activated", 1_200_000, None, date(2026, 9, 10)])
        await conn.commit()

    # On 2 September, 154.000 still to go (1 September's report) in the 8 days after today
    # (3–10 September) = 19.250 a day; the week up to 1 September did 10.000 a day.
    alerts = await run(db_url, vn(2026, 9, 2, 9))
    coverage, pace = alerts["cccd_coverage_below_target"], alerts["vneid_l2_pace_too_slow"]
    assert coverage.severity == "warning"
    assert coverage.summary_vi == (
        "Thành phố Hồ Chí Minh: tỷ lệ cấp căn cước công dân 93,9 % (1.850.000/1.970.000 người đủ điều kiện), "
        "dưới mục tiêu 95 % (hạn 31/12/2026)"
    )
    assert coverage.labels == {
        "rule": "cccd_coverage_below_target", "kind": "cccd_coverage", "stream": "id_issuance",
        "province_code": HCMC, "severity": "warning",
    }  # fmt: skip
    assert pace.severity == "warning"
    assert "cần 19.250 tài khoản/ngày để đạt 1.200.000 trước hạn 10/09/2026 (còn 154.000 trong 8 ngày)" in (
        pace.summary_vi
    )
    assert "7 ngày gần nhất chỉ đạt 10.000 tài khoản/ngày" in pace.summary_vi
    assert pace.details["recent_daily_pace"] == 10_000

    # The deadline passes short of the target: critical, in place.
    alerts = await run(db_url, vn(2026, 9, 11, 9))
    assert alerts["vneid_l2_pace_too_slow"].severity == "critical"
    assert await states_of(db_url, "vneid_l2_pace_too_slow") == [("firing", "critical")]

    # A newer report reaching both targets resolves both alerts.
    async with connect(db_url) as conn:
        await put_id_day(conn, date(2026, 9, 11), activated=160_000, activated_total=1_206_000,
                         eligible=1_970_000, issued_total=1_900_000)  # fmt: skip
        await conn.commit()
    assert await run(db_url, vn(2026, 9, 12, 9)) == {}
    assert await states_of(db_url, "cccd_coverage_below_target") == [("resolved", "warning")]


async def test_targets_without_current_reports_say_nothing(db_url: str) -> None:
    async with connect(db_url) as conn:
        await conn.execute(INSERT_TARGET, [HANOI, "", "cccd_coverage", 0.95, None, date(2026, 6, 30)])
        await conn.execute(INSERT_TARGET, [HANOI, "", "vneid_l2_activated", 1_000, None, date(2026, 6, 30)])
        # Hà Nội's last report is 32 days old on 2 September: beyond the indicators' 31-day look-back.
        await put_id_day(conn, date(2026, 8, 1), activated=0, activated_total=10, eligible=100, issued_total=1,
                         province=HANOI)  # fmt: skip
        await conn.commit()
    assert await run(db_url, vn(2026, 9, 2, 9)) == {}
    # On 31 August the report is 30 days old, within the look-back: the same figures are judged.
    assert set(await run(db_url, vn(2026, 8, 31, 9))) == {"cccd_coverage_below_target", "vneid_l2_pace_too_slow"}
