"""Writing posted Alertmanager alerts into the alert table, and expiring the ones nobody resends.

The same writes as the rule engine's shell (alerts/shell.py) for its own alerts: an ``alert`` row
per episode, an ``alert_transition`` row per state change, a dashboard ``outbox`` row and one
NOTIFY on the live channel per transaction, so screens, the notification planner and the history
treat both sources alike. A resend that only moves ``endsAt`` forward touches ``ends_at`` and
nothing else (no version bump: it must not collide with a person acknowledging at that moment).

Concurrency: an HA pair of Prometheus servers posts the same alert at the same instant; the open
row is locked (FOR UPDATE) and the insert is ON CONFLICT DO NOTHING on the open-fingerprint
index, so exactly one episode is created and the other post becomes a refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from alerts.interop.postable import SOURCE, ExternalAlert, Rejection
from ioc.db.pool import Conn
from ioc.live.channel import notify_live

SELECT_OPEN = """
SELECT id, source, version, severity, summary_vi, summary_en, details, labels
FROM alert WHERE fingerprint = %s AND state <> 'resolved' FOR UPDATE
"""
# A person resolved this episode by hand: resends of the same episode must not reopen it.
SELECT_CLOSED_BY_HAND = """
SELECT 1 FROM alert WHERE fingerprint = %s AND source = 'alertmanager' AND active_since = %s
  AND state = 'resolved' AND resolved_by IS NOT NULL LIMIT 1
"""
INSERT_EXTERNAL = """
INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, commune_code, agency_code,
                   sector_code, stream, source, value, summary_vi, summary_en, details, active_since, fired_at,
                   ends_at, updated_at, last_changed_at)
VALUES (%(rule_id)s, %(fingerprint)s, %(labels)s, %(severity)s, 'firing', %(province)s, %(commune)s, %(agency)s,
        %(sector)s, %(stream)s, 'alertmanager', %(value)s, %(summary_vi)s, %(summary_en)s, %(details)s,
        %(starts_at)s, %(now)s, %(ends_at)s, %(now)s, %(now)s)
ON CONFLICT (fingerprint) WHERE state <> 'resolved' DO NOTHING
RETURNING id
"""
REFRESH_ENDS = "UPDATE alert SET ends_at = %s WHERE id = %s"
UPDATE_CONTENT = """
UPDATE alert SET ends_at = %(ends_at)s, severity = %(severity)s, value = %(value)s, summary_vi = %(summary_vi)s,
       summary_en = %(summary_en)s, details = %(details)s, labels = %(labels)s, version = version + 1,
       updated_at = %(now)s
WHERE id = %(id)s
"""
RESOLVE = """
UPDATE alert SET state = 'resolved', resolved_at = %(at)s, ends_at = %(at)s, version = version + 1,
       updated_at = %(now)s, last_changed_at = %(now)s
WHERE id = %(id)s
"""
# Every alertmanager alert whose endsAt passed without a resend (alertmanager alerts only ever
# fire: there is no pending state, Prometheus holds `for` itself).
EXPIRE_DUE = """
WITH due AS (
    SELECT id, state FROM alert
    WHERE source = 'alertmanager' AND state <> 'resolved' AND ends_at <= %(now)s
    ORDER BY id FOR UPDATE SKIP LOCKED
)
UPDATE alert a SET state = 'resolved', resolved_at = a.ends_at, version = a.version + 1, updated_at = %(now)s,
       last_changed_at = %(now)s
