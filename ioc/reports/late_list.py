"""The monthly list of late agencies and officials (danh sách cơ quan, cá nhân trễ hạn).

Government Office rules: every late dossier needs an explanation and an apology letter, and each
month the province publishes the agencies and officials that were late. For one province and one
local month, this module gathers:

  per agency   dossiers resolved in the month, of them on time (early or on the day) and late,
               the on-time rate, dossiers still overdue at the month's end, and of the late and
               overdue ones those with no apology letter by then;
  per official the same late / overdue / without-apology counts, for the official the dossier
               state names (the latest handler named while it was open, ingest/lifecycle.py).

"At the month's end" means `as_of`: the end of the month, or now for the month in progress, so a
past month's list reads the same whenever it is generated (apart from events that arrive late).
A dossier overdue at the month's end and resolved later was, at the month's end, open past its
deadline: it has `late_since` (its missed deadline) before `as_of` and closed after it, which the
partial index on late dossiers finds without scanning the province.

Resolved / on-time / late per agency come from the daily rollup, the same numbers the on-time
rate indicator reads; the lists of overdue dossiers and apologies come from the dossier state.
Every count is over the caller's scope only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn
from ioc.indicators.definitions import value_of
from ioc.reports.months import MonthWindow

NO_AGENCY_VI = "(chưa rõ cơ quan)"

_ROLLUP_SCOPE = scope_filter_sql()
_DOSSIER_SCOPE = scope_filter_sql(province="d.province_code", commune="d.commune_code", agency="d.agency_code",
                                  sector="d.sector")  # fmt: skip
SELECT_AGENCY_FLOWS = f"""
SELECT agency_code, sum(resolved)::int, sum(resolved_early)::int, sum(resolved_on_time)::int, sum(resolved_late)::int
FROM dossier_daily
WHERE province_code = %(province)s AND day >= %(first_day)s AND day <= %(last_day)s AND {_ROLLUP_SCOPE}
GROUP BY agency_code
"""
# Late in the month (resolved after the deadline) and overdue at its end (still open past the
# deadline then, whether closed since or not), grouped by agency and official. Three branches so
# that each reads a partial index: late dossiers by closing time, open dossiers by deadline.
SELECT_LATE_BY_OFFICIAL = f"""
WITH flagged AS (
    SELECT coalesce(d.agency_code, '') AS agency_code, d.handler_code, d.handler_name, true AS resolved_late,
           (d.apology_at IS NULL OR d.apology_at > %(as_of)s) AS no_apology
    FROM dossier d
    WHERE d.late_since IS NOT NULL AND d.province_code = %(province)s
      AND d.closed_at >= %(start)s AND d.closed_at < %(as_of)s AND d.outcome = 'late' AND {_DOSSIER_SCOPE}
    UNION ALL
    SELECT coalesce(d.agency_code, ''), d.handler_code, d.handler_name, false,
           (d.apology_at IS NULL OR d.apology_at > %(as_of)s)
    FROM dossier d
    WHERE d.late_since IS NOT NULL AND d.province_code = %(province)s
      AND d.closed_at >= %(as_of)s AND d.late_since < %(as_of)s AND d.received_at < %(as_of)s AND {_DOSSIER_SCOPE}
    UNION ALL
    SELECT coalesce(d.agency_code, ''), d.handler_code, d.handler_name, false,
           (d.apology_at IS NULL OR d.apology_at > %(as_of)s)
    FROM dossier d
    WHERE d.closed_at IS NULL AND d.province_code = %(province)s
      AND d.due_at < %(as_of)s AND d.received_at < %(as_of)s AND {_DOSSIER_SCOPE}
)
SELECT agency_code, handler_code, max(handler_name),
       count(*) FILTER (WHERE resolved_late)::int, count(*) FILTER (WHERE NOT resolved_late)::int,
       count(*) FILTER (WHERE no_apology)::int
