"""The ID-issuance simulator: the brief's Bình Dương and national figures, consistent days, targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from ingest.batch import BatchContext
from ingest.id_issuance import validate_batch
from ingest.simulator.catalogue import PROVINCE_POPULATION
from ingest.simulator.id_issuance import (
    IdIssuanceSimulator,
    IdSimulatorSettings,
    apportion,
    binh_duong_communes,
    demo_settings,
)
from ioc.localities.catalogue import load_catalogue

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def simulator() -> IdIssuanceSimulator:
    return IdIssuanceSimulator(IdSimulatorSettings(), CATALOGUE)


@pytest.fixture(scope="module")
def days(simulator: IdIssuanceSimulator) -> list[list[dict[str, Any]]]:
    return [simulator.day_items(simulator.next_day) for _ in range(8)]


def total(items: list[dict[str, Any]], field: str, communes: set[str] | None = None) -> int:
    return sum(i[field] for i in items if communes is None or i["locality"]["commune_code"] in communes)


def test_apportion_is_exact_and_proportional() -> None:
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(1_972_053, [0.7, 1.3, 1.0]) == [460_146, 854_556, 657_351]
    assert sum(apportion(1_919_976, [0.5 + i / 36 for i in range(36)])) == 1_919_976


def test_binh_duong_is_its_36_former_communes_in_ho_chi_minh_city() -> None:
    communes = binh_duong_communes(CATALOGUE)
    assert len(communes) == 36
    assert {CATALOGUE.province_of(c).code for c in communes} == {"79"}
    assert "25747" in communes  # Phường Thủ Dầu Một


def test_the_first_day_carries_binh_duongs_figures(days: list[list[dict[str, Any]]]) -> None:
    """§2c of the brief: 1,919,976 of 1,972,053 carded (97.36 %); level 2: 172,986 of 1,005,735 (17.2 %)."""
    first, bd = days[0], set(binh_duong_communes(CATALOGUE))
    assert total(first, "eligible_population", bd) == 1_972_053
    assert total(first, "cccd_issued_total", bd) == 1_919_976
    assert round(1_919_976 / 1_972_053 * 100, 2) == 97.36
    assert total(first, "l2_eligible_population", bd) == 1_005_735
    assert total(first, "l2_activated_total", bd) == 172_986
    assert round(172_986 / 1_005_735 * 100, 1) == 17.2


def test_national_scale(days: list[list[dict[str, Any]]]) -> None:
    """More than 80 M chip CCCDs and 8.4 M level-2 accounts nationally (April 2023): within 5 / 10 %."""
    first = days[0]
    assert len(first) == 3_321 and len({i["locality"]["commune_code"] for i in first}) == 3_321
    assert 76e6 <= total(first, "cccd_issued_total") <= 84e6
    assert 7.56e6 <= total(first, "l2_activated_total") <= 9.24e6


def test_provinces_scale_with_population(days: list[list[dict[str, Any]]]) -> None:
    by_province: dict[str, int] = {}
    for item in days[0]:
        province = CATALOGUE.province_of(item["locality"]["commune_code"]).code
        by_province[province] = by_province.get(province, 0) + item["eligible_population"]
    assert set(by_province) == set(PROVINCE_POPULATION)
    share = {p: by_province[p] / PROVINCE_POPULATION[p] for p in by_province}
    # Every province the same eligible share of its population (Bình Dương's own figure inside 79
    # moves 79 by rounding only).
    assert max(share.values()) - min(share.values()) < 0.001


def test_days_follow_on_from_each_other(days: list[list[dict[str, Any]]]) -> None:
    for before, after in pairwise(days):
        assert [i["locality"] for i in before] == [i["locality"] for i in after]
        for b, a in zip(before, after, strict=True):
            assert a["cccd_issued_total"] == b["cccd_issued_total"] + a["cccd_issued"]
            assert a["l2_activated_total"] == b["l2_activated_total"] + a["l2_activated"]
            assert a["eligible_population"] >= b["eligible_population"]
            assert a["cccd_issued_total"] <= a["eligible_population"]
    assert [d[0]["day"] for d in days] == [(date(2023, 3, 16) + timedelta(days=n)).isoformat() for n in range(8)]
    # Sundays are quieter: 19/3/2023 was a Sunday.
    assert total(days[3], "l2_activated") < 0.6 * total(days[2], "l2_activated")


def test_binh_duong_activates_below_the_pace_its_target_needs(days: list[list[dict[str, Any]]]) -> None:
    """1.2 M by 20/6/2023 from 172,986 on 16/3 needs (1,200,000 − 172,986) / 96 ≈ 10,698 a day."""
    bd = set(binh_duong_communes(CATALOGUE))
    weekdays = [d for d in days[1:] if date.fromisoformat(d[0]["day"]).weekday() < 6]
    pace = sum(total(d, "l2_activated", bd) for d in weekdays) / len(weekdays)
    assert 0.6 * 10_698 < pace < 10_698


def test_every_report_passes_validation(days: list[list[dict[str, Any]]]) -> None:
    ctx = BatchContext(source_id="s", now=datetime(2023, 4, 1, tzinfo=UTC), catalogue=CATALOGUE, in_scope=None)
    for items in (days[0], days[-1]):
        batch = validate_batch(items, ctx)
        assert batch.refused == [] and len(batch.accepted) == 3_321


def test_record_ids_are_stable_per_day_and_commune() -> None:
    again = IdIssuanceSimulator(IdSimulatorSettings(), CATALOGUE).day_items(date(2023, 3, 16))
    assert again[0]["record_id"] == f"sim-id-20230316-{again[0]['locality']['commune_code']}"
    tagged = IdIssuanceSimulator(IdSimulatorSettings(run_tag="x1"), CATALOGUE).day_items(date(2023, 3, 16))
    assert tagged[0]["record_id"].startswith("sim-idx1-20230316-")
    with pytest.raises(ValueError, match="in turn"):
        IdIssuanceSimulator(IdSimulatorSettings(), CATALOGUE).day_items(date(2023, 3, 17))


def test_default_targets(simulator: IdIssuanceSimulator) -> None:
    targets = simulator.default_targets()
    provincial = [t for t in targets if t["commune_code"] == ""]
    assert len(provincial) == 2 * 34
    assert {t["target_value"] for t in provincial if t["metric"] == "cccd_coverage"} == {1.0}
    assert {t["deadline"] for t in provincial if t["metric"] == "cccd_coverage"} == {"2023-07-31"}
    assert {t["deadline"] for t in targets if t["metric"] == "vneid_l2_activated"} == {"2023-06-20"}
    # Bình Dương's 1.2 M, over its former communes, is part of Hồ Chí Minh City's target.
    bd = [t for t in targets if t["commune_code"]]
    assert len(bd) == 36 and sum(t["target_value"] for t in bd) == 1_200_000
    [hcmc] = [t for t in provincial if t["province_code"] == "79" and t["metric"] == "vneid_l2_activated"]
    assert hcmc["target_value"] > 1_200_000
    # Elsewhere the target is Bình Dương's per level-2 eligible person: 1,200,000 / 1,005,735 ≈ 1.193.
    [hanoi] = [t for t in provincial if t["province_code"] == "01" and t["metric"] == "vneid_l2_activated"]
    hanoi_l2_eligible = sum(c.l2_eligible for c in simulator.communes if c.province_code == "01")
    assert hanoi["target_value"] == pytest.approx(hanoi_l2_eligible * 1_200_000 / 1_005_735, abs=1)


def test_demo_timeline_keeps_the_brief_spacing() -> None:
    settings = demo_settings(date(2026, 11, 23), backfill_days=14)
    sim = IdIssuanceSimulator(settings, CATALOGUE)
    assert settings.start_day == date(2026, 11, 9)
    assert (sim.l2_deadline - settings.start_day).days == 96
    assert (sim.cccd_deadline - settings.start_day).days == 137
