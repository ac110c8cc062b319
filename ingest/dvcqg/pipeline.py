"""Portal-format records into the dossier stores, for the push route (ioc/api/dvcqg.py) and the
gateway poller (ingest/connector/): the I/O around the pure translator, in three steps so that a
caller can put the write inside its own transaction (the poller writes a page and its cursor
together).

1. `prepare`, outside any transaction: read the unit table, the remembered statuses and the
   dossiers' registered places; translate; `parse_batch`; create the months' partitions.
2. `write`, inside the caller's transaction: `DossierWriter.write` (ownership, receipts, events)
   and the statuses of the records whose events were stored.
3. `apply`, after the commit: `DossierProjector.apply`, as the push API does.

A source's syncs run one at a time (`source_lock`): each derives from the statuses the previous
one left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest.dvcqg.envelope import SyncRequest
from ingest.dvcqg.translate import (
    Context,
    KnownStatus,
    Translation,
    UnitDirectory,
    UnitPlace,
    dossier_codes,
    item_results,
    translate,
    unit_keys,
)
from ingest.ownership import InScope
from ingest.parse import ParsedBatch, parse_batch
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter, WriteOutcome
from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue

LOCK = "SELECT pg_advisory_lock(hashtextextended(%s, 7311042047))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 7311042047))"
SELECT_UNITS = """
SELECT unit_key, province_code, commune_code, agency_code, agency_name FROM dvcqg_unit
WHERE source_id = %s AND unit_key = ANY(%s::text[])
"""
SELECT_KNOWN = """
SELECT dossier_code, status, since, due FROM dvcqg_dossier_status
WHERE source_id = %s AND dossier_code = ANY(%s::text[])
"""
UPSERT_KNOWN = """
INSERT INTO dvcqg_dossier_status (source_id, dossier_code, status, since, due)
SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (source_id, dossier_code) DO UPDATE SET status = EXCLUDED.status, since = EXCLUDED.since,
                                                   due = EXCLUDED.due, updated_at = now()
"""
SELECT_OWNERS = "SELECT code, province_code, commune_code FROM dossier_owner WHERE code = ANY(%s::text[])"


@dataclass(frozen=True)
class Prepared:
    source_id: str
    sync: SyncRequest
    translation: Translation
    batch: ParsedBatch
    now: datetime
    in_scope: InScope | None


@dataclass(frozen=True)
class Written:
    outcome: WriteOutcome
    results: list[dict[str, Any]]  # one per portal item

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.results)


@asynccontextmanager
async def source_lock(conn: Conn, source_id: str) -> AsyncIterator[None]:
    """A session-level lock on the source's syncs, on an idle connection; released however the
    block ends (a broken connection releases it as it closes)."""
    await conn.execute(LOCK, [source_id])
    await conn.commit()
    try:
        yield
    finally:
        await conn.rollback()  # a failed statement inside leaves the transaction unusable
        await conn.execute(UNLOCK, [source_id])
        await conn.commit()


class PortalSync:
    def __init__(self, procedures: ProcedureCache, calendars: CalendarStore, writer: DossierWriter,
                 projector: DossierProjector) -> None:  # fmt: skip
        self.procedures, self.calendars, self.writer, self.projector = procedures, calendars, writer, projector

    async def prepare(
        self, conn: Conn, source_id: str, sync: SyncRequest, *, now: datetime, catalogue: LocalityCatalogue,
        in_scope: InScope | None, future_tolerance: timedelta, max_age: timedelta,
    ) -> Prepared:  # fmt: skip
        codes = sorted(dossier_codes(sync.items))
        cur = await conn.execute(SELECT_UNITS, [source_id, sorted(unit_keys(sync.items, sync.unit_id))])
        unit_rows: list[Any] = await cur.fetchall()
        units = UnitDirectory({str(k): UnitPlace(p, c, a, n) for k, p, c, a, n in unit_rows})
        cur = await conn.execute(SELECT_KNOWN, [source_id, codes])
        known_rows: list[Any] = await cur.fetchall()
        known = {str(code): KnownStatus(str(status), since, due) for code, status, since, due in known_rows}
        cur = await conn.execute(SELECT_OWNERS, [codes])
        owner_rows: list[Any] = await cur.fetchall()
        owners: dict[str, tuple[str, str | None]] = {str(c): (str(p), cm) for c, p, cm in owner_rows}
        await self.procedures.prefetch(conn, procedure_codes(sync.items))
        await self.calendars.refresh_if_stale(conn)
        await conn.commit()
        procedures = self.procedures
        translation = translate(sync.service, sync.items, Context(
            now=now, units=units, unit_id=sync.unit_id, known=known, owner_places=owners,
            procedure_known=lambda code: procedures.get(code) is not None,
        ))  # fmt: skip
        batch = parse_batch(
            translation.events, source_id=source_id, now=now, future_tolerance=future_tolerance, max_age=max_age,
            catalogue=catalogue, procedure_of=procedures.get, in_scope=in_scope,
        )  # fmt: skip
        await self.writer.ensure_partitions(conn, [e for _, e, _ in batch.accepted])
        return Prepared(source_id, sync, translation, batch, now, in_scope)

    async def write(self, conn: Conn, prepared: Prepared, *, deferred: bool = False) -> Written:
        """Inside the caller's open transaction."""
        outcome = await self.writer.write(conn, prepared.source_id, prepared.batch, prepared.now,
                                          deferred=deferred, in_scope=prepared.in_scope)  # fmt: skip
        results = item_results(prepared.translation, len(prepared.sync.items), outcome.results)
        await _remember(conn, prepared.source_id, prepared.translation, results)
        return Written(outcome, results)

    async def apply(self, conn: Conn, written: Written) -> None:
        async with conn.transaction():
            await self.projector.apply(conn, written.outcome)


def procedure_codes(items: Sequence[Any]) -> set[str]:
    codes = {i["MaTTHC"].strip() for i in items if isinstance(i, dict) and isinstance(i.get("MaTTHC"), str)}
    # The national code of a province's variant (3.000181.000.00.00.H22 → 3.000181) too.
    return codes | {".".join(c.split(".")[:2]) for c in codes if c.count(".") > 1}


async def _remember(conn: Conn, source_id: str, tr: Translation, results: list[dict[str, Any]]) -> None:
    """The statuses of the dossier objects whose events were stored (or already were)."""
    kept = [(code, known) for index, (code, known) in sorted(tr.statuses.items())
            if results[index]["status"] != "rejected"]  # fmt: skip
    latest = dict(kept)  # a dossier sent twice in one batch: its last record is its state
    if latest:
        states = list(latest.values())
        await conn.execute(UPSERT_KNOWN, [source_id, list(latest), [k.status for k in states],
                                          [k.since for k in states], [k.due for k in states]])  # fmt: skip
