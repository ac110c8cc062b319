"""An evaluation round that changes thousands of alerts commits, and one rule's error never aborts
the round (issue 11).

5,000 overdue dossiers arrive in one batch through the ingest API, each at its own agency (one-stop
desk) and spread over every commune of the country (there are 3,321 communes since July 2025, so
5,000 distinct communes do not exist; the 5,000 agencies are what the alerts are about). The engine
runs with an explicit ``now`` two working days after the receipts: all 5,000 are overdue and owe an
apology letter.

* With the packaged rules the cardinality guard trips (default limit 500 new alerts per rule per
  round): each of ``overdue`` and ``late_without_apology`` opens one summary alert ("quá nhiều
  cảnh báo / too many series") instead of 5,000.
* With the limit raised to 10,000 the same round opens 5,000 agency alerts per rule and resolves the
  two summaries: 10,002 changes, whose ids reach a LISTENer in several NOTIFY payloads, each under
  PostgreSQL's 8,000-byte limit (one payload listing them all is what used to roll the round back).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest

from alerts.calendar import WorkingCalendar
from alerts.rulebook.collect import collect_signals
from alerts.rulebook.spec import LateWithoutApologyParams, OverdueParams, RuleSpec
from alerts.shell import AlertEngine, EvaluationReport
from ioc.db.embedded import EmbeddedPostgres
from ioc.live.channel import LIVE_CHANNEL, NOTIFY_MAX_BYTES
from ioc.metrics import Metrics
from ioc.settings import Settings
from tests.conftest import LiveServer, fresh_database, running_app

VN = ZoneInfo("Asia/Ho_Chi_Minh")
RECEIVED = datetime(2026, 10, 12, 9, 0, tzinfo=VN)  # Monday; one working day: due Tuesday 09:00
NOW = datetime(2026, 10, 14, 10, 0, tzinfo=VN)  # Wednesday: overdue, and a working day without apology
DOSSIERS = 5_000
ENGINE_RULES = ("overdue", "late_without_apology")


def receipt(i: int, commune: str) -> dict[str, object]:
    return {
        "event_id": f"VOL-{i}:received", "dossier_code": f"VOL-{i}", "event_type": "received",
        "occurred_at": RECEIVED.isoformat(), "channel": "online", "locality": {"commune_code": commune},
        "agency": {"code": f"DESK-{i:05d}", "name": f"Bộ phận một cửa số {i}"},
        "procedure": {"code": "P-VOL", "name": "Thủ tục thử tải", "sector": "Tư pháp", "statutory_days": 1},
    }  # fmt: skip


def post(server: LiveServer, events: list[dict[str, object]]) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=600) as client:
        return client.post(
            "/api/v1/ingest/dossier-events", content=orjson.dumps(events),
            headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
        )  # fmt: skip


@pytest.fixture(scope="module")
def flood(pg_server: EmbeddedPostgres) -> Iterator[LiveServer]:
    # The product's own batch limits (the test servers' are smaller), so 5,000 fit in one batch.
    defaults = Settings()
    with running_app(
        fresh_database(pg_server), max_batch_items=defaults.max_batch_items, max_body_bytes=defaults.max_body_bytes
    ) as server:
        with psycopg.connect(server.db_url) as conn:
            query = "SELECT code FROM locality WHERE level = 'commune' ORDER BY code"
            communes = [str(r[0]) for r in conn.execute(query)]
        assert len(communes) > 3_000
        batch = [receipt(i, communes[i % len(communes)]) for i in range(DOSSIERS)]
        response = post(server, batch)
        assert response.status_code == 200 and response.json()["accepted"] == DOSSIERS, response.text[:2000]
        yield server


@asynccontextmanager
async def listening(db_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    try:
        await conn.execute(f"LISTEN {LIVE_CHANNEL}")
        yield conn
    finally:
        await conn.close()


async def alert_ids_heard(listener: psycopg.AsyncConnection[Any], expected: set[int]) -> tuple[set[int], list[int]]:
    """Alert ids of the "alert" notifications until all expected arrived (or a minute of silence),
    with each payload's size in bytes."""
    heard: set[int] = set()
    sizes: list[int] = []
    while not heard >= expected:
        got = False
        async for note in listener.notifies(timeout=60, stop_after=1):
            got = True
            message = orjson.loads(note.payload)
            if message.get("stream") == "alert":
                sizes.append(len(note.payload.encode()))
                heard.update(int(i) for i in message["ids"])
        if not got:
            break
    return heard, sizes


