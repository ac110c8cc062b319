"""Indicator history: any indicator for a place over a time range, in hour / day / week / month
buckets; and the same per bucket for many places at once (rankings, the 766 scorecard, bench).

Per bucket, components are gathered by the indicator's kind (definitions.Indicator.temporal) and
the value is `Indicator.value(components)` — the function live values call:

- flows: the sums of the bucket's hours or days (dossier_data.bucket_flows);
- stocks: the last snapshot taken in the bucket; a bucket without one is None (no data);
- state (payout, ID): the state as of the bucket's last local day, or today for the current
  bucket; an hour shows the state as of its day (these streams are reported daily).

Buckets are whole: the range [start, end) is widened to the bucket boundaries around it. A bucket
that starts in the future has no value. Hour buckets reach back HOURLY_RETENTION (93 days);
earlier hours have no value. Dossier history follows the dossier state with the history job's lag
(about a minute, ioc/indicators/history_job.py); payout and ID history is read from the streams'
own daily tables, which are current at commit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.buckets import MAX_BUCKETS, MAX_HOURS, Bucket, bucket_starts, local_day, next_bucket
from ioc.indicators.definitions import DOSSIER_FLOWS, DOSSIER_STOCKS, INDICATORS, combine
from ioc.indicators.dossier_data import Selection, bucket_flows, bucket_stocks, hourly_horizon
from ioc.indicators.places import Level, Place, places
from ioc.indicators.stream_state import AreaLevel, id_state, payout_state

Components = dict[str, float | None]
Series = list[tuple[datetime, float | None]]


class HistoryError(ValueError):
    """A request history cannot answer (unknown indicator, too many buckets)."""


class NotInScope(LookupError):
    """The place does not exist for this caller (unknown, or outside the scope)."""


def level_of(code: str) -> Level:
    return "province" if len(code) <= 2 else "commune"


def plan_buckets(start: datetime, end: datetime, bucket: Bucket) -> list[datetime]:
    if end <= start:
        raise HistoryError("khoảng thời gian rỗng / the range is empty (to must be after from)")
    starts = bucket_starts(start, end, bucket)
    limit = MAX_HOURS if bucket == "hour" else MAX_BUCKETS
    if len(starts) > limit:
        raise HistoryError(f"quá nhiều khoảng / too many buckets ({len(starts)} > {limit}): use a coarser bucket")
    return starts


async def bucket_components(
    conn: Conn, scope: Scope, level: Level, places_: list[Place], codes: list[str], starts: list[datetime],
    bucket: Bucket, now: datetime,
) -> dict[tuple[str, datetime], Components]:  # fmt: skip
    """Components per (place, bucket start) for the indicators `codes`."""
    if not places_ or not starts:
        return {}
    kinds = {(INDICATORS[c].stream, INDICATORS[c].temporal) for c in codes}
    provinces = sorted({p.province_code for p in places_})
    only = places_[0].code if len(places_) == 1 and level != "province" else None
    if len(places_) == 1 and level == "province":
        provinces = [places_[0].code]
    sel = Selection(scope, level, provinces, only)
    present = [b for b in starts if b <= now]
    present_set = set(present)
    start, end = starts[0], next_bucket(starts[-1], bucket)
    parts: dict[tuple[str, datetime], list[Components]] = defaultdict(list)
    wanted = {p.code for p in places_}

    def add(found: dict[tuple[str, datetime], Components]) -> None:
        for key, components in found.items():
            if key[0] in wanted and key[1] in present_set:
                parts[key].append(components)

    if ("dossier", "flow") in kinds:
        horizon = hourly_horizon(now)
        zero: Components = dict.fromkeys(DOSSIER_FLOWS, 0.0)
        for b in present:
            if bucket != "hour" or b >= horizon:
                for p in places_:
                    parts[(p.code, b)].append(zero)
        add(await bucket_flows(conn, sel, start, end, bucket, now))
    if ("dossier", "stock") in kinds:
        snapshotted, counts = await bucket_stocks(conn, sel, start, end, bucket)
        zero = dict.fromkeys(DOSSIER_STOCKS, 0.0)
        for b in snapshotted:
            if b in present_set:
                for p in places_:
                    parts[(p.code, b)].append(zero)
        add(counts)
    streams = {stream for stream, _ in kinds if stream != "dossier"}
    if streams and level != "agency":
        area: AreaLevel = "province" if level == "province" else "commune"
        today = local_day(now)
        as_of = {b: min(local_day(next_bucket(b, bucket) - timedelta(seconds=1)), today) for b in present}
        buckets_of = defaultdict(list)
        for b, day in as_of.items():
            buckets_of[day].append(b)
        days = sorted(buckets_of)
        for stream in streams:
            reader = payout_state if stream == "payout" else id_state
            state = await reader(conn, scope, area, days, provinces, only)
            for (code, day), components in state.items():
                if code in wanted:
                    for b in buckets_of.get(day, []):
                        parts[(code, b)].append(components)
    return {key: combine(p) for key, p in parts.items()}


async def bucket_values(
    conn: Conn, scope: Scope, level: Level, places_: list[Place], codes: list[str], starts: list[datetime],
    bucket: Bucket, now: datetime,
) -> dict[str, dict[str, dict[datetime, float | None]]]:  # fmt: skip
    """{indicator: {place: {bucket start: value}}}; every place and bucket present, None where no data."""
    components = await bucket_components(conn, scope, level, places_, codes, starts, bucket, now)
    return {
        code: {p.code: {b: INDICATORS[code].value(components.get((p.code, b), {})) for b in starts} for p in places_}
        for code in codes
    }


async def history(
    conn: Conn,
    scope: Scope,
    indicator_code: str,
    locality_code: str,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    *,
    now: datetime | None = None,
) -> Series:
    """[(bucket start, value | None)] for one province or commune over [start, end).

    Raises NotInScope for a place the scope does not touch, HistoryError for a bad request."""
    if indicator_code not in INDICATORS:
        raise HistoryError(f"chỉ số không tồn tại / unknown indicator {indicator_code!r}")
    now = now or datetime.now(UTC)
    starts = plan_buckets(start, end, bucket)
    level = level_of(locality_code)
    found = await places(conn, scope, level, only=locality_code)
    if not found:
        raise NotInScope(locality_code)
    values = await bucket_values(conn, scope, level, found, [indicator_code], starts, bucket, now)
    series = values[indicator_code][locality_code]
    return [(b, series[b]) for b in starts]
