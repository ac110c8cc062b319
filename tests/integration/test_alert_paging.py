"""GET /api/v1/alerts pages by keyset cursor in the live queue's order, against a real PostgreSQL.

A few hundred alerts are seeded with every state and severity, ties on the queue time (so the id
breaks them), resolutions of today and of three days ago, in two provinces. What is checked: the
pages concatenate to the whole list in the queue order (computed here in Python from the rows),
with no duplicate and no gap; a new alert arriving between pages neither repeats a row nor hides
one; the scope and the filters still apply to every page; `total` counts them; the snapshot's
first page continues through `alerts_more`; and the queries are index scans of alert_queue_idx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from websockets.asyncio.client import connect

from ioc.auth.scope import Scope
from ioc.live.alert_queue import QUEUE_START, SELECT_QUEUE_PAGE, QueueKey, queue_key
from tests.auth_support import user_token
from tests.conftest import LiveServer, running_app
from tests.conftest import fresh_database as _fresh_database

HANOI, HCMC = "01", "79"
SEEDED = 360

SEED = """
INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, value, summary_vi, summary_en,
                   active_since, fired_at, resolved_at, updated_at)
SELECT 'overdue', 'paging-' || g, '{}', (ARRAY['critical', 'warning', 'info'])[1 + g %% 3],
       s.state, (ARRAY['01', '79'])[1 + (g / 7) %% 2], g, 'Cảnh báo thử #' || g, 'Test alert #' || g,
       -- g and g + 45 share a time: the id must break the tie.
       %(base)s - (g %% 45) * interval '1 minute',
       CASE WHEN s.state <> 'pending' THEN %(base)s - (g %% 45) * interval '1 minute' + interval '30 seconds' END,
       CASE WHEN s.state = 'resolved'
            THEN %(base)s - (g %% 30) * interval '1 minute' - CASE WHEN g %% 5 = 0 THEN interval '3 days' ELSE
                 interval '0' END END,
       %(base)s
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT (ARRAY['firing', 'pending', 'resolved', 'resolved'])[1 + (g / 3) %% 4] AS state) s
"""


@pytest.fixture(scope="module")
def server(pg_server: Any) -> Iterator[LiveServer]:
    """An app over its own database, so the alert table holds exactly what this module seeds."""
    with running_app(_fresh_database(pg_server)) as live:
        with psycopg.connect(live.db_url) as conn:
            conn.execute(SEED, {"base": datetime.now(UTC).replace(microsecond=0), "n": SEEDED})
        yield live


def all_rows(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute("SELECT id, state, severity, province_code, active_since, fired_at, resolved_at FROM alert")
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def in_queue_order(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in sorted(rows, key=lambda r: queue_key(r).sort_tuple())]


def page_through(client: httpx.Client, limit: int, **params: Any) -> tuple[list[int], list[int]]:
    """Every page's ids concatenated, and the `total` each page reported."""
    ids: list[int] = []
    totals: list[int] = []
    cursor: str | None = None
    for _ in range(SEEDED + 10):  # a bound, so a cursor that never ends fails instead of hanging
        query = {**params, "limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/alerts", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["alerts"]) <= limit
        ids += [a["id"] for a in body["alerts"]]
        totals.append(body["total"])
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, totals
    raise AssertionError("paging did not end")


def test_pages_concatenate_to_the_whole_queue_without_duplicates_or_gaps(server: LiveServer) -> None:
    expected = in_queue_order(all_rows(server.db_url))
    with server.client() as admin:
        for limit in (1, 37, 50, SEEDED):
            ids, totals = page_through(admin, limit)
            assert ids == expected, limit
            assert set(totals) == {SEEDED}
        one = admin.get("/api/v1/alerts", params={"limit": 1000}).json()
    assert [a["id"] for a in one["alerts"]] == expected and one["next_cursor"] is None


def test_the_order_is_firing_pending_resolved_then_severity_then_newest(server: LiveServer) -> None:
    with server.client() as admin:
        alerts = admin.get("/api/v1/alerts", params={"limit": 1000}).json()["alerts"]
    states = [a["state"] for a in alerts]
    assert states == sorted(states, key=["firing", "pending", "resolved"].index)
    firing = [a for a in alerts if a["state"] == "firing"]
    assert [a["severity"] for a in firing] == sorted((a["severity"] for a in firing),
                                                     key=["critical", "warning", "info"].index)  # fmt: skip
    critical = [datetime.fromisoformat(a["fired_at"]) for a in firing if a["severity"] == "critical"]
    assert critical == sorted(critical, reverse=True)


def test_scope_and_filters_apply_to_every_page(server: LiveServer) -> None:
    rows = all_rows(server.db_url)
    since = datetime.now(UTC) - timedelta(days=1)
    hanoi = server.client(user_token(server.db_url, "paging-hn", "operator", Scope.from_dict({"provinces": [HANOI]})))
    with hanoi:
        ids, totals = page_through(hanoi, 23)
        assert ids == in_queue_order([r for r in rows if r["province_code"] == HANOI])
        assert set(totals) == {len(ids)} and 0 < len(ids) < SEEDED
        # A province outside the scope is not a way around it.
        assert page_through(hanoi, 23, province_code=HCMC) == ([], [0])
    with server.client() as admin:
        ids, _ = page_through(admin, 29, state="open", province_code=HCMC)
        assert ids == in_queue_order([r for r in rows if r["state"] != "resolved" and r["province_code"] == HCMC])
        ids, totals = page_through(admin, 31, resolved_since=since.isoformat())
        today = [r for r in rows if r["state"] != "resolved" or r["resolved_at"] >= since]
        assert ids == in_queue_order(today) and len(today) < SEEDED and set(totals) == {len(today)}


