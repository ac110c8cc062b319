"""When and where new dossiers arrive: national volume, office hours, online at night (pure: no I/O, no clock).

Volume. The brief's one national figure for dossier flow is "more than 5.9 M dossiers status-synced
to the national public-service portal" in the month 20/3–20/4/2023 (brief §3.1 row 35). Taken as
the national intake, that is 5.9 M × 12 ≈ 70.8 M dossiers a year, about 194,000 a calendar day or
2.24 a second on average. Cross-checks from the brief: Hà Nội's one-stop system took 3.46 M
dossiers in 19 months (≈ 2.2 M a year, its own system only) and "more than 1 M" were resolved in
2022; its population share (7.7 %) of 70.8 M is 5.5 M, the same order once the vertical agencies
(police, tax, social insurance) synced to the portal are counted.

Shape. Two streams, both piecewise constant by local hour in Asia/Ho_Chi_Minh:
- desk (trực tiếp, and the few postal dossiers): only during office hours of working days as the
  project's working calendar (alerts/calendar.py) defines them — no Saturday or Sunday, no public
  holiday, no Tết — busiest mid-morning, a lunch dip;
- online (trực tuyến): any hour, a diurnal curve (high in office hours, some in the evening,
  almost none at 02:00–05:00), on days off at about a third of a working day's level.
A procedure's `online_share` (catalogue.py) splits its weight between the two streams; over the
catalogue that averages 45 % online, between Hà Nội's 20 % of 2018–2020 and the 50 % target for
the end of 2023.

What "received" means for an online dossier: the instant the citizen submits it on the portal
(the portal registers it and issues its code at once, which is what the national portal syncs).
The desk only checks it when it opens; the statutory clock therefore starts at the next working
instant, exactly as the server's calendar counts a receipt outside office hours. So night and
weekend receipts exist, are all online, and no deadline is shortened by them.

Provinces are weighted by population (catalogue.PROVINCE_POPULATION, approximate, from the
merger proposals); a province missing there falls back to its commune count times the mean
population per commune of the listed ones. Communes within a province are equally likely: the
locality data carries no commune population.
"""

from __future__ import annotations

import math
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import accumulate

from alerts.calendar import WorkingCalendar
from ingest.simulator.catalogue import PROCEDURES, PROVINCE_POPULATION, Procedure, Province

NATIONAL_DOSSIERS_PER_MONTH = 5_900_000  # brief §3.1 row 35 (national portal, 4/2023)
NATIONAL_DOSSIERS_PER_YEAR = NATIONAL_DOSSIERS_PER_MONTH * 12
NATIONAL_MEAN_PER_SECOND = NATIONAL_DOSSIERS_PER_YEAR / (365.25 * 86_400)  # ≈ 2.24
WORKING_DAYS_PER_YEAR = 250  # 261 weekdays less the ~11 weekday holidays (Tết, 30/4, 1/5, 2/9, …)
DAYS_OFF_PER_YEAR = 365 - WORKING_DAYS_PER_YEAR

# Relative desk intake by local hour (index = hour). Zero outside 08:00–17:00, the calendar's
# office hours; counters are busiest mid-morning and most close for lunch from 11:30.
DESK_BY_HOUR: tuple[float, ...] = (0,) * 8 + (1.1, 1.4, 1.3, 0.8, 0.25, 0.7, 1.2, 1.1, 0.7) + (0,) * 7
# Relative online submissions by local hour: office hours, then evenings at home.
ONLINE_BY_HOUR: tuple[float, ...] = (
    0.10, 0.05, 0.03, 0.03, 0.04, 0.08, 0.25, 0.55,
    1.00, 1.30, 1.30, 1.10, 0.60, 0.80, 1.20, 1.20,
    1.10, 0.90, 0.70, 0.75, 0.85, 0.70, 0.45, 0.25,
)  # fmt: skip
ONLINE_DAY_OFF_FACTOR = 0.35  # online intake on a weekend or holiday, relative to a working day


class Stream(StrEnum):
    DESK = "desk"  # trực tiếp (and bưu chính): office hours of working days only
    ONLINE = "online"  # trực tuyến: any hour


@dataclass(frozen=True)
class Segment:
    """A stretch of simulated time with constant intake; `mass` is its expected dossier count."""

    start: datetime
    end: datetime
    mass: float


@dataclass(frozen=True)
class ProvinceWeights:
    provinces: tuple[Province, ...]
    weights: tuple[float, ...]
    source: str  # "population" or "population + commune-count fallback"

    def share(self, code: str) -> float:
        total = sum(self.weights)
        return sum(w for p, w in zip(self.provinces, self.weights, strict=True) if p.code == code) / total


