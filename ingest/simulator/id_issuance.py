"""Simulated daily ID-issuance reports (CCCD chip cards, VNeID level-2 accounts) per commune.

Pure and deterministic for a seed: `IdIssuanceSimulator.day_items(day)` gives one report per
commune in the push API's format (ingest/id_issuance_items.py), `default_targets` the targets a
command centre would set, in the body format of PUT /api/v1/id/targets. `post_id_issuance` sends
them through the public API, as a real source would.

Scales, from the domain brief (/work/shared/domain/brief.md §2c, §3.6):
- Bình Dương (~Q1-2023; since 1/7/2025 part of Thành phố Hồ Chí Minh, 79): 1,919,976 chip CCCDs
  issued of 1,972,053 eligible (97.36 %); level 2: 1,005,735 eligible, 172,986 accounts activated
  (17.2 %) on 16/3/2023, target more than 1.2 million activated before 20/6/2023. The simulator's
  first day carries exactly these figures, summed over the communes that were Bình Dương's.
- Nationally (April 2023): more than 80 M chip CCCDs and 8.4 M activated level-2 accounts.
- Thái Nguyên reached 100 % of eligible people on 27/5/2023, 65 days before the ministry's
  deadline, so the CCCD deadline is taken as 31/7/2023; the CCCD coverage target is 100 %.
Every other locality is scaled from these by population (ingest/simulator/catalogue.py): the
share of residents eligible for a CCCD is set so that the country holds about 80 M cards, the
level-2 eligible share is Bình Dương's, and the level-2 target is Bình Dương's 1.2 M per level-2
eligible person. The simulated timeline starts at `start_day` and keeps the brief's spacing:
deadlines 96 days (level 2) and 137 days (CCCD) later.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ingest.simulator.catalogue import PROVINCE_POPULATION
from ioc.localities.catalogue import LocalityCatalogue, load_catalogue

VN = ZoneInfo("Asia/Ho_Chi_Minh")
INGEST_PATH = "/api/v1/ingest/id-issuance"
TARGETS_PATH = "/api/v1/id/targets"

# The brief's figures.
BINH_DUONG_LEGACY_CODE = "74"
BINH_DUONG_ELIGIBLE = 1_972_053
BINH_DUONG_ISSUED = 1_919_976  # 97.36 %
BINH_DUONG_L2_ELIGIBLE = 1_005_735
BINH_DUONG_L2_ACTIVATED = 172_986  # 17.2 %
BINH_DUONG_L2_TARGET = 1_200_000
SNAPSHOT_DAY = date(2023, 3, 16)  # Bình Dương's level-2 figures are "as of 16/3/2023"
L2_DEADLINE = date(2023, 6, 20)
CCCD_DEADLINE = date(2023, 7, 31)  # Thái Nguyên: 100 % on 27/5/2023, 65 days ahead
NATIONAL_CARDS = 80_000_000

# Derived shares. Provinces' CCCD coverage on the first day is drawn from COVERAGE_RANGE, their
# level-2 activated share from L2_ACTIVATED_RANGE (national 8.4 M of ~43 M eligible ≈ 19.5 %).
COVERAGE_RANGE = (0.92, 0.99)
L2_ACTIVATED_RANGE = (0.12, 0.27)
ELIGIBLE_SHARE = NATIONAL_CARDS / (sum(PROVINCE_POPULATION.values()) * sum(COVERAGE_RANGE) / 2)
L2_ELIGIBLE_SHARE = BINH_DUONG_L2_ELIGIBLE / BINH_DUONG_ELIGIBLE
L2_TARGET_PER_ELIGIBLE = BINH_DUONG_L2_TARGET / BINH_DUONG_L2_ELIGIBLE
# Daily dynamics: each day a share of the not-yet-carded eligible get their card; people turning
# 14 become eligible (~1.4 % of the population a year); level-2 activations run at a pace of
# PACE_RANGE × the pace the target needs (Bình Dương's is BINH_DUONG_PACE: behind schedule).
CARD_RATE_RANGE = (0.008, 0.03)
NEWLY_ELIGIBLE_PER_DAY = 0.014 / 365
PACE_RANGE = (0.6, 1.25)
BINH_DUONG_PACE = 0.8
SUNDAY_FACTOR = 0.4
REPORT_TIME = time(18, 0)  # daily reports are made at the end of the working day


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` into whole parts proportional to `weights` that sum to it exactly (largest
    remainder). A part never exceeds its exact share rounded up."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    parts = [math.floor(x) for x in exact]
    missing = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[:missing]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Region:
    """Communes simulated together from one set of totals: a province, or Bình Dương's part of 79."""

    name: str
    province_code: str
    communes: tuple[str, ...]
    eligible: int
    issued: int
    l2_eligible: int
    l2_activated: int
    l2_target: int
    card_rate: float  # share of the not-yet-carded who get a card each day
    pace_factor: float  # actual level-2 pace / the pace the target needs


