"""The thin I/O shell around the planner: read, plan, write — one transaction, advisory-locked.

``dispatch_once`` reads open and recently resolved alerts, silences, inhibit rules, routes, contact
points, subscriptions with their people, escalation policies and state, and the notification log;
asks ``alerts.notify.planner.plan`` what to do at ``now``; and writes the delivery rows (through
``alerts.delivery.outbox.enqueue``, unique by idempotency key), the log, the escalation state, the
alerts' activity lines and the silences' reminder marks, all in the same transaction. Replicas
take a transaction-scoped advisory lock; one that does not get it skips the round.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.calendar import WorkingCalendar
from alerts.delivery.model import Channel
from alerts.delivery.outbox import enqueue
from alerts.notify.escalation import EscalationPolicy, EscalationState, parse_policy
from alerts.notify.grouping import GroupState, GroupTiming
from alerts.notify.inhibition import InhibitRule, parse_inhibit_rule
from alerts.notify.matchers import MatcherError, parse_matchers
from alerts.notify.planner import AlertRecord, Plan, PlannerInput, plan
from alerts.notify.routing import ContactPoint, Person, Route, Subscription
from alerts.notify.silences import Silence, SilenceError, SilenceMatchCache, parse_recurrence
from ioc.auth.scope import Scope, ScopeError

if TYPE_CHECKING:
    from ioc.metrics import Metrics

__all__ = ["NOTIFY_LOCK_KEY", "AlertRowCache", "DispatchReport", "dispatch_once", "load_planner_input", "run_plan"]

log = logging.getLogger(__name__)

NOTIFY_LOCK_KEY = 7_311_042_018
AnyConn = AsyncConnection[Any]

# Silence label matches survive from one round to the next in this process (the answers depend
# only on the silences' matchers and the alerts' labels, so any replica, and any database, may
# share it). One round uses it at a time; a round that finds it busy plans without it.
_SILENCE_CACHE = SilenceMatchCache()
_SILENCE_CACHE_LOCK = threading.Lock()

_ALERT_COLUMNS = """id, fingerprint, rule_id, labels, severity, state, value, summary_vi, summary_en,
    coalesce(fired_at, active_since), resolved_at, acknowledged_at, acknowledged_by, snoozed_until, flapping,
    province_code, commune_code, agency_code, sector_code, stream"""
_ALERTS_OF_INTEREST = """
WHERE state = 'firing'
   OR (state = 'resolved' AND ((resolved_at >= %(since)s AND fingerprint = ANY(%(sent)s::text[]))
                               OR id = ANY(%(escalating)s::bigint[])))
"""
# The rows of interest and their row versions: ``xmin`` changes with every committed UPDATE,
# whoever makes it (rule engine, API, another replica), so an unchanged (id, xmin) is a row this
# process already read and parsed. Only the others are fetched in full.
SELECT_ALERT_VERSIONS = f"SELECT id, xmin::text FROM alert {_ALERTS_OF_INTEREST}"
SELECT_ALERTS_BY_ID = f"SELECT {_ALERT_COLUMNS}, xmin::text FROM alert WHERE id = ANY(%s::bigint[])"
SELECT_CLUSTER = "SELECT current_database(), pg_postmaster_start_time()::text, inet_server_port()"
SELECT_GROUPS = """
SELECT receiver, group_key, group_labels, first_seen_at, last_sent_at, firing_sent, resolved_sent, muted
FROM notification_group
"""
SELECT_ESCALATIONS = """
SELECT alert_id, policy_id, step, round, notified_at FROM alert_escalation WHERE stopped_at IS NULL
"""
SELECT_SILENCES = """
SELECT id, matchers, starts_at, ends_at, recurrence, comment, created_by, expired_at, reminded_until
FROM silence WHERE (expired_at IS NULL OR expired_at > %(now)s) AND (ends_at IS NULL OR ends_at > %(now)s)
"""
SELECT_SILENCE_NOTED = (
    "SELECT alert_id, (data->>'silence_id')::bigint FROM alert_activity"
    " WHERE kind = 'silenced' AND alert_id = ANY(%s) AND data ? 'silence_id'"
)
SELECT_INHIBIT = "SELECT id, source_matchers, target_matchers, equal FROM inhibit_rule ORDER BY id"
SELECT_ROUTES = """
SELECT id, position, matchers, contact_points, group_by, group_wait_s, group_interval_s, repeat_interval_s,
       continue_matching
