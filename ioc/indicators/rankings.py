"""Rankings: the best and worst places (provinces, communes, agencies) on one indicator for a week
or a month, each with its change against the previous period.

A period's value is the indicator over the whole bucket (history.bucket_values: flows summed over
the period so far, stocks at its last snapshot, payout and ID state as of its last day or today).
Places with no value are not ranked (they are counted in `unranked`). "Best" follows the
indicator's direction (`better`); ties are broken by code so the order is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.buckets import LOCAL_TZ, bucket_start, next_bucket, previous_bucket
from ioc.indicators.definitions import INDICATORS
from ioc.indicators.history import HistoryError, bucket_values
from ioc.indicators.places import Level, places

Period = Literal["week", "month"]


@dataclass(frozen=True)
class Ranked:
    code: str
    name: str
    value: float
    previous: float | None

    @property
    def change(self) -> float | None:
        return None if self.previous is None else self.value - self.previous

    def as_dict(self, rank: int) -> dict[str, object]:
        return {"rank": rank, "code": self.code, "name": self.name, "value": self.value,
                "previous": self.previous, "change": self.change}  # fmt: skip


@dataclass(frozen=True)
class Ranking:
    indicator: str
    level: Level
    period: Period
    start: datetime
    end: datetime
    previous_start: datetime
    ranked: list[Ranked]  # best first
    unranked: int

    def best(self, limit: int) -> list[dict[str, object]]:
        return [r.as_dict(i + 1) for i, r in enumerate(self.ranked[:limit])]

    def worst(self, limit: int) -> list[dict[str, object]]:
        n = len(self.ranked)
        return [self.ranked[i].as_dict(i + 1) for i in range(n - 1, max(n - 1 - limit, -1), -1)]


def order(entries: list[Ranked], better: Literal["higher", "lower"]) -> list[Ranked]:
    """Best first: by value in the indicator's direction, then by code."""
    sign = -1.0 if better == "higher" else 1.0
    return sorted(entries, key=lambda r: (sign * r.value, r.code))


async def rankings(
    conn: Conn, scope: Scope, indicator_code: str, level: Level, period: Period, at: date, now: datetime,
    province_code: str | None = None,
) -> Ranking:  # fmt: skip
    indicator = INDICATORS.get(indicator_code)
    if indicator is None:
        raise HistoryError(f"chỉ số không tồn tại / unknown indicator {indicator_code!r}")
    if level == "agency" and indicator.stream != "dossier":
        raise HistoryError("xếp hạng cơ quan chỉ cho chỉ số hồ sơ / agencies are ranked on dossier indicators only")
    current = bucket_start(datetime(at.year, at.month, at.day, tzinfo=LOCAL_TZ), period)
    previous = previous_bucket(current, period)
    listed = await places(conn, scope, level, province_code)
    values = await bucket_values(conn, scope, level, listed, [indicator_code], [previous, current], period, now)
    series = values.get(indicator_code, {})
    entries, unranked = [], 0
    for place in listed:
        by_bucket = series.get(place.code, {})
        value = by_bucket.get(current)
        if value is None:
            unranked += 1
            continue
        entries.append(Ranked(place.code, place.name, value, by_bucket.get(previous)))
    return Ranking(indicator_code, level, period, current, next_bucket(current, period), previous,
                   order(entries, indicator.better), unranked)  # fmt: skip
