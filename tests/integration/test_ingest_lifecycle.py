"""Ingest through the API over a dossier's life: arrival order, supplement pauses, status by
locality, several sources and concurrent writers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from alerts.calendar import WorkingCalendar
from ingest.lifecycle import DossierEvent, EventType, Procedure, fold
from ingest.parse import parse_batch
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from tests.conftest import LiveServer
from tests.integration.ingest_support import (
    HCMC_WARD,
    VN,
    dossier,
    event,
    ok,
    receipt,
    scalar,
    table_counts,
)

# --------------------------------------------------------------------------- lifecycle through the API

STATE_FIELDS = ("status", "received_at", "due_at", "resolved_at", "closed_at", "outcome", "late_since",
                "paused_at", "paused_working_seconds", "apology_at")  # fmt: skip


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    picked = {f: v for f, v in state.items() if f in STATE_FIELDS}
    return {f: datetime.fromisoformat(v) if f.endswith("_at") and v else v for f, v in picked.items()}


def lifecycle(prefix: str, dossier_code: str, t0: datetime) -> list[dict[str, Any]]:
    return [
        receipt(f"{prefix}-rcv", dossier_code, t0),
        event(f"{prefix}-req", dossier_code, "supplement_requested", t0 + timedelta(hours=1)),
        event(f"{prefix}-got", dossier_code, "supplement_received", t0 + timedelta(days=1)),
        event(f"{prefix}-res", dossier_code, "resolved", t0 + timedelta(days=2)),
        event(f"{prefix}-apo", dossier_code, "apology_issued", t0 + timedelta(days=2, hours=1)),
    ]


@pytest.mark.parametrize(
    "arrival",
    [
        [[3], [0]],  # resolved before received, in two batches
        [[3, 1], [0], [4, 2]],  # resolution, then the pause's start, then the receipt, then the rest
        [[0], [3], [1, 2]],  # receipt, resolution, and the pause arriving after the resolution
        [[4, 3, 2, 1, 0]],  # one batch listed backwards
    ],
)
def test_out_of_order_arrival_reaches_the_in_order_state(live_server: LiveServer, arrival: list[list[int]]) -> None:
    t0 = datetime.now(UTC) - timedelta(days=6)
    events_in_order = lifecycle("io", "HS-IN", t0)
    for item in events_in_order:
        assert ok(live_server.post_events([item]))["accepted"] == 1
    shuffled = lifecycle("oo", "HS-OUT", t0)
    sent: set[int] = set()
    for batch in arrival:
        assert ok(live_server.post_events([shuffled[i] for i in batch]))["accepted"] == len(batch)
        sent |= set(batch)
        if 0 not in sent:
            # Events kept before their receipt: visible in the history, no state yet.
            before = dossier(live_server, "HS-OUT")
            assert before["state"] is None
            assert len(before["events"]) == len(sent)
    used = sent
    expected = dossier(live_server, "HS-IN")["state"] if used == set(range(5)) else None
    if expected is None:  # compare with the in-order fold of the same subset
        partial = [events_in_order[i] | {"event_id": f"sub-{i}", "dossier_code": "HS-SUB"} for i in sorted(used)]
        for item in partial:
            ok(live_server.post_events([item]))
        expected = dossier(live_server, "HS-SUB")["state"]
    actual = dossier(live_server, "HS-OUT")["state"]
    assert comparable(actual) == comparable(expected)
    assert actual["status"] == "resolved"
    # The rollup counts each dossier once, whatever order its events came in.
    daily = scalar(live_server.db_url, "SELECT array[sum(received), sum(resolved)]::int[] FROM dossier_daily")
    assert daily == [3 if used != set(range(5)) else 2] * 2


def test_supplement_pause_extends_due_at_by_the_working_time_paused(live_server: LiveServer) -> None:
    # Fixed past dates so the working-day arithmetic is exact: received Mon 9/3/2026 09:00 for a
    # 3-working-day procedure (due Thu 12/3 09:00); paused Tue 10/3 09:00 → Thu 12/3 09:00, i.e.
    # 8 h + 9 h + 1 h = 18 h of working time, so due Mon 16/3 09:00; resolved Fri 13/3 10:00.
    def vn(day: int, hour: int) -> datetime:
        return datetime(2026, 3, day, hour, tzinfo=VN)

    three_days = {"code": "2.000003", "name": "Cấp phép", "sector": "Xây dựng", "statutory_days": 3}

    def events(prefix: str, dossier_code: str, paused: bool) -> list[dict[str, Any]]:
        items = [receipt(f"{prefix}-0", dossier_code, vn(9, 9), procedure=three_days)]
        if paused:
            items += [event(f"{prefix}-1", dossier_code, "supplement_requested", vn(10, 9)),
                      event(f"{prefix}-2", dossier_code, "supplement_received", vn(12, 9))]  # fmt: skip
        return [*items, event(f"{prefix}-3", dossier_code, "resolved", vn(13, 10))]

    ok(live_server.post_events(events("paused-batch", "HS-P1", paused=True)))
    for item in events("paused-one", "HS-P2", paused=True):  # one event per batch: the incremental path
        ok(live_server.post_events([item]))
    ok(live_server.post_events(events("plain", "HS-P3", paused=False)))

    for code in ("HS-P1", "HS-P2"):
        state = dossier(live_server, code)["state"]
        assert datetime.fromisoformat(state["due_at"]) == vn(16, 9)
        assert state["paused_working_seconds"] == 18 * 3600
        assert (state["status"], state["outcome"], state["paused_at"]) == ("resolved", "early", None)
    plain = dossier(live_server, "HS-P3")["state"]
    assert datetime.fromisoformat(plain["due_at"]) == vn(12, 9)
    assert (plain["outcome"], datetime.fromisoformat(plain["late_since"])) == ("late", vn(12, 9))


def test_dossier_mid_pause_has_no_due_at(live_server: LiveServer) -> None:
    t0 = datetime.now(UTC) - timedelta(days=3)
    ok(live_server.post_events(lifecycle("mid", "HS-M", t0)[:2]))
    state = dossier(live_server, "HS-M")["state"]
    assert (state["status"], state["due_at"]) == ("supplement_requested", None)
    assert datetime.fromisoformat(state["paused_at"]) == t0 + timedelta(hours=1)


def test_unknown_dossier_is_404(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.get("/api/v1/dossiers/NO-SUCH").status_code == 404


# --------------------------------------------------------------------------- status endpoints


def expected_on_time(received_at: datetime, resolved_at: datetime, days: int) -> int:
    """On time or early by the pure fold (tested on its own), so this test is about the rollup."""
    procedure = Procedure("p", "s", days)
    events = [
        DossierEvent(received_at, "x", EventType.RECEIVED, "s", "1", "79", None, None, "p", "online"),
        DossierEvent(resolved_at, "x", EventType.RESOLVED, "s", "2", "79", None, None, None, None),
    ]
    state = fold(None, events, lambda _: WorkingCalendar(), {"p": procedure}.get)
    assert state is not None
    return int(state.outcome in ("early", "on_time"))


def test_status_by_province_and_commune(live_server: LiveServer) -> None:
    now = datetime.now(UTC)
    same_day = {"code": "3.000000", "name": "Chứng thực", "sector": "Chứng thực", "statutory_days": 0}
    hn_open, hn_old = now - timedelta(days=2), now - timedelta(days=20)
    hcm_received, hcm_resolved = now - timedelta(days=3), now - timedelta(hours=1)
    ok(live_server.post_events([
        receipt("s-1", "HN-1", hn_open),
        event("s-2", "HN-1", "resolved", hn_open + timedelta(hours=1)),  # early: counts as on time
        receipt("s-3", "HN-2", hn_open),  # stays open
        receipt("s-4", "HN-3", hn_open),
        event("s-5", "HN-3", "rejected", hn_open + timedelta(hours=2)),  # closed, never resolved
        receipt("s-6", "HN-OLD", hn_old),  # outside 7 days, inside 30; still open
        receipt("s-7", "HCM-1", hcm_received, locality=HCMC_WARD, procedure=same_day),
        event("s-8", "HCM-1", "resolved", hcm_resolved, locality=HCMC_WARD),
    ]))  # fmt: skip
    hcm_on_time = expected_on_time(hcm_received, hcm_resolved, 0)

    with live_server.client() as client:
        week = client.get("/api/v1/status/provinces", params={"window": "7d"}).json()
        month = client.get("/api/v1/status/provinces", params={"window": "30d"}).json()
        communes = client.get("/api/v1/status/provinces/01/communes", params={"window": "7d"})
        unknown = client.get("/api/v1/status/provinces/99/communes")
        commune_as_province = client.get("/api/v1/status/provinces/00004/communes")

    assert week["window"] == "7d"
    by_code = {p["code"]: p for p in week["provinces"]}
    assert len(by_code) == 34
    fields = ("received", "resolved", "resolved_on_time", "open", "on_time_rate")
    assert tuple(by_code["01"][f] for f in fields) == (3, 1, 1, 2, 1.0)
    assert tuple(by_code["79"][f] for f in fields) == (1, 1, hcm_on_time, 0, float(hcm_on_time))
    assert tuple(by_code["48"][f] for f in fields) == (0, 0, 0, 0, None)  # Đà Nẵng: nothing sent
    assert {p["code"]: p["received"] for p in month["provinces"]}["01"] == 4

    assert communes.status_code == 200
    rows = {c["code"]: c for c in communes.json()["communes"]}
    assert set(rows) == {c.code for c in load_catalogue().communes_of("01")}
    assert tuple(rows["00004"][f] for f in fields) == (3, 1, 1, 2, 1.0)
    assert rows["00008"]["received"] == 0
    assert unknown.status_code == 404
    assert commune_as_province.status_code == 404


# --------------------------------------------------------------------------- sources and concurrent writers


def test_event_ids_are_per_source(live_server: LiveServer) -> None:
    other_key = register_source(live_server.db_url, "other-source", "Nguồn khác")
    t0 = datetime.now(UTC) - timedelta(days=1)
    assert ok(live_server.post_events([receipt("shared-1", "HS-S1", t0)]))["accepted"] == 1
    # The same event id from another source is that source's own event, not a duplicate.
    other = ok(live_server.post_events([receipt("shared-1", "HS-S2", t0)], key=other_key))
    assert (other["accepted"], other["duplicate"]) == (1, 0)
    assert table_counts(live_server.db_url)["event_receipt"] == 2


async def write_in_transaction(conn: AsyncConnection[Any], items: list[dict[str, Any]], now: datetime) -> None:
    """Run the real writer for one batch exactly as the route does, leaving the projection's
    transaction open (its dossier locks held); like the route, it knows only the procedures the
    batch names."""
    procedures, calendars = ProcedureCache(), CalendarStore()
    named = {item["procedure"]["code"] for item in items if isinstance(item.get("procedure"), dict)}
    await procedures.prefetch(conn, named)
    await calendars.refresh_if_stale(conn)
    await conn.commit()
    batch = parse_batch(
        items, source_id="test-source", now=now, future_tolerance=timedelta(seconds=300),
        max_age=timedelta(days=1095), catalogue=load_catalogue(), procedure_of=procedures.get,
    )  # fmt: skip
    writer = DossierWriter(procedures)
    await writer.ensure_partitions(conn, [e for _, e, _ in batch.accepted])
    outcome = await writer.write(conn, "test-source", batch, now)
    await conn.commit()  # the events are stored; the projection's transaction stays open
    await DossierProjector(procedures, calendars).apply(conn, outcome)
    assert outcome.accepted == len(items)


async def some_backend_waits_on_a_lock(db_url: str, task: asyncio.Task[None]) -> None:
    async with await AsyncConnection.connect(db_url, autocommit=True) as probe:
        for _ in range(250):
            cur = await probe.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            row = await cur.fetchone()
            if (row and row[0]) or task.done():
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the second writer neither finished nor waited on a lock")


async def test_concurrent_batches_for_a_new_dossier_keep_both_events(live_server: LiveServer) -> None:
    url = live_server.db_url
    now = datetime.now(UTC)
    t0 = now - timedelta(days=1)
    first = await AsyncConnection.connect(url)
    second = await AsyncConnection.connect(url)
    try:
        await write_in_transaction(first, [receipt("cc-1", "HS-CC", t0)], now)

        async def resolution() -> None:
            await write_in_transaction(second, [event("cc-2", "HS-CC", "resolved", t0 + timedelta(hours=1))], now)
            await second.commit()

        task = asyncio.create_task(resolution())
        await some_backend_waits_on_a_lock(url, task)  # the second batch is as far as it can get
        await first.commit()
        await asyncio.wait_for(task, timeout=10)
    finally:
        await first.close()
        await second.close()
    state = dossier(live_server, "HS-CC")
    assert len(state["events"]) == 2
    assert state["state"]["status"] == "resolved"
    assert scalar(url, "SELECT sum(resolved)::int FROM dossier_daily") == 1


async def test_a_fresh_process_refolds_history_whose_procedure_it_never_saw(live_server: LiveServer) -> None:
    # The receipt was written by one process; another, with empty caches, receives an event older
    # than the dossier's last one and must refold the whole history: it has to look up the
    # receipt's procedure itself, or the state would be lost and the rollup decremented.
    url = live_server.db_url
    now = datetime.now(UTC)
    t0 = now - timedelta(days=3)
    ok(live_server.post_events([
        receipt("rf-1", "HS-RF", t0),
        event("rf-3", "HS-RF", "resolved", t0 + timedelta(hours=5)),
    ]))  # fmt: skip
    before = dossier(live_server, "HS-RF")["state"]
    async with await AsyncConnection.connect(url) as conn:
        await write_in_transaction(conn, [event("rf-2", "HS-RF", "apology_issued", t0 + timedelta(hours=1))], now)
        await conn.commit()
    after = dossier(live_server, "HS-RF")["state"]
    assert after is not None
    assert {k: v for k, v in after.items() if k != "apology_at"} == {
        k: v for k, v in before.items() if k != "apology_at"
    }
    assert after["apology_at"] is not None
    assert scalar(url, "SELECT sum(received)::int FROM dossier_daily") == 1
    assert scalar(url, "SELECT sum(resolved)::int FROM dossier_daily") == 1


def test_events_before_the_receipt_wait_as_orphans_and_are_adopted(live_server: LiveServer) -> None:
    url = live_server.db_url
    t0 = datetime.now(UTC) - timedelta(days=2)
    ok(live_server.post_events([event("or-2", "HS-OR", "resolved", t0 + timedelta(hours=2))]))
    assert scalar(url, "SELECT count(*)::int FROM dossier_orphan") == 1
    assert dossier(live_server, "HS-OR")["state"] is None
    ok(live_server.post_events([receipt("or-1", "HS-OR", t0)]))
    assert scalar(url, "SELECT count(*)::int FROM dossier_orphan") == 0
    assert dossier(live_server, "HS-OR")["state"]["status"] == "resolved"
