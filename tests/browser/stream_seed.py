"""A small, hand-computed data set for the dashboard tests, sent through the real push APIs.

Everything is dated relative to the real clock (the page asks for "today"): this month's payout
cycles, yesterday's ID-issuance report, dossiers received a few minutes ago.

Payouts (this month's cycle, deadline the last day of the month):
  Hà Nội (01), whole province, người có công: 600 of 1.000 paid (60 %); 420 of the 600 cashless (70 %).
  TP Hồ Chí Minh (79), Phường Thủ Dầu Một, bảo trợ xã hội: 900 of 1.000 paid (90 %); 810 cashless (90 %).
  Nationally: 1.500 / 2.000 = 75 %; cashless (420 + 810) / 1.500 = 1.230 / 1.500 = 82 %.
ID issuance (yesterday's report):
  TP Hồ Chí Minh (79), whole province: 1.851.800 cards for 1.970.000 eligible = 94 %; 960.000 level-2
  accounts against a target of 1.200.000 = 80 %; a CCCD coverage target of 95 %.
  Hà Nội, Phường Ba Đình (00004): 49.000 cards for 50.000 eligible = 98 %; 20.000 accounts, no target.
  Nationally: (1.851.800 + 49.000) / (1.970.000 + 50.000) = 1.900.800 / 2.020.000 = 94,099 % → "94,1 %";
  level 2 against targets: only Hồ Chí Minh has one, so 960.000 / 1.200.000 = 80 %.
Dossiers: 3 received in Hà Nội (Ba Đình) and 2 in Hồ Chí Minh (Thủ Dầu Một) a few minutes ago: 5 today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, receipt

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PAYOUT_INGEST = "/api/v1/ingest/payout-records"
ID_INGEST = "/api/v1/ingest/id-issuance"


def local_today() -> date:
    return datetime.now(VN).date()


def month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def payout_record(
    record_id: str, locality: dict[str, str], programme: str, due: int, paid: int, cashless: int, minutes_ago: int = 10
) -> dict[str, Any]:
    today = local_today()
    reported = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "record_id": record_id, "locality": locality, "programme": programme, "cycle": f"{today:%Y-%m}",
        "cycle_opens_on": today.replace(day=1).isoformat(), "deadline": month_end(today).isoformat(),
        "reported_at": reported.isoformat(), "beneficiaries_due": due, "paid_total": paid,
        "paid_bank": cashless, "paid_card": 0, "paid_ewallet": 0, "paid_cash": paid - cashless, "failed": 0,
        "amount_due_vnd": due * 2_000_000, "amount_paid_vnd": paid * 2_000_000,
    }  # fmt: skip


def id_report(
    record_id: str, locality: dict[str, str], eligible: int, issued_total: int, l2_total: int
) -> dict[str, Any]:
    yesterday = local_today() - timedelta(days=1)
    return {
        "record_id": record_id, "day": yesterday.isoformat(),
        "reported_at": datetime.combine(yesterday, datetime.min.time(), VN).replace(hour=18).isoformat(),
        "locality": locality, "cccd_received": 100, "cccd_issued": 90, "l2_received": 300, "l2_approved": 280,
        "l2_activated": 250, "eligible_population": eligible, "cccd_issued_total": issued_total,
        "l2_activated_total": l2_total,
    }  # fmt: skip


def post(server: LiveServer, path: str, items: list[dict[str, Any]]) -> None:
    with server.anonymous() as client:
        response = client.post(path, json=items, headers={"Authorization": f"Bearer {server.api_key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == len(items), body


def put_target(server: LiveServer, body: dict[str, Any]) -> None:
    with server.client() as admin:
        response = admin.put("/api/v1/id/targets", json=body)
    assert response.status_code == 200, response.text


def seed_streams(server: LiveServer) -> None:
    """The data set of the module docstring, through the real ingest and target APIs."""
    post(server, PAYOUT_INGEST, [
        payout_record("hn-ncc-1", {"province_code": "01"}, "nguoi_co_cong", 1000, 600, 420),
        payout_record("tdm-btxh-1", HCMC_WARD, "bao_tro_xa_hoi", 1000, 900, 810),
    ])  # fmt: skip
    post(server, ID_INGEST, [
        id_report("hcm-1", {"province_code": "79"}, 1_970_000, 1_851_800, 960_000),
        id_report("ba-dinh-1", HANOI_WARD, 50_000, 49_000, 20_000),
    ])  # fmt: skip
    deadline = (local_today() + timedelta(days=60)).isoformat()
    put_target(server, {"province_code": "79", "metric": "vneid_l2_activated", "target_value": 1_200_000,
                        "deadline": deadline})  # fmt: skip
    put_target(server, {"province_code": "79", "metric": "cccd_coverage", "target_value": 0.95, "deadline": deadline})
    now = datetime.now(UTC) - timedelta(minutes=5)
    events = [receipt(f"hl-hn-{i}", f"HS-HL-HN-{i}", now, locality=HANOI_WARD) for i in range(3)]
    events += [receipt(f"hl-hcm-{i}", f"HS-HL-HCM-{i}", now, locality=HCMC_WARD) for i in range(2)]
    response = server.post_events(events)
    assert response.status_code == 200 and response.json()["accepted"] == 5, response.text