FROM notification_route ORDER BY position, id
"""
SELECT_CONTACT_POINTS = "SELECT id, channel, address, options FROM contact_point"
SELECT_POLICIES = "SELECT id, position, matchers, steps, repeat FROM escalation_policy ORDER BY position, id"
SELECT_SUBSCRIPTIONS = """
SELECT s.id, s.user_id, s.provinces, s.communes, s.agencies, s.sectors, s.severities, s.channels, s.quiet_from,
       s.quiet_to, s.quiet_allows_critical
FROM alert_subscription s JOIN app_user u ON u.id = s.user_id
WHERE s.enabled AND u.disabled_at IS NULL
"""
SELECT_PEOPLE = "SELECT id, username, role, scope, language FROM app_user WHERE disabled_at IS NULL"
SELECT_CONTACTS = "SELECT user_id, channel, address FROM user_contact"
SELECT_PUSH = "SELECT user_id, id FROM push_subscription WHERE gone_at IS NULL ORDER BY id"

UPSERT_GROUP = """
INSERT INTO notification_group (receiver, group_key, group_labels, first_seen_at, last_sent_at, firing_sent,
                                resolved_sent, muted)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (receiver, group_key) DO UPDATE SET
    group_labels = EXCLUDED.group_labels, first_seen_at = EXCLUDED.first_seen_at,
    last_sent_at = EXCLUDED.last_sent_at, firing_sent = EXCLUDED.firing_sent,
    resolved_sent = EXCLUDED.resolved_sent, muted = EXCLUDED.muted
"""
DELETE_GROUP = "DELETE FROM notification_group WHERE receiver = %s AND group_key = %s"
UPSERT_ESCALATION = """
INSERT INTO alert_escalation (alert_id, policy_id, step, round, notified_at, stopped_at, stop_reason)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (alert_id) DO UPDATE SET
    policy_id = EXCLUDED.policy_id, step = EXCLUDED.step, round = EXCLUDED.round,
    notified_at = EXCLUDED.notified_at, stopped_at = EXCLUDED.stopped_at, stop_reason = EXCLUDED.stop_reason
