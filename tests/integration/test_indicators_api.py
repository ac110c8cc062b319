"""The indicator API over the real app: hand-computed values for the three streams, scoping,
history after the history job, rankings and the 766 scorecard.

Fixtures are relative to today (the live window and the payout cycle follow the server clock).
Hà Nội (01), all in Phường Ba Đình (00004), agency UBND-00004:

    dossier  received          channel  procedure  then                    counts as
    H1       5 days ago 09:00  online   10 days    resolved 4 days ago     early
    H2       5 days ago 10:00  direct   10 days    resolved same day 15:00 early
    H3       6 days ago 09:00  online   10 days    resolved 3 days ago     early
    H4       20 days ago 09:00 online   1 day      resolved 2 days ago     late, no apology
    H5       15 days ago 09:00 postal   1 day      open                    overdue, no apology

    on time (3 early + 0 on time) / 4 resolved = 0.75; online 3 / 5 received = 0.6;
    overdue 1 (H5); late without apology 2 (H4 closed late, H5 open past due).

TP Hồ Chí Minh (79): M1 in 25747, received 4 days ago online, 10 days, resolved 3 days ago: early.

Payout, this month's cycle (deadline: the month's last day, not yet passed):
    01 whole province, người có công: 1,000 due, 900 paid (500 bank, 100 card, 50 e-wallet,
       250 cash), 30 failed;
    00004, bảo trợ xã hội: 200 due, 100 paid (all cash), 0 failed.
    Province 01 = the province-wide row for người có công + the commune row for bảo trợ (no
    province-wide row): completion (900 + 100) / (1,000 + 200) = 0.8333; cashless
    (500 + 100 + 50) / 1,000 = 0.65; failure 30 / (1,000 + 30) = 0.029126.
    Commune 00004: completion 100 / 200 = 0.5; cashless 0 / 100 = 0; failure 0 / 100 = 0.

ID issuance, today's reports:
    01 whole province: 1,000,000 eligible, 950,000 cards, 400,000 level-2 accounts → coverage 0.95;
       target 1,000,000 accounts by today + 10 days → activation 0.4, pace (1,000,000 − 400,000)
       / 10 = 60,000 a day.
    00004: 10,000 eligible, 9,000 cards, 2,000 accounts → coverage 0.9 (no target: no activation).
"""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.indicators.buckets import bucket_start
from ioc.indicators.history_job import run_history_job
from tests.auth_support import user_token
from tests.conftest import LiveServer
from tests.integration.ingest_support import event, receipt

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime.now(VN)
TODAY = NOW.date()
P10 = {"code": "1.000010", "name": "Cấp giấy phép xây dựng", "sector": "Xây dựng", "statutory_days": 10}
P1 = {"code": "1.000001", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 1}
BA_DINH = {"commune_code": "00004"}
AGENCY = {"code": "UBND-00004", "name": "UBND Phường Ba Đình"}
HCM = {"commune_code": "25747"}


def days_ago(days: int, hour: int, minute: int = 0) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN)


# (code, received, channel, procedure, resolved or None, outcome, locality)
DOSSIERS: list[tuple[str, datetime, str, dict[str, Any], datetime | None, str | None, dict[str, str]]] = [
    ("IA-H1", days_ago(5, 9), "online", P10, days_ago(4, 10), "early", BA_DINH),
    ("IA-H2", days_ago(5, 10), "direct", P10, days_ago(5, 15), "early", BA_DINH),
    ("IA-H3", days_ago(6, 9), "online", P10, days_ago(3, 9), "early", BA_DINH),
    ("IA-H4", days_ago(20, 9), "online", P1, days_ago(2, 9), "late", BA_DINH),
    ("IA-H5", days_ago(15, 9), "postal", P1, None, None, BA_DINH),
    ("IA-M1", days_ago(4, 9), "online", P10, days_ago(3, 10), "early", HCM),
]
MONTH_START = TODAY.replace(day=1)
MONTH_END = TODAY.replace(day=calendar.monthrange(TODAY.year, TODAY.month)[1])