def province_weights(provinces: tuple[Province, ...]) -> ProvinceWeights:
    """Population where the catalogue has it; else communes × mean population per commune."""
    known = [p for p in provinces if p.code in PROVINCE_POPULATION]
    known_communes = sum(len(p.communes) for p in known)
    per_commune = sum(PROVINCE_POPULATION[p.code] for p in known) / known_communes if known_communes else 1.0
    weights = tuple(
        float(PROVINCE_POPULATION[p.code]) if p.code in PROVINCE_POPULATION else len(p.communes) * per_commune
        for p in provinces
    )
    source = "population" if len(known) == len(provinces) else "population + commune-count fallback"
    return ProvinceWeights(provinces, weights, source)


def online_share_of_catalogue(procedures: tuple[Procedure, ...] = PROCEDURES) -> float:
    total = sum(p.weight for p in procedures)
    return sum(p.weight * p.online_share for p in procedures) / total


class IntakeModel:
    """Expected new dossiers per local hour, for `volume_scale` × the national volume."""

    def __init__(
        self,
        calendar: WorkingCalendar,
        volume_scale: float = 1.0,
        procedures: tuple[Procedure, ...] = PROCEDURES,
    ) -> None:
        if volume_scale < 0:
            raise ValueError("volume_scale must be >= 0")
        self._calendar = calendar
        self._tz = calendar.tz
        self.procedures = procedures
        online = online_share_of_catalogue(procedures)
        desk_per_working_day = volume_scale * NATIONAL_DOSSIERS_PER_YEAR * (1 - online) / WORKING_DAYS_PER_YEAR
        online_per_working_day = (
            volume_scale
            * NATIONAL_DOSSIERS_PER_YEAR
            * online
            / (WORKING_DAYS_PER_YEAR + ONLINE_DAY_OFF_FACTOR * DAYS_OFF_PER_YEAR)
        )
        self._desk_per_hour = tuple(desk_per_working_day * w / sum(DESK_BY_HOUR) for w in DESK_BY_HOUR)
        self._online_per_hour = tuple(online_per_working_day * w / sum(ONLINE_BY_HOUR) for w in ONLINE_BY_HOUR)
        # Procedure choice within each stream: a dossier's channel follows its procedure's share.
        self._desk_cum = list(accumulate(p.weight * (1 - p.online_share) for p in procedures))
        self._online_cum = list(accumulate(p.weight * p.online_share for p in procedures))

    def hourly_rate(self, stream: Stream, day: date, hour: int) -> float:
        """Expected dossiers in one whole local hour of `day`."""
        working = self._calendar.is_working_day(day)
        if stream == Stream.DESK:
            return self._desk_per_hour[hour] if working else 0.0
        return self._online_per_hour[hour] * (1.0 if working else ONLINE_DAY_OFF_FACTOR)

    def segments(self, stream: Stream, start: datetime, end: datetime) -> Iterator[Segment]:
        """[start, end) cut at local hour boundaries, each with its expected count."""
        cursor = start.astimezone(self._tz)
        stop = end.astimezone(self._tz)
        while cursor < stop:
            boundary = cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            seg_end = min(boundary, stop)
            rate = self.hourly_rate(stream, cursor.date(), cursor.hour)
            yield Segment(cursor, seg_end, rate * (seg_end - cursor).total_seconds() / 3600)
            cursor = seg_end

    def expected(self, start: datetime, end: datetime) -> float:
        """Expected new dossiers, both streams, in [start, end)."""
        return sum(s.mass for stream in (Stream.DESK, Stream.ONLINE) for s in self.segments(stream, start, end))

    def procedure(self, stream: Stream, draw: float) -> Procedure:
        """The procedure for a uniform `draw` in [0, 1), weighted for the stream."""
        cum = self._desk_cum if stream == Stream.DESK else self._online_cum
        return self.procedures[min(bisect(cum, draw * cum[-1]), len(cum) - 1)]


def arrival_times(segments: list[Segment], draws: list[float]) -> list[datetime]:
    """Arrival instants for uniform `draws`, by inverting the cumulative intake over `segments`.

    One draw per arrival; the instants come out in the order of the draws. Linear in segments plus
    a bisect per draw.
    """
    masses = [s.mass for s in segments]
    cum = list(accumulate(masses))
    total = cum[-1] if cum else 0.0
    out: list[datetime] = []
    if total <= 0:
        return out
    for draw in draws:
        target = draw * total
        i = min(bisect(cum, target), len(segments) - 1)
        seg = segments[i]
        before = cum[i] - masses[i]
        fraction = 0.0 if masses[i] <= 0 else min(max((target - before) / masses[i], 0.0), math.nextafter(1.0, 0.0))
        out.append(seg.start + (seg.end - seg.start) * fraction)
    return out
