"""Payout and ID-issuance components as of given local days, for live values and history alike.

Both streams report cumulative figures per locality and day (migrations/010, 011): a day's state
is the latest report on or before it. Live values ask for today; history asks for the last day
of each bucket (an hour bucket shows its day's figures: these streams are reported daily). One
SQL per stream reads every as-of day at once, by primary-key probes; the rules that turn rows into
a place's components are pure (below) and tested without a database.

Rules (the same for live values and history):

- Payout: for each locality and programme, the cycle of the as-of day's month, or last month's
  while this month's has no report yet. Paid, cashless and failed as of the as-of day; paid by the
  deadline as of min(as-of day, the cycle's deadline) — payments not reported by the deadline do
  not count as made by it.
- ID issuance: each locality's latest report within `ID_LOOKBACK_DAYS` of the as-of day.
- A province's figure: a report for the whole province (commune '') when there is one, otherwise
  the sum of its communes' reports (payout: per programme). A commune's: its own reports.
- VNeID level-2 targets (id_target, metric vneid_l2_activated): the province's own target, or else
  the sum of its communes' targets (activations then counted over those communes); the pace
  needed is computed per target (definitions.required_daily_pace) and summed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn
from ioc.indicators.definitions import combine, required_daily_pace

Components = dict[str, float | None]
AreaLevel = Literal["province", "commune"]
ID_LOOKBACK_DAYS = 31


@dataclass(frozen=True)
class PayoutRow:
    as_of: date
    province_code: str
    commune_code: str
    programme_code: str
    cycle_month: date
    due: int
    paid: int
    cashless: int
    failed: int
    paid_by_deadline: int


@dataclass(frozen=True)
class IdRow:
    as_of: date
    province_code: str
    commune_code: str
    eligible_population: int
    cccd_issued_total: int
    l2_activated_total: int


@dataclass(frozen=True)
class L2Target:
    province_code: str
    commune_code: str
    target: float
    deadline: date


# -- pure rules ----------------------------------------------------------------------------------


def payout_components(rows: Iterable[PayoutRow], level: AreaLevel) -> dict[tuple[str, date], Components]:
    """Components per (place, as-of day) from cycle rows of the as-of month and the month before."""
    latest: dict[tuple[date, str, str, str], PayoutRow] = {}
    for row in rows:
        key = (row.as_of, row.province_code, row.commune_code, row.programme_code)
        if key not in latest or row.cycle_month > latest[key].cycle_month:
            latest[key] = row
    chosen: list[tuple[str, PayoutRow]] = []
    if level == "commune":
        chosen = [(r.commune_code, r) for r in latest.values() if r.commune_code]
    else:
        whole = {(r.as_of, r.province_code, r.programme_code) for r in latest.values() if not r.commune_code}
        chosen = [(r.province_code, r) for r in latest.values()
                  if not r.commune_code or (r.as_of, r.province_code, r.programme_code) not in whole]  # fmt: skip
    parts: dict[tuple[str, date], list[Components]] = defaultdict(list)
    for place, r in chosen:
        parts[(place, r.as_of)].append({
            "payout_due": r.due, "payout_paid_by_deadline": r.paid_by_deadline, "payout_paid": r.paid,
            "payout_paid_cashless": r.cashless, "payout_failed": r.failed,
        })  # fmt: skip
    return {key: combine(p) for key, p in parts.items()}


def id_components(
    rows: Iterable[IdRow], targets: Iterable[L2Target], level: AreaLevel
) -> dict[tuple[str, date], Components]:
    """Components per (place, as-of day) from each locality's latest report as of that day."""
    by_day: dict[date, dict[tuple[str, str], IdRow]] = defaultdict(dict)
    for row in rows:
        by_day[row.as_of][(row.province_code, row.commune_code)] = row
    target_of = {(t.province_code, t.commune_code): t for t in targets}
    out: dict[tuple[str, date], Components] = {}
    for as_of, reports in by_day.items():
        if level == "commune":
            for (province, commune), r in reports.items():
                if commune:
                    out[(commune, as_of)] = _id_place([r], [(target_of.get((province, commune)), r)], as_of)
            continue
        for province in {p for p, _ in reports}:
            whole = reports.get((province, ""))
            communes = [r for (p, c), r in reports.items() if p == province and c]
            stock = [whole] if whole is not None else communes
            if (province, "") in target_of:
                targeted = [(target_of[(province, "")], whole if whole is not None else _sum_rows(communes))]
            else:
                targeted = [(target_of[(province, r.commune_code)], r) for r in communes
                            if (province, r.commune_code) in target_of]  # fmt: skip
            out[(province, as_of)] = _id_place(stock, targeted, as_of)
    return out


def _sum_rows(rows: list[IdRow]) -> IdRow | None:
    if not rows:
        return None
    first = rows[0]
    return IdRow(first.as_of, first.province_code, "", sum(r.eligible_population for r in rows),
                 sum(r.cccd_issued_total for r in rows), sum(r.l2_activated_total for r in rows))  # fmt: skip


