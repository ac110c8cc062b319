"""Locality figures for every live view from one read: counts per cell, summed per scope in memory.

A cell is (province, commune, agency, sector): the finest grain a scope can cut by. One query
reads the cells of the provinces that changed (ioc/status.py's arithmetic, grouped by cell instead
of by locality); the feed keeps them per province, and each view sums the cells its scope allows
into its province and commune rows. So a change costs one query however many views are open, and
a commune screen's delta does not wait behind a hundred other views' queries.

The sums equal `province_status` / `commune_status` with the same scope (tests/integration/
test_live_cells.py compares them): a row counts in a view exactly when `Scope.allows` its
province, commune, agency and sector, which is the Python twin of `scope_filter_sql`. The same
cells give the `dossier` headline's "received today" (ioc/live/headline.py sums the rollup rows of
today over the scope).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue
from ioc.status import LOCAL_TZ, LocalityStatus, window_start_day

# Counts of a cell, in this order (tuples: a national refresh sums tens of thousands of them).
RECEIVED, RESOLVED, ON_TIME, RECEIVED_TODAY, OPEN, OVERDUE, DUE_SOON, OWING = range(8)
Counts = tuple[int, int, int, int, int, int, int, int]
ZERO: Counts = (0, 0, 0, 0, 0, 0, 0, 0)

_PROVINCES = "(%(codes)s::text[] IS NULL OR province_code = ANY(%(codes)s))"
# The three parts of ioc/status.py's _STATUS_SQL (flows, open, owing), grouped by cell. The rollup
# is read from the earlier of the window's first day and today, so "received today" comes along.
SELECT_CELLS = f"""
SELECT province_code, commune_code, agency_code, sector,
       sum(received)::int, sum(resolved)::int, sum(on_time)::int, sum(received_today)::int,
       sum(open)::int, sum(overdue)::int, sum(due_soon)::int, sum(owing)::int
FROM (
    SELECT province_code, commune_code, agency_code, sector,
           coalesce(sum(received) FILTER (WHERE day >= %(from_day)s), 0) AS received,
           coalesce(sum(resolved) FILTER (WHERE day >= %(from_day)s), 0) AS resolved,
           coalesce(sum(resolved_early + resolved_on_time) FILTER (WHERE day >= %(from_day)s), 0) AS on_time,
           coalesce(sum(received) FILTER (WHERE day = %(today)s), 0) AS received_today,
           0 AS open, 0 AS overdue, 0 AS due_soon, 0 AS owing
    FROM dossier_daily
    WHERE day >= least(%(from_day)s, %(today)s) AND {_PROVINCES}
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT province_code, commune_code, agency_code, sector, 0, 0, 0, 0,
           count(*), count(*) FILTER (WHERE due_at < %(now)s),
           count(*) FILTER (WHERE due_at >= %(now)s AND due_at <= %(soon)s), 0
    FROM dossier WHERE closed_at IS NULL AND {_PROVINCES}
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT province_code, commune_code, agency_code, sector, 0, 0, 0, 0, 0, 0, 0, count(*)
    FROM dossier WHERE apology_at IS NULL AND late_since IS NOT NULL AND {_PROVINCES}
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT province_code, commune_code, agency_code, sector, 0, 0, 0, 0, 0, 0, 0, count(*)
    FROM dossier WHERE closed_at IS NULL AND due_at < %(now)s AND apology_at IS NULL AND {_PROVINCES}
    GROUP BY 1, 2, 3, 4
) parts
GROUP BY 1, 2, 3, 4
"""


@dataclass(frozen=True)
class Cell:
    province_code: str
    commune_code: str | None  # '' or None: a dossier counted at province level only
    agency_code: str | None
    sector: str | None
    counts: Counts


@dataclass(frozen=True)
class ProvinceCells:
    """One province's cells, with the sums a scope without agency or sector filter needs."""

    code: str
    cells: tuple[Cell, ...]
    total: Counts
    by_commune: Mapping[str, Counts]
    cells_by_commune: Mapping[str, tuple[Cell, ...]]


class LocalityName(Protocol):
    """What a status row takes from a locality (the catalogue's `Locality` has it)."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def short_name(self) -> str: ...
    @property
    def province_code(self) -> str: ...


@dataclass(frozen=True)
class Localities:
    """The localities a status query lists, and their names: the catalogue's own objects, not a copy."""

    provinces: Mapping[str, LocalityName]
    communes_of: Mapping[str, Sequence[LocalityName]]
    communes: Mapping[str, LocalityName] = field(default_factory=dict)

    @classmethod
    def of(cls, catalogue: LocalityCatalogue) -> Localities:
        provinces = {p.code: p for p in catalogue.provinces}
        return cls(
            provinces,
            {code: sorted(catalogue.communes_of(code), key=lambda c: c.code) for code in provinces},
            {c.code: c for c in catalogue.communes},
        )


# --------------------------------------------------------------------------- pure


def add(a: Counts, b: Counts) -> Counts:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6], a[7] + b[7])


