"""The thin I/O shell around the pure alert core: load observations, evaluate, apply.

One evaluation = read observations and open alerts, ask the core for transitions, then apply
them in one transaction with compare-and-set on `version`, writing the history, the outbox and a
live notification. A PostgreSQL advisory lock makes sure only one engine replica evaluates at a
time; the others skip that round.

Each rule runs under its own SAVEPOINT: a rule whose reads, evaluation or writes raise is rolled
back alone, logged with its id and counted (``ioc_alert_rule_failures_total{rule}``); the other
rules' changes still commit. The live notification is split into payloads under PostgreSQL's
8,000-byte limit (``ioc.live.channel.notify_live``), so a round that changes any number of alerts
can commit. Before evaluation each rule's signals pass the cardinality guard
(``alerts.engine.guard_cardinality``, limit ``RuleSpec.max_new_alerts`` or the engine's default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor
from psycopg.types.json import Jsonb

from alerts.calendar import WorkingCalendar
from alerts.engine import DEFAULT_MAX_NEW_ALERTS, Policy, evaluate, guard_cardinality
from alerts.model import AlertState, Evaluation, FlapHistory, Labels, OpenAlert, Severity, Transition
from alerts.rulebook.collect import SAMPLE, collect_signals
from alerts.rulebook.legacy import LegacyRule, default_specs, policy_for, spec_from_legacy
from alerts.rulebook.spec import RuleSpec
from alerts.rulebook.store import enabled_specs, rules_stamp
from ioc.db.pool import Conn
from ioc.live.channel import notify_live
from ioc.metrics import Metrics

log = logging.getLogger(__name__)

ENGINE_LOCK_KEY = 7_311_042_003
__all__ = ["ENGINE_LOCK_KEY", "SAMPLE", "AlertEngine", "EvaluationReport"]

SELECT_OPEN_ALERTS = """
SELECT id, rule_id, fingerprint, labels, severity, state, value, active_since, fired_at, version,
       summary_vi, summary_en, flapping, signal_lost_at
FROM alert WHERE state <> 'resolved' AND source = 'engine'
"""
# The alerts of one rule open within the flap window (every episode of each series), each with its
# state changes (to firing or resolved) inside the window; the shell sums them per fingerprint and
# takes the flapping flag of the latest episode. The changes are counted per alert by a subquery on
# alert_transition_alert_idx: a plan that stays O(n log n) whatever the statistics say. (A join
# here, right after a flood opened thousands of series, met stale statistics and a nested loop
# over both tables: 163 s for 50,000 series.) A transition inside the window belongs to an alert
# open inside it, so no change is missed.
SELECT_FLAP_HISTORY = """
SELECT b.id, b.fingerprint, b.flapping,
       (SELECT count(*) FROM alert_transition t
        WHERE t.alert_id = b.id AND t.at > %(since)s AND t.to_state IN ('firing', 'resolved'))
FROM alert b
WHERE b.rule_id = %(rule)s AND b.source = 'engine' AND (b.state <> 'resolved' OR b.resolved_at > %(since)s)
"""
INSERT_ALERT = """
INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, commune_code, agency_code,
                   sector_code, stream, value, summary_vi, summary_en, details, active_since, fired_at, updated_at,
                   flapping, last_changed_at)
VALUES (%(rule_id)s, %(fingerprint)s, %(labels)s, %(severity)s, %(state)s, %(province)s, %(commune)s,
        %(agency)s, %(sector)s, %(stream)s, %(value)s, %(summary_vi)s, %(summary_en)s, %(details)s, %(at)s,
        %(fired_at)s, %(at)s, %(flapping)s, %(at)s)
RETURNING id
"""
UPDATE_ALERT_STATE = """
UPDATE alert SET state = %(state)s, version = version + 1, updated_at = %(at)s,
       labels = coalesce(%(labels)s, labels), sector_code = CASE WHEN %(labels)s::jsonb IS NULL THEN sector_code
                                                                 ELSE %(labels)s::jsonb ->> 'sector' END,
       fired_at = CASE WHEN %(state)s = 'firing' THEN %(at)s ELSE fired_at END,
       resolved_at = CASE WHEN %(state)s = 'resolved' THEN %(at)s ELSE resolved_at END,
       value = coalesce(%(value)s, value), severity = coalesce(%(severity)s, severity),
       summary_vi = coalesce(%(summary_vi)s, summary_vi), summary_en = coalesce(%(summary_en)s, summary_en),
       details = coalesce(%(details)s, details), flapping = %(flapping)s, last_changed_at = %(at)s,
       signal_lost_at = NULL
