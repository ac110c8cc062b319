"""Writing a validated batch in one transaction, set-based: a handful of round trips per batch
whatever its size (receipts, catalogue, binary COPY of events, state upsert, rollup upsert).

Idempotency comes from the receipt ledger: an event id already recorded for its source is a
duplicate and touches nothing. Dossier state is a fold of events in occurred_at order: when every
new event of a dossier is newer than its state, the fold continues from that state; otherwise
(out-of-order arrival, or events that came before the receipt and wait in the orphan ledger) it
is recomputed from the whole stored history, which already contains this batch's events because
we are in its transaction. State and rollups change in the same transaction as the events, so a
response means the dossier, its deadline and its locality's counts are already up to date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson

from ingest.lifecycle import (
    ROLLUP_FIELDS,
    ROLLUP_KEY,
    DossierEvent,
    DossierState,
    EventType,
    fold,
    rollup_totals,
)
from ingest.parse import ItemResult, ParsedBatch
from ingest.reference import CalendarStore, ProcedureCache
from ioc.db.pool import Conn
from ioc.live.channel import NOTIFY_LIVE

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
    "online_level", "digitised", "payment_channel", "rating",
)  # fmt: skip
COPY_EVENTS = f"COPY dossier_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
EVENT_TYPES = ["timestamptz", "text", "text", "text", "text", "timestamptz", *("text" for _ in range(8)), "bool",
               "text", "text"]  # fmt: skip
STATE_COLUMNS = tuple(f.name for f in fields(DossierState))
_state_row = attrgetter(*STATE_COLUMNS)  # a C-level getter: it runs once per changed dossier
# Two batches touching the same dossier must fold one after the other, also when the dossier has
# no row yet for SELECT ... FOR UPDATE to lock. Codes hash into a fixed number of buckets so that
# one transaction never holds more than that many locks; buckets are taken in a fixed order.
LOCK_BUCKETS = 1024
LOCK_DOSSIERS = f"""
SELECT count(pg_advisory_xact_lock(7311, bucket))
FROM (SELECT DISTINCT abs(hashtext(code) %% {LOCK_BUCKETS}) AS bucket FROM unnest(%b::text[]) code ORDER BY 1) b
"""
SELECT_STATES = f"SELECT {', '.join(STATE_COLUMNS)} FROM dossier WHERE code = ANY(%s) ORDER BY code FOR UPDATE"
SELECT_ORPHANS = "SELECT dossier_code FROM dossier_orphan WHERE dossier_code = ANY(%s)"
INSERT_ORPHANS = "INSERT INTO dossier_orphan (dossier_code) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"
DELETE_ORPHANS = "DELETE FROM dossier_orphan WHERE dossier_code = ANY(%s)"
SELECT_HISTORY = """
SELECT occurred_at, dossier_code, event_type, source_id, event_id, province_code, commune_code,
       agency_code, procedure_code, channel, handler_code, handler_name, online_level, digitised,
       payment_channel, rating
