"""The live feed's headline numbers per scope, from reports written by the real stream ingesters.

Payouts (Hà Nội's October-2024 cycle of people with meritorious service, 20/10/2024):
  Hà Nội, whole province: 900 of 1.000 paid; cashless 500 + 100 + 50 = 650 of 900.
  Phường Ba Đình, its own report: 60 of 100 paid, all by bank.
  Nationally the province's own report is Hà Nội's figure (its communes are not added on top):
  completion 900 / 1.000 = 90 %, cashless 650 / 900 = 72,2 %. Ba Đình's operator sees 60 / 100.
ID issuance (16/3/2026): Thủ Dầu Một 52.575 cards for 54.000 eligible = 97,36 %, 9.300 level-2
  accounts against a target of 10.000 = 93 %.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

import psycopg
import pytest

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.values import current_values
from ioc.live.headline import read_headline
from tests.integration import id_issuance_support as ids
from tests.integration import payout_support as payouts

BA_DINH = Scope.from_dict({"communes": ["00004"]})
HANOI = Scope.from_dict({"provinces": ["01"]})
HCMC = Scope.from_dict({"provinces": ["79"]})
ONE_AGENCY = Scope.from_dict({"provinces": ["01"], "agencies": ["UBND-00004"]})


@asynccontextmanager
async def connect(db_url: str) -> AsyncIterator[Conn]:
    conn: Conn = await psycopg.AsyncConnection.connect(db_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture()
async def payout_db(db_url: str) -> str:
    outcome = await payouts.ingest_payout(db_url, [
        payouts.report("hn-1"),
        payouts.report("bd-1", locality={"commune_code": "00004"}, beneficiaries_due=100, paid_total=60,
                       paid_bank=60, paid_card=0, paid_ewallet=0, paid_cash=0, failed=0, failures={},
                       amount_due_vnd=200_000_000, amount_paid_vnd=120_000_000),
    ])  # fmt: skip
    assert [r["status"] for r in outcome.results] == ["accepted", "accepted"], outcome.results
    return db_url


async def test_payout_headline_per_scope(payout_db: str) -> None:
    now = payouts.NOW
    async with connect(payout_db) as conn:
        national = (await read_headline(conn, Scope.everything(), now, ["payout"]))["payout"]
        hanoi = (await read_headline(conn, HANOI, now, ["payout"]))["payout"]
        ba_dinh = (await read_headline(conn, BA_DINH, now, ["payout"]))["payout"]
        hcmc = (await read_headline(conn, HCMC, now, ["payout"]))["payout"]
        agency = (await read_headline(conn, ONE_AGENCY, now, ["payout"]))["payout"]
        province_values = await current_values(conn, HANOI, "province", now, ["payout_completion"])
    assert national == {
        "available": True, "cycle_month": "2024-10-01", "deadline": "2024-10-31",
        "beneficiaries_due": 1000, "paid": 900, "paid_cashless": 650,
        "completion": 0.9, "cashless_share": pytest.approx(650 / 900), "cashless_target": 0.7,
    }  # fmt: skip
    assert hanoi == national
    # A province scope shows the province's indicator value.
    assert hanoi["completion"] == province_values["01"]["payout_completion"]
    assert (ba_dinh["beneficiaries_due"], ba_dinh["paid"], ba_dinh["completion"]) == (100, 60, 0.6)
    assert ba_dinh["cashless_share"] == 1.0
    assert hcmc == agency == {"available": False}


async def test_id_headline_and_targets(db_url: str) -> None:
    outcome = await ids.ingest_id(db_url, [ids.report("tdm-1")])
    assert outcome.results[0]["status"] == "accepted", outcome.results
    async with connect(db_url) as conn:
        await conn.execute(
            "INSERT INTO id_target (province_code, commune_code, metric, target_value, deadline, set_by) VALUES "
            "('79', '25747', 'vneid_l2_activated', 10000, '2026-06-30', 'test'), "
            "('79', '25747', 'cccd_coverage', 0.98, '2026-06-30', 'test')"
        )
        await conn.commit()
        entry = (await read_headline(conn, HCMC, ids.NOW, ["id_issuance"]))["id_issuance"]
        hanoi = (await read_headline(conn, HANOI, ids.NOW, ["id_issuance"]))["id_issuance"]
    # As of 17/3/2026, 700 accounts to go in the 105 days 17/3 – 30/6: 6,67 a day.
    assert entry == {
        "available": True, "eligible_population": 54_000, "cccd_issued_total": 52_575,
        "cccd_coverage": pytest.approx(52_575 / 54_000), "cccd_target": 0.98, "cccd_deadline": "2026-06-30",
        "l2_activated": 9_300, "l2_target": 10_000, "l2_activation": 0.93,
        "l2_required_daily_pace": pytest.approx(700 / (date(2026, 6, 30) - date(2026, 3, 17)).days),
        "l2_deadline": "2026-06-30",
    }  # fmt: skip
    assert hanoi == {"available": False}


async def test_dossier_headline_counts_todays_receipts_in_scope(db_url: str) -> None:
    now = datetime(2026, 10, 14, 3, 0, tzinfo=UTC)  # 10:00 on 14/10/2026 in Vietnam
    async with connect(db_url) as conn:
        await conn.execute(
            "INSERT INTO dossier_daily (day, province_code, commune_code, agency_code, sector, received) VALUES "
            "('2026-10-14', '01', '00004', 'UBND-00004', 'Tư pháp', 3), "
            "('2026-10-14', '79', '25747', 'UBND-25747', 'Tư pháp', 2), "
            "('2026-10-13', '01', '00004', 'UBND-00004', 'Tư pháp', 7)"
        )
        await conn.commit()
        counts = {
            name: (await read_headline(conn, scope, now, ["dossier"]))["dossier"]["received_today"]
            for name, scope in [("national", Scope.everything()), ("ba_dinh", BA_DINH), ("agency", ONE_AGENCY),
                                ("hcmc", HCMC)]
        }  # fmt: skip
    assert counts == {"national": 5, "ba_dinh": 3, "agency": 3, "hcmc": 2}