async def versions(conn: psycopg.AsyncConnection[Any]) -> dict[int, int]:
    cur = await conn.execute("SELECT id, version FROM alert")
    return {int(r[0]): int(r[1]) for r in await cur.fetchall()}


async def run(server: LiveServer, engine: AlertEngine) -> tuple[EvaluationReport, set[int], list[int], set[int]]:
    """One round at NOW; the ids heard on the live channel, the payload sizes, the ids it changed
    (inserted, or their version moved: every write of the engine bumps it)."""
    async with listening(server.db_url) as listener:
        async with await psycopg.AsyncConnection.connect(server.db_url, autocommit=True) as conn:
            before = await versions(conn)
            report = await engine.run_once(conn, NOW)
            after = await versions(conn)
        changed = {i for i, v in after.items() if before.get(i) != v}
        heard, sizes = await alert_ids_heard(listener, changed)
    return report, heard, sizes, changed


async def open_alerts(db_url: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT rule_id, state, labels, value, agency_code, commune_code, summary_vi, summary_en, details "
            "FROM alert WHERE state <> 'resolved' AND rule_id = ANY(%s)", [list(ENGINE_RULES)],
        )  # fmt: skip
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


async def test_a_flood_of_overdue_dossiers_is_guarded_then_opened_per_agency_and_every_change_is_heard(
    flood: LiveServer,
) -> None:
    # Round 1, the packaged rules and the default guard: one summary alert per rule.
    metrics = Metrics()
    report, heard, sizes, changed = await run(flood, AlertEngine(WorkingCalendar(), metrics))
    assert report.ran and set(ENGINE_RULES) <= set(report.guarded_rules)
    assert metrics.registry.get_sample_value("ioc_alert_rule_max_new_alerts") == 500
    assert metrics.registry.get_sample_value("ioc_alert_cardinality_guard_trips_total", {"rule": "overdue"}) == 1
    summaries = await open_alerts(flood.db_url)
    assert sorted(a["rule_id"] for a in summaries) == sorted(ENGINE_RULES)
    for a in summaries:
        assert a["labels"]["guard"] == "too_many_series" and a["value"] == DOSSIERS and a["state"] == "firing"
        assert "quá nhiều cảnh báo" in a["summary_vi"] and "5.000 chuỗi mới" in a["summary_vi"]
        assert "too many series" in a["summary_en"] and a["details"]["limit"] == 500
    assert heard == changed and len(changed) >= 2

    # Round 2, the limit raised: 5,000 agency alerts per rule open, the summaries resolve.
    metrics = Metrics()
    report, heard, sizes, changed = await run(flood, AlertEngine(WorkingCalendar(), metrics, max_new_alerts=10_000))
    assert report.ran and report.failed_rules == () and not set(ENGINE_RULES) & set(report.guarded_rules)
    opened = await open_alerts(flood.db_url)
    for rule_id in ENGINE_RULES:
        mine = [a for a in opened if a["rule_id"] == rule_id]
        assert len(mine) == DOSSIERS and all(a["state"] == "firing" and a["value"] == 1 for a in mine)
        # At agency level: one alert per desk, in the desk's commune, its sector named (only one).
        assert len({a["agency_code"] for a in mine}) == DOSSIERS and all(a["commune_code"] for a in mine)
        assert all(a["labels"]["sector"] == "Tư pháp" and a["details"]["sectors"] == {"Tư pháp": 1} for a in mine)
        assert not any("guard" in a["labels"] for a in mine)
    assert report.transitions == 2 * DOSSIERS + 2  # 10,000 opened, 2 summaries resolved
    # Every changed alert was announced, in payloads each under PostgreSQL's limit.
    assert len(changed) == 2 * DOSSIERS + 2 and heard == changed
    assert report.notify_payloads == len(sizes) > 1 and max(sizes) < NOTIFY_MAX_BYTES

    # Round 3, nothing changed: no write at all (labels, values and summaries all as stored).
    async with await psycopg.AsyncConnection.connect(flood.db_url) as conn:
        steady = await AlertEngine(WorkingCalendar(), Metrics(), max_new_alerts=10_000).run_once(conn, NOW)
    assert (steady.transitions, steady.updates, steady.conflicts, steady.notify_payloads) == (0, 0, 0, 0)


