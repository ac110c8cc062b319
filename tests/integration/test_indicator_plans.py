"""Indicator queries read rollups, snapshots, the streams' daily tables and the partial indexes on
open and late dossiers: never the event log, and never a scan of every dossier.

Each query is recorded as the indicator code issues it (the real functions, on a real
connection), then explained with sequential scans disabled: tables here are tiny, so the planner
would rightly scan them; with scans disabled, a plan that still scans `dossier` would mean no
index can answer it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.indicators.buckets import Bucket, bucket_starts
from ioc.indicators.history import bucket_components
from ioc.indicators.places import Level, places
from ioc.indicators.values import current_components
from tests.integration.test_status_plans import PARTIAL_INDEXES as STATUS_INDEXES
from tests.integration.test_status_plans import plan_nodes

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SCOPES = {
    "national": Scope.everything(),
    "province": Scope(provinces=frozenset({"01"})),
    "commune": Scope(communes=frozenset({"00004"})),
    "province and sector": Scope(provinces=frozenset({"01"}), sectors=frozenset({"Hộ tịch"})),
}
# The status indexes, and the partial index on late dossiers (migration 014) the planner may use too.
# dossier_appointment_beyond_idx: open dossiers whose slip promises more than the statutory period
# (migrations/026), a partial index like the others.
PARTIAL_INDEXES = STATUS_INDEXES | {"dossier_late_idx", "dossier_appointment_beyond_idx"}
CODES = ["on_time_rate", "overdue_count", "late_without_apology_count", "payout_completion", "cccd_coverage"]


AGENCY = """
INSERT INTO agency (code, name, province_code, commune_code)
VALUES ('UBND-00004', 'UBND Phường Ba Đình', '01', '00004') ON CONFLICT DO NOTHING
"""


class Recording:
    """A connection that remembers every statement run through it."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn
        self.statements: list[tuple[bytes, Any]] = []

    async def execute(self, query: Any, params: Any = None) -> Any:
        self.statements.append((query if isinstance(query, bytes) else str(query).encode(), params))
        return await self.conn.execute(query, params)


async def _recorded(db_url: str, scope: Scope, level: Level, bucket: Bucket | None) -> list[tuple[bytes, Any]]:
    async with await AsyncConnection.connect(db_url) as conn:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.execute(AGENCY)
        await conn.commit()
        listed = await places(conn, scope, level, "01" if level != "province" else None)
        recording = Recording(conn)
        if bucket is None:
            await current_components(recording, scope, level, NOW, listed, CODES)  # type: ignore[arg-type]
        else:
            starts = bucket_starts(NOW - timedelta(days=60), NOW, bucket) if bucket != "hour" else \
                bucket_starts(NOW - timedelta(hours=48), NOW, "hour")  # fmt: skip
            await bucket_components(recording, scope, level, listed, CODES, starts, bucket, NOW)  # type: ignore[arg-type]
        return recording.statements


@pytest.mark.parametrize("bucket", [None, "hour", "day", "month"], ids=lambda b: b or "current")
@pytest.mark.parametrize("level", ["province", "commune", "agency"])
@pytest.mark.parametrize("scope_name", list(SCOPES))
async def test_indicator_queries_use_rollups_and_indexes(
    db_url: str, scope_name: str, level: Level, bucket: Bucket | None
) -> None:
    statements = await _recorded(db_url, SCOPES[scope_name], level, bucket)
    assert statements
    async with await AsyncConnection.connect(db_url) as conn:
        await conn.execute("SET enable_seqscan = off")
        for sql, params in statements:
            cur = await conn.execute(b"EXPLAIN (FORMAT JSON) " + sql, params)
            row = await cur.fetchone()
            assert row is not None
            plan: Any = row[0]
            nodes = plan_nodes(plan[0]["Plan"])
            assert not any(relation.startswith("dossier_event") for _, relation, _ in nodes), (sql, nodes)
            assert not any(kind == "Seq Scan" and relation == "dossier" for kind, relation, _ in nodes), (sql, nodes)
            assert {index for _, relation, index in nodes if relation == "dossier"} <= PARTIAL_INDEXES, (sql, nodes)
