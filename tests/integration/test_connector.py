"""Polling connectors against a fake source server on 127.0.0.1, through the real payout and
ID-issuance ingesters: paging by cursor, retries, and resuming after a kill with no gap and no
duplicate (the stored rows are compared with the server's full set)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from ingest.connector.backoff import RetryPolicy
from ingest.connector.config import ConnectorConfig
from ingest.connector.fetch import Page
from ingest.connector.poller import PollDeps, poll_connector
from ingest.connector.runner import connect, run_due
from ingest.connector.store import save_connector
from ingest.streams import STREAM_INGESTERS
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from tests.conftest import LiveServer
from tests.integration.fake_source import FakeSource, serving
from tests.integration.import_support import VN, fetch

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "so-ldtbxh-ha-noi"
COMMUNES = ("00004", "00008", "00025", "00070", "00082")
FAST = RetryPolicy(attempts=4, base_seconds=0.01, cap_seconds=0.05, max_retry_after_seconds=5)


def payout_records(n: int) -> list[dict[str, Any]]:
    """n cumulative reports on five communes' cycle this month; later reports have paid more."""
    now = datetime.now(VN)
    cycle = now.date().replace(day=1)
    start = now - timedelta(hours=n)
    out = []
    for i in range(n):
        paid = 10 * (i + 1)
        out.append({
            "record_id": f"NGUON-{i + 1:04d}", "locality": {"commune_code": COMMUNES[i % len(COMMUNES)]},
            "programme": "nguoi_co_cong", "cycle": cycle.strftime("%Y-%m"), "deadline": (cycle + timedelta(days=27))
            .isoformat(), "reported_at": (start + timedelta(hours=i)).isoformat(), "beneficiaries_due": 5000,
            "paid_total": paid, "paid_bank": paid, "paid_card": 0, "paid_ewallet": 0, "paid_cash": 0,
            "amount_due_vnd": 5_900_000_000, "amount_paid_vnd": paid * 1_180_000,
        })  # fmt: skip
    return out


def connector(url: str, **overrides: Any) -> ConnectorConfig:
    fields: dict[str, Any] = {
        "id": "ldtbxh", "stream": "payout", "source_id": SOURCE, "base_url": url, "items_path": "data.records",
        "cursor_path": "paging.next", "auth_header": "X-API-Key", "auth_value": "khoa-nguon-thu",
        "interval_seconds": 60, **overrides,
    }  # fmt: skip
    return ConnectorConfig(**fields)


async def configure(db_url: str, config: ConnectorConfig) -> None:
    register_source(db_url, SOURCE, "Sở LĐTBXH Hà Nội", streams=frozenset({"payout", "id_issuance"}))
    async with await connect(db_url) as conn, conn.transaction():
        await save_connector(conn, config)


def stored_ids(db_url: str, table: str = "payout_report") -> list[str]:
    return sorted(r[0] for r in fetch(db_url, f"SELECT record_id FROM {table} WHERE source_id = %s", [SOURCE]))


def state(db_url: str) -> tuple[Any, ...]:
    [row] = fetch(db_url, "SELECT cursor, pages, items_accepted, items_duplicate, items_rejected, last_error"
                          " FROM connector_state WHERE connector_id = 'ldtbxh'")  # fmt: skip
    return row


def latest_per_commune(records: list[dict[str, Any]]) -> dict[str, int]:
    latest: dict[str, int] = {}
    for record in records:  # the server's records are in reported_at order
        latest[record["locality"]["commune_code"]] = record["paid_total"]
    return latest


def stored_cycles(db_url: str) -> dict[str, int]:
    return {r[0]: r[1] for r in fetch(db_url, "SELECT commune_code, paid_total FROM payout_cycle")}