def binh_duong_communes(catalogue: LocalityCatalogue) -> tuple[str, ...]:
    """The current communes (of 79) that the former Bình Dương province's wards became."""
    legacy = catalogue.legacy.wards.values()
    return tuple(sorted({c for w in legacy if w.legacy_province_code == BINH_DUONG_LEGACY_CODE for c in w.successors}))


def build_regions(catalogue: LocalityCatalogue, rng: random.Random) -> list[Region]:
    binh_duong = binh_duong_communes(catalogue)
    bd_population = BINH_DUONG_ELIGIBLE / ELIGIBLE_SHARE
    regions = [Region(
        "Bình Dương (cũ)", catalogue.legacy.provinces[BINH_DUONG_LEGACY_CODE].new_province_code,
        binh_duong, BINH_DUONG_ELIGIBLE, BINH_DUONG_ISSUED, BINH_DUONG_L2_ELIGIBLE, BINH_DUONG_L2_ACTIVATED,
        BINH_DUONG_L2_TARGET, rng.uniform(*CARD_RATE_RANGE), BINH_DUONG_PACE,
    )]  # fmt: skip
    taken = set(binh_duong)
    for province in catalogue.provinces:
        communes = tuple(c.code for c in catalogue.communes_of(province.code) if c.code not in taken)
        population = PROVINCE_POPULATION[province.code]
        if len(communes) < len(catalogue.communes_of(province.code)):
            population -= round(bd_population)
        eligible = round(population * ELIGIBLE_SHARE)
        l2_eligible = round(eligible * L2_ELIGIBLE_SHARE)
        regions.append(Region(
            province.name, province.code, communes, eligible, round(eligible * rng.uniform(*COVERAGE_RANGE)),
            l2_eligible, round(l2_eligible * rng.uniform(*L2_ACTIVATED_RANGE)),
            round(l2_eligible * L2_TARGET_PER_ELIGIBLE), rng.uniform(*CARD_RATE_RANGE), rng.uniform(*PACE_RANGE),
        ))  # fmt: skip
    return regions


@dataclass
class CommuneState:
    code: str
    province_code: str
    eligible: int
    issued: int
    l2_eligible: int
    l2_activated: int
    l2_target: int
    card_rate: float
    l2_pace: float  # accounts a day at the region's pace, this commune's share


@dataclass(frozen=True)
class IdSimulatorSettings:
    seed: int = 1
    start_day: date = SNAPSHOT_DAY  # the first reported day carries the brief's figures
    record_prefix: str = "sim-id"
    run_tag: str = ""  # distinguishes runs that share a seed and days, as for dossiers


