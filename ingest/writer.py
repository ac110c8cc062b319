"""Writing a validated batch, stage one: the event log. One transaction, set-based, a handful of
round trips whatever the batch size: idempotency receipts, catalogue, binary COPY of the events,
feed freshness, and one projection-queue row naming the dossiers the batch touched.

Before anything is written, each event is checked against its dossier's owner (ingest/ownership.py):
a batch's `received` events register the codes nobody owns yet, and an event from a source that
may not write to its dossier, or that would move it, is refused on its own and writes nothing.

Idempotency comes from the receipt ledger: an event id already recorded for its source is a
duplicate and touches nothing. Stage two, folding the events into the dossier state and the daily
rollup, is ingest/projector.py, in a second transaction that also deletes the queue row. The
ingest route runs both before it answers, so a response still means the dossier, its deadline and
its locality's counts are up to date; a source may instead ask to be answered once the events are
stored (`?ack=stored`), and the projector loop applies them moments later. Keeping the log append
on its own makes the source's acknowledgement cost what storing costs (measured in
bench/RESULTS.md), and a crash between the two stages loses nothing: the queue row stays and the
loop refolds those dossiers from the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from ingest.lifecycle import DossierEvent
from ingest.ownership import InScope, Owner, check_ownership, registrations
from ingest.parse import ItemResult, ParsedBatch
from ingest.reference import ProcedureCache
from ioc.db.pool import Conn

COPY_RECEIPTS = "COPY event_receipt (source_id, event_id) FROM STDIN (FORMAT BINARY)"
INSERT_RECEIPTS = """
INSERT INTO event_receipt (source_id, event_id)
SELECT %s, unnest(%b::text[])
ON CONFLICT DO NOTHING
RETURNING event_id
"""
ENSURE_PARTITIONS = "SELECT ensure_dossier_event_partitions(%s, %s)"
INSERT_PROCEDURES = """
INSERT INTO procedure (code, name, sector, statutory_days)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::int[])
ON CONFLICT (code) DO NOTHING
"""
UPSERT_AGENCIES = """
INSERT INTO agency (code, name, province_code, commune_code)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
WHERE agency.name IS DISTINCT FROM EXCLUDED.name
"""
EVENT_COLUMNS = (
    "occurred_at", "dossier_code", "event_type", "source_id", "event_id", "ingested_at",
    "province_code", "commune_code", "agency_code", "procedure_code", "channel", "handler_code", "handler_name",
    "online_level", "digitised", "payment_channel", "rating", "due_at", "statutory_days",
)  # fmt: skip
COPY_EVENTS = f"COPY dossier_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
EVENT_TYPES = ["timestamptz", "text", "text", "text", "text", "timestamptz", *("text" for _ in range(8)), "bool",
               "text", "text", "timestamptz", "int4"]  # fmt: skip
# Registration first, then the read-back as its own statement: under READ COMMITTED a second
# statement sees a registration that a concurrent batch committed while this one waited on the
# primary key, where a single statement (a CTE) would still see its old snapshot.
COPY_OWNERS = "COPY dossier_owner (code, source_id, province_code, commune_code) FROM STDIN (FORMAT BINARY)"
REGISTER_OWNERS = """
INSERT INTO dossier_owner (code, source_id, province_code, commune_code)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) ORDER BY 1
ON CONFLICT (code) DO NOTHING
RETURNING code
"""
SELECT_OWNERS = "SELECT code, source_id, province_code, commune_code FROM dossier_owner WHERE code = ANY(%b::text[])"
QUEUE_PROJECTION = """
INSERT INTO dossier_projection_queue (source_id, dossier_codes, deferred) VALUES (%s, %b::text[], %s) RETURNING id
"""
PROJECTION_CHANNEL = "ioc_projection"
NOTIFY_PROJECTION = f"SELECT pg_notify('{PROJECTION_CHANNEL}', '')"
UPSERT_FRESHNESS = """
INSERT INTO feed_freshness (source_id, stream, last_event_at, last_ingest_at)
VALUES (%s, 'dossier', %s, now())
ON CONFLICT (source_id, stream) DO UPDATE SET
    last_event_at = GREATEST(feed_freshness.last_event_at, EXCLUDED.last_event_at),
    last_ingest_at = now()
