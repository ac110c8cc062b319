"""The thin I/O shell around the pure alert core: load observations, evaluate, apply.

One evaluation = read observations and open alerts, ask the core for transitions, then apply
them in one transaction with compare-and-set on `version`, writing the history, the outbox and a
live notification. A PostgreSQL advisory lock makes sure only one engine replica evaluates at a
time; the others skip that round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from alerts.calendar import WorkingCalendar
from alerts.engine import evaluate
from alerts.model import AlertState, Evaluation, Labels, OpenAlert, Severity, Signal, Transition
from alerts.rules import (
    DueSoonGroup,
    DueSoonRule,
    MissingApologyGroup,
    MissingApologyRule,
    OnTimeWindow,
    OverdueGroup,
    OverdueRule,
    Rule,
    default_rules,
    due_soon_horizon,
    due_soon_signals,
    missing_apology_cutoff,
    missing_apology_signals,
    on_time_rate_signals,
    overdue_signals,
    rule_hold,
)
from alerts.stream_inputs import (
    STREAM_RULE_TYPES,
    StreamRule,
    default_stream_rules,
    stream_rule_hold,
    stream_rule_signals,
)
from ioc.db.pool import Conn
from ioc.live.channel import NOTIFY_LIVE
from ioc.metrics import Metrics
from ioc.status import LOCAL_TZ

log = logging.getLogger(__name__)

ENGINE_LOCK_KEY = 7_311_042_003
SAMPLE = 20

_GROUP_SELECT = """
SELECT d.province_code, d.commune_code, d.agency_code, a.name,
       coalesce(c.name, p.name), count(*), min({time_col}),
       (array_agg(d.code ORDER BY {time_col}))[1:{sample}]