def payout(record: str, locality: dict[str, str], programme: str, due: int, bank: int, card: int, ewallet: int,
           cash: int, failed: int) -> dict[str, Any]:  # fmt: skip
    paid = bank + card + ewallet + cash
    return {
        "record_id": record, "locality": locality, "programme": programme, "cycle": f"{MONTH_START:%Y-%m}",
        "cycle_opens_on": MONTH_START.isoformat(), "deadline": MONTH_END.isoformat(),
        "reported_at": (NOW - timedelta(minutes=1)).isoformat(), "beneficiaries_due": due, "paid_total": paid,
        "paid_bank": bank, "paid_card": card, "paid_ewallet": ewallet, "paid_cash": cash, "failed": failed,
        "failures": {"wrong_account": failed} if failed else {},
        "amount_due_vnd": due * 1_180_000, "amount_paid_vnd": paid * 1_180_000,
    }  # fmt: skip


def id_report(record: str, locality: dict[str, str], eligible: int, cards: int, accounts: int) -> dict[str, Any]:
    return {
        "record_id": record, "day": TODAY.isoformat(), "locality": locality, "cccd_received": 0, "cccd_issued": 0,
        "l2_received": 0, "l2_approved": 0, "l2_activated": 0, "eligible_population": eligible,
        "cccd_issued_total": cards, "l2_activated_total": accounts,
    }  # fmt: skip


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def server(module_live_server: LiveServer) -> Iterator[LiveServer]:
    s = module_live_server
    events = []
    for code, received, channel, procedure, resolved, _outcome, place in DOSSIERS:
        events.append(receipt(f"{code}-r", code, received, locality=place, procedure=procedure, channel=channel,
                              agency=AGENCY if place is BA_DINH else None))  # fmt: skip
        if resolved is not None:
            events.append(event(f"{code}-s", code, "resolved", resolved, locality=place))
    body = _ok(s.post_events(events))
    assert body["accepted"] == len(events), body
    with s.client() as c:
        headers = {"Authorization": f"Bearer {s.api_key}"}
        body = _ok(c.post("/api/v1/ingest/payout-records", headers=headers, json=[
            payout("IA-P1", {"province_code": "01"}, "nguoi_co_cong", 1000, 500, 100, 50, 250, 30),
            payout("IA-P2", BA_DINH, "bao_tro_xa_hoi", 200, 0, 0, 0, 100, 0),
        ]))  # fmt: skip
        assert body["accepted"] == 2, body
        body = _ok(c.post("/api/v1/ingest/id-issuance", headers=headers, json=[
            id_report("IA-I1", {"province_code": "01"}, 1_000_000, 950_000, 400_000),
            id_report("IA-I2", BA_DINH, 10_000, 9_000, 2_000),
        ]))  # fmt: skip
        assert body["accepted"] == 2, body
        _ok(c.put("/api/v1/id/targets", json={"province_code": "01", "metric": "vneid_l2_activated",
                                              "target_value": 1_000_000,
                                              "deadline": (TODAY + timedelta(days=10)).isoformat()}))  # fmt: skip
    asyncio.run(_run_job(s.db_url))
    yield s


async def _run_job(url: str) -> None:
    async with await AsyncConnection.connect(url) as conn:
        run = await run_history_job(conn, datetime.now(VN))
    assert run.ran


def _current(s: LiveServer, token: str | None = None, **params: str) -> dict[str, dict[str, Any]]:
    with s.client(token) as c:
        body = _ok(c.get("/api/v1/indicators/current", params=params))
    return {item["code"]: item["values"] for item in body["localities"]}


def test_definitions(server: LiveServer) -> None:
    with server.client() as c:
        body = _ok(c.get("/api/v1/indicators"))
    codes = [i["code"] for i in body["indicators"]]
    assert len(codes) == 15 and "vneid_l2_required_daily_pace" in codes
    satisfaction = next(i for i in body["indicators"] if i["code"] == "satisfaction_rate")
    assert satisfaction["ingested"] is True and satisfaction["name_vi"] == "Tỷ lệ hài lòng"


