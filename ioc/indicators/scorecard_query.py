"""The Decision 766 scorecard for a month, per province, commune or agency in the caller's scope.

Each place's indicator values for the month (history.bucket_values, one month bucket) are scored
by scorecard_766.score; places are listed best first by the share of the covered maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.buckets import LOCAL_TZ, next_bucket
from ioc.indicators.history import bucket_values
from ioc.indicators.places import Level, Place, places
from ioc.indicators.scorecard_766 import Scorecard, Scorecard766Config, score


@dataclass(frozen=True)
class PlaceScorecard:
    place: Place
    values: dict[str, float | None]
    card: Scorecard

    def as_dict(self) -> dict[str, object]:
        return {"code": self.place.code, "name": self.place.name, "values": self.values, **self.card.as_dict()}


async def monthly_scorecards(
    conn: Conn, scope: Scope, level: Level, month: date, now: datetime, province_code: str | None = None,
    config: Scorecard766Config | None = None,
) -> tuple[datetime, datetime, list[PlaceScorecard]]:  # fmt: skip
    config = config or Scorecard766Config()
    start = datetime(month.year, month.month, 1, tzinfo=LOCAL_TZ)
    codes = sorted(config.indicators)
    listed = await places(conn, scope, level, province_code)
    values = await bucket_values(conn, scope, level, listed, codes, [start], "month", now)
    cards = []
    for place in listed:
        place_values = {code: values[code][place.code][start] for code in codes}
        cards.append(PlaceScorecard(place, place_values, score(place_values, config)))
    cards.sort(key=lambda c: (-(c.card.percent if c.card.percent is not None else -1.0), c.place.code))
    return start, next_bucket(start, "month"), cards
