"""Housekeeping on plain PostgreSQL that TimescaleDB does by policy: dropping old partitions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from ioc.db.pool import Conn

log = logging.getLogger(__name__)

DROP_OLD_PARTITIONS = "SELECT drop_dossier_event_partitions_before(%s)"


async def apply_retention(pool: AsyncConnectionPool[Conn], retention_days: int) -> int:
    """Drop whole monthly partitions of dossier events older than the retention period."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    async with pool.connection() as conn:
        cur = await conn.execute(DROP_OLD_PARTITIONS, [cutoff])
        row = await cur.fetchone()
    dropped = int(row[0]) if row else 0  # type: ignore[call-overload]
    if dropped:
        log.info("retention: dropped %d dossier event partitions older than %s", dropped, cutoff.date())
    return dropped
