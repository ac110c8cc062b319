"""The Decision 766 scorecard against hand-computed fixtures (default weights: publicity 18,
progress 20, online service 12 + online payment 10, digitisation 22, satisfaction 18 = 100)."""

from __future__ import annotations

import pytest

from ioc.indicators.scorecard_766 import (
    DEFAULT_GROUPS,
    Band,
    Scorecard766Config,
    ScoreGroup,
    ScoreItem,
    band_of,
    item_points,
    score,
)


def test_default_weights_add_up_to_100() -> None:
    # 18 + 20 + (12 + 10) + 22 + 18 = 100
    assert Scorecard766Config().max_points == 100
    assert [g.max_points for g in DEFAULT_GROUPS] == [18, 20, 22, 22, 18]


def test_item_points_formula() -> None:
    assert item_points(0.95, 20, 0.90) == 20  # at or above the target: full points
    assert item_points(0.90, 20, 0.90) == 20
    assert item_points(0.94, 20, 1.0) == pytest.approx(18.8)  # 0.94 × 20 / 1.0 (Bình Dương's 18.8 / 20)
    assert item_points(0.30, 12, 0.50) == pytest.approx(7.2)  # 0.30 × 12 / 0.5
    assert item_points(0.0, 18, 1.0) == 0


@pytest.mark.parametrize(
    ("percent", "band"),
    [(100, "excellent"), (90, "excellent"), (89.99, "good"), (80, "good"), (79.9, "fair"), (70, "fair"),
     (69.9, "average"), (50, "average"), (49.99, "weak"), (0, "weak")],
)  # fmt: skip
def test_bands_lower_bounds_are_inclusive(percent: float, band: str) -> None:
    assert band_of(percent).code == band


def test_a_province_with_only_the_dossier_stream() -> None:
    # on time 94 % (target 100 %):      0.94 × 20 / 1.0 = 18.8
    # online submission 30 % (target 50 %): 0.30 × 12 / 0.5 = 7.2
    # publicity, online payment, digitisation, satisfaction: no data.
    # Covered: 20 + 12 = 32 points; earned 18.8 + 7.2 = 26.0; 26 / 32 = 81.25 % → good (tốt).
    card = score({"on_time_rate": 0.94, "online_submission_share": 0.30})
    assert card.points == pytest.approx(26.0)
    assert card.covered_max == 32
    assert card.percent == pytest.approx(81.25)
    assert card.band is not None and (card.band.code, card.band.name_vi) == ("good", "Tốt")
    assert not card.complete
    assert card.covered_groups == ["progress", "online"]
    assert card.missing_groups == ["publicity", "digitisation", "satisfaction"]
    online = {g.group.code: g for g in card.groups}["online"]
    assert online.status == "partial" and online.points == pytest.approx(7.2) and online.covered_max == 12


def test_a_complete_scorecard() -> None:
    # With every rate known (publicity needs a configured indicator: here a custom config scores it).
    groups = (
        ScoreGroup("publicity", "Công khai", "Publicity", (ScoreItem("publicity", "Công khai", "Publicity", 18,
                                                                     "publicity_rate", 1.0),)),
        *DEFAULT_GROUPS[1:],
    )  # fmt: skip
    values = {"publicity_rate": 1.0, "on_time_rate": 0.97, "online_submission_share": 0.62,
              "online_payment_share": 0.40, "digitisation_rate": 0.55, "satisfaction_rate": 0.944}  # fmt: skip
    card = score(values, Scorecard766Config(groups=groups))
    # publicity 1.0 ≥ 1.0 → 18
    # on time 0.97 × 20 = 19.4
    # online service 0.62 ≥ 0.5 → 12; online payment 0.40 × 10 / 1.0 = 4
    # digitisation 0.55 × 22 = 12.1
    # satisfaction 0.944 × 18 = 16.992
    # total 18 + 19.4 + 12 + 4 + 12.1 + 16.992 = 82.492 of 100 → good
    assert card.points == pytest.approx(82.492)
    assert card.complete and card.percent == pytest.approx(82.492)
    assert card.band is not None and card.band.code == "good"
    assert card.missing_groups == []


def test_nothing_measured() -> None:
    card = score({"on_time_rate": None})
    assert card.points == 0 and card.covered_max == 0 and card.percent is None and card.band is None
    assert card.as_dict()["band"] is None


def test_weak_band() -> None:
    # on time 40 %: 0.4 × 20 = 8 of 20 → 40 % → weak (yếu)
    card = score({"on_time_rate": 0.40})
    assert card.percent == pytest.approx(40.0)
    assert card.band is not None and card.band.name_vi == "Yếu"


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="unique"):
        Scorecard766Config(groups=(DEFAULT_GROUPS[0], DEFAULT_GROUPS[0]))
    bad_target = ScoreGroup("g", "g", "g", (ScoreItem("i", "i", "i", 10, "on_time_rate", 0.0),))
    with pytest.raises(ValueError, match="target"):
        Scorecard766Config(groups=(bad_target,))
    with pytest.raises(ValueError, match="bands"):
        Scorecard766Config(bands=(Band("a", "a", "a", 50), Band("b", "b", "b", 90)))
    # Custom weights: progress alone worth 50, target 90 %: 0.81 × 50 / 0.9 = 45 → 90 % → excellent.
    progress = ScoreGroup("progress", "Tiến độ", "Progress", (ScoreItem("on_time", "Đúng hạn", "On time", 50,
                                                                        "on_time_rate", 0.9),))  # fmt: skip
    card = score({"on_time_rate": 0.81}, Scorecard766Config(groups=(progress,)))
    assert card.points == pytest.approx(45) and card.band is not None and card.band.code == "excellent"
