"""The payout ingester and writer on a real PostgreSQL: idempotency, arrival order, scope,
atomic batches, and the per-day table."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Self

import orjson
import psycopg
import pytest
from psycopg import AsyncConnection, AsyncCursor

from ingest.batch import BatchContext, BatchRejected
from ingest.streams import STREAM_INGESTERS
from ioc.live.channel import LIVE_CHANNEL
from ioc.localities.catalogue import load_catalogue
from tests.integration.payout_support import (
    NOW,
    PAYOUT_TABLES,
    SOURCE_ID,
    ensure_source,
    ingest_payout,
    payout_snapshot,
    report,
    rows,
)


def statuses(outcome: object) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("reason")) for r in outcome.results]  # type: ignore[attr-defined]


def cycle_row(db_url: str) -> tuple[object, ...]:
    [row] = rows(db_url, "SELECT paid_total, failed, reported_at, record_id, failure_reasons FROM payout_cycle")
    return row


async def test_a_report_fills_the_three_tables(db_url: str) -> None:
    outcome = await ingest_payout(db_url, [report("r-1")])
    assert statuses(outcome) == [("accepted", None)]
    assert outcome.provinces == {"01"}
    [stored] = rows(db_url, "SELECT source_id, province_code, commune_code, programme_code, cycle_month, "
                            "paid_total, paid_cash, failure_reasons, amount_paid_vnd FROM payout_report")  # fmt: skip
    assert stored == (SOURCE_ID, "01", "", "nguoi_co_cong", date(2024, 10, 1), 900, 250,
                      {"wrong_account": 2, "deceased": 1}, 1_980_000_000)  # fmt: skip
    assert cycle_row(db_url)[:2] == (900, 3)
    # 17:00 in Hà Nội on 7 October is 10:00 UTC the same day.
    assert rows(db_url, "SELECT day, paid_total FROM payout_cycle_daily") == [(date(2024, 10, 7), 900)]
    [(stream, last)] = rows(db_url, "SELECT stream, last_event_at FROM feed_freshness WHERE source_id = %s",
                            [SOURCE_ID])  # fmt: skip
    assert (stream, last.isoformat()) == ("payout", "2024-10-07T10:00:00+00:00")


async def test_a_resend_is_a_duplicate_and_changes_nothing(db_url: str) -> None:
    batch = [report("r-1"), report("r-2", "2024-10-08T17:00:00+07:00", paid_total=950, paid_cash=300)]
    assert statuses(await ingest_payout(db_url, batch)) == [("accepted", None)] * 2
    before = payout_snapshot(db_url)
    again = await ingest_payout(db_url, batch)
    assert statuses(again) == [("duplicate", "already_ingested")] * 2
    assert again.provinces == set()
    assert payout_snapshot(db_url) == before
    # The same record id with different numbers is still the same record: nothing changes.
    changed = await ingest_payout(db_url, [report("r-2", "2024-10-09T17:00:00+07:00", paid_total=990, paid_cash=340)])
    assert statuses(changed) == [("duplicate", "already_ingested")]
    assert payout_snapshot(db_url) == before


async def test_an_older_report_arriving_later_is_kept_but_does_not_override(db_url: str) -> None:
    newer = report("r-new", "2024-10-09T17:00:00+07:00", paid_total=980, paid_cash=330, failed=5,
                   failures={"wrong_account": 3, "unreachable": 2})  # fmt: skip
    older = report("r-old", "2024-10-05T17:00:00+07:00", paid_total=600, paid_bank=300, paid_cash=150)
    assert statuses(await ingest_payout(db_url, [newer])) == [("accepted", None)]
    assert statuses(await ingest_payout(db_url, [older])) == [("accepted", None)]
    paid, failed, reported_at, record_id, reasons = cycle_row(db_url)
    assert (paid, failed, record_id, reasons) == (980, 5, "r-new", {"wrong_account": 3, "unreachable": 2})
    assert reported_at == datetime.fromisoformat("2024-10-09T17:00:00+07:00")
    assert [r[0] for r in rows(db_url, "SELECT record_id FROM payout_report ORDER BY reported_at")] == [
        "r-old", "r-new",
    ]  # fmt: skip
    # The old report is still the latest of its own day: the history has both days.
    assert rows(db_url, "SELECT day, paid_total FROM payout_cycle_daily ORDER BY day") == [
        (date(2024, 10, 5), 600), (date(2024, 10, 9), 980),
    ]  # fmt: skip


async def test_arrival_order_does_not_change_the_state(pg_server: object, db_url: str) -> None:
    from tests.conftest import fresh_database

    batch = [
        report("a", "2024-10-03T09:00:00+07:00", paid_total=300, paid_bank=150, paid_card=50, paid_ewallet=20,
               paid_cash=80, failed=0, failures=None),
        report("b", "2024-10-03T16:00:00+07:00", paid_total=500, paid_bank=250, paid_card=80, paid_ewallet=40,
               paid_cash=130, failed=1, failures={"moved": 1}),
        report("c", "2024-10-04T16:00:00+07:00"),
    ]  # fmt: skip
    other_db = fresh_database(pg_server)  # type: ignore[arg-type]
    for item in batch:  # one by one, oldest first
        await ingest_payout(db_url, [item])
    await ingest_payout(other_db, list(reversed(batch)))  # all at once, newest first
    assert payout_snapshot(db_url)["cycles"] == payout_snapshot(other_db)["cycles"]
    daily = rows(db_url, "SELECT day, paid_total, record_id FROM payout_cycle_daily ORDER BY day")
    assert daily == [(date(2024, 10, 3), 500, "b"), (date(2024, 10, 4), 900, "c")]
    assert daily == rows(other_db, "SELECT day, paid_total, record_id FROM payout_cycle_daily ORDER BY day")


async def test_the_daily_table_keeps_each_days_last_state_per_cycle(db_url: str) -> None:
    items = []
    # Two programmes, three days, two reports a day (morning and evening); the evening one wins.
    for n, day in enumerate((1, 2, 4)):
        for programme in ("nguoi_co_cong", "bao_tro_xa_hoi"):
            for hour, paid in ((9, 100 * day), (18, 100 * day + 50)):
                items.append(report(
                    f"{programme}-{day}-{hour}", f"2024-10-{day:02d}T{hour:02d}:00:00+07:00", programme=programme,
                    paid_total=paid, paid_bank=paid, paid_card=0, paid_ewallet=0, paid_cash=0, failed=n,
                    failures={"unreachable": n} if n else None,
                ))  # fmt: skip
    # A report at 23:30 local time on 4 October is 16:30 UTC: it belongs to 4 October, not the 5th.
    items.append(report("late-night", "2024-10-04T23:30:00+07:00", paid_total=480, paid_bank=480, paid_card=0,
                        paid_ewallet=0, paid_cash=0, failed=2, failures={"unreachable": 2}))  # fmt: skip
    assert all(s == ("accepted", None) for s in statuses(await ingest_payout(db_url, items)))
    daily = rows(db_url, "SELECT programme_code, day, paid_total FROM payout_cycle_daily ORDER BY 1, 2")
    assert daily == [
        ("bao_tro_xa_hoi", date(2024, 10, 1), 150), ("bao_tro_xa_hoi", date(2024, 10, 2), 250),
        ("bao_tro_xa_hoi", date(2024, 10, 4), 450),
        ("nguoi_co_cong", date(2024, 10, 1), 150), ("nguoi_co_cong", date(2024, 10, 2), 250),
        ("nguoi_co_cong", date(2024, 10, 4), 480),
    ]  # fmt: skip
    current = rows(db_url, "SELECT programme_code, paid_total FROM payout_cycle ORDER BY 1")
    assert current == [("bao_tro_xa_hoi", 450), ("nguoi_co_cong", 480)]


async def test_an_out_of_scope_record_writes_nothing(db_url: str) -> None:
    def hanoi_only(province: str, commune: str | None) -> bool:
        return province == "01"

    outcome = await ingest_payout(db_url, [report("hcm-1", locality={"province_code": "79"})], in_scope=hanoi_only)
    assert statuses(outcome) == [("rejected", "locality_out_of_scope")]
    assert all(not rows(db_url, f"SELECT 1 FROM {table}") for table in PAYOUT_TABLES)
    # The same key may write its own province.
    outcome = await ingest_payout(db_url, [report("hn-1")], in_scope=hanoi_only)
    assert statuses(outcome) == [("accepted", None)]


async def test_an_atomic_batch_with_one_bad_item_writes_nothing(db_url: str) -> None:
    batch = [report("r-1"), report("r-2", paid_cash=999), report("r-3", programme="bao_tro_xa_hoi")]
    with pytest.raises(BatchRejected) as refused:
        await ingest_payout(db_url, batch, atomic=True)
    assert statuses(refused.value.outcome) == [
        ("accepted", None), ("rejected", "inconsistent_totals"), ("accepted", None),
    ]  # fmt: skip
    assert all(not rows(db_url, f"SELECT 1 FROM {table}") for table in PAYOUT_TABLES)
    # Duplicates do not refuse an atomic batch: the good ones go in, a resend changes nothing.
    good = [report("r-1"), report("r-3", programme="bao_tro_xa_hoi"), report("r-1")]
    assert statuses(await ingest_payout(db_url, good, atomic=True)) == [
        ("accepted", None), ("accepted", None), ("duplicate", "duplicate_in_batch"),
    ]  # fmt: skip
    before = payout_snapshot(db_url)
    assert statuses(await ingest_payout(db_url, good, atomic=True))[:2] == [("duplicate", "already_ingested")] * 2
    assert payout_snapshot(db_url) == before


async def test_a_retired_programme_refuses_new_reports_and_keeps_its_cycles(db_url: str) -> None:
    assert statuses(await ingest_payout(db_url, [report("p-1", programme="luong_huu")])) == [("accepted", None)]
    rows(db_url, "UPDATE payout_programme SET active = false WHERE code = 'luong_huu' RETURNING code")
    outcome = await ingest_payout(db_url, [report("p-2", "2024-10-08T17:00:00+07:00", programme="luong_huu")])
    assert statuses(outcome) == [("rejected", "unknown_programme")]
    assert rows(db_url, "SELECT record_id FROM payout_cycle") == [("p-1",)]


async def test_reports_are_append_only(db_url: str) -> None:
    await ingest_payout(db_url, [report("r-1")])
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        rows(db_url, "UPDATE payout_report SET paid_total = 0 RETURNING 1")


async def test_a_batch_of_thousands_takes_a_handful_of_statements(db_url: str) -> None:
    """Set-based: the number of statements the ingester sends does not grow with the batch."""
    base = datetime.fromisoformat("2024-10-01T08:00:00+07:00")
    items = [
        report(f"bulk-{i}", (base + timedelta(minutes=i)).isoformat(), locality={"commune_code": commune})
        for i, commune in enumerate(["00004", "00008", "00025"] * 700)
    ]
    ensure_source(db_url)
    ctx = BatchContext(source_id=SOURCE_ID, now=NOW, catalogue=load_catalogue(), in_scope=None)
    async with await AsyncConnection.connect(db_url, cursor_factory=CountingCursor) as conn, conn.transaction():
        outcome = await STREAM_INGESTERS["payout"].ingest(conn, items, ctx)
    assert outcome.count("accepted") == 2100
    # programmes, reports, cycles, days, freshness, notify
    assert CountingCursor.statements == 6
    assert rows(db_url, "SELECT count(*) FROM payout_report") == [(2100,)]
    assert rows(db_url, "SELECT count(*) FROM payout_cycle") == [(3,)]
    assert rows(db_url, "SELECT count(*) FROM payout_cycle_daily") == [(3 * 2,)]  # 2100 minutes: two days


class CountingCursor(AsyncCursor[tuple[Any, ...]]):
    statements = 0

    async def execute(self, *args: Any, **kwargs: Any) -> Self:
        type(self).statements += 1
        return await super().execute(*args, **kwargs)


async def test_the_live_feed_is_told_which_provinces_changed_at_commit(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {LIVE_CHANNEL}")
        await ingest_payout(db_url, [report("r-1"), report("r-2", locality={"commune_code": "25747"})])
        await ingest_payout(db_url, [report("r-1")])  # a resend: nothing changed, nothing to tell
        payloads = [orjson.loads(n.payload) for n in listener.notifies(timeout=1, stop_after=2)]
    assert payloads == [{"stream": "payout", "provinces": ["01", "79"]}]
