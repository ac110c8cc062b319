"""Where the briefing's numbers come from: the indicators module, behind one small seam.

The briefing does no indicator arithmetic of its own: every value is the indicators module's
monthly history for the province (ioc/indicators/history.py over the definitions of
ioc/indicators/definitions.py), so the briefing, the dashboard and the rankings never disagree.
`IndicatorSource` is what the briefing needs of it; `IndicatorsModule` is the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.definitions import INDICATORS
from ioc.indicators.history import history
from ioc.reports.months import LOCAL_TZ


@dataclass(frozen=True)
class IndicatorInfo:
    code: str
    name_vi: str
    name_en: str
    stream: str  # dossier | payout | id_issuance
    unit: str  # ratio | count | vnd | per_day
    better: str  # higher | lower
    ingested: bool = True  # False: no source sends its data yet, so it has no value


class IndicatorSource(Protocol):
    def definitions(self) -> Sequence[IndicatorInfo]: ...

    async def monthly(
        self, conn: Conn, scope: Scope, code: str, locality_code: str, start: datetime, end: datetime, now: datetime
    ) -> dict[date, float | None]:
        """The indicator per local month over [start, end) as known at `now`, keyed by each month's first day."""
        ...


class IndicatorsModule:
    """The real source: ioc.indicators' definitions and monthly history."""

    def definitions(self) -> Sequence[IndicatorInfo]:
        return [
            IndicatorInfo(d.code, d.name_vi, d.name_en, d.stream, d.unit, d.better, d.ingested)
            for d in INDICATORS.values()
        ]

    async def monthly(
        self, conn: Conn, scope: Scope, code: str, locality_code: str, start: datetime, end: datetime, now: datetime
    ) -> dict[date, float | None]:
        points = await history(conn, scope, code, locality_code, start, end, "month", now=now)
        return {_month_key(bucket): (None if value is None else float(value)) for bucket, value in points}


def _month_key(bucket: date | datetime) -> date:
    day = bucket.astimezone(LOCAL_TZ).date() if isinstance(bucket, datetime) else bucket
    return day.replace(day=1)