def _id_place(stock: list[IdRow], targeted: Sequence[tuple[L2Target | None, IdRow | None]], as_of: date) -> Components:
    components: Components = {
        "id_eligible_population": float(sum(r.eligible_population for r in stock)),
        "id_cccd_issued_total": float(sum(r.cccd_issued_total for r in stock)),
        "id_l2_activated_total": None, "id_l2_target": None, "id_l2_required_pace": None,
    }  # fmt: skip
    pairs = [(t, r) for t, r in targeted if t is not None and r is not None]
    if pairs:
        components["id_l2_target"] = float(sum(t.target for t, _ in pairs))
        components["id_l2_activated_total"] = float(sum(r.l2_activated_total for _, r in pairs))
        paces = [required_daily_pace(t.target, r.l2_activated_total, (t.deadline - as_of).days) for t, r in pairs]
        components["id_l2_required_pace"] = None if any(p is None for p in paces) else sum(p or 0.0 for p in paces)
    return components


# -- storage -------------------------------------------------------------------------------------

_PAYOUT_SQL = """
SELECT a.d, c.province_code, c.commune_code, c.programme_code, c.cycle_month,
       r.beneficiaries_due, r.paid_total, r.paid_bank + r.paid_card + r.paid_ewallet, r.failed,
       coalesce(dl.paid_total, 0)
FROM unnest(%(days)s::date[]) AS a(d)
JOIN payout_cycle c
  ON c.cycle_month IN (date_trunc('month', a.d)::date, (date_trunc('month', a.d) - INTERVAL '1 month')::date)
CROSS JOIN LATERAL (
    SELECT p.beneficiaries_due, p.paid_total, p.paid_bank, p.paid_card, p.paid_ewallet, p.failed, p.deadline
    FROM payout_cycle_daily p
    WHERE p.province_code = c.province_code AND p.cycle_month = c.cycle_month
      AND p.programme_code = c.programme_code AND p.commune_code = c.commune_code AND p.day <= a.d
    ORDER BY p.day DESC LIMIT 1
) r
LEFT JOIN LATERAL (
    SELECT p.paid_total FROM payout_cycle_daily p
    WHERE p.province_code = c.province_code AND p.cycle_month = c.cycle_month
      AND p.programme_code = c.programme_code AND p.commune_code = c.commune_code
      AND p.day <= least(a.d, r.deadline)
    ORDER BY p.day DESC LIMIT 1
) dl ON true
WHERE true {where}
"""
_ID_SQL = """
SELECT a.d, k.province_code, k.commune_code, r.eligible_population, r.cccd_issued_total, r.l2_activated_total
FROM unnest(%(days)s::date[]) AS a(d)
CROSS JOIN (
    SELECT l.province_code, CASE WHEN l.level = 'province' THEN '' ELSE l.code END AS commune_code
    FROM locality l WHERE true {locality_where}
) k
CROSS JOIN LATERAL (
    SELECT i.eligible_population, i.cccd_issued_total, i.l2_activated_total FROM id_issuance_daily i
    WHERE i.province_code = k.province_code AND i.commune_code = k.commune_code
      AND i.day <= a.d AND i.day > a.d - %(lookback)s::int
    ORDER BY i.day DESC LIMIT 1
) r
WHERE true {where}
"""
_TARGETS_SQL = """
SELECT t.province_code, t.commune_code, t.target_value, t.deadline FROM id_target t
WHERE t.metric = 'vneid_l2_activated' {where}
"""


def _area_where(scope: Scope, level: AreaLevel, provinces: list[str] | None, only: str | None,
                prefix: str) -> tuple[str, dict[str, Any]]:  # fmt: skip
    parts: list[str] = []
    params: dict[str, Any] = {}
    if provinces is not None:
        parts.append(f"{prefix}province_code = ANY(%(provinces)s::text[])")
        params["provinces"] = provinces
    if not scope.unrestricted:
        parts.append(scope_filter_sql(province=f"{prefix}province_code", commune=f"{prefix}commune_code",
                                      agency=None, sector=None))  # fmt: skip
        params.update(scope.sql_params())
    if level == "commune":
        parts.append(f"{prefix}commune_code <> ''")
        if only is not None:
            parts.append(f"{prefix}commune_code = %(only)s")
            params["only"] = only
    return "".join(f" AND {p}" for p in parts), params


async def payout_state(
    conn: Conn, scope: Scope, level: AreaLevel, days: list[date], provinces: list[str] | None = None,
    only: str | None = None,
) -> dict[tuple[str, date], Components]:  # fmt: skip
    where, params = _area_where(scope, level, provinces, only, "c.")
    cur = await conn.execute(_PAYOUT_SQL.format(where=where).encode(), {**params, "days": days})
    rows = [PayoutRow(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]
    return payout_components(rows, level)


async def id_state(
    conn: Conn, scope: Scope, level: AreaLevel, days: list[date], provinces: list[str] | None = None,
    only: str | None = None,
) -> dict[tuple[str, date], Components]:  # fmt: skip
    where, params = _area_where(scope, level, provinces, only, "k.")
    locality_where = ""
    if provinces is not None:
        locality_where += " AND l.province_code = ANY(%(provinces)s::text[])"
    if level == "commune":
        locality_where += " AND l.level = 'commune'" + (" AND l.code = %(only)s" if only is not None else "")
    sql = _ID_SQL.format(where=where, locality_where=locality_where)
    cur = await conn.execute(sql.encode(), {**params, "days": days, "lookback": ID_LOOKBACK_DAYS})
    rows = [IdRow(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]
    target_where, target_params = _area_where(scope, level, provinces, only, "t.")
    cur = await conn.execute(_TARGETS_SQL.format(where=target_where).encode(), target_params)
    targets = [L2Target(p, c, float(v), d) for p, c, v, d in await cur.fetchall()]  # type: ignore[arg-type]
    return id_components(rows, targets, level)
