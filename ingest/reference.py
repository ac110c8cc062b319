"""Reference data the writer consults on every batch, cached in memory and refreshed from the
database: the procedure catalogue and the working-day calendar overrides."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date

from alerts.calendar import CalendarOverrides, WorkingCalendar
from ingest.lifecycle import Procedure
from ioc.db.pool import Conn

SELECT_PROCEDURES = "SELECT code, sector, statutory_days FROM procedure WHERE code = ANY(%s)"
SELECT_OVERRIDES = "SELECT day, province_code, kind FROM calendar_override"


class ProcedureCache:
    """Procedures by code. Codes a batch mentions are fetched once before it is validated."""

    def __init__(self) -> None:
        self._known: dict[str, Procedure] = {}

    def get(self, code: str) -> Procedure | None:
        return self._known.get(code)

    def remember(self, procedure: Procedure) -> None:
        self._known[procedure.code] = procedure

    async def prefetch(self, conn: Conn, codes: set[str]) -> None:
        missing = [c for c in codes if c not in self._known]
        if not missing:
            return
        cur = await conn.execute(SELECT_PROCEDURES, [missing])
        for code, sector, days in await cur.fetchall():
            self._known[str(code)] = Procedure(str(code), str(sector), int(days))  # type: ignore[call-overload]


class CalendarStore:
    """One working calendar per province: national holidays plus that province's overrides.

    Overrides change rarely (an operator adds a day off); re-reading them every `ttl` seconds
    keeps several processes in agreement without a cache-invalidation protocol.
    """

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self._ttl = ttl_seconds
        self._loaded_at = float("-inf")
        self._by_province: dict[str, tuple[frozenset[date], frozenset[date]]] = {}
        self._national: tuple[frozenset[date], frozenset[date]] = (frozenset(), frozenset())
        self._calendars: dict[str, WorkingCalendar] = {}

    def calendar_for(self, province_code: str) -> WorkingCalendar:
        calendar = self._calendars.get(province_code)
        if calendar is None:
            off, work = self._national
            local_off, local_work = self._by_province.get(province_code, (frozenset(), frozenset()))
            overrides = CalendarOverrides(days_off=off | local_off, working_days=work | local_work)
            calendar = WorkingCalendar(overrides)
            self._calendars[province_code] = calendar
        return calendar

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def refresh_if_stale(self, conn: Conn) -> None:
        if time.monotonic() - self._loaded_at < self._ttl:
            return
        cur = await conn.execute(SELECT_OVERRIDES)
        off: dict[str, set[date]] = defaultdict(set)
        work: dict[str, set[date]] = defaultdict(set)
        for day, province, kind in await cur.fetchall():
            assert isinstance(day, date)
            (off if kind == "day_off" else work)[str(province)].add(day)
        national = (frozenset(off.pop("", set())), frozenset(work.pop("", set())))
        by_province = {p: (frozenset(off.get(p, set())), frozenset(work.get(p, set()))) for p in set(off) | set(work)}
        if national != self._national or by_province != self._by_province:
            self._national, self._by_province = national, by_province
            self._calendars = {}
        self._loaded_at = time.monotonic()