def test_current_values_by_province(server: LiveServer) -> None:
    values = _current(server, level="province")
    assert len(values) == 34
    hn = values["01"]
    assert hn["on_time_rate"] == pytest.approx(0.75)
    assert hn["online_submission_share"] == pytest.approx(0.6)
    assert hn["overdue_count"] == 1 and hn["late_without_apology_count"] == 2
    assert hn["payout_completion"] == pytest.approx(1000 / 1200)
    assert hn["payout_cashless_share"] == pytest.approx(0.65)
    assert hn["payout_failure_rate"] == pytest.approx(30 / 1030)
    assert hn["cccd_coverage"] == pytest.approx(0.95)
    assert hn["vneid_l2_activation"] == pytest.approx(0.4)
    assert hn["vneid_l2_required_daily_pace"] == pytest.approx(60_000)
    for code in ("full_online_share", "digitisation_rate", "online_payment_share", "satisfaction_rate"):
        assert hn[code] is None  # these fixtures state no level, digitisation, payment or rating
    hcm = values["79"]
    assert (hcm["on_time_rate"], hcm["online_submission_share"], hcm["overdue_count"]) == (1.0, 1.0, 0)
    assert hcm["payout_completion"] is None and hcm["cccd_coverage"] is None
    assert values["48"]["on_time_rate"] is None and values["48"]["overdue_count"] == 0  # Đà Nẵng: nothing


def test_current_values_by_commune_and_selected_codes(server: LiveServer) -> None:
    values = _current(server, level="commune", province_code="01", codes="payout_completion,cccd_coverage")
    assert values["00004"] == {"payout_completion": 0.5, "cccd_coverage": 0.9}
    assert all(v["payout_completion"] is None for code, v in values.items() if code != "00004")


def test_current_values_by_agency(server: LiveServer) -> None:
    values = _current(server, level="agency", province_code="01")
    assert values["UBND-00004"]["on_time_rate"] == pytest.approx(0.75)
    assert "payout_completion" not in values["UBND-00004"]  # agencies carry dossier indicators only


def test_scoped_values(server: LiveServer) -> None:
    leader_79 = user_token(server.db_url, "ia-leader-79", "leader", Scope(provinces=frozenset({"79"})))
    assert set(_current(server, leader_79)) == {"79"}
    # A commune operator's province figure is their commune's: the province-wide payout and ID
    # rows are not theirs, so 01 shows 00004's bảo trợ cycle (100 / 200) and its ID report (0.9).
    ward = user_token(server.db_url, "ia-ward", "operator", Scope(communes=frozenset({"00004"})))
    values = _current(server, ward)
    assert set(values) == {"01"}
    assert values["01"]["payout_completion"] == pytest.approx(0.5)
    assert values["01"]["cccd_coverage"] == pytest.approx(0.9)
    assert values["01"]["on_time_rate"] == pytest.approx(0.75)
    # A sector scope: only Xây dựng dossiers (H1–H3: all early), and no payout or ID rows.
    sector = user_token(server.db_url, "ia-sector", "leader",
                        Scope(provinces=frozenset({"01"}), sectors=frozenset({"Xây dựng"})))  # fmt: skip
    values = _current(server, sector)
    assert values["01"]["on_time_rate"] == 1.0 and values["01"]["payout_completion"] is None
    with server.client(leader_79) as c:
        assert c.get("/api/v1/indicators/current", params={"province_code": "01"}).status_code == 404
        assert c.get("/api/v1/indicators/on_time_rate/history", params={"locality": "01"}).status_code == 404
        assert c.get("/api/v1/indicators/on_time_rate/history", params={"locality": "79"}).status_code == 200


def _expected_day_rates() -> dict[date, float]:
    """Per local day of resolution in Hà Nội: (early + on time) / resolved."""
    per_day: dict[date, list[str]] = {}
    for _code, _received, _channel, _p, resolved, outcome, place in DOSSIERS:
        if resolved is not None and outcome is not None and place is BA_DINH:
            per_day.setdefault(resolved.date(), []).append(outcome)
    return {d: sum(o != "late" for o in outs) / len(outs) for d, outs in per_day.items()}