FROM dossier d
JOIN locality p ON p.code = d.province_code
LEFT JOIN locality c ON c.code = d.commune_code
LEFT JOIN agency a ON a.code = d.agency_code
WHERE {where}
GROUP BY d.province_code, d.commune_code, d.agency_code, a.name, coalesce(c.name, p.name)
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
SELECT_ON_TIME_WINDOWS = """
SELECT p.code, p.name, coalesce(sum(r.resolved), 0), coalesce(sum(r.resolved_early + r.resolved_on_time), 0)
FROM locality p
LEFT JOIN dossier_daily r ON r.province_code = p.code AND r.day >= %(from_day)s
WHERE p.level = 'province'
GROUP BY p.code, p.name
"""
SELECT_OPEN_ALERTS = """
SELECT id, rule_id, fingerprint, labels, severity, state, value, active_since, fired_at, version,
       summary_vi, summary_en
FROM alert WHERE state <> 'resolved'
"""
INSERT_ALERT = """
INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, commune_code, agency_code,
                   value, summary_vi, summary_en, details, active_since, fired_at, updated_at)
VALUES (%(rule_id)s, %(fingerprint)s, %(labels)s, %(severity)s, %(state)s, %(province)s, %(commune)s,
        %(agency)s, %(value)s, %(summary_vi)s, %(summary_en)s, %(details)s, %(at)s, %(fired_at)s, %(at)s)
RETURNING id
"""
UPDATE_ALERT_STATE = """
UPDATE alert SET state = %(state)s, version = version + 1, updated_at = %(at)s,
       fired_at = CASE WHEN %(state)s = 'firing' THEN %(at)s ELSE fired_at END,
       resolved_at = CASE WHEN %(state)s = 'resolved' THEN %(at)s ELSE resolved_at END,
       value = coalesce(%(value)s, value), severity = coalesce(%(severity)s, severity),
       summary_vi = coalesce(%(summary_vi)s, summary_vi), summary_en = coalesce(%(summary_en)s, summary_en),
       details = coalesce(%(details)s, details)
WHERE id = %(id)s AND version = %(version)s
"""
UPDATE_ALERT_VALUE = """
UPDATE alert SET value = %(value)s, severity = %(severity)s, summary_vi = %(summary_vi)s,
       summary_en = %(summary_en)s, details = %(details)s, version = version + 1, updated_at = %(at)s
WHERE id = %(id)s AND version = %(version)s
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


class AlertEngine:
    def __init__(
        self,
        calendar: WorkingCalendar,
        metrics: Metrics,
        rules: Sequence[Rule | StreamRule] = (*default_rules(), *default_stream_rules()),
        channels: Sequence[str] = ("dashboard",),
    ) -> None:
        self._calendar = calendar
        self._metrics = metrics
        self._rules = tuple(rules)
        self._channels = tuple(channels)

    async def run_once(self, conn: Conn, now: datetime) -> EvaluationReport:
        started = time.perf_counter()
        async with conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [ENGINE_LOCK_KEY])
            row = await cur.fetchone()
            if not row or not row[0]:
                return EvaluationReport(False, 0, 0, 0)
            open_alerts = await self._open_alerts(conn)
            transitions = updates = conflicts = 0
            changed_ids: list[int] = []
            for rule in self._rules:
                signals = await self._signals(conn, rule, now)
                hold = stream_rule_hold(rule) if isinstance(rule, STREAM_RULE_TYPES) else rule_hold(rule)
                result = evaluate(now, rule.id, hold, signals, open_alerts)
                t, u, c = await self._apply(conn, rule.id, result, now, changed_ids)
                transitions, updates, conflicts = transitions + t, updates + u, conflicts + c
            if changed_ids:
                payload = orjson.dumps({"stream": "alert", "ids": changed_ids}).decode()
                await conn.execute(NOTIFY_LIVE, [payload])
        self._metrics.alert_evaluation_seconds.observe(time.perf_counter() - started)
        return EvaluationReport(True, transitions, updates, conflicts)

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
                summary_vi=str(r[10]), summary_en=str(r[11]),
            ))  # fmt: skip
        return out

    async def _signals(self, conn: Conn, rule: Rule | StreamRule, now: datetime) -> list[Signal]:
        if isinstance(rule, STREAM_RULE_TYPES):
            return await stream_rule_signals(conn, rule, now, self._calendar)
        if isinstance(rule, OverdueRule):
            rows = await self._groups(conn, SELECT_OVERDUE, {"now": now})
            return overdue_signals(rule, [OverdueGroup(*r) for r in rows])
        if isinstance(rule, DueSoonRule):
            horizon = due_soon_horizon(now, self._calendar, rule)
            rows = await self._groups(conn, SELECT_DUE_SOON, {"now": now, "horizon": horizon})
            return due_soon_signals(rule, [DueSoonGroup(*r) for r in rows])
        if isinstance(rule, MissingApologyRule):
            cutoff = missing_apology_cutoff(now, self._calendar, rule)
            rows = await self._groups(conn, SELECT_MISSING_APOLOGY, {"cutoff": cutoff})
            return missing_apology_signals(rule, [MissingApologyGroup(*r) for r in rows])
        from_day = now.astimezone(LOCAL_TZ).date() - timedelta(days=max(rule.window.days, 1) - 1)
        cur = await conn.execute(SELECT_ON_TIME_WINDOWS, {"from_day": from_day})
        windows = [OnTimeWindow(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in await cur.fetchall()]  # type: ignore[call-overload]
        return on_time_rate_signals(rule, windows)

    @staticmethod
    async def _groups(conn: Conn, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        cur = await conn.execute(sql, params)
        return [(*r[:7], tuple(r[7] or ())) for r in await cur.fetchall()]  # type: ignore[arg-type]

    # -- applying ---------------------------------------------------------------------------

    async def _apply(
        self, conn: Conn, rule_id: str, result: Evaluation, now: datetime, changed_ids: list[int]
    ) -> tuple[int, int, int]:
        applied = conflicts = 0
        for transition in result.transitions:
            alert_id = await self._apply_transition(conn, transition)
            if alert_id is None:
                conflicts += 1
                continue
            changed_ids.append(alert_id)
            applied += 1
            self._metrics.alert_transitions.labels(rule_id, transition.to_state.value).inc()
        updated = 0
        for update in result.updates:
            s = update.signal
            cur = await conn.execute(UPDATE_ALERT_VALUE, {
                "value": s.value, "severity": s.severity.value, "summary_vi": s.summary_vi,
                "summary_en": s.summary_en, "details": Jsonb(dict(s.details)), "at": now,
                "id": update.alert_id, "version": update.expected_version,
            })  # fmt: skip
            if cur.rowcount == 1:
                changed_ids.append(update.alert_id)
                updated += 1
            else:
                conflicts += 1
        return applied, updated, conflicts

    async def _apply_transition(self, conn: Conn, t: Transition) -> int | None:
        s = t.signal
        if t.alert_id is None:
            assert s is not None
            labels = s.labels.as_dict()
            cur = await conn.execute(INSERT_ALERT, {
                "rule_id": s.rule_id, "fingerprint": s.fingerprint, "labels": Jsonb(labels),
                "severity": s.severity.value, "state": t.to_state.value,
                "province": labels.get("province_code"), "commune": labels.get("commune_code"),
                "agency": labels.get("agency_code"), "value": s.value, "summary_vi": s.summary_vi,
                "summary_en": s.summary_en, "details": Jsonb(dict(s.details)), "at": t.at,
                "fired_at": t.at if t.to_state is AlertState.FIRING else None,
            })  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            alert_id: int = int(row[0])  # type: ignore[call-overload]
        else:
            cur = await conn.execute(UPDATE_ALERT_STATE, {
                "state": t.to_state.value, "at": t.at, "id": t.alert_id, "version": t.expected_version,
                "value": s.value if s else None, "severity": s.severity.value if s else None,
                "summary_vi": s.summary_vi if s else None, "summary_en": s.summary_en if s else None,
                "details": Jsonb(dict(s.details)) if s else None,
            })  # fmt: skip
            if cur.rowcount != 1:
                log.info("alert %s changed under us; skipping %s", t.alert_id, t.to_state)
                return None
            alert_id = int(t.alert_id)
        cur = await conn.execute(INSERT_TRANSITION, [
            alert_id, t.from_state.value if t.from_state else None, t.to_state.value, t.at,
            s.value if s else None, s.summary_vi if s else None,
        ])  # fmt: skip
        row = await cur.fetchone()
        assert row is not None
        payload = {
            "alert_id": alert_id, "fingerprint": t.fingerprint,
            "from": t.from_state.value if t.from_state else None, "to": t.to_state.value,
            "at": t.at.isoformat(), "summary_vi": s.summary_vi if s else None,
            "summary_en": s.summary_en if s else None, "labels": s.labels.as_dict() if s else None,
        }  # fmt: skip
        for channel in self._channels:
            # The dashboard channel is delivered by the NOTIFY this transaction sends on commit.
            delivered = t.at if channel == "dashboard" else None
            await conn.execute(INSERT_OUTBOX, [row[0], channel, Jsonb(payload), delivered])
        return alert_id