FROM dossier_event WHERE dossier_code = ANY(%s)
"""
PREPARE_STAGING = "SELECT ioc_prepare_staging()"
_STATE_TYPES = {
    "statutory_days": "int4", "paused_seconds": "int8", "digitised": "bool",
    **{n: "timestamptz" for n in STATE_COLUMNS if n.endswith("_at") or n in ("late_since",)},
}  # fmt: skip
STATE_TYPES = [_STATE_TYPES.get(n, "text") for n in STATE_COLUMNS]
COPY_STATES = f"COPY dossier_stage ({', '.join(STATE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
MERGE_STATES = f"""
INSERT INTO dossier ({", ".join(STATE_COLUMNS)}, updated_at)
SELECT {", ".join(STATE_COLUMNS)}, now() FROM dossier_stage ORDER BY code
ON CONFLICT (code) DO UPDATE SET
{", ".join(f"{n} = EXCLUDED.{n}" for n in STATE_COLUMNS if n != "code")}, updated_at = now()
"""
COPY_ROLLUP = f"COPY dossier_daily_stage ({', '.join((*ROLLUP_KEY, *ROLLUP_FIELDS))}) FROM STDIN (FORMAT BINARY)"
ROLLUP_TYPES = ["date", "text", "text", "text", "text", *("int4" for _ in ROLLUP_FIELDS)]
# Merged in key order, like the states, so concurrent writers take row locks in the same order.
MERGE_ROLLUP = f"""
INSERT INTO dossier_daily ({", ".join((*ROLLUP_KEY, *ROLLUP_FIELDS))})
SELECT {", ".join((*ROLLUP_KEY, *ROLLUP_FIELDS))} FROM dossier_daily_stage ORDER BY {", ".join(ROLLUP_KEY)}
ON CONFLICT ({", ".join(ROLLUP_KEY)}) DO UPDATE SET
{", ".join(f"{f} = dossier_daily.{f} + EXCLUDED.{f}" for f in ROLLUP_FIELDS)}
"""
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
    provinces: frozenset[str]

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
    def __init__(self, procedures: ProcedureCache, calendars: CalendarStore) -> None:
        self._procedures = procedures
        self._calendars = calendars
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

    async def write(self, conn: Conn, source_id: str, batch: ParsedBatch, now: datetime) -> WriteOutcome:
        """Write inside the caller's open transaction; the caller commits."""
        candidates = [event for _, event, _ in batch.accepted]
        fresh_ids: set[str] = set()
        if candidates:
            cur = await conn.execute(INSERT_RECEIPTS, [source_id, [e.event_id for e in candidates]])
            fresh_ids = {str(row[0]) for row in await cur.fetchall()}
        fresh = [e for e in candidates if e.event_id in fresh_ids]
        if fresh:
            await self._write_catalogue(conn, batch, fresh)
            await copy_events(conn, fresh, now)
            provinces = await self._apply_to_states(conn, fresh)
            await conn.execute(UPSERT_FRESHNESS, [source_id, max(e.occurred_at for e in fresh)])
            payload = orjson.dumps({"stream": "dossier", "provinces": sorted(provinces)}).decode()
            await conn.execute(NOTIFY_LIVE, [payload])
        else:
            provinces = set()
        return self._outcome(batch, fresh_ids, frozenset(provinces))

    @staticmethod
    def _outcome(batch: ParsedBatch, fresh_ids: set[str], provinces: frozenset[str]) -> WriteOutcome:
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
        return WriteOutcome(results, accepted, duplicate, rejected, provinces)

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

    async def _apply_to_states(self, conn: Conn, fresh: list[DossierEvent]) -> set[str]:
        by_dossier: dict[str, list[DossierEvent]] = defaultdict(list)
        for event in fresh:
            by_dossier[event.dossier_code].append(event)
        codes = sorted(by_dossier)
        await conn.execute(LOCK_DOSSIERS, [codes])
        cur = await conn.execute(SELECT_STATES, [codes])
        old: dict[str, DossierState] = {}
        for row in await cur.fetchall():
            state = DossierState(*row)  # type: ignore[arg-type]
            old[state.code] = state
        unknown = [code for code in codes if code not in old]
        needs_history = [
            code for code in codes
            if code in old and min(e.occurred_at for e in by_dossier[code]) < old[code].last_event_at
        ]  # fmt: skip
        orphans: set[str] = set()
        if unknown:
            cur = await conn.execute(SELECT_ORPHANS, [unknown])
            orphans = {str(row[0]) for row in await cur.fetchall()}
            needs_history += sorted(orphans)
        history: dict[str, list[DossierEvent]] = defaultdict(list)
        if needs_history:
            cur = await conn.execute(SELECT_HISTORY, [needs_history])
            for row in await cur.fetchall():
                event = DossierEvent(row[0], row[1], EventType(row[2]), *row[3:])  # type: ignore[arg-type]
                history[event.dossier_code].append(event)
            # A refold starts from the receipt, whose procedure this process may not have seen yet.
            await self._procedures.prefetch(
                conn, {e.procedure_code for events in history.values() for e in events if e.procedure_code}
            )
        calendar_for = self._calendars.calendar_for
        procedure_of = self._procedures.get
        pairs: list[tuple[DossierState | None, DossierState | None]] = []
        still_orphan: list[str] = []
        for code, events in by_dossier.items():
            before = old.get(code)
            if code in history:
                new = fold(None, history[code], calendar_for, procedure_of)
            else:
                new = fold(before, events, calendar_for, procedure_of)
            if new is None:
                if before is None:
                    still_orphan.append(code)
                continue  # a known dossier never folds to nothing; keep what we have
            if new != before:
                pairs.append((before, new))
        if still_orphan:
            await conn.execute(INSERT_ORPHANS, [sorted(still_orphan)])
        adopted = sorted(orphans - set(still_orphan))
        if adopted:
            await conn.execute(DELETE_ORPHANS, [adopted])
        # Rows are upserted in key order so concurrent writers take row locks in the same order.
        changed = sorted((new for _, new in pairs if new is not None), key=lambda state: state.code)
        delta = rollup_totals(pairs)
        if changed or delta:
            await conn.execute(PREPARE_STAGING)
        if changed:
            async with conn.cursor().copy(COPY_STATES) as copy:
                copy.set_types(STATE_TYPES)
                for state in changed:
                    await copy.write_row(_state_row(state))
            await conn.execute(MERGE_STATES)
        if delta:
            async with conn.cursor().copy(COPY_ROLLUP) as copy:
                copy.set_types(ROLLUP_TYPES)
                for key in sorted(delta):
                    await copy.write_row((*key, *delta[key]))
            await conn.execute(MERGE_ROLLUP)
        return {e.province_code for e in fresh} | {s.province_code for s in changed}


async def copy_events(conn: Conn, events: Sequence[DossierEvent], ingested_at: datetime) -> None:
    """Binary COPY of events into the log: the cheapest way PostgreSQL takes rows in."""
    async with conn.cursor().copy(COPY_EVENTS) as copy:
        copy.set_types(EVENT_TYPES)
        for e in events:
            await copy.write_row((
                e.occurred_at, e.dossier_code, e.event_type.value, e.source_id, e.event_id, ingested_at,
                e.province_code, e.commune_code, e.agency_code, e.procedure_code, e.channel, e.handler_code,
                e.handler_name, e.online_level, e.digitised, e.payment_channel, e.rating,
            ))  # fmt: skip