FROM due WHERE a.id = due.id
RETURNING a.id, due.state, a.ends_at, a.fingerprint, a.value, a.summary_vi, a.summary_en, a.labels
"""
INSERT_TRANSITION = """
INSERT INTO alert_transition (alert_id, from_state, to_state, at, value, summary_vi)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
"""
INSERT_OUTBOX = "INSERT INTO outbox (transition_id, channel, payload, delivered_at) VALUES (%s, 'dashboard', %s, %s)"


@dataclass(frozen=True)
class Applied:
    """What one accepted item did: created | updated | refreshed | resolved | unchanged."""

    alert_id: int | None
    outcome: str


async def apply_external_alerts(
    conn: Conn, alerts: Sequence[ExternalAlert], now: datetime
) -> list[Applied | Rejection]:
    """Write `alerts` in one transaction (the caller's, or one opened here) and NOTIFY once."""
    results: list[Applied | Rejection] = []
    changed: list[int] = []
    async with conn.transaction():
        for alert in alerts:
            result = await _apply_one(conn, alert, now)
            results.append(result)
            if isinstance(result, Applied) and result.alert_id is not None and result.outcome != "refreshed":
                changed.append(result.alert_id)
        await _notify(conn, changed)
    return results


async def expire_external_alerts(conn: Conn, now: datetime) -> int:
    """Resolve alertmanager-sourced alerts whose endsAt has passed; returns how many."""
    async with conn.transaction():
        cur = await conn.execute(EXPIRE_DUE, {"now": now})
        rows: list[Any] = await cur.fetchall()
        for alert_id, from_state, at, fp, value, summary_vi, summary_en, labels in rows:
            await _transition(conn, alert_id, from_state, "resolved", at, fp, value, summary_vi, summary_en, labels)
        await _notify(conn, [int(r[0]) for r in rows])
    return len(rows)


async def _apply_one(conn: Conn, alert: ExternalAlert, now: datetime) -> Applied | Rejection:
    for _ in range(2):  # a second pass only after losing an insert race to a concurrent post
        cur = await conn.execute(SELECT_OPEN, [alert.fingerprint])
        row: Any = await cur.fetchone()
        if row is not None:
            return await _existing(conn, alert, row, now)
        if alert.resolved(now):
            return Applied(None, "unchanged")  # already resolved (Prometheus resends "resolved" for 15 min)
        cur = await conn.execute(SELECT_CLOSED_BY_HAND, [alert.fingerprint, alert.starts_at])
        if await cur.fetchone() is not None:
            return Applied(None, "unchanged")
        cur = await conn.execute(INSERT_EXTERNAL, {
            "rule_id": alert.rule_id, "fingerprint": alert.fingerprint, "labels": Jsonb(alert.labels),
            "severity": alert.severity.value, "province": alert.province_code, "commune": alert.commune_code,
            "agency": alert.agency_code, "sector": alert.sector_code, "stream": alert.stream,
            "value": alert.value, "summary_vi": alert.summary_vi, "summary_en": alert.summary_en,
            "details": Jsonb(alert.details), "starts_at": alert.starts_at, "now": now, "ends_at": alert.ends_at,
        })  # fmt: skip
        inserted: Any = await cur.fetchone()
        if inserted is not None:
            alert_id = int(inserted[0])
            await _transition(conn, alert_id, None, "firing", now, alert.fingerprint, alert.value,
                              alert.summary_vi, alert.summary_en, alert.labels)  # fmt: skip
            return Applied(alert_id, "created")
    raise RuntimeError(f"alert {alert.fingerprint} neither open nor insertable")  # pragma: no cover


async def _existing(conn: Conn, alert: ExternalAlert, row: Any, now: datetime) -> Applied | Rejection:
    alert_id, source, _version, severity, summary_vi, summary_en, details, labels = row
    if source != SOURCE:
        return Rejection("fingerprint_conflict", "trùng dấu vân tay với cảnh báo của IOC / fingerprint is taken "
                                                 "by an IOC-evaluated alert", 409)  # fmt: skip
    if alert.resolved(now):
        await conn.execute(RESOLVE, {"id": alert_id, "at": alert.ends_at, "now": now})
        await _transition(conn, alert_id, "firing", "resolved", alert.ends_at, alert.fingerprint, alert.value,
                          alert.summary_vi, alert.summary_en, alert.labels)  # fmt: skip
        return Applied(int(alert_id), "resolved")
    same = (severity, summary_vi, summary_en, details, labels) == (
        alert.severity.value, alert.summary_vi, alert.summary_en, alert.details, alert.labels,
    )  # fmt: skip
    if same:
        await conn.execute(REFRESH_ENDS, [alert.ends_at, alert_id])
        return Applied(int(alert_id), "refreshed")
    await conn.execute(UPDATE_CONTENT, {
        "id": alert_id, "ends_at": alert.ends_at, "severity": alert.severity.value, "value": alert.value,
        "summary_vi": alert.summary_vi, "summary_en": alert.summary_en, "details": Jsonb(alert.details),
        "labels": Jsonb(alert.labels), "now": now,
    })  # fmt: skip
    return Applied(int(alert_id), "updated")


async def _transition(
    conn: Conn, alert_id: int, from_state: str | None, to_state: str, at: datetime, fp: str, value: float,
    summary_vi: str, summary_en: str, labels: dict[str, str],
) -> None:  # fmt: skip
    cur = await conn.execute(INSERT_TRANSITION, [alert_id, from_state, to_state, at, value, summary_vi])
    row: Any = await cur.fetchone()
    payload = {
        "alert_id": alert_id, "fingerprint": fp, "from": from_state, "to": to_state, "at": at.isoformat(),
        "summary_vi": summary_vi, "summary_en": summary_en, "labels": labels,
    }  # fmt: skip
    # As in the engine's shell: the dashboard channel is delivered by the NOTIFY sent on commit.
    await conn.execute(INSERT_OUTBOX, [row[0], Jsonb(payload), at])


async def _notify(conn: Conn, ids: list[int]) -> None:
    # A POST may carry thousands of alerts: the ids go in payloads under PostgreSQL's NOTIFY limit.
    await notify_live(conn, "alert", "ids", ids)