"""
INSERT_ACTIVITY = """
INSERT INTO alert_activity (alert_id, at, actor, kind, comment, data) VALUES (%s, %s, 'system', %s, %s, %s)
"""
MARK_REMINDED = "UPDATE silence SET reminded_until = %s WHERE id = %s"


@dataclass(frozen=True)
class DispatchReport:
    ran: bool  # False: another replica held the lock
    planned: int = 0  # delivery requests planned
    enqueued: int = 0  # delivery rows actually inserted (the rest were already there)
    groups_written: int = 0
    escalations: int = 0
    reminders: int = 0
    held: int = 0  # group notifications held back by quiet hours


async def dispatch_once(
    conn: AnyConn,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    reminder_lead: timedelta = timedelta(minutes=30),
    resolved_lookback: timedelta = timedelta(days=2),
    subscription_timing: GroupTiming | None = None,
    metrics: Metrics | None = None,
) -> DispatchReport:
    """One planning round at ``now``; safe to run on every replica (advisory lock).

    The pure planning runs in a worker thread: at tens of thousands of alerts it is CPU work the
    event loop (which may also serve the API and the live feed) must not wait on.
    """
    started = time.perf_counter()
    async with conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [NOTIFY_LOCK_KEY])
        row = await cur.fetchone()
        if not row or not row[0]:
            return DispatchReport(False)
        inp = await load_planner_input(
            conn, now, reminder_lead=reminder_lead, resolved_lookback=resolved_lookback,
            subscription_timing=subscription_timing or GroupTiming(),
        )  # fmt: skip
        loaded = time.perf_counter()
        result = await asyncio.to_thread(run_plan, inp, now, calendar)
        planned = time.perf_counter()
        await _drop_noted_silence_lines(conn, result)
        enqueued = await enqueue(conn, result.deliveries)
        await _write(conn, result, now)
    if metrics is not None:
        done = time.perf_counter()
        for stage, seconds in (("load", loaded - started), ("plan", planned - loaded), ("write", done - planned),
                               ("total", done - started)):  # fmt: skip
            metrics.notify_round_seconds.labels(stage).observe(seconds)
        metrics.notify_round_alerts.set(len(inp.alerts))
    return DispatchReport(
        True, len(result.deliveries), enqueued, len(result.group_upserts) + len(result.group_deletes),
        sum(1 for a in result.activities if a.kind == "escalate"), len(result.reminded), result.held,
    )  # fmt: skip


def run_plan(inp: PlannerInput, now: datetime, calendar: WorkingCalendar) -> Plan:
    """``plan`` as a round runs it: with this process's silence cache (unless ``inp`` brings one),
    and the cyclic garbage collector paused. A round over tens of thousands of alerts allocates
    enough to trigger several full collections, each walking every object of the process (≈ a
    third of the round at 50,000 alerts); the round makes no reference cycles worth collecting,
    and reference counting still frees its garbage. Re-enabled at once after, even on error."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        if inp.silence_cache is not None:
            return plan(inp, now, calendar)
        if _SILENCE_CACHE_LOCK.acquire(blocking=False):
            try:
                return plan(replace(inp, silence_cache=_SILENCE_CACHE), now, calendar)
            finally:
                _SILENCE_CACHE_LOCK.release()
        return plan(inp, now, calendar)
    finally:
        if paused:
            gc.enable()


async def _write(conn: AnyConn, result: Plan, now: datetime) -> None:
    async with conn.cursor() as cur:
        if result.group_upserts:
            await cur.executemany(UPSERT_GROUP, [
                (g.receiver, g.group_key, Jsonb(dict(g.group_labels)), g.first_seen_at, g.last_sent_at,
                 sorted(g.firing_sent), sorted(g.resolved_sent), sorted(g.muted))
                for g in result.group_upserts
            ])  # fmt: skip
        if result.group_deletes:
            await cur.executemany(DELETE_GROUP, result.group_deletes)
        if result.escalations:
            await cur.executemany(UPSERT_ESCALATION, [
                (e.alert_id, e.policy_id, e.step, e.round, e.notified_at, e.stopped_at, e.stop_reason)
                for e in result.escalations
            ])  # fmt: skip
        if result.activities:
            await cur.executemany(INSERT_ACTIVITY, [
                (a.alert_id, now, a.kind, a.comment, Jsonb(dict(a.data))) for a in result.activities
            ])  # fmt: skip
        if result.reminded:
            await cur.executemany(MARK_REMINDED, [(end, sid) for sid, end in result.reminded])


# --------------------------------------------------------------------------- reading


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _labels(r: Sequence[Any]) -> dict[str, str]:
    raw = _json(r[3]) or {}
    labels = {str(k): str(v) for k, v in dict(raw).items() if v is not None}
    labels.setdefault("rule", str(r[2]))
    labels["severity"] = str(r[4])
    for name, value in zip(("province_code", "commune_code", "agency_code", "sector", "stream"), r[15:20], strict=True):
        if value is not None:
            labels.setdefault(name, str(value))
    return labels


def _alert(r: Sequence[Any]) -> AlertRecord:
    return AlertRecord(
        id=int(r[0]), fingerprint=str(r[1]), rule_id=str(r[2]), labels=_labels(r), severity=str(r[4]),
        firing=r[5] == "firing", value=float(r[6]), summary_vi=str(r[7]), summary_en=str(r[8]), fired_at=r[9],
        resolved_at=r[10], acknowledged_at=r[11], acknowledged_by=r[12], snoozed_until=r[13], flapping=bool(r[14]),
    )  # fmt: skip


async def _rows(conn: AnyConn, sql: str, params: Any = None) -> list[Any]:
    cur = await conn.execute(sql, params)
    return list(await cur.fetchall())