def group_cells(cells: Iterable[Cell], provinces: Iterable[str]) -> dict[str, ProvinceCells]:
    """Cells by province, for every province in `provinces` (those with no cell too: zero rows)."""
    grouped: dict[str, list[Cell]] = {code: [] for code in provinces}
    for cell in cells:
        grouped.setdefault(cell.province_code, []).append(cell)
    out: dict[str, ProvinceCells] = {}
    for code, members in grouped.items():
        total = ZERO
        by_commune: dict[str, Counts] = {}
        cells_by_commune: dict[str, list[Cell]] = {}
        for cell in members:
            total = add(total, cell.counts)
            if cell.commune_code:
                by_commune[cell.commune_code] = add(by_commune.get(cell.commune_code, ZERO), cell.counts)
                cells_by_commune.setdefault(cell.commune_code, []).append(cell)
        out[code] = ProvinceCells(
            code, tuple(members), total, by_commune, {c: tuple(v) for c, v in cells_by_commune.items()}
        )
    return out


def _allowed_sum(scope: Scope, cells: Iterable[Cell]) -> Counts:
    total = ZERO
    for cell in cells:
        if scope.allows(cell.province_code, cell.commune_code, cell.agency_code, cell.sector):
            total = add(total, cell.counts)
    return total


def province_counts(scope: Scope, province: ProvinceCells) -> Counts:
    """The province row's counts: every cell of it the scope allows."""
    filtered = scope.agencies is not None or scope.sectors is not None
    if not filtered and (scope.national or province.code in scope.provinces):
        return province.total
    if scope.national or province.code in scope.provinces:
        return _allowed_sum(scope, province.cells)
    # Only some communes of this province are granted: only their cells can count.
    total = ZERO
    for commune in scope.communes:
        if filtered:
            total = add(total, _allowed_sum(scope, province.cells_by_commune.get(commune, ())))
        else:
            total = add(total, province.by_commune.get(commune, ZERO))
    return total


def commune_counts(scope: Scope, province: ProvinceCells, commune: str) -> Counts:
    if scope.agencies is None and scope.sectors is None:
        return province.by_commune.get(commune, ZERO)
    return _allowed_sum(scope, province.cells_by_commune.get(commune, ()))


def status_row(name: LocalityName, counts: Counts) -> LocalityStatus:
    return LocalityStatus(
        name.code, name.name, name.short_name, name.province_code, counts[RECEIVED], counts[RESOLVED],
        counts[ON_TIME], counts[OPEN], counts[OVERDUE], counts[DUE_SOON], counts[OWING],
    )  # fmt: skip


def row_payload(name: LocalityName, counts: Counts) -> dict[str, Any]:
    """`status_row(...).as_dict()`, key for key and in the same order, built directly.

    A national refresh builds thousands of these; `dataclasses.asdict` copies field by field
    through deepcopy and took most of a full refresh of 1,000 views (two seconds).
    """
    resolved = counts[RESOLVED]
    return {
        "code": name.code, "name": name.name, "short_name": name.short_name, "province_code": name.province_code,
        "received": counts[RECEIVED], "resolved": resolved, "resolved_on_time": counts[ON_TIME],
        "open": counts[OPEN], "overdue": counts[OVERDUE], "due_soon": counts[DUE_SOON],
        "late_without_apology": counts[OWING],
        "on_time_rate": counts[ON_TIME] / resolved if resolved else None,
    }  # fmt: skip


def communes_listed(scope: Scope, localities: Localities, province_code: str) -> list[LocalityName]:
    """The communes of a province a scope lists (all when the province is granted)."""
    if scope.national or province_code in scope.provinces:
        return list(localities.communes_of.get(province_code, ()))
    return sorted(
        (c for code in scope.communes if (c := localities.communes.get(code)) and c.province_code == province_code),
        key=lambda c: c.code,
    )


def derive_rows(
    scope: Scope,
    codes: Iterable[str],
    cells: Mapping[str, ProvinceCells],
    localities: Localities,
    *,
    with_communes: bool,
) -> dict[str, Any]:
    """key → row payload (``province:<code>``, ``commune:<code>``) of the given provinces, for a scope."""
    out: dict[str, Any] = {}
    for code in sorted(codes):
        name = localities.provinces.get(code)
        province = cells.get(code)
        if name is None or province is None:
            continue
        out[f"province:{code}"] = row_payload(name, province_counts(scope, province))
        if with_communes:
            for commune in communes_listed(scope, localities, code):
                counts = commune_counts(scope, province, commune.code)
                out[f"commune:{commune.code}"] = row_payload(commune, counts)
    return out


def received_today(scope: Scope, codes: Iterable[str], cells: Mapping[str, ProvinceCells]) -> int:
    """The `dossier` headline's figure over the given provinces (all a scope touches)."""
    total = 0
    for code in codes:
        province = cells.get(code)
        if province is not None:
            total += province_counts(scope, province)[RECEIVED_TODAY]
    return total


# --------------------------------------------------------------------------- reading


async def read_cells(
    conn: Conn, now: datetime, due_soon_until: datetime, window: str, codes: list[str] | None
) -> list[Cell]:
    """The cells of the given provinces (None: all)."""
    params = {
        "from_day": window_start_day(now, window), "today": now.astimezone(LOCAL_TZ).date(),
        "now": now, "soon": due_soon_until, "codes": codes,
    }  # fmt: skip
    cur = await conn.execute(SELECT_CELLS, params)
    return [
        Cell(str(r[0]), r[1], r[2], r[3], (r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]))  # type: ignore[arg-type]
        for r in await cur.fetchall()
    ]