async def test_one_failing_rule_is_rolled_back_alone_and_counted(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [receipt(i, commune) for i, commune in enumerate(("00004", "00008", "00025"))]
    response = await asyncio.to_thread(post, live_server, batch)
    assert response.json()["accepted"] == 3, response.text

    async def collect_or_fail(conn: Any, spec: RuleSpec, now: datetime, calendar: WorkingCalendar) -> Any:
        found = await collect_signals(conn, spec, now, calendar)
        if spec.id == "broken_db":
            # A database error: without its savepoint it would abort the whole round's transaction.
            await conn.execute("INSERT INTO alert_transition (alert_id, to_state, at) VALUES (-1, 'firing', now())")
        if spec.id == "broken_code":
            raise RuntimeError("a bug in one rule")
        return found

    monkeypatch.setattr("alerts.shell.collect_signals", collect_or_fail)
    specs = (
        RuleSpec("broken_db", OverdueParams()),
        RuleSpec("overdue", OverdueParams()),
        RuleSpec("broken_code", LateWithoutApologyParams()),
        RuleSpec("late_without_apology", LateWithoutApologyParams()),
    )
    metrics = Metrics()
    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        report = await AlertEngine(WorkingCalendar(), metrics, rules=specs).run_once(conn, NOW)
    assert report.ran and report.failed_rules == ("broken_db", "broken_code")
    assert report.transitions == 6  # three desks × the two sound rules
    alerts_by_rule: dict[str, int] = {}
    for a in await open_alerts(live_server.db_url):
        alerts_by_rule[a["rule_id"]] = alerts_by_rule.get(a["rule_id"], 0) + 1
    assert alerts_by_rule == {"overdue": 3, "late_without_apology": 3}
    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM alert WHERE rule_id LIKE 'broken%'")
        assert await cur.fetchone() == (0,)
    for rule_id in ("broken_db", "broken_code"):
        assert metrics.registry.get_sample_value("ioc_alert_rule_failures_total", {"rule": rule_id}) == 1
    assert metrics.registry.get_sample_value("ioc_alert_rule_failures_total", {"rule": "overdue"}) is None
    assert (
        metrics.registry.get_sample_value("ioc_alerts_transitions_total", {"rule": "overdue", "to_state": "firing"})
        == 3
    )
    assert metrics.registry.get_sample_value("ioc_alert_evaluation_failures_total") == 0


async def test_a_round_that_fails_as_a_whole_is_counted(live_server: LiveServer) -> None:
    metrics = Metrics()
    async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
        engine = AlertEngine(WorkingCalendar(), metrics, rules=(RuleSpec("overdue", OverdueParams()),))
        await conn.close()  # the round cannot even take its lock
        with pytest.raises(psycopg.OperationalError):
            await engine.run_once(conn, NOW)
    assert metrics.registry.get_sample_value("ioc_alert_evaluation_failures_total") == 1
