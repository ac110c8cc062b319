"""Report months: local calendar months (Asia/Ho_Chi_Minh), named by their first day. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Months a report may name: the product keeps three years of events; older months are empty.
EARLIEST_YEAR = 2000


class MonthError(ValueError):
    pass


def parse_month(text: str) -> date:
    """'2026-10' → date(2026, 10, 1)."""
    match = _MONTH.match(text)
    if not match or int(match.group(1)) < EARLIEST_YEAR:
        raise MonthError(f"tháng phải có dạng YYYY-MM từ năm {EARLIEST_YEAR} / month must be YYYY-MM")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def month_label_vi(month: date) -> str:
    """'tháng 10/2026', as Vietnamese reports name a month."""
    return f"tháng {month.month:02d}/{month.year}"


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_of(moment: datetime) -> date:
    local = moment.astimezone(LOCAL_TZ).date()
    return local.replace(day=1)


@dataclass(frozen=True)
class MonthWindow:
    """A month as instants: [start, end) in local time, and `as_of` = the end, or now if sooner."""

    month: date
    start: datetime
    end: datetime
    as_of: datetime

    @property
    def first_day(self) -> date:
        return self.month

    @property
    def last_day(self) -> date:
        """The last local day the month has reached by `as_of` (the rollup's `day` bound)."""
        if self.complete:
            return _day_before(next_month(self.month))
        return self.as_of.astimezone(LOCAL_TZ).date()

    @property
    def complete(self) -> bool:
        return self.as_of >= self.end


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)


def window(month: date, now: datetime) -> MonthWindow:
    start = datetime.combine(month, time(), LOCAL_TZ)
    end = datetime.combine(next_month(month), time(), LOCAL_TZ)
    return MonthWindow(month, start, end, min(now, end))


def is_future(month: date, now: datetime) -> bool:
    return month > month_of(now)