FROM flagged
GROUP BY agency_code, handler_code
"""
SELECT_AGENCY_NAMES = "SELECT code, name FROM agency WHERE code = ANY(%s)"


@dataclass(frozen=True)
class AgencyLate:
    code: str  # '' = dossiers with no agency named
    name: str
    resolved: int
    early: int  # resolved before the due day
    on_day: int  # resolved on the due day, in time
    late: int
    overdue: int  # still open past the deadline at the month's end
    late_without_apology: int  # late or overdue, no apology letter by the month's end

    @property
    def on_time(self) -> int:
        """Early or on time ("trước hạn và đúng hạn"), as provinces report it."""
        return self.early + self.on_day

    @property
    def on_time_rate(self) -> float | None:
        # The indicator's own formula, so this column matches the dashboard and the briefing.
        components = {"resolved": self.resolved, "resolved_early": self.early, "resolved_on_time": self.on_day}
        return value_of("on_time_rate", components)


@dataclass(frozen=True)
class OfficialLate:
    code: str | None  # None: the sources named no official for these dossiers
    name: str | None
    agency_code: str
    agency_name: str
    late: int
    overdue: int
    late_without_apology: int


@dataclass(frozen=True)
class LateList:
    province_code: str
    province_name: str
    month: date
    as_of: datetime
    complete: bool  # the month has ended
    generated_at: datetime
    whole_province: bool  # False: counts cover only part of the province (the caller's scope)
    totals: AgencyLate  # every in-scope agency of the province, late or not
    agencies: tuple[AgencyLate, ...]  # agencies with a late or overdue dossier, worst first
    officials: tuple[OfficialLate, ...]  # named officials with a late or overdue dossier, worst first
    unnamed: tuple[OfficialLate, ...]  # per agency, late / overdue dossiers whose official no source named


Flow = tuple[str, int, int, int, int]  # agency, resolved, early, on the day, late
ByOfficial = tuple[str, str | None, str | None, int, int, int]  # agency, official, name, late, overdue, no apology


def assemble(
    *,
    province_code: str,
    province_name: str,
    window: MonthWindow,
    generated_at: datetime,
    whole_province: bool,
    flows: Iterable[Flow],
    by_official: Iterable[ByOfficial],
    agency_names: Mapping[str, str],
) -> LateList:
    """Pure: the rows of the two queries into the list, sorted worst first."""
    flow = {agency: counts for agency, *counts in flows}
    overdue: dict[str, int] = {}
    owing: dict[str, int] = {}
    officials: list[OfficialLate] = []
    for agency, code, name, late, over, no_apology in by_official:
        overdue[agency] = overdue.get(agency, 0) + over
        owing[agency] = owing.get(agency, 0) + no_apology
        officials.append(OfficialLate(code, name, agency, _agency_name(agency, agency_names), late, over,
                                      no_apology))  # fmt: skip

    def row(agency: str) -> AgencyLate:
        resolved, early, on_day, late = flow.get(agency, (0, 0, 0, 0))
        return AgencyLate(agency, _agency_name(agency, agency_names), resolved, early, on_day, late,
                          overdue.get(agency, 0), owing.get(agency, 0))  # fmt: skip

    rows = [row(agency) for agency in sorted(set(flow) | set(overdue))]
    totals = AgencyLate("", province_name, *(sum(getattr(r, f) for r in rows) for f in _COUNTS))
    late_agencies = sorted((r for r in rows if r.late or r.overdue), key=_worst_agency_first)
    late_officials = sorted((o for o in officials if o.late or o.overdue), key=_worst_official_first)
    return LateList(
        province_code=province_code, province_name=province_name, month=window.month, as_of=window.as_of,
        complete=window.complete, generated_at=generated_at, whole_province=whole_province, totals=totals,
        agencies=tuple(late_agencies), officials=tuple(o for o in late_officials if o.code is not None),
        unnamed=tuple(o for o in late_officials if o.code is None),
    )  # fmt: skip


_COUNTS = ("resolved", "early", "on_day", "late", "overdue", "late_without_apology")


def _agency_name(code: str, names: Mapping[str, str]) -> str:
    return names.get(code, code) if code else NO_AGENCY_VI


def _worst_agency_first(r: AgencyLate) -> tuple[Any, ...]:
    return (-(r.late + r.overdue), -r.late_without_apology, r.name, r.code)


def _worst_official_first(o: OfficialLate) -> tuple[Any, ...]:
    return (-(o.late + o.overdue), -o.late_without_apology, o.name or "", o.code or "", o.agency_code)


async def late_list(
    conn: Conn,
    scope: Scope,
    *,
    province_code: str,
    province_name: str,
    window: MonthWindow,
    generated_at: datetime,
) -> LateList:
    """The list for one province and month, counted over `scope`'s dossiers only."""
    params: dict[str, Any] = {
        "province": province_code, "first_day": window.first_day, "last_day": window.last_day,
        "start": window.start, "as_of": window.as_of, **scope.sql_params(),
    }  # fmt: skip
    cur = await conn.execute(SELECT_AGENCY_FLOWS, params)
    flows: list[Flow] = [(str(r[0]), _int(r[1]), _int(r[2]), _int(r[3]), _int(r[4])) for r in await cur.fetchall()]
    cur = await conn.execute(SELECT_LATE_BY_OFFICIAL, params)
    by_official: list[ByOfficial] = [
        (str(r[0]), _text(r[1]), _text(r[2]), _int(r[3]), _int(r[4]), _int(r[5])) for r in await cur.fetchall()
    ]
    codes = sorted(({f[0] for f in flows} | {b[0] for b in by_official}) - {""})
    cur = await conn.execute(SELECT_AGENCY_NAMES, [codes])
    names = {str(code): str(name) for code, name in await cur.fetchall()}
    return assemble(
        province_code=province_code, province_name=province_name, window=window, generated_at=generated_at,
        whole_province=scope.sees_whole_province(province_code), flows=flows, by_official=by_official,
        agency_names=names,
    )  # fmt: skip


def _int(value: object) -> int:
    return int(value) if isinstance(value, int) else 0  # sum() over no rows is NULL


def _text(value: object) -> str | None:
    return None if value is None else str(value)
