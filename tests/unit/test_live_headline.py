"""The headline entries from summed indicator components: pure, no database."""

from __future__ import annotations

from datetime import date

import pytest

from ioc.indicators.definitions import combine
from ioc.live.headline import id_headline, payout_headline

TODAY = date(2026, 10, 14)


def test_payout_headline_sums_provinces_then_applies_the_indicator_formulas() -> None:
    # Hà Nội 600 of 1.000 paid (420 cashless); Hồ Chí Minh 900 of 1.000 (810 cashless).
    components = combine([
        {"payout_due": 1000, "payout_paid_by_deadline": 600, "payout_paid": 600, "payout_paid_cashless": 420},
        {"payout_due": 1000, "payout_paid_by_deadline": 900, "payout_paid": 900, "payout_paid_cashless": 810},
    ])  # fmt: skip
    cycles = [(date(2026, 10, 1), date(2026, 10, 20), 0.7), (date(2026, 9, 1), date(2026, 10, 5), 0.7)]
    entry = payout_headline(components, cycles, TODAY)
    # (600 + 900) / 2.000 = 75 %; (420 + 810) / 1.500 = 82 %.
    assert (entry["completion"], entry["cashless_share"]) == (0.75, pytest.approx(0.82))
    assert (entry["beneficiaries_due"], entry["paid"], entry["paid_cashless"]) == (2000, 1500, 1230)
    # The latest cycle's month; the next deadline still ahead (5 October has passed).
    assert (entry["cycle_month"], entry["deadline"], entry["cashless_target"]) == ("2026-10-01", "2026-10-20", 0.7)


def test_payout_headline_after_every_deadline_and_with_differing_targets() -> None:
    components = {"payout_due": 10.0, "payout_paid_by_deadline": 10.0, "payout_paid": 10.0,
                  "payout_paid_cashless": 10.0}  # fmt: skip
    cycles = [(date(2026, 10, 1), date(2026, 10, 10), 0.7), (date(2026, 10, 1), date(2026, 10, 12), 0.9)]
    entry = payout_headline(components, cycles, TODAY)
    assert (entry["deadline"], entry["cashless_target"]) == ("2026-10-12", None)


@pytest.mark.parametrize("components", [None, {}, {"payout_due": None}])
def test_payout_headline_without_data(components: dict[str, float | None] | None) -> None:
    assert payout_headline(components, [(date(2026, 10, 1), date(2026, 10, 20), 0.7)], TODAY) == {"available": False}


def test_id_headline_without_a_level_2_target() -> None:
    components = {"id_eligible_population": 50_000.0, "id_cccd_issued_total": 49_000.0,
                  "id_l2_activated_total": None, "id_l2_target": None, "id_l2_required_pace": None}  # fmt: skip
    entry = id_headline(components, [])
    assert entry["cccd_coverage"] == 0.98
    assert (entry["l2_target"], entry["l2_activation"], entry["cccd_target"], entry["l2_deadline"]) == (
        None, None, None, None,
    )  # fmt: skip


def test_id_headline_with_targets() -> None:
    components = {"id_eligible_population": 1_970_000.0, "id_cccd_issued_total": 1_851_800.0,
                  "id_l2_activated_total": 960_000.0, "id_l2_target": 1_200_000.0,
                  "id_l2_required_pace": 4_000.0}  # fmt: skip
    targets = [("cccd_coverage", 0.95, date(2026, 12, 31)), ("vneid_l2_activated", 1_200_000.0, date(2026, 12, 1))]
    entry = id_headline(components, targets)
    assert entry["cccd_coverage"] == pytest.approx(0.94)
    assert (entry["cccd_target"], entry["cccd_deadline"]) == (0.95, "2026-12-31")
    assert (entry["l2_activated"], entry["l2_target"], entry["l2_activation"]) == (960_000, 1_200_000, 0.8)
    assert (entry["l2_required_daily_pace"], entry["l2_deadline"]) == (4_000.0, "2026-12-01")
    assert id_headline(None, targets) == {"available": False}