WHERE id = %(id)s AND version = %(version)s
RETURNING id
"""
UPDATE_ALERT_VALUE = """
UPDATE alert SET value = %(value)s, severity = %(severity)s, summary_vi = %(summary_vi)s,
       labels = %(labels)s, sector_code = %(labels)s::jsonb ->> 'sector',
       summary_en = %(summary_en)s, details = %(details)s, version = version + 1, updated_at = %(at)s,
       flapping = %(flapping)s, signal_lost_at = NULL
WHERE id = %(id)s AND version = %(version)s
RETURNING id
"""
UPDATE_ALERT_MARK = """
UPDATE alert SET flapping = %(flapping)s, signal_lost_at = %(lost)s, version = version + 1, updated_at = %(at)s
WHERE id = %(id)s AND version = %(version)s
RETURNING id
"""
INSERT_TRANSITION = """
INSERT INTO alert_transition (alert_id, from_state, to_state, at, value, summary_vi)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
"""
INSERT_OUTBOX = "INSERT INTO outbox (transition_id, channel, payload, delivered_at) VALUES (%s, %s, %s, %s)"


@dataclass(frozen=True)
class EvaluationReport:
    ran: bool
    transitions: int
    updates: int
    conflicts: int
    failed_rules: tuple[str, ...] = ()  # rules rolled back to their savepoint this round
    guarded_rules: tuple[str, ...] = ()  # rules whose cardinality guard tripped this round
    notify_payloads: int = 0  # live NOTIFY payloads sent for the changed alerts


@dataclass
class _Round:
    """What one round has written so far (mutable bookkeeping of the shell, never of the core)."""

    transitions: int = 0
    updates: int = 0
    conflicts: int = 0
    changed_ids: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    guarded: list[str] = field(default_factory=list)
    applied: list[tuple[str, _Applied]] = field(default_factory=list)


@dataclass
class _Applied:
    transitions: int = 0
    updates: int = 0
    conflicts: int = 0
    ids: list[int] = field(default_factory=list)
    to_states: list[str] = field(default_factory=list)


class AlertEngine:
    """Evaluates the rules each round and writes what changed.

    Rules: an explicit ``rules=`` (specs, or the rule objects of alerts/rules*.py) is used as
    given. Otherwise the enabled rules of the alert_rule table, re-read only when the table
    changed (``rules_stamp``); while the table has never held a rule, the packaged defaults
    (alerts/rulebook/default_rules.yaml). In table mode, open alerts of a rule that is no longer
    enabled (disabled, deleted) are resolved.
    """

    def __init__(
        self,
        calendar: WorkingCalendar,
        metrics: Metrics,
        rules: Sequence[LegacyRule | RuleSpec] | None = None,
        channels: Sequence[str] = ("dashboard",),
        max_new_alerts: int = DEFAULT_MAX_NEW_ALERTS,
    ) -> None:
        if max_new_alerts < 1:
            raise ValueError(f"max_new_alerts phải >= 1 / must be >= 1: {max_new_alerts}")
        self._calendar = calendar
        self._metrics = metrics
        self._max_new_alerts = max_new_alerts
        metrics.alert_rule_max_new_alerts.set(max_new_alerts)
        self._explicit = None if rules is None else tuple(spec_from_legacy(r) for r in rules)
        self._channels = tuple(channels)
        self._cache: tuple[tuple[Any, ...], tuple[RuleSpec, ...]] | None = None

    async def run_once(self, conn: Conn, now: datetime) -> EvaluationReport:
        """One round over every rule."""
        return await self._run(conn, now, None)

    async def run_for_stream(self, conn: Conn, now: datetime, stream: str) -> EvaluationReport:
        """One round over the rules that read ``stream`` only (event-driven, after an ingest)."""
        return await self._run(conn, now, stream)

    async def rules(self, conn: Conn) -> tuple[RuleSpec, ...]:
        if self._explicit is not None:
            return self._explicit
        stamp = await rules_stamp(conn)
        if self._cache is None or self._cache[0] != stamp:
            specs = tuple(await enabled_specs(conn)) if stamp and stamp[0] else default_specs()
            self._cache = (stamp, tuple(s for s in specs if s.enabled))
        return self._cache[1]

    async def _run(self, conn: Conn, now: datetime, stream: str | None) -> EvaluationReport:
        started = time.perf_counter()
        try:
            async with conn.transaction():
                cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [ENGINE_LOCK_KEY])
                row = await cur.fetchone()
                if not row or not row[0]:
                    return EvaluationReport(False, 0, 0, 0)
                specs = await self.rules(conn)
                # Indexed by rule once, so each rule's evaluation reads only its own alerts.
                open_by_rule: dict[str, list[OpenAlert]] = {}
                for alert in await self._open_alerts(conn):
                    open_by_rule.setdefault(alert.rule_id, []).append(alert)
                done = _Round()
                for spec in specs:
                    if stream is not None and stream not in spec.streams:
                        continue
                    await self._rule_round(conn, spec, now, open_by_rule.get(spec.id, []), done)
                if self._explicit is None and stream is None:
                    # Rules no longer enabled: their open alerts resolve (no signal, no keep-firing).
                    live = {s.id for s in specs}
                    for rule_id in sorted(open_by_rule.keys() - live):
                        await self._retire(conn, rule_id, now, open_by_rule[rule_id], done)
                # The ids leave in payloads under PostgreSQL's 8,000-byte limit, delivered at commit.
                payloads = await notify_live(conn, "alert", "ids", done.changed_ids)
        except Exception as exc:
            self._metrics.alert_evaluation_failures.inc()
            # The caller (alerts/pipeline.py) logs the traceback; this says what was lost.
            log.error("alert evaluation round failed (stream=%s), nothing of it committed: %r", stream or "all", exc)
            raise
        # Counted once committed: a rule rolled back to its savepoint, or a round that failed, counts nothing.
        for rule_id, applied in done.applied:
            for to_state in applied.to_states:
                self._metrics.alert_transitions.labels(rule_id, to_state).inc()
        self._metrics.alert_notify_payloads.labels("alert").inc(payloads)
        self._metrics.alert_evaluation_seconds.observe(time.perf_counter() - started)
        return EvaluationReport(True, done.transitions, done.updates, done.conflicts, tuple(done.failed),
                                tuple(done.guarded), payloads)  # fmt: skip

    async def _rule_round(
        self, conn: Conn, spec: RuleSpec, now: datetime, open_alerts: Sequence[OpenAlert], done: _Round
    ) -> None:
        """One rule, under its own savepoint: read, guard, evaluate, apply — or roll back alone."""
        try:
            async with conn.transaction():
                policy = policy_for(spec)
                signals = await collect_signals(conn, spec, now, self._calendar)
                guarded = guard_cardinality(spec.id, signals, open_alerts, spec.max_new_alerts or self._max_new_alerts)
                history = await self._flap_history(conn, spec.id, policy, now)
                result = evaluate(now, spec.id, policy, guarded.signals, open_alerts, history)
                applied = await self._apply(conn, result, now)
        except Exception:
            self._metrics.alert_rule_failures.labels(spec.id).inc()
            log.exception("alert rule %s failed at %s; its changes are rolled back, the other rules go on",
                          spec.id, now.isoformat())  # fmt: skip
            done.failed.append(spec.id)
            return
        if guarded.tripped:
            self._metrics.alert_cardinality_guard.labels(spec.id).inc()
            log.warning("alert rule %s would open %d alerts (limit %d): one summary alert instead",
                        spec.id, guarded.would_open, guarded.limit)  # fmt: skip
            done.guarded.append(spec.id)
        self._count(spec.id, applied, done)

    async def _retire(
        self, conn: Conn, rule_id: str, now: datetime, open_alerts: Sequence[OpenAlert], done: _Round
    ) -> None:
        try:
            async with conn.transaction():
                applied = await self._apply(conn, evaluate(now, rule_id, Policy(), [], open_alerts), now)
        except Exception:
            self._metrics.alert_rule_failures.labels(rule_id).inc()
            log.exception("resolving the alerts of retired rule %s failed; rolled back alone", rule_id)
            done.failed.append(rule_id)
            return
        self._count(rule_id, applied, done)

    @staticmethod
    def _count(rule_id: str, applied: _Applied, done: _Round) -> None:
        # Only once the rule's savepoint is released: a rolled-back rule adds nothing.
        done.applied.append((rule_id, applied))
        done.transitions += applied.transitions
        done.updates += applied.updates
        done.conflicts += applied.conflicts
        done.changed_ids.extend(applied.ids)

    # -- inputs -----------------------------------------------------------------------------

    async def _open_alerts(self, conn: Conn) -> list[OpenAlert]:
        cur = await conn.execute(SELECT_OPEN_ALERTS)
        out = []
        for r in await cur.fetchall():
            labels = r[3] if isinstance(r[3], dict) else {}
            out.append(OpenAlert(
                id=int(r[0]), rule_id=str(r[1]), fingerprint=str(r[2]), labels=Labels.of(labels),  # type: ignore[call-overload]
                severity=Severity(r[4]), state=AlertState(r[5]), value=float(r[6]),  # type: ignore[arg-type]
                active_since=r[7], fired_at=r[8], version=int(r[9]),  # type: ignore[arg-type, call-overload]
                summary_vi=str(r[10]), summary_en=str(r[11]), flapping=bool(r[12]), signal_lost_at=r[13],  # type: ignore[arg-type]
            ))  # fmt: skip
        return out

    @staticmethod
    async def _flap_history(conn: Conn, rule_id: str, policy: Policy, now: datetime) -> dict[str, FlapHistory]:
        if not policy.damps_flapping:
            return {}
        cur = await conn.execute(SELECT_FLAP_HISTORY, {"rule": rule_id, "since": now - policy.flap_window})
        latest: dict[str, tuple[int, bool]] = {}
        changes: dict[str, int] = {}
        for r in await cur.fetchall():
            alert_id, fp, flapping, n = int(r[0]), str(r[1]), bool(r[2]), int(r[3])  # type: ignore[call-overload]
            changes[fp] = changes.get(fp, 0) + n
            if fp not in latest or latest[fp][0] < alert_id:
                latest[fp] = (alert_id, flapping)
        return {fp: FlapHistory(changes[fp], flapping) for fp, (_, flapping) in latest.items()}

    # -- applying ---------------------------------------------------------------------------

    async def _apply(self, conn: Conn, result: Evaluation, now: datetime) -> _Applied:
        """Write one rule's evaluation: each kind of write is one pipelined ``executemany``
        (statements sent without waiting for each answer), so a round of thousands of changes costs
        a few round trips, not three or four per alert. Compare-and-set stays per row: an update
        whose version moved returns no id and is counted as a conflict."""
        out = _Applied()
        async with conn.cursor() as cur:
            written = await self._write_transitions(cur, result.transitions, out)
            await self._write_history(cur, written)
            for t, alert_id in written:
                out.ids.append(alert_id)
                out.to_states.append(t.to_state.value)
            out.transitions += len(written)
            updates = [
                {
                    "value": u.signal.value, "severity": u.signal.severity.value, "summary_vi": u.signal.summary_vi,
                    "summary_en": u.signal.summary_en, "details": Jsonb(dict(u.signal.details)), "at": now,
                    "id": u.alert_id, "version": u.expected_version, "flapping": u.flapping,
                    "labels": Jsonb(u.signal.labels.as_dict()),
                }
                for u in result.updates
            ]  # fmt: skip
            marks = [
                {"flapping": m.flapping, "lost": m.signal_lost_at, "at": now, "id": m.alert_id,
                 "version": m.expected_version}
                for m in result.marks
            ]  # fmt: skip
            for sql, params in ((UPDATE_ALERT_VALUE, updates), (UPDATE_ALERT_MARK, marks)):
                for got in await _each_returned(cur, sql, params):
                    if got is None:
                        out.conflicts += 1
                    else:
                        out.ids.append(got)
                        out.updates += 1
        return out

    @staticmethod
    async def _write_transitions(
        cur: AsyncCursor[Any], transitions: Sequence[Transition], out: _Applied
    ) -> list[tuple[Transition, int]]:
        """Insert the new alerts and move the existing ones; (transition, alert id) of those written."""
        new = [t for t in transitions if t.alert_id is None]
        moved = [t for t in transitions if t.alert_id is not None]
        inserts = []
        for t in new:
            s = t.signal
            assert s is not None  # a new alert always comes with its signal
            labels = s.labels.as_dict()
            inserts.append({
                "rule_id": s.rule_id, "fingerprint": s.fingerprint, "labels": Jsonb(labels),
                "severity": s.severity.value, "state": t.to_state.value,
                "province": labels.get("province_code"), "commune": labels.get("commune_code"),
                "agency": labels.get("agency_code"), "sector": labels.get("sector"), "stream": labels.get("stream"),
                "flapping": t.flapping, "value": s.value, "summary_vi": s.summary_vi,
                "summary_en": s.summary_en, "details": Jsonb(dict(s.details)), "at": t.at,
                "fired_at": t.at if t.to_state is AlertState.FIRING else None,
            })  # fmt: skip
        states = []
        for t in moved:
            s = t.signal
            states.append({
                "state": t.to_state.value, "at": t.at, "id": t.alert_id, "version": t.expected_version,
                "value": s.value if s else None, "severity": s.severity.value if s else None,
                "summary_vi": s.summary_vi if s else None, "summary_en": s.summary_en if s else None,
                "details": Jsonb(dict(s.details)) if s else None, "flapping": t.flapping,
                "labels": Jsonb(s.labels.as_dict()) if s else None,
            })  # fmt: skip
        written: list[tuple[Transition, int]] = []
        for t, got in zip(new, await _each_returned(cur, INSERT_ALERT, inserts), strict=True):
            assert got is not None
            written.append((t, got))
        for t, got in zip(moved, await _each_returned(cur, UPDATE_ALERT_STATE, states), strict=True):
            if got is None:
                log.info("alert %s changed under us; skipping %s", t.alert_id, t.to_state)
                out.conflicts += 1
            else:
                written.append((t, got))
        return written

    async def _write_history(self, cur: AsyncCursor[Any], written: Sequence[tuple[Transition, int]]) -> None:
        """One alert_transition row per change, and its outbox rows (one per channel)."""
        rows = []
        for t, alert_id in written:
            s = t.signal
            rows.append([
                alert_id, t.from_state.value if t.from_state else None, t.to_state.value, t.at,
                s.value if s else None, s.summary_vi if s else None,
            ])  # fmt: skip
        outbox = []
        for (t, alert_id), transition_id in zip(
            written, await _each_returned(cur, INSERT_TRANSITION, rows), strict=True
        ):
            s = t.signal
            payload = Jsonb({
                "alert_id": alert_id, "fingerprint": t.fingerprint,
                "from": t.from_state.value if t.from_state else None, "to": t.to_state.value,
                "at": t.at.isoformat(), "summary_vi": s.summary_vi if s else None,
                "summary_en": s.summary_en if s else None, "labels": s.labels.as_dict() if s else None,
                "flapping": t.flapping,
            })  # fmt: skip
            for channel in self._channels:
                # The dashboard channel is delivered by the NOTIFY this transaction sends on commit.
                outbox.append([transition_id, channel, payload, t.at if channel == "dashboard" else None])
        if outbox:
            await cur.executemany(INSERT_OUTBOX, outbox)


async def _each_returned(cur: AsyncCursor[Any], sql: str, params: Sequence[Any]) -> list[int | None]:
    """Run ``sql`` once per parameter set, pipelined; the id each returned (None: no row, i.e. a
    compare-and-set that lost), in the order of ``params``."""
    if not params:
        return []
    await cur.executemany(sql, params, returning=True)
    out: list[int | None] = []
    while True:
        row = await cur.fetchone()
        out.append(None if row is None else int(row[0]))
        if not cur.nextset():
            break
    if len(out) != len(params):
        raise RuntimeError(f"{len(params)} statements gave {len(out)} results")
    return out