class Sleeps:
    """Records the waits the poller asks for, and waits no time at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def source() -> Iterator[FakeSource]:
    with serving(FakeSource(page_size=4, records=payout_records(25))) as running:
        yield running


def deps(client: httpx.AsyncClient, sleep: Sleeps | None = None, **extra: Any) -> PollDeps:
    return PollDeps(STREAM_INGESTERS, load_catalogue(), client, policy=FAST, sleep=sleep or Sleeps(),
                    rng=random.Random(7), **extra)  # fmt: skip


async def test_a_connector_pages_through_every_record_once(db_url: str, source: FakeSource) -> None:
    await configure(db_url, connector(source.url))
    async with httpx.AsyncClient() as client:
        [result] = await run_due(db_url, deps(client), every=True)
        assert (result.pages, result.accepted, result.error) == (7, 25, None)  # 25 records, 4 a page
        # A second run finds nothing newer: one request, nothing written.
        [again] = await run_due(db_url, deps(client), every=True)
    assert (again.pages, again.accepted) == (0, 0)
    assert source.requests == [None, "4", "8", "12", "16", "20", "24", "25", "25"]
    assert stored_ids(db_url) == [r["record_id"] for r in source.records]
    assert state(db_url) == ("25", 7, 25, 0, 0, None)
    assert stored_cycles(db_url) == latest_per_commune(source.records)
    # The source's data is fresh as of its latest report.
    assert fetch(
        db_url, "SELECT count(*) FROM feed_freshness WHERE source_id = %s AND stream = 'payout'", [SOURCE]
    ) == [(1,)]


async def test_transient_failures_are_retried_with_backoff_and_retry_after(db_url: str, source: FakeSource) -> None:
    await configure(db_url, connector(source.url))
    source.failures.extend(["500", "429:3", "drop"])  # the first page: three failures, then an answer
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        [result] = await run_due(db_url, deps(client, sleeps), every=True)
    assert (result.pages, result.accepted, result.error) == (7, 25, None)
    assert source.requests[:4] == [None, None, None, None]
    # After the 500: jittered backoff within base·2⁰; after the 429: the 3 s it asked for; after the drop:
    # within base·2².
    assert len(sleeps.waits) == 3
    assert 0 <= sleeps.waits[0] <= 0.01 and sleeps.waits[1] == 3.0 and 0 <= sleeps.waits[2] <= 0.04
    assert stored_ids(db_url) == [r["record_id"] for r in source.records]


async def test_a_source_that_stays_down_leaves_the_cursor_where_it_was(db_url: str, source: FakeSource) -> None:
    await configure(db_url, connector(source.url))
    async with httpx.AsyncClient() as client:
        source.failures.extend(["500"] * 10)
        [result] = await run_due(db_url, deps(client), every=True)
        assert result.error is not None and "HTTP 500 (after 4 attempts)" in result.error
        assert state(db_url)[:3] == (None, 0, 0) and "HTTP 500" in state(db_url)[5]
        # A refused credential is no transient failure: one request, no retry.
        source.failures.clear()
        source.failures.append("401")
        before = len(source.requests)
        [refused] = await run_due(db_url, deps(client), every=True)
        assert refused.error == "the source answered HTTP 401" and len(source.requests) == before + 1
        # Back up: the next run starts from the beginning and gets everything.
        [healed] = await run_due(db_url, deps(client), every=True)
    assert (healed.accepted, healed.error) == (25, None)
    assert state(db_url)[5] is None


async def test_cancelled_between_a_page_write_and_the_next_fetch_it_resumes_exactly(
    db_url: str, source: FakeSource
) -> None:
    await configure(db_url, connector(source.url))
    config = connector(source.url)

    async def stop_after_two(page: Page) -> None:
        if len(stored_ids(db_url)) == 8:
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await asyncio.sleep(0)

    async with httpx.AsyncClient() as client:
        conn = await connect(db_url)
        with pytest.raises(asyncio.CancelledError):
            await poll_connector(conn, config, deps(client, after_page=stop_after_two))
        await conn.close()
        assert state(db_url)[:4] == ("8", 2, 8, 0)
        [rest] = await run_due(db_url, deps(client), every=True)
    assert (rest.pages, rest.accepted, rest.duplicate) == (5, 17, 0)
    assert source.requests == [None, "4", "8", "12", "16", "20", "24", "25"]  # "8" once: no page twice
    assert stored_ids(db_url) == [r["record_id"] for r in source.records]
    assert state(db_url)[:5] == ("25", 7, 25, 0, 0)


async def test_overlapping_pages_are_duplicates_by_record_id(db_url: str, source: FakeSource) -> None:
    """A source whose "changed since" includes the boundary record repeats it on the next page."""
    await configure(db_url, connector(source.url))
    original = source.page
    source.page = lambda cursor: original(str(max(0, int(cursor) - 1)) if cursor else None)  # type: ignore[method-assign]
    async with httpx.AsyncClient() as client:
        [result] = await run_due(db_url, deps(client), every=True)
    assert result.accepted == 25 and result.duplicate > 0
    assert stored_ids(db_url) == [r["record_id"] for r in source.records]


async def test_an_id_issuance_connector_reads_a_bare_array(db_url: str) -> None:
    day = (datetime.now(VN) - timedelta(days=1)).date().isoformat()
    records: list[dict[str, Any]] = [
        {"record_id": f"CA-{i}", "day": day, "locality": {"commune_code": code}, "cccd_received": 10 + i,
         "cccd_issued": 8, "l2_received": 30, "l2_approved": 25, "l2_activated": 20, "eligible_population": 50_000,
         "cccd_issued_total": 48_000 + i, "l2_activated_total": 9_000}
        for i, code in enumerate(COMMUNES)
    ]  # fmt: skip
    with serving(FakeSource(page_size=2, records=records, api_key=None)) as fake:
        original = fake.page
        fake.page = lambda cursor: {"records": original(cursor)["data"]["records"],  # type: ignore[method-assign]
                                    "next": original(cursor)["paging"]["next"]}  # fmt: skip
        await configure(db_url, connector(fake.url, stream="id_issuance", items_path="records", cursor_path="next",
                                          auth_header=None, auth_value=None))  # fmt: skip
        async with httpx.AsyncClient() as client:
            [result] = await run_due(db_url, deps(client), every=True)
    assert (result.pages, result.accepted) == (3, 5)
    assert stored_ids(db_url, "id_issuance_report") == sorted(r["record_id"] for r in records)


# --------------------------------------------------------------------------- killed processes


def _connectors_process(db_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IOC_DATABASE_URL": db_url, "FAKE_SOURCE_KEY": "khoa-nguon-thu"}
    return subprocess.Popen([sys.executable, "-m", "ioc.cli", "connectors", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _pages(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT pages FROM connector_state WHERE connector_id = 'ldtbxh'").fetchone()
    return int(row[0]) if row else 0


def _wait_for(predicate: Any, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _finish(db_url: str) -> None:
    done = _connectors_process(db_url, "--once")
    _, stderr = done.communicate(timeout=120)
    assert done.returncode == 0, stderr.decode()[-2000:]


async def test_the_connectors_process_killed_mid_run_resumes_with_no_gap_and_no_duplicate(db_url: str) -> None:
    records = payout_records(30)
    # The fifth request is held: four pages are stored, the process waits for the fifth, and dies.
    with serving(FakeSource(page_size=3, records=records, hold_from=5)) as fake:
        await configure(db_url, connector(fake.url, auth_value=None, auth_env="FAKE_SOURCE_KEY"))
        process = _connectors_process(db_url)
        try:
            assert _wait_for(lambda: len(fake.requests) == 5), "the process never reached the held request"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        assert state(db_url)[:4] == ("12", 4, 12, 0)
        assert stored_ids(db_url) == [r["record_id"] for r in records[:12]]
        fake.hold_from = None
        fake.release.set()
        _finish(db_url)
        requests = list(fake.requests)
    # The held request ("12") is asked again by the new process; no other page twice, none skipped.
    assert requests == [None, "3", "6", "9", "12", "12", "15", "18", "21", "24", "27", "30"]
    assert stored_ids(db_url) == [r["record_id"] for r in records]
    assert state(db_url)[:5] == ("30", 10, 30, 0, 0)
    assert stored_cycles(db_url) == latest_per_commune(records)


async def test_killed_at_random_moments_the_stored_rows_equal_the_servers_set(db_url: str) -> None:
    records = payout_records(40)
    rng = random.Random(2026)
    with serving(FakeSource(page_size=2, records=records, delay_seconds=0.05)) as fake:
        await configure(db_url, connector(fake.url))
        kills = 0
        while kills < 4 and _pages(db_url) < 20:
            before = _pages(db_url)
            process = _connectors_process(db_url)
            try:
                _wait_for(lambda b=before: _pages(db_url) > b, timeout=60)
                time.sleep(rng.uniform(0, 0.3))  # anywhere: mid-fetch, mid-write, between pages
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
            kills += 1
        interrupted_at = _pages(db_url)
        _finish(db_url)
    assert kills >= 2 and 0 < interrupted_at < 20, (kills, interrupted_at)  # the kills did land mid-run
    assert stored_ids(db_url) == [r["record_id"] for r in records]
    # Counted in the page's own transaction: each record was stored exactly once, none twice.
    assert state(db_url)[:5] == ("40", 20, 40, 0, 0)
    assert stored_cycles(db_url) == latest_per_commune(records)


# --------------------------------------------------------------------------- admin routes


def test_connectors_are_managed_by_admins_through_the_api(live_server: LiveServer) -> None:
    register_source(live_server.db_url, SOURCE, "Sở LĐTBXH Hà Nội", streams=frozenset({"payout"}))
    body = {"stream": "payout", "source_id": SOURCE, "base_url": "http://127.0.0.1:9/records",
            "items_path": "data.records", "cursor_path": "paging.next", "auth_header": "X-API-Key",
            "auth_value": "bí-mật", "interval_seconds": 120}  # fmt: skip
    with live_server.client() as admin:
        created = admin.put("/api/v1/admin/connectors/ldtbxh", json=body)
        assert created.status_code == 201, created.text
        view = created.json()["connector"]
        assert view["auth_value_set"] is True and "auth_value" not in view and "bí-mật" not in created.text
        # Replaced without auth_value: the stored credential stays; with "auth_value": null it goes.
        without = {k: v for k, v in body.items() if k != "auth_value"}
        kept = admin.put("/api/v1/admin/connectors/ldtbxh", json={**without, "enabled": False})
        assert kept.status_code == 200 and kept.json()["connector"]["auth_value_set"] is True
        assert kept.json()["connector"]["enabled"] is False
        removed = admin.put("/api/v1/admin/connectors/ldtbxh", json={**without, "auth_value": None})
        assert removed.json()["connector"]["auth_value_set"] is False
        assert admin.put("/api/v1/admin/connectors/x2", json={**body, "stream": "id_issuance"}).status_code == 422
        assert admin.put("/api/v1/admin/connectors/x3", json={**body, "source_id": "khong-co"}).status_code == 422
        listed = admin.get("/api/v1/admin/connectors").json()["connectors"]
        assert [c["id"] for c in listed] == ["ldtbxh"] and listed[0]["state"]["cursor"] is None
        assert admin.get("/api/v1/admin/connectors/ldtbxh").json()["connector"]["interval_seconds"] == 120
        assert admin.delete("/api/v1/admin/connectors/ldtbxh").status_code == 200
        assert admin.get("/api/v1/admin/connectors/ldtbxh").status_code == 404
    actions = [r[0] for r in fetch(live_server.db_url, "SELECT action FROM audit_log WHERE action LIKE %s ORDER BY id",
                                   ["connector.%"])]  # fmt: skip
    assert actions == ["connector.create", "connector.update", "connector.update", "connector.delete"]
    details = fetch(live_server.db_url, "SELECT details::text FROM audit_log WHERE action = 'connector.create'")
    assert "bí-mật" not in details[0][0]