def test_a_new_alert_between_pages_repeats_nothing_and_hides_nothing(server: LiveServer) -> None:
    before = in_queue_order(all_rows(server.db_url))
    with server.client() as admin:
        first = admin.get("/api/v1/alerts", params={"limit": 40}).json()
        assert [a["id"] for a in first["alerts"]] == before[:40]
        with psycopg.connect(server.db_url) as conn:
            # One that sorts before the cursor (a fresh critical firing) and one after it (an info
            # resolution from last week): the first belongs to a page already read, the second
            # must show up on a later one.
            early, late = (
                conn.execute(
                    "INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, value,"
                    " summary_vi, summary_en, active_since, fired_at, resolved_at)"
                    " VALUES ('overdue', %s, '{}', %s, %s, '01', 1, 'mới', 'new', %s, %s, %s) RETURNING id",
                    [fingerprint, severity, state, at, at, at if state == "resolved" else None],
                ).fetchone()[0]  # type: ignore[index]
                for fingerprint, severity, state, at in (
                    ("paging-new-early", "critical", "firing", datetime.now(UTC)),
                    ("paging-new-late", "info", "resolved", datetime.now(UTC) - timedelta(days=7)),
                )
            )
        rest: list[int] = []
        cursor = first["next_cursor"]
        while cursor:
            body = admin.get("/api/v1/alerts", params={"limit": 40, "cursor": cursor}).json()
            rest += [a["id"] for a in body["alerts"]]
            cursor = body["next_cursor"]
    seen = [a["id"] for a in first["alerts"]] + rest
    assert len(seen) == len(set(seen))
    assert early not in seen and late in seen
    assert [i for i in seen if i != late] == before
    assert body["total"] == SEEDED + 2
    with psycopg.connect(server.db_url) as conn:  # leave the seeded table as the other tests expect
        conn.execute("DELETE FROM alert WHERE id = ANY(%s)", [[early, late]])


@pytest.mark.parametrize(
    "cursor", ["not base64 at all!", "W10", QueueKey(0, 0, datetime.now(UTC), 1).cursor()[:-3], "eyJhIjoxfQ"]
)
def test_a_cursor_the_server_did_not_make_is_a_422(server: LiveServer, cursor: str) -> None:
    with server.client() as admin:
        response = admin.get("/api/v1/alerts", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert "con trỏ" in response.text


async def test_the_snapshot_page_continues_through_alerts_more(server: LiveServer) -> None:
    """The snapshot's first page plus the REST pages it points to are the scope's whole queue."""
    token = user_token(server.db_url, "paging-hcm", "operator", Scope.from_dict({"provinces": [HCMC]}))
    async with connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "hello", "epoch": None, "last_seq": None, "token": token}).decode())
        snapshot = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert snapshot["type"] == "snapshot"
    data = snapshot["data"]
    first, more = [a["id"] for a in data["alerts"]], data["alerts_more"]
    assert len(first) == 50 and more is not None
    with server.client(token) as hcm:
        # The snapshot's cursor goes into the first request; later ones follow next_cursor.
        ids, _ = await asyncio.to_thread(
            page_through, hcm, 50, resolved_since=more["resolved_since"], cursor=more["cursor"]
        )
        whole, _ = await asyncio.to_thread(page_through, hcm, 1000, resolved_since=more["resolved_since"])
    assert first + ids == whole
    assert len(set(first + ids)) == len(whole)


def plan_of(db_url: str, params: dict[str, Any]) -> str:
    with psycopg.connect(db_url) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        conn.execute("SET enable_sort = off")
        return "\n".join(r[0] for r in conn.execute(f"EXPLAIN {SELECT_QUEUE_PAGE}", params).fetchall())


@pytest.mark.parametrize("where", ["start", "cursor", "resolved_since"])
def test_each_bucket_is_an_ordered_range_of_alert_queue_idx(server: LiveServer, where: str) -> None:
    """Every (state, severity) bucket is read from the index in order, so a page never sorts
    more than its nine buckets' `limit` rows: with sorts and other scans priced out, the plan
    has nine scans of alert_queue_idx and only the one Sort that merges their few rows (a
    textual mismatch between the SQL's order expressions and the index's would add one per
    bucket)."""
    now = datetime.now(UTC)
    after = QueueKey(1, 1, now - timedelta(minutes=20), 100).sql_params() if where == "cursor" else QUEUE_START
    params = {"state": None, "province": None, "limit": 51, **after, **Scope.everything().sql_params(),
              "resolved_since": now - timedelta(days=1) if where == "resolved_since" else None}  # fmt: skip
    plan = plan_of(server.db_url, params)
    lines = [line.strip().removeprefix("->  ") for line in plan.splitlines()]
    assert sum(line.startswith("Index Scan using alert_queue_idx") for line in lines) == 9, plan
    assert sum(line.startswith("Sort  (") for line in lines) == 1, plan
    assert lines[0].startswith("Limit") and lines[1].startswith("Sort  ("), plan


@pytest.mark.parametrize(
    ("since", "status"),
    [("2026-01-01T00:00:00+20:00", 200), ("0001-01-01T00:00:00+05:00", 422), ("2026-01-01T00:00:00", 422)],
)
def test_resolved_since_with_an_odd_offset_is_answered_not_a_500(server: LiveServer, since: str, status: int) -> None:
    """Python accepts offsets up to ±23:59, PostgreSQL only ±15:59: the route converts to UTC."""
    with server.client() as admin:
        response = admin.get("/api/v1/alerts", params={"resolved_since": since, "limit": 5})
    assert response.status_code == status, response.text
