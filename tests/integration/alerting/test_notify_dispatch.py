"""dispatch_once against the real database: delivery rows, idempotent re-runs, escalation.

Every instant is explicit: alerts fire on Friday 14/3/2025 16:50 (Asia/Ho_Chi_Minh); 30 working
minutes later is Monday 17/3 08:20.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg

from alerts.calendar import WorkingCalendar
from alerts.notify.config import DEFAULT_NOTIFY_FILE, load_notify_file
from alerts.notify.dispatcher import NOTIFY_LOCK_KEY, dispatch_once
from ioc.auth.scope import Scope
from tests.auth_support import create_user

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
FIRED = datetime(2025, 3, 14, 16, 50, tzinfo=LOCAL)
MONDAY_0820 = datetime(2025, 3, 17, 8, 20, tzinfo=LOCAL)


@asynccontextmanager
async def connect(db_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


def sql(db_url: str, query: str, params: list[Any] | None = None) -> list[Any]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(query, params)
        return list(cur.fetchall()) if cur.description else []


def seed_alert(db_url: str, fp: str, *, commune: str = "00004") -> int:
    labels = orjson.dumps({"rule": "overdue", "province_code": "01", "commune_code": commune,
                           "stream": "dossier"}).decode()  # fmt: skip
    [(aid,)] = sql(
        db_url,
        "INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, commune_code, stream, value,"
        " summary_vi, summary_en, active_since, fired_at) VALUES ('overdue', %s, %s, 'warning', 'firing', '01', %s,"
        " 'dossier', 3, 'Hồ sơ quá hạn', 'Overdue dossiers', %s, %s) RETURNING id",
        [fp, labels, commune, FIRED, FIRED],
    )
    return int(aid)


def seed_webhook_route(db_url: str) -> None:
    sql(
        db_url,
        "INSERT INTO contact_point (id, channel, address, options, created_by) VALUES"
        " ('ops-hook', 'webhook', 'http://127.0.0.1:9/hook', '{\"format\": \"alertmanager\"}', 'test')",
    )
    sql(db_url, "INSERT INTO notification_route (id, position, matchers, contact_points, group_wait_s, updated_by)"
                " VALUES ('all', 1, '[]', '{ops-hook}', 30, 'test')")  # fmt: skip


async def test_group_notification_written_once(db_url: str) -> None:
    seed_webhook_route(db_url)
    aid = seed_alert(db_url, "fp-one")
    async with connect(db_url) as conn:
        first = await dispatch_once(conn, FIRED, CAL)
        assert first.ran and first.planned == 0  # waits its group_wait
        report = await dispatch_once(conn, FIRED + timedelta(seconds=30), CAL)
        assert (report.planned, report.enqueued) == (1, 1)
        again = await dispatch_once(conn, FIRED + timedelta(seconds=45), CAL)
        assert again.planned == 0  # the log says it was sent; nothing new until the repeat interval
    rows = sql(db_url, "SELECT channel, address, options, payload FROM delivery")
    [(channel, address, options, payload)] = rows
    assert (channel, address, options) == ("webhook", "http://127.0.0.1:9/hook", {"format": "alertmanager"})
    assert payload["kind"] == "alert" and [a["id"] for a in payload["alerts"]] == [aid]
    [(firing_sent,)] = sql(db_url, "SELECT firing_sent FROM notification_group")
    assert firing_sent == ["fp-one"]
    assert sql(db_url, "SELECT kind FROM alert_activity WHERE alert_id = %s", [aid]) == [("notify",)]


async def test_replanning_after_a_lost_commit_inserts_nothing_twice(db_url: str) -> None:
    """Same state, different `now`: the same idempotency key, so one delivery row."""
    seed_webhook_route(db_url)
    seed_alert(db_url, "fp-two")
    async with connect(db_url) as conn:
        await dispatch_once(conn, FIRED, CAL)
        log = sql(db_url, "SELECT receiver, group_key, first_seen_at FROM notification_group")
        await dispatch_once(conn, FIRED + timedelta(seconds=31), CAL)
    # Roll the log back as if the commit had been lost after the delivery rows went out.
    sql(db_url, "UPDATE notification_group SET last_sent_at = NULL, firing_sent = '{}'")
    async with connect(db_url) as conn:
        report = await dispatch_once(conn, FIRED + timedelta(seconds=50), CAL)
    assert (report.planned, report.enqueued) == (1, 0)
    assert sql(db_url, "SELECT count(*) FROM delivery") == [(1,)]
    assert log


async def test_skips_while_another_replica_holds_the_lock(db_url: str) -> None:
    async with connect(db_url) as other, connect(db_url) as conn:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock(%s)", [NOTIFY_LOCK_KEY])
            assert not (await dispatch_once(conn, FIRED, CAL)).ran
        assert (await dispatch_once(conn, FIRED, CAL)).ran


def seed_people(db_url: str) -> dict[str, int]:
    ids = {
        "xa": create_user(db_url, "can-bo-xa", "operator", Scope.from_dict({"communes": ["00004"]})),
        "tinh": create_user(db_url, "can-bo-tinh", "operator", Scope.from_dict({"provinces": ["01"]})),
        "lanh-dao": create_user(db_url, "lanh-dao-tinh", "leader", Scope.from_dict({"provinces": ["01"]})),
    }
    for name, uid in ids.items():
        sql(db_url, "INSERT INTO user_contact (user_id, channel, address) VALUES (%s, 'email', %s)",
            [uid, f"{name}@example.vn"])  # fmt: skip
    return ids


async def test_escalation_fires_when_not_acknowledged(db_url: str) -> None:
    seed_people(db_url)
    aid = seed_alert(db_url, "fp-esc")
    async with connect(db_url) as conn:
        await load_notify_file(conn, DEFAULT_NOTIFY_FILE)
        assert (await dispatch_once(conn, MONDAY_0820 - timedelta(minutes=1), CAL)).escalations == 0
        assert (await dispatch_once(conn, MONDAY_0820, CAL)).escalations == 1
        assert (await dispatch_once(conn, MONDAY_0820 + timedelta(minutes=5), CAL)).escalations == 0
        # 60 working minutes after the first step: the provincial operator
        assert (await dispatch_once(conn, MONDAY_0820 + timedelta(minutes=60), CAL)).escalations == 1
    addresses = sql(db_url, "SELECT address FROM delivery WHERE payload->>'kind' = 'escalation' ORDER BY id")
    assert addresses == [("xa@example.vn",), ("tinh@example.vn",)]
    [(step, rnd, stopped)] = sql(db_url, "SELECT step, round, stopped_at FROM alert_escalation WHERE alert_id = %s",
                                 [aid])  # fmt: skip
    assert (step, rnd, stopped) == (1, 0, None)
    acts = sql(db_url, "SELECT kind, data->>'level' FROM alert_activity WHERE alert_id = %s ORDER BY id", [aid])
    assert acts == [("escalate", "commune"), ("escalate", "province")]


async def test_escalation_stops_when_acknowledged(db_url: str) -> None:
    seed_people(db_url)
    aid = seed_alert(db_url, "fp-ack")
    async with connect(db_url) as conn:
        await load_notify_file(conn, DEFAULT_NOTIFY_FILE)
        await dispatch_once(conn, MONDAY_0820, CAL)
        sql(db_url, "UPDATE alert SET acknowledged_at = %s, acknowledged_by = 'user:can-bo-xa' WHERE id = %s",
            [MONDAY_0820 + timedelta(minutes=10), aid])  # fmt: skip
        await dispatch_once(conn, MONDAY_0820 + timedelta(minutes=11), CAL)
        later = await dispatch_once(conn, MONDAY_0820 + timedelta(hours=5), CAL)
    assert later.escalations == 0
    [(stopped, reason)] = sql(db_url, "SELECT stopped_at, stop_reason FROM alert_escalation WHERE alert_id = %s",
                              [aid])  # fmt: skip
    assert (stopped, reason) == (MONDAY_0820 + timedelta(minutes=11), "acknowledged")
    assert sql(db_url, "SELECT count(*) FROM delivery WHERE payload->>'kind' = 'escalation'") == [(1,)]


async def test_silence_reminder_sent_once(db_url: str) -> None:
    uid = create_user(db_url, "nguoi-tat", "operator", Scope.from_dict({"provinces": ["01"]}))
    sql(db_url, "INSERT INTO user_contact (user_id, channel, address) VALUES (%s, 'telegram', '4242')", [uid])
    ends = MONDAY_0820 + timedelta(hours=1)
    sql(db_url, "INSERT INTO silence (matchers, starts_at, ends_at, comment, created_by) VALUES"
                " ('[{\"label\": \"province_code\", \"op\": \"=\", \"value\": \"01\"}]', %s, %s, 'bảo trì',"
                " 'user:nguoi-tat')", [MONDAY_0820, ends])  # fmt: skip
    async with connect(db_url) as conn:
        assert (await dispatch_once(conn, ends - timedelta(minutes=31), CAL)).reminders == 0
        assert (await dispatch_once(conn, ends - timedelta(minutes=30), CAL)).reminders == 1
        assert (await dispatch_once(conn, ends - timedelta(minutes=10), CAL)).reminders == 0
    [(channel, address, kind)] = sql(db_url, "SELECT channel, address, payload->>'kind' FROM delivery")
    assert (channel, address, kind) == ("telegram", "4242", "silence_expiry")
    assert sql(db_url, "SELECT reminded_until FROM silence") == [(ends,)]


async def test_a_silenced_alert_gets_one_timeline_line_and_no_message(db_url: str) -> None:
    seed_webhook_route(db_url)
    aid = seed_alert(db_url, "fp-muted")
    window = [FIRED - timedelta(hours=1), FIRED + timedelta(hours=2)]
    [(sid,)] = sql(db_url, "INSERT INTO silence (matchers, starts_at, ends_at, comment, created_by) VALUES"
                           " ('[{\"label\": \"province_code\", \"op\": \"=\", \"value\": \"01\"}]', %s, %s, 'bảo trì',"
                           " 'user:an') RETURNING id", window)  # fmt: skip
    async with connect(db_url) as conn:
        for seconds in (0, 31, 60):  # the planner runs every second; the line is written once
            await dispatch_once(conn, FIRED + timedelta(seconds=seconds), CAL)
    lines = sql(db_url, "SELECT kind, actor, data FROM alert_activity WHERE alert_id = %s", [aid])
    assert lines == [("silenced", "system", {"silence_id": sid})]
    assert sql(db_url, "SELECT count(*) FROM delivery") == [(0,)]
