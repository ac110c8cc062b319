"""Helpers of the payout tests: a valid report to vary, ingest through the real ingester without
HTTP, and probes of the payout tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from ingest.batch import BatchContext, BatchOutcome, InScope
from ingest.streams import STREAM_INGESTERS
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source

PAYOUT_INGEST = "/api/v1/ingest/payout-records"
PAYOUT_TABLES = ("payout_report", "payout_cycle", "payout_cycle_daily")
SOURCE_ID = "payout-test-source"
NOW = datetime(2024, 10, 20, 10, 0, tzinfo=UTC)


def report(record_id: str, /, reported_at: Any = "2024-10-07T17:00:00+07:00", **changes: Any) -> dict[str, Any]:
    """A consistent report for Hà Nội's October-2024 meritorious-service cycle; `changes` override
    fields (None removes one)."""
    item: dict[str, Any] = {
        "record_id": record_id, "locality": {"province_code": "01"}, "programme": "nguoi_co_cong",
        "cycle": "2024-10", "cycle_opens_on": "2024-10-01", "deadline": "2024-10-31", "reported_at": reported_at,
        "beneficiaries_due": 1000, "paid_total": 900, "paid_bank": 500, "paid_card": 100, "paid_ewallet": 50,
        "paid_cash": 250, "failed": 3, "failures": {"wrong_account": 2, "deceased": 1},
        "amount_due_vnd": 2_200_000_000, "amount_paid_vnd": 1_980_000_000,
    }  # fmt: skip
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


def ensure_source(db_url: str, source_id: str = SOURCE_ID) -> None:
    with psycopg.connect(db_url) as conn:
        if conn.execute("SELECT 1 FROM source WHERE id = %s", [source_id]).fetchone() is None:
            conn.commit()
            register_source(db_url, source_id, "Nguồn chi trả thử nghiệm")


async def ingest_payout(
    db_url: str,
    items: list[Any],
    *,
    now: datetime = NOW,
    in_scope: InScope | None = None,
    atomic: bool = False,
    source_id: str = SOURCE_ID,
) -> BatchOutcome:
    """One batch through the payout ingester in one transaction, as the push API runs it."""
    ensure_source(db_url, source_id)
    ctx = BatchContext(source_id=source_id, now=now, catalogue=load_catalogue(), in_scope=in_scope)
    async with await AsyncConnection.connect(db_url) as conn, conn.transaction():
        return await STREAM_INGESTERS["payout"].ingest(conn, items, ctx, atomic=atomic)


def rows(db_url: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


def payout_snapshot(db_url: str) -> dict[str, Any]:
    """Everything the payout writer stores, bookkeeping timestamps aside."""
    return {
        "reports": rows(db_url, "SELECT source_id, record_id, reported_at, paid_total FROM payout_report "
                                "ORDER BY 1, 2"),
        "cycles": rows(db_url, "SELECT province_code, commune_code, programme_code, cycle_month, paid_total, "
                               "reported_at, record_id FROM payout_cycle ORDER BY 1, 2, 3, 4"),
        "daily": rows(db_url, "SELECT day, province_code, commune_code, programme_code, cycle_month, paid_total, "
                              "record_id FROM payout_cycle_daily ORDER BY 1, 2, 3, 4, 5"),
    }  # fmt: skip
