"""Current indicator values per province, commune or agency, for the caller's scope.

The components come from the exact, immediately updated stores — dossier flows over the last
`window_days` local days from `dossier_daily`, dossier stocks at `now` from the partial indexes
on open and late dossiers (as ioc/status.py), payout and ID-issuance state as of today — and each
indicator's value is then `definitions.INDICATORS[code].value(components)`, the same function
history and rankings call.

A place the scope touches but with nothing counted gets None for ratios (nothing to divide) and 0
for dossier stocks; indicators no source feeds yet are None everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.buckets import local_day
from ioc.indicators.definitions import DOSSIER_FLOWS, DOSSIER_STOCKS, INDICATORS, STREAM_OF, combine
from ioc.indicators.dossier_data import Selection, live_flows, live_stocks
from ioc.indicators.places import Level, Place, places
from ioc.indicators.stream_state import AreaLevel, id_state, payout_state

Components = dict[str, float | None]
LIVE_WINDOW_DAYS = 30


def needed_streams(codes: Iterable[str]) -> set[str]:
    return {STREAM_OF[c] for c in codes}


async def current_components(
    conn: Conn, scope: Scope, level: Level, now: datetime, places_: list[Place], codes: list[str],
    window_days: int = LIVE_WINDOW_DAYS,
) -> dict[str, Components]:  # fmt: skip
    """Components per place code, for the streams `codes` need."""
    streams = needed_streams(codes)
    provinces = sorted({p.province_code for p in places_})
    only = places_[0].code if len(places_) == 1 and level != "province" else None
    sel = Selection(scope, level, provinces, only)
    today = local_day(now)
    parts: dict[str, list[Components]] = {p.code: [] for p in places_}
    if "dossier" in streams:
        flows = await live_flows(conn, sel, today - timedelta(days=window_days - 1), today)
        stocks = await live_stocks(conn, sel, now)
        zero: Components = dict.fromkeys((*DOSSIER_FLOWS, *DOSSIER_STOCKS), 0.0)
        for code, bucket in parts.items():
            bucket.extend([zero, flows.get(code, {}), stocks.get(code, {})])
    if level != "agency":
        area_level: AreaLevel = "province" if level == "province" else "commune"
        if "payout" in streams:
            payout = await payout_state(conn, scope, area_level, [today], provinces, only)
            for (code, _), components in payout.items():
                if code in parts:
                    parts[code].append(components)
        if "id_issuance" in streams:
            ids = await id_state(conn, scope, area_level, [today], provinces, only)
            for (code, _), components in ids.items():
                if code in parts:
                    parts[code].append(components)
    return {code: combine(p) for code, p in parts.items()}


async def current_values(
    conn: Conn,
    scope: Scope,
    level: Level,
    now: datetime,
    codes: list[str] | None = None,
    province_code: str | None = None,
    *,
    window_days: int = LIVE_WINDOW_DAYS,
) -> dict[str, dict[str, float | None]]:
    """{place code: {indicator code: value}} for the places of `level` the scope touches (in
    `province_code`, when given). Agencies carry dossier indicators only."""
    _, values = await current_values_with_places(conn, scope, level, now, codes, province_code, window_days)
    return values


async def current_values_with_places(
    conn: Conn, scope: Scope, level: Level, now: datetime, codes: list[str] | None = None,
    province_code: str | None = None, window_days: int = LIVE_WINDOW_DAYS,
) -> tuple[list[Place], dict[str, dict[str, float | None]]]:  # fmt: skip
    """As `current_values`, with the places themselves (their names, for the API)."""
    wanted = list(codes) if codes is not None else list(INDICATORS)
    if level == "agency":
        wanted = [c for c in wanted if STREAM_OF[c] == "dossier"]
    listed = await places(conn, scope, level, province_code)
    if not listed:
        return [], {}
    components = await current_components(conn, scope, level, now, listed, wanted, window_days)
    return listed, {p.code: {c: INDICATORS[c].value(components[p.code]) for c in wanted} for p in listed}