def row_to_silence(r: Sequence[Any]) -> Silence:
    return Silence(
        id=int(r[0]), matchers=parse_matchers(_json(r[1])), starts_at=r[2], ends_at=r[3],
        recurrence=parse_recurrence(_json(r[4])), comment=str(r[5]), created_by=str(r[6]), expired_at=r[7],
        reminded_until=r[8],
    )  # fmt: skip


def row_to_route(r: Sequence[Any]) -> Route:
    timing = GroupTiming(timedelta(seconds=r[5]), timedelta(seconds=r[6]), timedelta(seconds=r[7]))
    return Route(str(r[0]), int(r[1]), parse_matchers(_json(r[2])), tuple(r[3]), tuple(r[4]), timing, bool(r[8]))


def _skip_bad(kind: str, key: object, exc: Exception) -> None:
    # Rows are validated before they are stored; one that no longer parses must not stop the rest.
    log.error("notify: skipping invalid %s %s: %s", kind, key, exc)


async def load_planner_input(
    conn: AnyConn,
    now: datetime,
    *,
    reminder_lead: timedelta = timedelta(minutes=30),
    resolved_lookback: timedelta = timedelta(days=2),
    subscription_timing: GroupTiming | None = None,
) -> PlannerInput:
    groups: dict[tuple[str, str], GroupState] = {}
    for r in await _rows(conn, SELECT_GROUPS):
        groups[(r[0], r[1])] = GroupState(
            r[0], r[1], {str(k): str(v) for k, v in dict(_json(r[2])).items()}, r[3], r[4],
            frozenset(r[5]), frozenset(r[6]), frozenset(r[7]),
        )  # fmt: skip
    escalations = {
        int(r[0]): EscalationState(int(r[0]), str(r[1]), int(r[2]), int(r[3]), r[4])
        for r in await _rows(conn, SELECT_ESCALATIONS)
    }
    sent = sorted({fp for g in groups.values() for fp in g.firing_sent})
    alerts = await _load_alerts(conn, {"since": now - resolved_lookback, "sent": sent,
                                       "escalating": sorted(escalations)})  # fmt: skip

    silences = []
    for r in await _rows(conn, SELECT_SILENCES, {"now": now}):
        try:
            silences.append(row_to_silence(r))
        except (MatcherError, SilenceError) as exc:
            _skip_bad("silence", r[0], exc)
    inhibit: list[InhibitRule] = []
    for r in await _rows(conn, SELECT_INHIBIT):
        try:
            inhibit.append(
                parse_inhibit_rule(
                    {"id": r[0], "source_matchers": _json(r[1]), "target_matchers": _json(r[2]), "equal": list(r[3])}
                )
            )
        except MatcherError as exc:
            _skip_bad("inhibit rule", r[0], exc)
    routes = []
    for r in await _rows(conn, SELECT_ROUTES):
        try:
            routes.append(row_to_route(r))
        except MatcherError as exc:
            _skip_bad("route", r[0], exc)
    contact_points = {
        str(r[0]): ContactPoint(str(r[0]), Channel(r[1]), str(r[2]), dict(_json(r[3]) or {}))
        for r in await _rows(conn, SELECT_CONTACT_POINTS)
    }
    policies: list[EscalationPolicy] = []
    for r in await _rows(conn, SELECT_POLICIES):
        try:
            policies.append(
                parse_policy(
                    {"id": r[0], "position": r[1], "matchers": _json(r[2]), "steps": _json(r[3]), "repeat": r[4]}
                )
            )
        except MatcherError as exc:
            _skip_bad("escalation policy", r[0], exc)
    return PlannerInput(
        alerts=alerts, silences=silences, inhibit_rules=inhibit, routes=routes, contact_points=contact_points,
        subscriptions=[_subscription(r) for r in await _rows(conn, SELECT_SUBSCRIPTIONS)],
        people=await _people(conn), groups=groups, escalation_policies=policies, escalations=escalations,
        subscription_timing=subscription_timing or GroupTiming(), reminder_lead=reminder_lead,
        # Left empty: the planner proposes a "silenced" line for every silenced alert, and
        # dispatch_once drops those already written — a look-up of the silenced alerts only,
        # not of every firing one.
        silence_noted=frozenset(),
    )  # fmt: skip


