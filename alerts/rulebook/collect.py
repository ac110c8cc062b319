"""The shell's reads for each rule kind: SQL (and indicator reads) in, the kind's signals out.

``collect_signals(conn, spec, now, calendar)`` is the only entry: it reads what the spec's kind
needs as of ``now``, calls the kind's pure signal function, and decorates the signals with the
stream, the rule's labels and templates (``alerts.rulebook.decorate``). National, like the rest
of the engine: alerts are raised for every locality and scoped only when read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alerts.calendar import WorkingCalendar
from alerts.model import Signal
from alerts.rulebook.decorate import decorate
from alerts.rulebook.signals_appointment import BeyondStatutoryGroup, appointment_beyond_signals, merge_by_agency
from alerts.rulebook.signals_indicator import (
    PlaceChange,
    PlaceValue,
    rate_of_change_signals,
    threshold_signals,
    window_components,
)
from alerts.rulebook.signals_overdue import overdue_kind_signals
from alerts.rulebook.signals_silent import LastHeard, silent_source_signals
from alerts.rulebook.spec import (
    AppointmentBeyondStatutoryParams,
    CashlessShareParams,
    CccdCoverageParams,
    LateWithoutApologyParams,
    OnTimeRateParams,
    OverdueParams,
    PayoutBehindScheduleParams,
    RateOfChangeParams,
    RuleSpec,
    SilentSourceParams,
    TargetPaceParams,
    ThresholdParams,
)
from alerts.rules import (
    DueSoonGroup,
    DueSoonRule,
    MissingApologyGroup,
    MissingApologyRule,
    OnTimeRateRule,
    OnTimeWindow,
    OverdueGroup,
    by_agency,
    due_soon_horizon,
    missing_apology_cutoff,
    missing_apology_signals,
    on_time_rate_signals,
)
from alerts.rules_id import CccdCoverageRule, L2PaceRule
from alerts.rules_payout import CashlessShareRule, PayoutBehindScheduleRule
from alerts.stream_inputs import stream_rule_signals
from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.indicators.buckets import bucket_starts
from ioc.indicators.definitions import INDICATORS
from ioc.indicators.history import bucket_components
from ioc.indicators.places import places
from ioc.indicators.values import current_values_with_places
from ioc.status import LOCAL_TZ

__all__ = ["SAMPLE", "collect_signals"]

SAMPLE = 20

# One row per (place, agency, sector); alerts.rules.by_agency merges them into one series per
# agency (per commune for dossiers without one). The place of a known agency is the agency's own
# (the agency table), so a provincial department's dossiers from many communes make one alert at
# its province, not one per commune. An empty sector is no sector.
_GROUP_SELECT = """
SELECT g.province_code, g.commune_code, g.agency_code, g.agency_name, coalesce(c.name, p.name),
       g.n, g.t, g.sample, g.sector
FROM (
    SELECT coalesce(a.province_code, d.province_code) AS province_code,
           CASE WHEN a.code IS NULL THEN d.commune_code ELSE a.commune_code END AS commune_code,
           d.agency_code, a.name AS agency_name, nullif(d.sector, '') AS sector, count(*) AS n,
           min({time_col}) AS t, (array_agg(d.code ORDER BY {time_col}))[1:{sample}] AS sample
    FROM dossier d
    LEFT JOIN agency a ON a.code = d.agency_code
    WHERE {where}
    GROUP BY 1, 2, d.agency_code, a.name, 5
) g
JOIN locality p ON p.code = g.province_code
LEFT JOIN locality c ON c.code = g.commune_code
ORDER BY g.t, g.agency_code, g.commune_code, g.sector
"""
SELECT_OVERDUE = _GROUP_SELECT.format(
    time_col="d.due_at", sample=SAMPLE, where="d.closed_at IS NULL AND d.due_at < %(now)s"
)
SELECT_DUE_SOON = _GROUP_SELECT.format(
    time_col="d.due_at", sample=SAMPLE,
    where="d.closed_at IS NULL AND d.due_at >= %(now)s AND d.due_at <= %(horizon)s",
)  # fmt: skip
SELECT_MISSING_APOLOGY = _GROUP_SELECT.format(
    time_col="coalesce(d.late_since, d.due_at)", sample=SAMPLE,
    where="d.apology_at IS NULL AND ((d.late_since IS NOT NULL AND d.late_since <= %(cutoff)s) "
    "OR (d.closed_at IS NULL AND d.due_at <= %(cutoff)s))",
)  # fmt: skip
# Per (place, agency, sector): the open dossiers promised beyond their statutory deadline (a
# partial index, migrations/026), with the pair furthest apart; merged per agency in Python.
_WORST = "ORDER BY d.appointment_at - d.statutory_due_at DESC, d.code"
SELECT_BEYOND_STATUTORY = f"""
SELECT g.province_code, g.commune_code, g.agency_code, g.agency_name, coalesce(c.name, p.name), g.n,
       g.worst_statutory, g.worst_appointment, g.sample, g.sector
