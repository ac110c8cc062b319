"""Screens never miss a change: after a LISTEN outage or a failed refresh the feed catches up on
alerts too; and a snapshot carries what a screen shows (counts and the first page), not every alert.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import psycopg
import pytest
from websockets.asyncio.client import connect

from ingest.reference import CalendarStore
from ioc.auth.scope import Scope
from ioc.db.pool import make_pool
from ioc.live import cells as live_cells
from ioc.live.alert_index import ALERT_PAGE
from ioc.live.channel import NOTIFY_LIVE
from ioc.live.feed import LiveFeed
from ioc.live.hub import HubMessage
from ioc.localities.catalogue import load_catalogue
from ioc.metrics import Metrics
from ioc.settings import Settings
from tests.conftest import LiveServer
from tests.integration.test_live_ws import (
    HA_NOI,
    TIMEOUT,
    changes,
    firing_alert_in,
    ingest,
    overdue_receipt,
    receive,
    receive_until,
    run_alert_engine,
    say_hello,
)

SNAPSHOT_LIMIT_BYTES = 300_000


async def execute(db_url: str, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall() if cur.description else []


async def test_an_acknowledgement_made_while_the_listen_connection_was_down_reaches_the_screen(
    live_server: LiveServer,
) -> None:
    await ingest(live_server, overdue_receipt("HS-CATCH-1", HA_NOI))
    await run_alert_engine(live_server)
    [(alert_id,), *_] = await execute(
        live_server.db_url,
        "SELECT id FROM alert WHERE state = 'firing' AND province_code = %s ORDER BY id",
        [HA_NOI.province_code],
    )
    async with connect(live_server.ws_url) as ws:
        await say_hello(ws, live_server.admin_token)
        snapshot = await receive(ws)
        if not any(a["id"] == alert_id for a in snapshot["data"]["alerts"]):
            await receive_until(ws, firing_alert_in(HA_NOI.province_code))

        # The acknowledgement commits without a notification reaching this process: as if it had
        # been sent while nobody listened. Then the LISTEN connection drops and comes back.
        await execute(
            live_server.db_url,
            "UPDATE alert SET acknowledged_at = now(), acknowledged_by = 'truc-ban' WHERE id = %s",
            [alert_id],
        )
        dropped = await execute(
            live_server.db_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = 'LISTEN ioc_live'",
        )
        assert dropped == [(True,)]  # exactly the API's live LISTEN connection

        def acknowledged(message: dict[str, object]) -> bool:
            alert = changes(message).get(f"alert:{alert_id}")
            return alert is not None and alert["acknowledged_by"] == "truc-ban"

        await receive_until(ws, acknowledged, timeout=TIMEOUT)
        # And a change notified after the reconnect still arrives as usual.
        async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
            await conn.execute("UPDATE alert SET assignee = 'nguyen.van.a' WHERE id = %s", [alert_id])
            await conn.execute(NOTIFY_LIVE, [orjson.dumps({"stream": "alert", "ids": [alert_id]}).decode()])
        await receive_until(ws, lambda m: (changes(m).get(f"alert:{alert_id}") or {}).get("assignee") == "nguyen.van.a")


@contextlib.asynccontextmanager
async def feed_over(db_url: str) -> AsyncIterator[LiveFeed]:
    pool = make_pool(Settings(database_url=db_url), db_url)
    await pool.open(wait=True, timeout=30)
    feed = LiveFeed(
        pool=pool, url=db_url, calendars=CalendarStore(), metrics=Metrics(), catalogue=load_catalogue(),
        window="30d", expected_every_seconds=300, coalesce_seconds=0.01,
    )  # fmt: skip
    try:
        yield feed
    finally:
        await feed.close()
        await pool.close()


async def insert_alerts(db_url: str, count: int, *, severity_every: int = 7) -> None:
    """`count` firing alerts spread over Hà Nội's and Hồ Chí Minh City's communes."""
    await execute(
        db_url,
        """
        INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, commune_code,
                           agency_code, sector_code, value, summary_vi, summary_en, active_since, fired_at)
        SELECT 'overdue', 'fp-' || g, '{}'::jsonb,
               CASE WHEN g %% %s = 0 THEN 'critical' ELSE 'warning' END, 'firing',
               CASE WHEN g %% 2 = 0 THEN '01' ELSE '79' END,
               CASE WHEN g %% 2 = 0 THEN '00004' ELSE '25747' END,
               'UBND-' || (g %% 50), 'Tư pháp', g,
               'Phường Ba Đình: ' || g || ' hồ sơ quá hạn chưa xử lý',
               'Ba Dinh ward: ' || g || ' overdue dossiers not handled',
               now() - make_interval(mins => g), now() - make_interval(mins => g)
        FROM generate_series(1, %s) g
        """,
        [severity_every, count],
    )


async def test_a_national_snapshot_with_ten_thousand_firing_alerts_stays_small(db_url: str) -> None:
    await insert_alerts(db_url, 10_000)
    async with feed_over(db_url) as feed, feed.subscribe(Scope.everything(), None, None) as subscription:
        snapshot = await asyncio.wait_for(anext(subscription), TIMEOUT)
    assert isinstance(snapshot, HubMessage) and snapshot.type == "snapshot"
    size = len(snapshot.json.encode())
    assert size <= SNAPSHOT_LIMIT_BYTES, size
    data = snapshot.data
    counts = data["alert_counts"]
    assert (counts["firing"], counts["pending"]) == (10_000, 0)
    assert counts["by_severity"]["critical"]["firing"] == 10_000 // 7
    assert counts["by_province"] == {"01": {"firing": 5_000, "pending": 0}, "79": {"firing": 5_000, "pending": 0}}
    # The first page of the queue: critical first, newest first among them.
    page = data["alerts"]
    assert len(page) == ALERT_PAGE
    assert all(a["severity"] == "critical" for a in page)
    assert [a["value"] for a in page[:3]] == [7.0, 14.0, 21.0]


async def test_a_refresh_that_fails_loses_nothing_and_the_next_one_publishes_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await insert_alerts(db_url, 3)
    async with feed_over(db_url) as feed, feed.subscribe(Scope.from_dict({"provinces": ["01"]}), None, None) as sub:
        await asyncio.wait_for(anext(sub), TIMEOUT)  # the snapshot
        await feed.refresh_once()  # the first refresh reads everything
        [(alert_id,)] = await execute(db_url, "SELECT id FROM alert WHERE province_code = '01'")
        await execute(db_url, "UPDATE alert SET acknowledged_by = 'ca-truc' WHERE id = %s", [alert_id])
        feed.on_notification(orjson.dumps({"stream": "alert", "ids": [alert_id]}).decode())
        feed.on_notification(orjson.dumps({"stream": "dossier", "provinces": ["01"]}).decode())

        real = live_cells.read_cells

        async def broken(*args: object, **kwargs: object) -> object:
            raise psycopg.OperationalError("the server closed the connection")

        monkeypatch.setattr("ioc.live.feed.read_cells", broken)
        with pytest.raises(psycopg.OperationalError):
            await feed.refresh_once()
        monkeypatch.setattr("ioc.live.feed.read_cells", real)

        assert await feed.refresh_once() > 0
        acknowledged = None
        while acknowledged is None:  # the first refresh's delta comes first; then this one
            message = await asyncio.wait_for(anext(sub), TIMEOUT)
            alert = message.data.get("changes", {}).get(f"alert:{alert_id}")
            if alert is not None and alert["acknowledged_by"] == "ca-truc":
                acknowledged = alert
    assert datetime.fromisoformat(str(acknowledged["fired_at"])) < datetime.now(UTC)