class IdIssuanceSimulator:
    """Consecutive daily reports per commune; call `day_items` for each day in turn."""

    def __init__(self, settings: IdSimulatorSettings, catalogue: LocalityCatalogue | None = None) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self.catalogue = catalogue or load_catalogue()
        self.regions = build_regions(self.catalogue, self._rng)
        self.l2_deadline = settings.start_day + (L2_DEADLINE - SNAPSHOT_DAY)
        self.cccd_deadline = settings.start_day + (CCCD_DEADLINE - SNAPSHOT_DAY)
        days_left = (self.l2_deadline - settings.start_day).days
        self.communes: list[CommuneState] = []
        for region in self.regions:
            weights = [self._rng.uniform(0.5, 1.5) for _ in region.communes]
            eligible = apportion(region.eligible, weights)
            unissued = apportion(region.eligible - region.issued, eligible)
            l2_eligible = apportion(region.l2_eligible, eligible)
            l2_activated = apportion(region.l2_activated, l2_eligible)
            l2_target = apportion(region.l2_target, l2_eligible)
            pace = max(0, region.l2_target - region.l2_activated) / days_left * region.pace_factor
            for i, code in enumerate(region.communes):
                self.communes.append(CommuneState(
                    code, region.province_code, eligible[i], eligible[i] - unissued[i], l2_eligible[i],
                    l2_activated[i], l2_target[i], region.card_rate, pace * l2_eligible[i] / region.l2_eligible,
                ))  # fmt: skip
        self._next_day = settings.start_day

    @property
    def next_day(self) -> date:
        return self._next_day

    def day_items(self, day: date, reported_at: datetime | None = None) -> list[dict[str, Any]]:
        """One report per commune for `day` (the next day in turn). On the first day the stocks are
        the starting figures; each later day adds its flows to them."""
        if day != self._next_day:
            raise ValueError(f"days must come in turn: expected {self._next_day}, got {day}")
        first = day == self.settings.start_day
        moment = reported_at or datetime.combine(day, REPORT_TIME, VN)
        factor = SUNDAY_FACTOR if day.weekday() == 6 else 1.0
        tag = f"{self.settings.record_prefix}{self.settings.run_tag}-{day:%Y%m%d}"
        items = [self._report(c, day, moment, factor, first, f"{tag}-{c.code}") for c in self.communes]
        self._next_day = day + timedelta(days=1)
        return items

    def _report(
        self, c: CommuneState, day: date, moment: datetime, factor: float, first: bool, record_id: str
    ) -> dict[str, Any]:
        rng = self._rng
        newly_eligible = self._whole(c.eligible * NEWLY_ELIGIBLE_PER_DAY * factor)
        waiting = c.eligible + newly_eligible - c.issued
        issued = min(waiting, self._whole(waiting * c.card_rate * factor * rng.uniform(0.6, 1.4)))
        received = self._whole(issued * rng.uniform(0.9, 1.3))
        activated = self._whole(c.l2_pace * factor * rng.uniform(0.5, 1.5))
        approved = self._whole(activated * rng.uniform(1.1, 1.6))
        l2_received = self._whole(approved * rng.uniform(1.0, 1.25))
        if not first:  # the first day's stocks are the starting figures, its flows already in them
            c.eligible += newly_eligible
            c.issued += issued
            c.l2_activated += activated
        return {
            "record_id": record_id, "day": day.isoformat(), "reported_at": moment.isoformat(),
            "locality": {"commune_code": c.code},
            "cccd_received": received, "cccd_issued": issued,
            "l2_received": l2_received, "l2_approved": approved, "l2_activated": activated,
            "eligible_population": c.eligible, "cccd_issued_total": c.issued,
            "l2_activated_total": c.l2_activated, "l2_eligible_population": c.l2_eligible,
        }  # fmt: skip

    def _whole(self, expected: float) -> int:
        """A whole count with `expected` as its mean (stochastic rounding)."""
        base = math.floor(expected)
        return base + (1 if self._rng.random() < expected - base else 0)

    def default_targets(self) -> list[dict[str, Any]]:
        """Targets per province (CCCD coverage 100 %, level-2 accounts at Bình Dương's ratio), and
        Bình Dương's 1.2 M split over its former communes, in PUT /api/v1/id/targets' format."""
        start = self.settings.start_day.isoformat()
        out: list[dict[str, Any]] = []
        by_province: dict[str, int] = {}
        for c in self.communes:
            by_province[c.province_code] = by_province.get(c.province_code, 0) + c.l2_target
        for province in sorted(by_province):
            out.append(_target(province, "", "cccd_coverage", 1.0, start, self.cccd_deadline,
                               "100% người đủ điều kiện có CCCD gắn chip"))  # fmt: skip
            out.append(_target(province, "", "vneid_l2_activated", by_province[province], start, self.l2_deadline,
                               "Tài khoản định danh điện tử mức 2 được kích hoạt"))  # fmt: skip
        binh_duong = set(binh_duong_communes(self.catalogue))
        for c in self.communes:
            if c.code in binh_duong:
                out.append(_target(c.province_code, c.code, "vneid_l2_activated", c.l2_target, start,
                                   self.l2_deadline, "Phần chỉ tiêu 1,2 triệu của Bình Dương (cũ)"))  # fmt: skip
        return out