"""


@dataclass(frozen=True)
class WriteOutcome:
    """Per-item results already in their wire form (index order) and the counts by status."""

    results: list[dict[str, Any]]
    accepted: int
    duplicate: int
    rejected: int
    # What stage two needs: the events written (not the duplicates) and their queue row.
    fresh: list[DossierEvent] = field(repr=False)
    queue_id: int | None
    # Where each registered code of the batch belongs, as stage one read it (it never changes).
    owner_places: dict[str, tuple[str, str | None]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "results": self.results,
        }


_ALREADY_INGESTED = ItemResult(
    0, None, "duplicate", "already_ingested", "this source already sent an event with this event_id"
).as_dict()


class DossierWriter:
    def __init__(self, procedures: ProcedureCache) -> None:
        self._procedures = procedures
        self._months_ready: set[tuple[int, int]] = set()
        # Agencies already written with this name: most batches name the same few thousand
        # agencies again, and an upsert per batch for each would cost more than the events.
        self._agency_names: dict[str, str] = {}

    async def ensure_partitions(self, conn: Conn, events: Sequence[DossierEvent]) -> None:
        """Run outside the batch's transaction so writers never queue on partition creation.
        Only the months the batch uses: a stray old date must not create every month since."""
        months = {(e.occurred_at.astimezone(UTC).year, e.occurred_at.astimezone(UTC).month) for e in events}
        missing = sorted(months - self._months_ready)
        for year, month in missing:
            first = datetime(year, month, 1, tzinfo=UTC)
            await conn.execute(ENSURE_PARTITIONS, [first, first])
        if missing:
            await conn.commit()
        self._months_ready |= months

    async def write(
        self, conn: Conn, source_id: str, batch: ParsedBatch, now: datetime, *,
        deferred: bool = False, in_scope: InScope | None = None,
    ) -> WriteOutcome:
        """Write inside the caller's open transaction; the caller commits, then projects (or, with
        `deferred`, leaves that to the projector loop, which this wakes at commit). `in_scope` is
        the source's locality grant (None: national), checked against each dossier's owner."""
        owner_places: dict[str, tuple[str, str | None]] = {}
        if batch.accepted:
            batch, owner_places = await enforce_ownership(conn, batch, in_scope)
        candidates = [event for _, event, _ in batch.accepted]
        fresh_ids = await record_receipts(conn, source_id, [e.event_id for e in candidates]) if candidates else set()
        fresh = [e for e in candidates if e.event_id in fresh_ids]
        queue_id = None
        if fresh:
            await self._write_catalogue(conn, batch, fresh)
            await copy_events(conn, fresh, now)
            await conn.execute(UPSERT_FRESHNESS, [source_id, max(e.occurred_at for e in fresh)])
            codes = sorted({e.dossier_code for e in fresh})
            cur = await conn.execute(QUEUE_PROJECTION, [source_id, codes, deferred])
            row = await cur.fetchone()
            assert row is not None
            queue_id = int(row[0])  # type: ignore[call-overload]
            if deferred:
                await conn.execute(NOTIFY_PROJECTION)
        return replace(self._outcome(batch, fresh_ids, fresh, queue_id), owner_places=owner_places)

    @staticmethod
    def _outcome(
        batch: ParsedBatch, fresh_ids: set[str], fresh: list[DossierEvent], queue_id: int | None
    ) -> WriteOutcome:
        # Plain dicts, placed by index: this runs for every item of every batch.
        results: list[dict[str, Any]] = [{}] * (len(batch.accepted) + len(batch.refused))
        for refused in batch.refused:
            results[refused.index] = refused.as_dict()
        accepted = 0
        for index, event, converted_from in batch.accepted:
            if event.event_id in fresh_ids:
                accepted += 1
                result = {"index": index, "event_id": event.event_id, "status": "accepted"}
                if converted_from:
                    result["converted_from"] = converted_from
            else:
                result = {**_ALREADY_INGESTED, "index": index, "event_id": event.event_id}
            results[index] = result
        duplicate = len(batch.accepted) - accepted + sum(r.status == "duplicate" for r in batch.refused)
        rejected = sum(r.status == "rejected" for r in batch.refused)
        return WriteOutcome(results, accepted, duplicate, rejected, fresh, queue_id)

    async def _write_catalogue(self, conn: Conn, batch: ParsedBatch, fresh: list[DossierEvent]) -> None:
        used_procedures = {e.procedure_code for e in fresh}
        new = sorted(
            ((p, name) for code, (p, name) in batch.new_procedures.items() if code in used_procedures),
            key=lambda pair: pair[0].code,
        )
        if new:
            await conn.execute(INSERT_PROCEDURES, [
                [p.code for p, _ in new], [name for _, name in new],
                [p.sector for p, _ in new], [p.statutory_days for p, _ in new],
            ])  # fmt: skip
            for procedure, _ in new:
                self._procedures.remember(procedure)
        used_agencies = {e.agency_code for e in fresh}
        agencies = sorted(
            (a for code, a in batch.agencies.items()
             if code in used_agencies and self._agency_names.get(code) != a.name),
            key=lambda a: a.code,
        )  # fmt: skip
        if agencies:
            await conn.execute(UPSERT_AGENCIES, [
                [a.code for a in agencies], [a.name for a in agencies],
                [a.province_code for a in agencies], [a.commune_code for a in agencies],
            ])  # fmt: skip
            self._agency_names.update((a.code, a.name) for a in agencies)


async def enforce_ownership(
    conn: Conn, batch: ParsedBatch, in_scope: InScope | None
) -> tuple[ParsedBatch, dict[str, tuple[str, str | None]]]:
    """Register the codes this batch receives first, read back the owner of every code it
    touches, and move the items that may not be written to the refused list. Also returns the
    registered place of each code, for the projector."""
    events = [event for _, event, _ in batch.accepted]
    claims = sorted(registrations(events).values(), key=lambda owner: owner.code)
    owners = {o.code: o for o in await register_owners(conn, claims)} if claims else {}
    # Only the codes this batch did not register itself need reading back.
    others = sorted({e.dossier_code for e in events} - owners.keys())
    if others:
        cur = await conn.execute(SELECT_OWNERS, [others])
        owners.update((str(row[0]), Owner(*row)) for row in await cur.fetchall())  # type: ignore[arg-type]
    kept, refused = check_ownership(batch.accepted, owners, in_scope)
    places = {code: (o.province_code, o.commune_code) for code, o in owners.items()}
    if not refused:
        return batch, places
    return replace(batch, accepted=kept, refused=[
        *batch.refused, *(ItemResult(r.index, r.event_id, "rejected", r.reason, r.message) for r in refused),
    ]), places  # fmt: skip


async def register_owners(conn: Conn, claims: list[Owner]) -> list[Owner]:
    """Register the claims nobody owns yet and return those this call registered. Most batches
    register only new codes, and binary COPY is the cheapest way in (as for the receipts below);
    one code already registered, or being registered by a concurrent batch (the unique index makes
    COPY wait for it), fails the COPY on the primary key, and then, its savepoint rolled back, the
    claims go through INSERT … ON CONFLICT DO NOTHING, which tells which ones were new."""
    try:
        async with conn.transaction(), conn.cursor().copy(COPY_OWNERS) as copy:
            copy.set_types(["text", "text", "text", "text"])
            for owner in claims:
                await copy.write_row((owner.code, owner.source_id, owner.province_code, owner.commune_code))
        return claims
    except psycopg.errors.UniqueViolation:
        cur = await conn.execute(REGISTER_OWNERS, [
            [o.code for o in claims], [o.source_id for o in claims],
            [o.province_code for o in claims], [o.commune_code for o in claims],
        ])  # fmt: skip
        new = {str(row[0]) for row in await cur.fetchall()}
        return [o for o in claims if o.code in new]


async def record_receipts(conn: Conn, source_id: str, event_ids: list[str]) -> set[str]:
    """Record the ids in the receipt ledger and return those it did not hold yet (the rest are
    duplicates). Most batches carry only new events, and a binary COPY is the cheapest way in; one
    id already recorded (or being recorded by a concurrent batch) makes the COPY fail on the
    primary key, and then, its savepoint rolled back, the batch takes the ON CONFLICT path, which
    tells new from known id by id. A replayed batch thus costs a failed COPY more than it did."""
    try:
        async with conn.transaction(), conn.cursor().copy(COPY_RECEIPTS) as copy:
            copy.set_types(["text", "text"])
            for event_id in event_ids:
                await copy.write_row((source_id, event_id))
        return set(event_ids)
    except psycopg.errors.UniqueViolation:
        cur = await conn.execute(INSERT_RECEIPTS, [source_id, event_ids])
        return {str(row[0]) for row in await cur.fetchall()}


async def copy_events(conn: Conn, events: Sequence[DossierEvent], ingested_at: datetime) -> None:
    """Binary COPY of events into the log: the cheapest way PostgreSQL takes rows in."""
    async with conn.cursor().copy(COPY_EVENTS) as copy:
        copy.set_types(EVENT_TYPES)
        for e in events:
            await copy.write_row((
                e.occurred_at, e.dossier_code, e.event_type.value, e.source_id, e.event_id, ingested_at,
                e.province_code, e.commune_code, e.agency_code, e.procedure_code, e.channel, e.handler_code,
                e.handler_name, e.online_level, e.digitised, e.payment_channel, e.rating, e.due_at,
                e.statutory_days,
            ))  # fmt: skip
