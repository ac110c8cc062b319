"""Reference data the writer consults on every batch, cached in memory and refreshed from the
database: the procedure catalogue, the working-day calendar overrides and the deadline policies."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from alerts.calendar import BUILTIN_POLICY, CalendarOverrides, DeadlinePolicy, OfficeHours, WorkingCalendar
from ingest.lifecycle import Procedure
from ioc.db.pool import Conn

SELECT_PROCEDURES = "SELECT code, sector, statutory_days FROM procedure WHERE code = ANY(%s)"
SELECT_OVERRIDES = "SELECT day, province_code, kind FROM calendar_override"
# Every version that has come into force; the highest per province wins (policies_in_force).
SELECT_POLICIES = """
SELECT province_code, version, effective_from, office_open, office_close, cut_off, due_instant,
       break_start, break_end
FROM deadline_policy WHERE effective_from <= %s ORDER BY province_code, version
"""
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def policy_from_row(row: Sequence[Any]) -> DeadlinePolicy:
    """One deadline_policy row (SELECT_POLICIES' columns) as the pure value the calendar takes."""
    province, version, effective_from, office_open, office_close, cut_off, due_instant, break_start, break_end = row
    assert isinstance(effective_from, date) and isinstance(office_open, clock_time)
    assert isinstance(office_close, clock_time) and (cut_off is None or isinstance(cut_off, clock_time))
    assert (break_start is None or isinstance(break_start, clock_time)) and (
        break_end is None or isinstance(break_end, clock_time)
    )
    province = str(province)
    hours = OfficeHours(office_open, office_close, break_start, break_end)
    return DeadlinePolicy(
        id=f"db:deadline-policy:{province or 'national'}", version=int(version), province_code=province,
        source="database", effective_from=effective_from, hours=hours,
        cut_off=cut_off, due_instant="end_of_day" if due_instant == "end_of_day" else "clock",
    )  # fmt: skip


def policies_in_force(policies: Sequence[DeadlinePolicy], today: date) -> dict[str, DeadlinePolicy]:
    """Per province ('' = national), the highest version whose effective date has come."""
    chosen: dict[str, DeadlinePolicy] = {}
    for policy in policies:
        if policy.effective_from is not None and policy.effective_from > today:
            continue
        current = chosen.get(policy.province_code)
        if current is None or policy.version > current.version:
            chosen[policy.province_code] = policy
    return chosen


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
    """One working calendar per province: national holidays plus that province's overrides,
    counting periods by the deadline policy in force there (the province's own, else the
    national default, else the built-in one).

    Overrides and policies change rarely (an operator adds a day off); re-reading them every
    `ttl` seconds keeps several processes in agreement without a cache-invalidation protocol.
    """

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self._ttl = ttl_seconds
        self._loaded_at = float("-inf")
        self._by_province: dict[str, tuple[frozenset[date], frozenset[date]]] = {}
        self._national: tuple[frozenset[date], frozenset[date]] = (frozenset(), frozenset())
        self._calendars: dict[str, WorkingCalendar] = {}
        self._policies: dict[str, DeadlinePolicy] = {}

    def policy_for(self, province_code: str) -> DeadlinePolicy:
        policies = self._policies
        return policies.get(province_code) or policies.get("") or BUILTIN_POLICY

    def calendar_for(self, province_code: str) -> WorkingCalendar:
        calendar = self._calendars.get(province_code)
        if calendar is None:
            off, work = self._national
            local_off, local_work = self._by_province.get(province_code, (frozenset(), frozenset()))
            overrides = CalendarOverrides(days_off=off | local_off, working_days=work | local_work)
            calendar = WorkingCalendar(overrides, policy=self.policy_for(province_code))
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
        today = datetime.now(LOCAL_TZ).date()
        cur = await conn.execute(SELECT_POLICIES, [today])
        policies = policies_in_force([policy_from_row(row) for row in await cur.fetchall()], today)
        if national != self._national or by_province != self._by_province or policies != self._policies:
            self._national, self._by_province, self._policies = national, by_province, policies
            self._calendars = {}
        self._loaded_at = time.monotonic()