class AlertRowCache:
    """Alert rows as this process last read them: id → (row version, parsed record), for one
    database (a different cluster or database starts it over). Loading 50,000 open alerts in full
    every second — parsing labels and building records — was most of a round; with the cache a
    round reads two small columns per alert and parses only the rows changed since."""

    def __init__(self) -> None:
        self.database: tuple[Any, ...] | None = None
        self.rows: dict[int, tuple[str, AlertRecord]] = {}
        self.fetched = 0  # rows read in full (tests, metrics of the benchmark)


_ALERT_ROWS = AlertRowCache()


async def _load_alerts(
    conn: AnyConn, params: Mapping[str, Any], cache: AlertRowCache | None = None
) -> list[AlertRecord]:
    cache = cache or _ALERT_ROWS
    [database] = await _rows(conn, SELECT_CLUSTER)
    known = cache.rows if cache.database == tuple(database) else {}
    versions = await _rows(conn, SELECT_ALERT_VERSIONS, params)
    fresh: dict[int, tuple[str, AlertRecord]] = {}
    stale: list[int] = []
    for aid, xmin in versions:
        entry = known.get(aid)
        if entry is not None and entry[0] == xmin:
            fresh[aid] = entry
        else:
            stale.append(aid)
    if stale:
        for r in await _rows(conn, SELECT_ALERTS_BY_ID, [stale]):
            fresh[int(r[0])] = (str(r[-1]), _alert(r))
        cache.fetched += len(stale)
    # Rows no longer of interest are dropped: the cache holds one round's alerts.
    cache.database, cache.rows = tuple(database), fresh
    return [fresh[aid][1] for aid in sorted(fresh)]


async def _drop_noted_silence_lines(conn: AnyConn, result: Plan) -> None:
    """Keep a "silenced" timeline line only the first time a silence mutes an alert."""
    proposed = [a.alert_id for a in result.activities if a.kind == "silenced"]
    if not proposed:
        return
    noted = await _silence_noted(conn, sorted(set(proposed)))
    result.activities = [
        a for a in result.activities if a.kind != "silenced" or (a.alert_id, a.data.get("silence_id")) not in noted
    ]


async def _silence_noted(conn: AnyConn, alert_ids: list[int]) -> frozenset[tuple[int, int]]:
    cur = await conn.execute(SELECT_SILENCE_NOTED, [alert_ids])
    return frozenset((int(r[0]), int(r[1])) for r in await cur.fetchall())


def _subscription(r: Sequence[Any]) -> Subscription:
    return Subscription(
        id=int(r[0]), user_id=int(r[1]), provinces=frozenset(r[2]), communes=frozenset(r[3]),
        agencies=frozenset(r[4]), sectors=frozenset(r[5]), severities=frozenset(r[6]), channels=tuple(r[7]),
        quiet_from=r[8], quiet_to=r[9], quiet_allows_critical=bool(r[10]),
    )  # fmt: skip


async def _people(conn: AnyConn) -> Mapping[int, Person]:
    contacts: dict[int, dict[str, str]] = defaultdict(dict)
    for r in await _rows(conn, SELECT_CONTACTS):
        contacts[int(r[0])][str(r[1])] = str(r[2])
    pushes: dict[int, list[int]] = defaultdict(list)
    for r in await _rows(conn, SELECT_PUSH):
        pushes[int(r[0])].append(int(r[1]))
    people = {}
    for r in await _rows(conn, SELECT_PEOPLE):
        try:
            scope = Scope.from_dict(_json(r[3]))
        except ScopeError as exc:
            _skip_bad("user scope", r[1], exc)
            continue
        uid = int(r[0])
        people[uid] = Person(uid, str(r[1]), str(r[2]), scope, str(r[4]), True, contacts.get(uid, {}),
                             tuple(pushes.get(uid, ())))  # fmt: skip
    return people
