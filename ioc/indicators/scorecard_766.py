"""The Decision 766/QĐ-TTg (2022) scorecard: service quality out of 100, per agency or locality.

Five groups — publicity, progress (on time), online service and payment, digitisation,
satisfaction — each of scored items. An item measures one rate against its target: at or above
the target it earns its full points, below it `rate × max / target` (the brief, §2e). Weights,
targets and bands are configuration (`Scorecard766Config`); the defaults below follow the brief.

WEIGHTS MUST BE CHECKED AGAINST THE DECISION TEXT before they are relied on: the brief took
publicity 18, progress 20, online service 12 and satisfaction 18 from an external summary, and
digitisation 22 and online payment 10 "from memory" (its §2e). They add up to 100.

Missing data is never scored as zero. An item whose indicator has no value (nothing measured in
the period, or a stream that does not carry it yet — publicity has no indicator at all) is
reported as "no data"; the total adds up only the items that have data and says which they are
(`covered_max`, `covered_groups`, `missing_groups`). The band is read from the share of the
covered maximum (`percent`), and `complete` tells whether that was the full 100.

Bands: ≥ 90 xuất sắc (excellent), 80–90 tốt (good), 70–80 khá (fair), < 50 yếu (weak). The issue
leaves 50–70 unnamed; it is "trung bình" (average) here. Lower bounds are inclusive. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

GroupStatus = Literal["complete", "partial", "no_data"]


@dataclass(frozen=True)
class ScoreItem:
    code: str
    name_vi: str
    name_en: str
    max_points: float
    indicator: str | None  # the indicator (ioc/indicators/definitions.py) it scores; None: not measured
    target: float  # a rate at or above this earns full points (0 < target ≤ 1)


@dataclass(frozen=True)
class ScoreGroup:
    code: str
    name_vi: str
    name_en: str
    items: tuple[ScoreItem, ...]

    @property
    def max_points(self) -> float:
        return sum(item.max_points for item in self.items)


@dataclass(frozen=True)
class Band:
    code: str
    name_vi: str
    name_en: str
    min_percent: float  # inclusive lower bound


# Targets: 100 % where the decision scores a share against all dossiers; the online-submission
# share against the national 50 % target (brief §3.1 row 14). Check them with the weights.
DEFAULT_GROUPS: tuple[ScoreGroup, ...] = (
    ScoreGroup("publicity", "Công khai, minh bạch", "Publicity and transparency", (
        ScoreItem("publicity", "Công khai, minh bạch", "Publicity and transparency", 18, None, 1.0),
    )),
    ScoreGroup("progress", "Tiến độ, kết quả giải quyết", "Processing progress and results", (
        ScoreItem("on_time", "Giải quyết đúng hạn", "Resolved on time", 20, "on_time_rate", 1.0),
    )),
    ScoreGroup("online", "Dịch vụ trực tuyến và thanh toán trực tuyến", "Online service and payment", (
        ScoreItem("online_service", "Cung cấp dịch vụ trực tuyến", "Online service", 12, "online_submission_share",
                  0.5),
        ScoreItem("online_payment", "Thanh toán trực tuyến", "Online payment", 10, "online_payment_share", 1.0),
    )),
    ScoreGroup("digitisation", "Số hóa hồ sơ", "Digitisation of dossiers", (
        ScoreItem("digitisation", "Số hóa hồ sơ, kết quả", "Digitised dossiers and results", 22, "digitisation_rate",
                  1.0),
    )),
    ScoreGroup("satisfaction", "Mức độ hài lòng", "Satisfaction", (
        ScoreItem("satisfaction", "Mức độ hài lòng", "Satisfaction", 18, "satisfaction_rate", 1.0),
    )),
)  # fmt: skip

DEFAULT_BANDS: tuple[Band, ...] = (
    Band("excellent", "Xuất sắc", "Excellent", 90.0),
    Band("good", "Tốt", "Good", 80.0),
    Band("fair", "Khá", "Fair", 70.0),
    Band("average", "Trung bình", "Average", 50.0),
    Band("weak", "Yếu", "Weak", 0.0),
)


@dataclass(frozen=True)
class Scorecard766Config:
    groups: tuple[ScoreGroup, ...] = DEFAULT_GROUPS
    bands: tuple[Band, ...] = DEFAULT_BANDS

    def __post_init__(self) -> None:
        codes = [item.code for group in self.groups for item in group.items]
        if len(codes) != len(set(codes)) or len({g.code for g in self.groups}) != len(self.groups):
            raise ValueError("scorecard group and item codes must be unique")
        for group in self.groups:
            for item in group.items:
                if item.max_points <= 0 or not 0 < item.target <= 1:
                    raise ValueError(f"item {item.code}: max points > 0 and 0 < target ≤ 1")
        floors = [band.min_percent for band in self.bands]
        if floors != sorted(floors, reverse=True) or not floors or floors[-1] != 0:
            raise ValueError("bands run from the highest floor down to a floor of 0")

    @property
    def max_points(self) -> float:
        return sum(group.max_points for group in self.groups)

    @property
    def indicators(self) -> frozenset[str]:
        return frozenset(item.indicator for g in self.groups for item in g.items if item.indicator)


# -- scoring ---------------------------------------------------------------------------------------


def item_points(rate: float, max_points: float, target: float) -> float:
    """At or above the target: full points; below it: rate × max / target."""
    if rate >= target:
        return max_points
    return max(rate, 0.0) * max_points / target


def band_of(percent: float, bands: tuple[Band, ...] = DEFAULT_BANDS) -> Band:
    for band in bands:
        if percent >= band.min_percent:
            return band
    return bands[-1]


@dataclass(frozen=True)
class ItemScore:
    item: ScoreItem
    rate: float | None
    points: float | None  # None: no data

    def as_dict(self) -> dict[str, object]:
        return {"code": self.item.code, "name_vi": self.item.name_vi, "name_en": self.item.name_en,
                "indicator": self.item.indicator, "target": self.item.target, "max_points": self.item.max_points,
                "rate": self.rate, "points": _round(self.points)}  # fmt: skip


@dataclass(frozen=True)
class GroupScore:
    group: ScoreGroup
    items: tuple[ItemScore, ...]

    @property
    def points(self) -> float | None:
        scored = [i.points for i in self.items if i.points is not None]
        return sum(scored) if scored else None

    @property
    def covered_max(self) -> float:
        return sum(i.item.max_points for i in self.items if i.points is not None)

    @property
    def status(self) -> GroupStatus:
        scored = sum(i.points is not None for i in self.items)
        return "no_data" if scored == 0 else "complete" if scored == len(self.items) else "partial"

    def as_dict(self) -> dict[str, object]:
        return {"code": self.group.code, "name_vi": self.group.name_vi, "name_en": self.group.name_en,
                "max_points": self.group.max_points, "points": _round(self.points),
                "covered_max": self.covered_max, "status": self.status,
                "items": [i.as_dict() for i in self.items]}  # fmt: skip


@dataclass(frozen=True)
class Scorecard:
    groups: tuple[GroupScore, ...]
    max_points: float
    bands: tuple[Band, ...] = field(default=DEFAULT_BANDS, repr=False)

    @property
    def points(self) -> float:
        """Points earned over the items that have data."""
        return sum(g.points for g in self.groups if g.points is not None)

    @property
    def covered_max(self) -> float:
        return sum(g.covered_max for g in self.groups)

    @property
    def percent(self) -> float | None:
        """Points as a share of the covered maximum, 0–100; None when nothing has data."""
        return 100.0 * self.points / self.covered_max if self.covered_max else None

    @property
    def band(self) -> Band | None:
        return None if self.percent is None else band_of(self.percent, self.bands)

    @property
    def complete(self) -> bool:
        return self.covered_max == self.max_points

    @property
    def covered_groups(self) -> list[str]:
        return [g.group.code for g in self.groups if g.status != "no_data"]

    @property
    def missing_groups(self) -> list[str]:
        return [g.group.code for g in self.groups if g.status == "no_data"]

    def as_dict(self) -> dict[str, object]:
        band = self.band
        return {
            "points": _round(self.points), "max_points": self.max_points, "covered_max": self.covered_max,
            "percent": _round(self.percent), "complete": self.complete,
            "band": None if band is None else {"code": band.code, "name_vi": band.name_vi, "name_en": band.name_en},
            "covered_groups": self.covered_groups, "missing_groups": self.missing_groups,
            "groups": [g.as_dict() for g in self.groups],
        }  # fmt: skip


def score(values: Mapping[str, float | None], config: Scorecard766Config | None = None) -> Scorecard:
    """The scorecard for one agency or locality from its indicator values (ratios 0–1)."""
    config = config or Scorecard766Config()
    groups = []
    for group in config.groups:
        items = []
        for item in group.items:
            rate = values.get(item.indicator) if item.indicator else None
            points = None if rate is None else item_points(rate, item.max_points, item.target)
            items.append(ItemScore(item, rate, points))
        groups.append(GroupScore(group, tuple(items)))
    return Scorecard(tuple(groups), config.max_points, config.bands)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