def _target(
    province: str, commune: str, metric: str, value: float, start: str, deadline: date, note: str
) -> dict[str, Any]:
    return {"province_code": province, "commune_code": commune, "metric": metric, "target_value": value,
            "start_date": start, "deadline": deadline.isoformat(), "note": note}  # fmt: skip


_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


async def post_id_issuance(
    client: httpx.AsyncClient, items: Sequence[dict[str, Any]], *, batch_size: int = 500, max_wait: float = 30.0
) -> dict[str, int]:
    """Post reports in batches through the push API (the client carries the source key); the summed
    counts of the answers. Rate limiting and server errors are retried with backoff; any other
    refusal raises (httpx.HTTPStatusError)."""
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for start in range(0, len(items), batch_size):
        backoff = 0.5
        while True:
            response = await client.post(INGEST_PATH, json=list(items[start : start + batch_size]))
            if response.status_code not in _RETRY_STATUSES:
                break
            await asyncio.sleep(min(backoff, max_wait))
            backoff *= 2
        response.raise_for_status()
        body = response.json()
        for key in totals:
            totals[key] += int(body[key])
    return totals


async def put_targets(client: httpx.AsyncClient, targets: Sequence[dict[str, Any]]) -> int:
    """Set targets through the API (the client carries a leader's or an admin's token)."""
    for target in targets:
        (await client.put(TARGETS_PATH, json=target)).raise_for_status()
    return len(targets)


async def backfill_id_issuance(
    client: httpx.AsyncClient, simulator: IdIssuanceSimulator, until: date, *, batch_size: int = 500
) -> dict[str, int]:
    """Post every day from the simulator's next day up to `until` (inclusive)."""
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    while simulator.next_day <= until:
        for key, n in (await post_id_issuance(client, simulator.day_items(simulator.next_day),
                                              batch_size=batch_size)).items():  # fmt: skip
            totals[key] += n
    return totals


def demo_settings(today: date, *, backfill_days: int = 14, seed: int = 1, run_tag: str = "") -> IdSimulatorSettings:
    """A timeline for a live demo: the brief's figures `backfill_days` ago, deadlines ahead."""
    return IdSimulatorSettings(seed=seed, start_day=today - timedelta(days=backfill_days), run_tag=run_tag)


async def run_id_issuance(
    client: httpx.AsyncClient, settings: IdSimulatorSettings, stop: asyncio.Event, *, batch_size: int = 500
) -> dict[str, int]:
    """Daily reports as a police source sends them: every day up to yesterday at once, then each
    day's report just after it ends (Vietnamese midnight), until `stop` is set."""
    simulator = IdIssuanceSimulator(settings)
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    while not stop.is_set():
        now = datetime.now(VN)
        for key, n in (await backfill_id_issuance(client, simulator, now.date() - timedelta(days=1),
                                                  batch_size=batch_size)).items():  # fmt: skip
            totals[key] += n
        midnight = datetime.combine(now.date() + timedelta(days=1), time(0, 1), VN)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=(midnight - now).total_seconds())
    return totals
