"""Helpers of the ID-issuance tests: a valid report to vary, ingest through the real ingester
without HTTP, and probes of the ID tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from ingest.batch import BatchContext, BatchOutcome, InScope
from ingest.streams import STREAM_INGESTERS
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source

ID_INGEST = "/api/v1/ingest/id-issuance"
ID_TABLES = ("id_issuance_report", "id_issuance_daily")
SOURCE_ID = "ca-test-source"  # công an: the police report CCCD and VNeID figures
NOW = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)  # 10:00 on 17/3/2026 in Vietnam
THU_DAU_MOT = {"commune_code": "25747"}  # Phường Thủ Dầu Một, TP Hồ Chí Minh (79), formerly Bình Dương
HANOI_WARD = {"commune_code": "00004"}  # Phường Ba Đình, Hà Nội (01)


def report(record_id: str, /, **changes: Any) -> dict[str, Any]:
    """A consistent report for Thủ Dầu Một on 16/3/2026; `changes` override fields (None removes one)."""
    item: dict[str, Any] = {
        "record_id": record_id, "day": "2026-03-16", "reported_at": "2026-03-16T18:00:00+07:00",
        "locality": THU_DAU_MOT,
        "cccd_received": 120, "cccd_issued": 95, "l2_received": 310, "l2_approved": 280, "l2_activated": 150,
        "eligible_population": 54_000, "cccd_issued_total": 52_575, "l2_activated_total": 9_300,
        "l2_eligible_population": 27_500,
    }  # fmt: skip
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


def ensure_source(db_url: str, source_id: str = SOURCE_ID) -> None:
    with psycopg.connect(db_url) as conn:
        if conn.execute("SELECT 1 FROM source WHERE id = %s", [source_id]).fetchone() is None:
            conn.commit()
            register_source(db_url, source_id, "Công an tỉnh (thử nghiệm)")


async def ingest_id(
    db_url: str,
    items: list[Any],
    *,
    now: datetime = NOW,
    in_scope: InScope | None = None,
    atomic: bool = False,
    source_id: str = SOURCE_ID,
    register: bool = True,
) -> BatchOutcome:
    """One batch through the ID-issuance ingester in one transaction, as the push API runs it."""
    if register:
        ensure_source(db_url, source_id)
    ctx = BatchContext(source_id=source_id, now=now, catalogue=load_catalogue(), in_scope=in_scope)
    async with await AsyncConnection.connect(db_url) as conn, conn.transaction():
        return await STREAM_INGESTERS["id_issuance"].ingest(conn, items, ctx, atomic=atomic)


def rows(db_url: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


def counts(db_url: str) -> dict[str, int]:
    return {table: int(rows(db_url, f"SELECT count(*) FROM {table}")[0][0]) for table in ID_TABLES}


def in_force(db_url: str, commune: str = "25747") -> list[tuple[Any, ...]]:
    """(day, record_id, cccd_issued_total) of the reports in force for a commune, by day."""
    return rows(db_url, "SELECT day::text, record_id, cccd_issued_total FROM id_issuance_daily"
                        " WHERE commune_code = %s ORDER BY day", [commune])  # fmt: skip