def test_history_by_day(server: LiveServer) -> None:
    with server.client() as c:
        body = _ok(c.get("/api/v1/indicators/on_time_rate/history", params={
            "locality": "01", "bucket": "day", "from": days_ago(7, 0).isoformat(),
            "to": (TODAY + timedelta(days=1)).isoformat()}))  # fmt: skip
    got = {datetime.fromisoformat(p["start"]).astimezone(VN).date(): p["value"] for p in body["points"]}
    expected = _expected_day_rates()
    assert len(got) == 8  # 7 days ago through today: whole days
    for day, value in got.items():
        assert value == (pytest.approx(expected[day]) if day in expected else None), day
    assert body["locality"] == {"code": "01", "name": "Thành phố Hà Nội", "level": "province"}


def test_history_refusals(server: LiveServer) -> None:
    with server.client() as c:
        assert c.get("/api/v1/indicators/no_such/history", params={"locality": "01"}).status_code == 404
        assert c.get("/api/v1/indicators/on_time_rate/history", params={"locality": "99"}).status_code == 404
        too_many = c.get(
            "/api/v1/indicators/on_time_rate/history",
            params={"locality": "01", "bucket": "hour", "from": "2025-01-01", "to": "2026-01-01"},
        )
        assert too_many.status_code == 422
        assert (
            c.get(
                "/api/v1/indicators/on_time_rate/history", params={"locality": "01", "from": "2026-02-30"}
            ).status_code
            == 422
        )


def test_rankings(server: LiveServer) -> None:
    with server.client() as c:
        body = _ok(c.get("/api/v1/indicators/payout_completion/rankings", params={"level": "province"}))
        assert [(r["code"], round(r["value"], 4)) for r in body["best"]] == [("01", 0.8333)]
        assert body["ranked"] == 1 and body["unranked"] == 33
        assert body["best"][0]["previous"] is None and body["best"][0]["change"] is None
        at = days_ago(3, 12).date()
        body = _ok(
            c.get(
                "/api/v1/indicators/on_time_rate/rankings",
                params={"level": "province", "period": "month", "at": at.isoformat()},
            )
        )
        month = bucket_start(days_ago(3, 12), "month").date()
        in_month = [(o, p) for _c, _r, _ch, _p, res, o, p in DOSSIERS if res is not None and res.date() >= month
                    and res.date() < (month.replace(day=28) + timedelta(days=4)).replace(day=1)]  # fmt: skip
        hn = [o for o, p in in_month if p is BA_DINH]
        expected = {"79": 1.0, "01": sum(o != "late" for o in hn) / len(hn)} if hn else {"79": 1.0}
        assert [r["code"] for r in body["best"]] == sorted(expected, key=lambda k: (-expected[k], k))
        for r in body["best"]:
            assert r["value"] == pytest.approx(expected[r["code"]])
        assert body["worst"][0]["code"] == body["best"][-1]["code"]  # worst first, from the other end
        refused = c.get("/api/v1/indicators/payout_completion/rankings", params={"level": "agency"})
        assert refused.status_code == 422
        agencies = _ok(c.get("/api/v1/indicators/online_submission_share/rankings",
                             params={"level": "agency", "province_code": "01", "period": "week",
                                     "at": days_ago(5, 12).date().isoformat()}))  # fmt: skip
        # H1 (online) and H2 (direct) were received that day, both by UBND-00004: its week counts them.
        [agency] = agencies["best"]
        assert agency["code"] == "UBND-00004" and agency["name"] == "UBND Phường Ba Đình"
        assert 0 < agency["value"] <= 1


def test_scorecard_766(server: LiveServer) -> None:
    with server.client() as c:
        body = _ok(c.get("/api/v1/scorecard/766", params={"level": "province", "period": f"{TODAY:%Y-%m}"}))
    cards = {card["code"]: card for card in body["scorecards"]}
    hcm = cards["79"]
    # 79 this month: on time 1.0 → 20 of 20 (if resolved this month); online 1.0 ≥ 0.5 → 12 of 12.
    if days_ago(3, 10).month == TODAY.month:
        assert hcm["points"] == 32 and hcm["covered_max"] == 32 and hcm["percent"] == 100
        assert hcm["band"]["code"] == "excellent" and hcm["complete"] is False
        assert hcm["missing_groups"] == ["publicity", "digitisation", "satisfaction"]
    assert cards["48"]["band"] is None and cards["48"]["covered_max"] == 0  # nothing measured
    assert body["scorecards"][0]["percent"] is not None  # best first
