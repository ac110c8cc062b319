"""Headline numbers of the three streams for one scope, as the dashboard's top band shows them.

One entry per stream, published by the live feed as ``headline:<stream>``:

* ``dossier`` — dossiers received today (local day), counted over in-scope rollup rows like
  ``GET /api/v1/status/provinces?window=today``. The on-time rate and the overdue count are the
  live province rows' own totals, so the page takes those from the rows it already has.
* ``payout`` — this cycle's completion (``payout_completion``) and cashless share
  (``payout_cashless_share``) over the whole scope.
* ``id_issuance`` — CCCD coverage (``cccd_coverage``) and level-2 activations against their
  targets (``vneid_l2_activation``) over the whole scope.

The payout and ID figures are the indicator module's own components (``ioc.indicators.
stream_state``: which cycle, which report, province versus commune reports, targets), gathered
per province of the scope, summed, and passed through the indicator formulas. So a scope of one
province shows exactly that province's values in ``GET /api/v1/indicators/current``, and a
national scope the same formulas over the sum of every province. A few display-only facts (the
cycle's month and deadline, the targets' values and deadlines) come from one small query each.

A scope that names agencies or sectors sees no payout or ID figures: those streams carry neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn
from ioc.indicators.definitions import INDICATORS, Components, combine
from ioc.indicators.stream_state import id_state, payout_state
from ioc.status import LOCAL_TZ

__all__ = ["HEADLINE_STREAMS", "id_headline", "payout_headline", "read_headline"]

HEADLINE_STREAMS = ("dossier", "payout", "id_issuance")
NOT_AVAILABLE: dict[str, Any] = {"available": False}

_STREAM_SCOPE = scope_filter_sql(province="{t}.province_code", commune="{t}.commune_code", agency=None, sector=None)

SELECT_RECEIVED_TODAY = f"""
SELECT coalesce(sum(received), 0)::bigint FROM dossier_daily WHERE day = %(today)s AND {scope_filter_sql()}
"""
# The cycles the payout components count (this month's, or last month's while this one is
# unreported, per locality and programme): their month, deadlines and programmes' targets.
SELECT_PAYOUT_CYCLES = f"""
SELECT DISTINCT ON (c.province_code, c.commune_code, c.programme_code)
       c.cycle_month, c.deadline, pr.cashless_target::float8
FROM payout_cycle c JOIN payout_programme pr ON pr.code = c.programme_code
WHERE c.cycle_month IN (%(month)s, %(last_month)s) AND {_STREAM_SCOPE.format(t="c")}
ORDER BY c.province_code, c.commune_code, c.programme_code, c.cycle_month DESC
"""
SELECT_ID_TARGETS = f"""
SELECT t.metric, t.target_value::float8, t.deadline FROM id_target t
WHERE (t.start_date IS NULL OR t.start_date <= %(today)s) AND {_STREAM_SCOPE.format(t="t")}
"""


# --------------------------------------------------------------------------- pure


def payout_headline(
    components: Components | None, cycles: Iterable[tuple[date, date, float]], today: date
) -> dict[str, Any]:
    """The payout entry from the scope's summed components and its cycles (month, deadline, target)."""
    cycles = list(cycles)
    if not components or components.get("payout_due") is None or not cycles:
        return NOT_AVAILABLE
    ahead = sorted(deadline for _, deadline, _ in cycles if deadline >= today)
    targets = {target for _, _, target in cycles}
    return {
        "available": True,
        "cycle_month": max(month for month, _, _ in cycles).isoformat(),
        # The next deadline still ahead; once all have passed, the last one.
        "deadline": (ahead[0] if ahead else max(deadline for _, deadline, _ in cycles)).isoformat(),
        "beneficiaries_due": _int(components.get("payout_due")),
        "paid": _int(components.get("payout_paid_by_deadline")),
        "paid_cashless": _int(components.get("payout_paid_cashless")),
        "completion": INDICATORS["payout_completion"].value(components),
        "cashless_share": INDICATORS["payout_cashless_share"].value(components),
        # Programmes may set different targets: one is shown only when they agree.
        "cashless_target": targets.pop() if len(targets) == 1 else None,
    }


def id_headline(components: Components | None, targets: Iterable[tuple[str, float, date]]) -> dict[str, Any]:
    """The ID entry from the scope's summed components and its targets (metric, value, deadline)."""
    if not components or components.get("id_eligible_population") is None:
        return NOT_AVAILABLE
    coverage_targets = [(value, deadline) for metric, value, deadline in targets if metric == "cccd_coverage"]
    l2_deadlines = [deadline for metric, _, deadline in targets if metric == "vneid_l2_activated"]
    distinct_coverage = {value for value, _ in coverage_targets}
    l2_target = components.get("id_l2_target")
    return {
        "available": True,
        "eligible_population": _int(components.get("id_eligible_population")),
        "cccd_issued_total": _int(components.get("id_cccd_issued_total")),
        "cccd_coverage": INDICATORS["cccd_coverage"].value(components),
        # Localities may have different coverage targets: one is shown only when they agree.
        "cccd_target": distinct_coverage.pop() if len(distinct_coverage) == 1 else None,
        "cccd_deadline": min(d for _, d in coverage_targets).isoformat() if coverage_targets else None,
        # Activations count towards a target only where there is one (see stream_state).
        "l2_activated": _int(components.get("id_l2_activated_total")),
        "l2_target": _int(l2_target),
        "l2_activation": INDICATORS["vneid_l2_activation"].value(components),
        "l2_required_daily_pace": INDICATORS["vneid_l2_required_daily_pace"].value(components),
        "l2_deadline": min(l2_deadlines).isoformat() if l2_deadlines and l2_target is not None else None,
    }


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _scope_total(per_place: Mapping[tuple[str, date], Components]) -> Components | None:
    """Every province's components of the scope, summed (None when no province has any)."""
    return combine(per_place.values()) if per_place else None


# --------------------------------------------------------------------------- reading


async def read_headline(
    conn: Conn, scope: Scope, now: datetime, streams: Iterable[str] = HEADLINE_STREAMS
) -> dict[str, Any]:
    """stream → its headline entry, for the streams asked (all by default)."""
    today = now.astimezone(LOCAL_TZ).date()
    params: dict[str, Any] = {**scope.sql_params(), "today": today}
    out: dict[str, Any] = {}
    for stream in streams:
        if stream == "dossier":
            cur = await conn.execute(SELECT_RECEIVED_TODAY, params)
            row = await cur.fetchone()
            received = int(row[0]) if row else 0  # type: ignore[call-overload]
            out[stream] = {"available": True, "day": today.isoformat(), "received_today": received}
        elif stream == "payout":
            components = _scope_total(await payout_state(conn, scope, "province", [today]))
            month = today.replace(day=1)
            last_month = (month - timedelta(days=1)).replace(day=1)
            cur = await conn.execute(SELECT_PAYOUT_CYCLES, {**params, "month": month, "last_month": last_month})
            cycles: list[tuple[date, date, float]] = [
                (r[0], r[1], float(r[2]))  # type: ignore[arg-type, misc]
                for r in await cur.fetchall()
            ]
            out[stream] = payout_headline(components, cycles, today)
        elif stream == "id_issuance":
            components = _scope_total(await id_state(conn, scope, "province", [today]))
            cur = await conn.execute(SELECT_ID_TARGETS, params)
            targets: list[tuple[str, float, date]] = [
                (str(r[0]), float(r[1]), r[2])  # type: ignore[arg-type, misc]
                for r in await cur.fetchall()
            ]
            out[stream] = id_headline(components, targets)
    return out
