"""The payout simulator: the brief's scales, a realistic month, and items the ingest API accepts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.payout import validate_payout_batch
from ingest.simulator.catalogue import PROVINCE_POPULATION
from ingest.simulator.payout import PayoutSimulator, PayoutSimulatorSettings, report_instants, split
from ioc.localities.catalogue import load_catalogue

VN = ZoneInfo("Asia/Ho_Chi_Minh")
END_OF_OCTOBER = datetime(2024, 10, 31, 17, 0, tzinfo=VN)
LDTBXH = ("nguoi_co_cong", "bao_tro_xa_hoi")  # the programmes behind Hà Nội's published figure


def simulator(**settings: Any) -> PayoutSimulator:
    return PayoutSimulator(PayoutSimulatorSettings(**settings), END_OF_OCTOBER)


def province_items(items: list[dict[str, Any]], code: str, programmes: tuple[str, ...] = LDTBXH) -> list[Any]:
    return [i for i in items if i["locality"].get("province_code") == code and i["programme"] in programmes]


def total(items: list[dict[str, Any]], name: str) -> int:
    return sum(int(i[name]) for i in items)


def test_hanoi_october_2024_matches_the_brief() -> None:
    """291,638 beneficiaries, more than 343 billion VND, about 1.18 million VND each (brief 3.5)."""
    hanoi = province_items(simulator().snapshot(END_OF_OCTOBER), "01")
    due, amount = total(hanoi, "beneficiaries_due"), total(hanoi, "amount_due_vnd")
    assert due == 291_638
    assert 343e9 < amount < 345e9  # 87,500 × 2.2 M + 204,138 × 0.74 M = 343.56 billion
    assert 1.17e6 < amount / due < 1.19e6
    # By the end of the month nearly everyone is paid; the rest failed or could not be reached.
    paid, failed = total(hanoi, "paid_total"), total(hanoi, "failed")
    assert 0.985 < paid / due < 1.0 and 0 < failed < 0.01 * due
    assert total(hanoi, "amount_paid_vnd") > 338e9


def test_most_are_paid_in_the_first_ten_days_and_nothing_goes_backwards() -> None:
    sim = simulator()
    shares = []
    previous: dict[str, dict[str, Any]] = {}
    for moment in report_instants(datetime(2024, 9, 30, 23, tzinfo=VN), END_OF_OCTOBER):
        for item in province_items(sim.snapshot(moment), "01"):
            before = previous.get(item["programme"])
            if before is not None:
                for name in ("paid_total", "paid_bank", "paid_card", "paid_ewallet", "paid_cash", "failed"):
                    assert item[name] >= before[name], (name, item["reported_at"])
            previous[item["programme"]] = item
        if moment.hour == 17:
            hanoi = province_items(sim.snapshot(moment), "01")
            shares.append(total(hanoi, "paid_total") / total(hanoi, "beneficiaries_due"))
    # shares[d - 1] is the share paid by 17:00 on day d.
    assert shares[0] < 0.5 < shares[2]
    assert shares[9] > 0.9
    assert shares == sorted(shares)


def test_cashless_shares_lie_between_60_and_75_percent() -> None:
    items = simulator().snapshot(END_OF_OCTOBER)
    assert len(items) == 34 * 3
    for item in items:
        cashless = item["paid_bank"] + item["paid_card"] + item["paid_ewallet"]
        assert 0.60 <= cashless / item["paid_total"] <= 0.75, item
        assert item["paid_bank"] > item["paid_card"] > item["paid_ewallet"] > 0


def test_failures_carry_the_four_reasons() -> None:
    reasons: Counter[str] = Counter()
    for item in simulator().snapshot(END_OF_OCTOBER):
        assert sum(item["failures"].values()) == item["failed"]
        reasons.update(item["failures"])
    assert set(reasons) == {"wrong_account", "deceased", "unreachable", "moved"}
    assert reasons.most_common(1)[0][0] == "wrong_account"


def test_other_provinces_scale_by_population() -> None:
    items = simulator().snapshot(END_OF_OCTOBER)
    hanoi = total(province_items(items, "01"), "beneficiaries_due")
    for code in ("79", "12", "38"):
        expected = hanoi * PROVINCE_POPULATION[code] / PROVINCE_POPULATION["01"]
        assert 0.92 <= total(province_items(items, code), "beneficiaries_due") / expected <= 1.08


@pytest.mark.parametrize("level", ["province", "commune"])
def test_every_item_passes_the_ingest_validation(level: str) -> None:
    items = simulator(level=level).snapshot(datetime(2024, 10, 4, 9, 0, tzinfo=VN))
    batch = validate_payout_batch(
        items, now=END_OF_OCTOBER, catalogue=load_catalogue(),
        programmes={"nguoi_co_cong", "bao_tro_xa_hoi", "luong_huu"}, in_scope=None,
        future_tolerance=timedelta(0),
    )  # fmt: skip
    assert batch.refused == []
    assert len(batch.accepted) == len(items) == (34 if level == "province" else 3321) * 3


def test_commune_reports_add_up_to_the_province() -> None:
    communes = simulator(level="commune").snapshot(END_OF_OCTOBER)
    in_hanoi = [i for i in communes if i["programme"] in LDTBXH and i["locality"]["commune_code"] in HANOI_COMMUNES]
    assert abs(total(in_hanoi, "beneficiaries_due") - 291_638) < 200  # each commune rounds on its own


HANOI_COMMUNES = {c.code for c in load_catalogue().communes_of("01")}


def test_the_clock_backfills_then_reports_each_office_hour() -> None:
    start = datetime(2024, 10, 8, 12, 30, tzinfo=VN)
    settings = PayoutSimulatorSettings(seed=3, time_scale=3600, backfill=timedelta(days=2), run_tag="t")
    sim = PayoutSimulator(settings, start)
    items: list[dict[str, Any]] = []
    for second in range(1, 60):  # a simulated hour per second: two days and a bit
        items += sim.advance(1.0, start + timedelta(seconds=second))
    moments = sorted({datetime.fromisoformat(i["reported_at"]) for i in items})
    assert all(7 <= m.hour <= 18 and m.minute == 0 for m in moments)
    assert moments[0] == datetime(2024, 10, 6, 13, 0, tzinfo=VN)
    assert moments[-1] <= start + timedelta(seconds=59)  # caught up: never ahead of real time
    assert len(items) == len(moments) * 34 * 3
    assert len({i["record_id"] for i in items}) == len(items)
    assert all(i["record_id"].startswith("sim-payout-3-t-") for i in items)
    again = PayoutSimulator(settings, start).advance(10.0, start + timedelta(seconds=10))
    assert again == items[: len(again)]


def test_split_keeps_the_total() -> None:
    assert split(10, (("a", 0.45), ("b", 0.25), ("c", 0.18), ("d", 0.12))) == {"a": 5, "b": 2, "c": 2, "d": 1}
    assert sum(split(12_345, (("a", 0.7), ("b", 0.22), ("c", 0.08))).values()) == 12_345
    assert split(0, (("a", 1.0),)) == {"a": 0}
