"""Time buckets for history and rankings: hours, local days, ISO weeks (Monday) and months.

Days, weeks and months are local (Asia/Ho_Chi_Minh, UTC+7 all year); an hour is the same in UTC
and locally. A bucket is named by its start, an aware datetime; it covers [start, next start).
Pure: the SQL in history.py truncates the same way (`date_trunc(unit, t AT TIME ZONE zone)`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Bucket = Literal["hour", "day", "week", "month"]
BUCKETS: tuple[Bucket, ...] = ("hour", "day", "week", "month")
# At most this many buckets in one answer (three years of days; a quarter of hours).
MAX_BUCKETS = 3 * 366 + 1
MAX_HOURS = 93 * 24


def bucket_start(t: datetime, bucket: Bucket) -> datetime:
    if bucket == "hour":
        return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    local = t.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        local -= timedelta(days=local.weekday())
    elif bucket == "month":
        local = local.replace(day=1)
    return local


def next_bucket(start: datetime, bucket: Bucket) -> datetime:
    if bucket == "hour":
        return start + timedelta(hours=1)
    local = start.astimezone(LOCAL_TZ)
    if bucket == "day":
        return _local_midnight(local.date() + timedelta(days=1))
    if bucket == "week":
        return _local_midnight(local.date() + timedelta(days=7))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return _local_midnight(date(year, month, 1))


def bucket_starts(start: datetime, end: datetime, bucket: Bucket) -> list[datetime]:
    """The buckets that overlap [start, end), in order."""
    out: list[datetime] = []
    current = bucket_start(start, bucket)
    while current < end:
        out.append(current)
        current = next_bucket(current, bucket)
    return out


def previous_bucket(start: datetime, bucket: Bucket) -> datetime:
    """The bucket just before the one starting at `start`."""
    return bucket_start(start - timedelta(seconds=1), bucket)


def local_day(t: datetime) -> date:
    return t.astimezone(LOCAL_TZ).date()


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
