"""The ID-issuance ingester on the real database: idempotency, which report is in force for a day,
scope, atomic batches, the live notification and the append-only ledger."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import AsyncConnection

from ingest.batch import BatchContext, BatchRejected
from ingest.id_issuance import ID_ISSUANCE
from ioc.live.channel import LIVE_CHANNEL
from ioc.localities.catalogue import load_catalogue
from tests.integration.id_issuance_support import (
    HANOI_WARD,
    NOW,
    SOURCE_ID,
    counts,
    in_force,
    ingest_id,
    report,
    rows,
)


def statuses(outcome: Any) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("reason")) for r in outcome.results]


async def test_a_batch_is_written_once_and_resending_changes_nothing(db_url: str) -> None:
    batch = [report("r-1"), report("r-2", locality=HANOI_WARD), report("r-3", locality={"province_code": "01"})]
    first = await ingest_id(db_url, batch)
    assert statuses(first) == [("accepted", None)] * 3
    assert first.provinces == {"79", "01"}
    before = rows(db_url, "SELECT * FROM id_issuance_daily ORDER BY province_code, commune_code")
    again = await ingest_id(db_url, batch)
    assert statuses(again) == [("duplicate", "already_ingested")] * 3
    assert again.provinces == set()
    assert counts(db_url) == {"id_issuance_report": 3, "id_issuance_daily": 3}
    assert rows(db_url, "SELECT * FROM id_issuance_daily ORDER BY province_code, commune_code") == before
    # A province-wide report is kept apart from its communes' (commune_code '').
    assert rows(db_url, "SELECT province_code, commune_code FROM id_issuance_daily ORDER BY 1, 2") == [
        ("01", ""), ("01", "00004"), ("79", "25747"),
    ]  # fmt: skip


async def test_columns_hold_the_figures_as_sent(db_url: str) -> None:
    await ingest_id(db_url, [report("r-1", l2_eligible_population=None)])
    [row] = rows(db_url, """
        SELECT province_code, commune_code, day, cccd_received, cccd_issued, l2_received, l2_approved, l2_activated,
               eligible_population, cccd_issued_total, l2_activated_total, l2_eligible_population,
               to_char(reported_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI'), source_id, record_id
        FROM id_issuance_daily""")  # fmt: skip
    assert row == ("79", "25747", date(2026, 3, 16), 120, 95, 310, 280, 150, 54_000, 52_575, 9_300, None,
                   "2026-03-16 18:00", SOURCE_ID, "r-1")  # fmt: skip


async def test_a_later_report_replaces_the_day_and_an_earlier_one_does_not(db_url: str) -> None:
    await ingest_id(db_url, [report("evening", reported_at="2026-03-16T18:00:00+07:00", cccd_issued_total=52_575)])
    # A correction the next morning: newer, so it is in force.
    await ingest_id(db_url, [report("correction", reported_at="2026-03-17T08:00:00+07:00", cccd_issued_total=52_600)])
    assert in_force(db_url) == [("2026-03-16", "correction", 52_600)]
    # A report made earlier that arrives late (a delayed retry): kept in the ledger, not in force.
    late = await ingest_id(db_url, [report("noon", reported_at="2026-03-16T12:00:00+07:00", cccd_issued_total=52_500)])
    assert statuses(late) == [("accepted", None)]
    assert in_force(db_url) == [("2026-03-16", "correction", 52_600)]
    # The same instant is not newer: the report in force stays.
    await ingest_id(db_url, [report("same-time", reported_at="2026-03-17T08:00:00+07:00", cccd_issued_total=1)])
    assert in_force(db_url) == [("2026-03-16", "correction", 52_600)]
    assert counts(db_url) == {"id_issuance_report": 4, "id_issuance_daily": 1}
    # Another day is another row.
    await ingest_id(db_url, [report("next-day", day="2026-03-17", reported_at="2026-03-17T09:00:00+07:00")])
    assert [d for d, _, _ in in_force(db_url)] == ["2026-03-16", "2026-03-17"]


async def test_within_a_batch_the_newest_wins_whatever_the_order(db_url: str) -> None:
    await ingest_id(db_url, [
        report("b-late", reported_at="2026-03-16T20:00:00+07:00", cccd_issued_total=52_700),
        report("b-early", reported_at="2026-03-16T18:00:00+07:00", cccd_issued_total=52_575),
        # Ties within a batch: the first stays, as if the items had come one by one.
        report("c-first", day="2026-03-15", reported_at="2026-03-15T18:00:00+07:00", cccd_issued_total=52_000),
        report("c-second", day="2026-03-15", reported_at="2026-03-15T18:00:00+07:00", cccd_issued_total=51_000),
    ])  # fmt: skip
    assert in_force(db_url) == [("2026-03-15", "c-first", 52_000), ("2026-03-16", "b-late", 52_700)]


async def test_arrival_order_does_not_change_the_answer(db_url: str, pg_server: Any) -> None:
    from tests.conftest import fresh_database

    reports = [report(f"r-{h}", reported_at=f"2026-03-16T{h}:00:00+07:00", cccd_issued_total=52_000 + int(h))
               for h in ("09", "13", "18", "11")]  # fmt: skip
    other = fresh_database(pg_server)
    for item in reports:
        await ingest_id(db_url, [item])
    for item in reversed(reports):
        await ingest_id(other, [item])
    assert in_force(db_url) == in_force(other) == [("2026-03-16", "r-18", 52_018)]


async def test_out_of_scope_items_are_rejected_one_by_one_and_write_nothing(db_url: str) -> None:
    hanoi_only = lambda province, commune: province == "01"  # noqa: E731
    outcome = await ingest_id(db_url, [report("in", locality=HANOI_WARD), report("out")], in_scope=hanoi_only)
    assert statuses(outcome) == [("accepted", None), ("rejected", "locality_out_of_scope")]
    assert rows(db_url, "SELECT record_id, province_code FROM id_issuance_report") == [("in", "01")]
    assert rows(db_url, "SELECT province_code FROM id_issuance_daily") == [("01",)]
    # Only Hà Nội's province is named to the live feed.
    assert outcome.provinces == {"01"}


async def test_atomic_batch_with_one_bad_item_writes_nothing(db_url: str) -> None:
    bad = [report("a-1"), report("a-2", cccd_issued_total=99_999), report("a-3", locality=HANOI_WARD)]
    with pytest.raises(BatchRejected) as refused:
        await ingest_id(db_url, bad, atomic=True)
    assert statuses(refused.value.outcome) == [
        ("accepted", None), ("rejected", "inconsistent_totals"), ("accepted", None),
    ]  # fmt: skip
    assert refused.value.outcome.count("rejected") == 1
    assert counts(db_url) == {"id_issuance_report": 0, "id_issuance_daily": 0}
    assert rows(db_url, "SELECT count(*) FROM feed_freshness WHERE stream = 'id_issuance'") == [(0,)]


async def test_atomic_batch_of_duplicates_is_not_refused(db_url: str) -> None:
    await ingest_id(db_url, [report("d-1")])
    outcome = await ingest_id(db_url, [report("d-1"), report("d-2", locality=HANOI_WARD)], atomic=True)
    assert statuses(outcome) == [("duplicate", "already_ingested"), ("accepted", None)]
    in_batch = await ingest_id(db_url, [report("d-3"), report("d-3")], atomic=True)
    assert statuses(in_batch) == [("accepted", None), ("duplicate", "duplicate_in_batch")]


async def test_several_batches_in_one_transaction(db_url: str) -> None:
    """A file import may run batches back to back in one transaction: each starts from an empty stage."""
    ctx = BatchContext(source_id="import:file", now=NOW, catalogue=load_catalogue(), in_scope=None)
    async with await AsyncConnection.connect(db_url) as conn, conn.transaction():
        one = await ID_ISSUANCE.ingest(conn, [report("f-1")], ctx)
        two = await ID_ISSUANCE.ingest(conn, [report("f-2", day="2026-03-15", reported_at="2026-03-15T18:00:00+07:00")],
                                       ctx)  # fmt: skip
    assert statuses(one) == statuses(two) == [("accepted", None)]
    assert [r for _, r, _ in in_force(db_url)] == ["f-2", "f-1"]
    # No registered source of that name: freshness is simply not recorded.
    assert rows(db_url, "SELECT count(*) FROM feed_freshness WHERE stream = 'id_issuance'") == [(0,)]


async def test_freshness_and_live_notification(db_url: str) -> None:
    async with await AsyncConnection.connect(db_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {LIVE_CHANNEL}")
        await ingest_id(db_url, [report("n-1"), report("n-2", locality=HANOI_WARD)])
        # Drained to the end: a suspended notifies() generator holds the connection's lock.
        [note] = [n async for n in listener.notifies(timeout=5, stop_after=1)]
    assert orjson.loads(note.payload) == {"stream": "id_issuance", "provinces": ["01", "79"]}
    [(last_event,)] = rows(db_url, "SELECT last_event_at FROM feed_freshness WHERE source_id = %s"
                                   " AND stream = 'id_issuance'", [SOURCE_ID])  # fmt: skip
    assert last_event.isoformat() == "2026-03-16T11:00:00+00:00"


async def test_a_resend_notifies_nobody(db_url: str) -> None:
    await ingest_id(db_url, [report("q-1")])
    async with await AsyncConnection.connect(db_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {LIVE_CHANNEL}")
        await ingest_id(db_url, [report("q-1")])
        assert [n async for n in listener.notifies(timeout=0.5)] == []


async def test_concurrent_batches_for_the_same_day_settle_on_the_newest(db_url: str) -> None:
    batches = [[report(f"c-{i}", reported_at=f"2026-03-16T{10 + i}:00:00+07:00", cccd_issued_total=50_000 + i)]
               for i in range(8)]  # fmt: skip
    await ingest_id(db_url, [report("warm-up", day="2026-03-10", reported_at="2026-03-10T18:00:00+07:00")])
    await asyncio.gather(*(ingest_id(db_url, b) for b in batches))
    assert in_force(db_url)[-1] == ("2026-03-16", "c-7", 50_007)


def test_the_ledger_is_append_only(db_url: str) -> None:
    asyncio.run(ingest_id(db_url, [report("l-1")]))
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE id_issuance_report SET cccd_issued = 0")
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("DELETE FROM id_issuance_report")


def test_the_database_refuses_what_validation_refuses(db_url: str) -> None:
    """The constraints back the validator: no negative counts, no more cards than eligible people."""
    insert = """INSERT INTO id_issuance_report (source_id, record_id, province_code, day, reported_at,
        cccd_received, cccd_issued, l2_received, l2_approved, l2_activated, eligible_population, cccd_issued_total,
        l2_activated_total) VALUES ('s', %s, '79', '2026-03-16', now(), 0, 0, 0, 0, 0, %s, %s, 0)"""
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, ["x-1", 10, 11])
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, ["x-2", -1, 0])
    target = """INSERT INTO id_target (province_code, metric, target_value, start_date, deadline, set_by)
        VALUES ('79', %s, %s, %s, %s, 'test')"""
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(target, ["cccd_coverage", 1.5, None, date(2026, 6, 20)])
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(target, ["vneid_l2_activated", 1_200_000, date(2026, 7, 1), date(2026, 6, 20)])
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(target, ["cccd_count", 1, None, date(2026, 6, 20)])