FROM (
    SELECT coalesce(a.province_code, d.province_code) AS province_code,
           CASE WHEN a.code IS NULL THEN d.commune_code ELSE a.commune_code END AS commune_code,
           d.agency_code, a.name AS agency_name, nullif(d.sector, '') AS sector, count(*) AS n,
           (array_agg(d.statutory_due_at {_WORST}))[1] AS worst_statutory,
           (array_agg(d.appointment_at {_WORST}))[1] AS worst_appointment,
           (array_agg(d.code ORDER BY d.received_at, d.code))[1:{SAMPLE}] AS sample
    FROM dossier d
    LEFT JOIN agency a ON a.code = d.agency_code
    WHERE d.closed_at IS NULL AND d.appointment_at > d.statutory_due_at
    GROUP BY 1, 2, d.agency_code, a.name, 5
) g
JOIN locality p ON p.code = g.province_code
LEFT JOIN locality c ON c.code = g.commune_code
ORDER BY g.agency_code, g.province_code, g.commune_code, g.sector
"""
SELECT_ON_TIME_WINDOWS = """
SELECT p.code, p.name, coalesce(sum(r.resolved), 0), coalesce(sum(r.resolved_early + r.resolved_on_time), 0)
FROM locality p
LEFT JOIN dossier_daily r ON r.province_code = p.code AND r.day >= %(from_day)s
WHERE p.level = 'province'
GROUP BY p.code, p.name
"""
# When data last arrived per province, within the look-back; ingested_at (not the event's own
# time) because a source replaying old events is not silent.
_LAST_HEARD = {
    "dossier": "SELECT province_code, max(ingested_at) FROM dossier_event "
    "WHERE occurred_at > %(since)s - interval '30 days' AND ingested_at > %(since)s AND ingested_at <= %(now)s "
    "GROUP BY province_code",
    "payout": "SELECT province_code, max(ingested_at) FROM payout_report "
    "WHERE ingested_at > %(since)s AND ingested_at <= %(now)s GROUP BY province_code",
    "id_issuance": "SELECT province_code, max(ingested_at) FROM id_issuance_report "
    "WHERE ingested_at > %(since)s AND ingested_at <= %(now)s GROUP BY province_code",
}
SELECT_PROVINCE_NAMES = "SELECT code, name FROM locality WHERE level = 'province'"


async def collect_signals(conn: Conn, spec: RuleSpec, now: datetime, calendar: WorkingCalendar) -> list[Signal]:
    signals = await _kind_signals(conn, spec, now, calendar)
    stream = next(iter(sorted(spec.streams)))
    # The kind is a label so routing and inhibition can name a class of rules, whatever their ids
    # (the shipped inhibit rule: a silent source mutes its stream's other alerts in its province).
    labels = (("kind", spec.kind), *spec.labels)
    return decorate(signals, stream=stream, labels=labels, summary_vi=spec.summary_vi,
                    summary_en=spec.summary_en)  # fmt: skip


async def _kind_signals(conn: Conn, spec: RuleSpec, now: datetime, calendar: WorkingCalendar) -> list[Signal]:
    p = spec.params
    if isinstance(p, OverdueParams):
        overdue: list[OverdueGroup] = []
        if p.steps:
            overdue = by_agency(OverdueGroup(*r) for r in await _groups(conn, SELECT_OVERDUE, {"now": now}))
        due_soon: list[DueSoonGroup] = []
        if p.pre_due_working_days:
            horizon = due_soon_horizon(now, calendar, DueSoonRule(spec.id, within_working_days=p.pre_due_working_days))
            rows = await _groups(conn, SELECT_DUE_SOON, {"now": now, "horizon": horizon})
            due_soon = by_agency(DueSoonGroup(*r) for r in rows)
        return overdue_kind_signals(spec.id, p, overdue, due_soon, now, calendar)
    if isinstance(p, LateWithoutApologyParams):
        rule = MissingApologyRule(spec.id, p.severity, p.after_working_days)
        cutoff = missing_apology_cutoff(now, calendar, rule)
        rows = await _groups(conn, SELECT_MISSING_APOLOGY, {"cutoff": cutoff})
        return missing_apology_signals(rule, by_agency(MissingApologyGroup(*r) for r in rows))
    if isinstance(p, OnTimeRateParams):
        on_time = OnTimeRateRule(spec.id, p.target, p.window, spec.hold, p.min_resolved, p.severity)
        from_day = now.astimezone(LOCAL_TZ).date() - timedelta(days=max(p.window.days, 1) - 1)
        cur = await conn.execute(SELECT_ON_TIME_WINDOWS, {"from_day": from_day})
        windows = [OnTimeWindow(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in await cur.fetchall()]  # type: ignore[call-overload]
        return on_time_rate_signals(on_time, windows)
    if isinstance(p, PayoutBehindScheduleParams):
        return await stream_rule_signals(conn, PayoutBehindScheduleRule(spec.id, p.lag, spec.hold), now, calendar)
    if isinstance(p, CashlessShareParams):
        rule_c = CashlessShareRule(spec.id, p.severity, p.min_paid, spec.hold)
        return await stream_rule_signals(conn, rule_c, now, calendar)
    if isinstance(p, CccdCoverageParams):
        return await stream_rule_signals(conn, CccdCoverageRule(spec.id, spec.hold), now, calendar)
    if isinstance(p, TargetPaceParams):
        return await stream_rule_signals(conn, L2PaceRule(spec.id, p.pace_days, spec.hold), now, calendar)
    if isinstance(p, AppointmentBeyondStatutoryParams):
        cur = await conn.execute(SELECT_BEYOND_STATUTORY)
        found: list[Any] = await cur.fetchall()
        groups = merge_by_agency(
            BeyondStatutoryGroup(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(r[8] or ()), r[9]) for r in found
        )
        return appointment_beyond_signals(spec.id, p, groups, calendar)
    if isinstance(p, ThresholdParams):
        return await _threshold(conn, spec.id, p, now)
    if isinstance(p, RateOfChangeParams):
        return await _rate_of_change(conn, spec.id, p, now)
    assert isinstance(p, SilentSourceParams)
    return await _silent_source(conn, spec.id, p, now, calendar)


async def _groups(conn: Conn, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, params)
    # Positional, in the field order of OverdueGroup / DueSoonGroup / MissingApologyGroup.
    return [(*r[:7], tuple(r[7] or ()), r[8]) for r in await cur.fetchall()]  # type: ignore[arg-type]


async def _threshold(conn: Conn, rule_id: str, p: ThresholdParams, now: datetime) -> list[Signal]:
    listed, values = await current_values_with_places(conn, Scope.everything(), p.level, now, [p.indicator])
    observed = [PlaceValue(p.level, pl.code, pl.name, pl.province_code, values.get(pl.code, {}).get(p.indicator))
                for pl in listed]  # fmt: skip
    return threshold_signals(rule_id, p, observed)


async def _rate_of_change(conn: Conn, rule_id: str, p: RateOfChangeParams, now: datetime) -> list[Signal]:
    ind = INDICATORS[p.indicator]
    listed = await places(conn, Scope.everything(), p.level)
    if not listed:
        return []
    # Whole hours: the last `window` of complete-or-current hours and the `window` before it.
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = bucket_starts(end - 2 * p.window, end, "hour")
    found = await bucket_components(conn, Scope.everything(), p.level, listed, [p.indicator], starts, "hour", now)
    half = len(starts) // 2
    changes = []
    for pl in listed:
        per_bucket = [found.get((pl.code, b), {}) for b in starts]
        previous = ind.value(window_components(ind.temporal, per_bucket[:half]))
        current = ind.value(window_components(ind.temporal, per_bucket[half:]))
        changes.append(PlaceChange(p.level, pl.code, pl.name, pl.province_code, previous, current))
    return rate_of_change_signals(rule_id, p, changes)


async def _silent_source(
    conn: Conn, rule_id: str, p: SilentSourceParams, now: datetime, calendar: WorkingCalendar
) -> list[Signal]:
    cur = await conn.execute(SELECT_PROVINCE_NAMES)
    names = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
    cur = await conn.execute(_LAST_HEARD[p.stream], {"since": now - p.lookback, "now": now})
    heard = [LastHeard(str(r[0]), names.get(str(r[0]), str(r[0])), r[1]) for r in await cur.fetchall()]  # type: ignore[arg-type]
    return silent_source_signals(rule_id, p, heard, now, calendar)
