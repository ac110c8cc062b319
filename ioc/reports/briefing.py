"""The monthly briefing per province (bản tin tháng): each indicator this month and its change.

Values are the indicators module's monthly history for the province (see indicator_source.py);
this module only pairs each month with the one before and says whether the change is for the
better, by the indicator's own `better` direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.reports.indicator_source import IndicatorInfo, IndicatorSource
from ioc.reports.months import MonthWindow, previous_month, window

Trend = Literal["better", "worse", "same"]
STREAM_TITLES_VI = {
    "dossier": "Giải quyết thủ tục hành chính",
    "payout": "Chi trả an sinh xã hội",
    "id_issuance": "Cấp căn cước công dân và định danh điện tử",
}
STREAM_TITLES_EN = {
    "dossier": "Administrative procedures",
    "payout": "Social-security payouts",
    "id_issuance": "CCCD cards and VNeID electronic identification",
}


@dataclass(frozen=True)
class BriefingRow:
    indicator: IndicatorInfo
    value: float | None  # this month (to date, for the month in progress)
    previous: float | None  # the month before
    change: float | None  # value − previous (a share's change is in shares: ×100 for points)
    trend: Trend | None  # None when either month has no value


@dataclass(frozen=True)
class Briefing:
    province_code: str
    province_name: str
    month: date
    previous_month: date
    as_of: datetime
    complete: bool
    generated_at: datetime
    whole_province: bool
    rows: tuple[BriefingRow, ...]  # in the definitions' order, grouped by stream


def compare(indicator: IndicatorInfo, value: float | None, previous: float | None) -> BriefingRow:
    """Pure: one indicator's row."""
    if value is None or previous is None:
        return BriefingRow(indicator, value, previous, None, None)
    change = value - previous
    improved = (change > 0) == (indicator.better == "higher")
    trend: Trend = "same" if abs(change) < 1e-12 else "better" if improved else "worse"
    return BriefingRow(indicator, value, previous, change, trend)


def assemble(
    indicators: Sequence[IndicatorInfo], values: Mapping[str, Mapping[date, float | None]], month: date
) -> tuple[BriefingRow, ...]:
    """Pure: rows for every indicator, streams in a fixed order and definitions' order within."""
    before = previous_month(month)
    order = {stream: i for i, stream in enumerate(STREAM_TITLES_VI)}
    ranked = sorted(enumerate(indicators), key=lambda pair: (order.get(pair[1].stream, len(order)), pair[0]))
    rows = []
    for _, indicator in ranked:
        series = values.get(indicator.code, {})
        rows.append(compare(indicator, series.get(month), series.get(before)))
    return tuple(rows)


async def briefing(
    conn: Conn,
    scope: Scope,
    source: IndicatorSource,
    *,
    province_code: str,
    province_name: str,
    month_window: MonthWindow,
    generated_at: datetime,
) -> Briefing:
    month = month_window.month
    before = window(previous_month(month), month_window.as_of)
    indicators = source.definitions()
    values = {
        i.code: await source.monthly(conn, scope, i.code, province_code, before.start, month_window.as_of, generated_at)
        for i in indicators
    }
    return Briefing(
        province_code=province_code, province_name=province_name, month=month, previous_month=before.month,
        as_of=month_window.as_of, complete=month_window.complete, generated_at=generated_at,
        whole_province=scope.sees_whole_province(province_code), rows=assemble(indicators, values, month),
    )  # fmt: skip
