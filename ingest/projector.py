"""Writing a batch, stage two: fold its events into the dossier state and the daily rollup.

Dossier state is a fold of events in occurred_at order. When every new event of a dossier is
newer than the event its state last applied, the fold continues from that state; otherwise
(out-of-order arrival, events that came before the receipt and wait in the orphan ledger, or a
batch whose events another projection already read back from the log) it is recomputed from the
dossier's whole stored history. Events are committed by stage one (ingest/writer.py) before this
runs, so the history always holds them. The rollup changes by new minus old contributions of each
changed dossier, in the same transaction as its state, so the two never disagree.

`DossierProjector.apply` projects one batch right after its events were committed, from the events
in memory, and deletes its queue row. `DossierProjector.catch_up` finds queue rows nobody is
applying (batches acknowledged once stored, or left by a crash between the stages) and refolds
their dossiers from the log; refolding is idempotent, so a batch projected twice counts once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import fields
from datetime import timedelta
from operator import attrgetter

import orjson
import psycopg

from ingest.lifecycle import (
    ROLLUP_FIELDS,
    ROLLUP_KEY,
    DossierEvent,
    DossierState,
    EventType,
    fold,
    rollup_totals,
)
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import WriteOutcome
from ioc.db.pool import Conn
from ioc.live.channel import NOTIFY_LIVE

log = logging.getLogger(__name__)

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
       payment_channel, rating, due_at, statutory_days
FROM dossier_event WHERE dossier_code = ANY(%s)
"""
# Where each code was registered (ingest/ownership.py): a refold keeps only the events placed there.
SELECT_OWNER_PLACES = "SELECT code, province_code, commune_code FROM dossier_owner WHERE code = ANY(%s)"
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
# Rollup changes are appended as pending delta rows (migrations/024); readers sum them in at once
# and ingest/rollup_compaction.py merges them into one row per key.
COPY_ROLLUP = f"COPY dossier_daily ({', '.join((*ROLLUP_KEY, *ROLLUP_FIELDS))}, pending) FROM STDIN (FORMAT BINARY)"
ROLLUP_TYPES = ["date", "text", "text", "text", "text", *("int4" for _ in ROLLUP_FIELDS), "bool"]
DELETE_QUEUED = "DELETE FROM dossier_projection_queue WHERE id = %s RETURNING dossier_codes"
# Deferred batches at once, others only once their request has had time to apply them itself.
SELECT_UNCLAIMED = """
SELECT id, dossier_codes FROM dossier_projection_queue
WHERE deferred OR queued_at < now() - %s::interval ORDER BY id LIMIT %s
"""


class DossierProjector:
    def __init__(self, procedures: ProcedureCache, calendars: CalendarStore) -> None:
        self._procedures = procedures
        self._calendars = calendars

    async def apply(self, conn: Conn, written: WriteOutcome) -> frozenset[str]:
        """Project a batch stage one just committed, inside the caller's open transaction (the
        caller commits). Returns the provinces whose figures changed; the live feed is told."""
        if written.queue_id is None:
            return frozenset()
        by_dossier: dict[str, list[DossierEvent]] = defaultdict(list)
        for event in written.fresh:
            by_dossier[event.dossier_code].append(event)
        await conn.execute(LOCK_DOSSIERS, [sorted(by_dossier)])
        # Under the locks: a catch-up that got here first has refolded these dossiers from the log,
        # events of this batch included; the fold below then refolds too (see _project).
        await conn.execute(DELETE_QUEUED, [written.queue_id])
        provinces = await self._project(conn, by_dossier, refold_all=False, owner_places=written.owner_places)
        provinces |= {e.province_code for e in written.fresh}
        await _notify_live(conn, provinces)
        return frozenset(provinces)

    async def catch_up(self, conn: Conn, *, grace: timedelta, limit: int = 50) -> int:
        """Project queued batches nobody else is applying, each in its own transaction, oldest
        first; returns how many this call projected. `conn` must not be inside a transaction."""
        cur = await conn.execute(SELECT_UNCLAIMED, [grace, limit])
        queued = [(int(row[0]), list(row[1])) for row in await cur.fetchall()]  # type: ignore[call-overload]
        await conn.commit()
        done = 0
        for queue_id, codes in queued:
            try:
                done += await self._catch_up_one(conn, queue_id, codes)
            except psycopg.OperationalError:
                raise  # the connection is gone: the loop retries with another
            except Exception:
                # One batch that cannot be applied must not hold up the ones queued after it.
                log.exception("projector: queued batch %s could not be applied; it stays queued", queue_id)
        return done

    async def _catch_up_one(self, conn: Conn, queue_id: int, codes: list[str]) -> int:
        async with conn.transaction():
            await conn.execute(LOCK_DOSSIERS, [sorted(codes)])
            cur = await conn.execute(DELETE_QUEUED, [queue_id])
            if await cur.fetchone() is None:
                return 0  # its request (or another loop) projected it meanwhile
            provinces = await self._project(conn, {code: [] for code in codes}, refold_all=True)
            await _notify_live(conn, provinces)
        return 1

    async def _project(
        self, conn: Conn, by_dossier: dict[str, list[DossierEvent]], *, refold_all: bool,
        owner_places: dict[str, tuple[str, str | None]] | None = None,
    ) -> set[str]:
        """Fold the dossiers' new events (or, with `refold_all`, their whole history) into state
        and rollup. The caller holds the dossiers' locks. Returns the provinces of changed states.
        A dossier folded from nothing takes its registered place (`owner_places`, as stage one
        read it, or read here), whatever place its earliest-stamped receipt names."""
        codes = sorted(by_dossier)
        cur = await conn.execute(SELECT_STATES, [codes])
        old: dict[str, DossierState] = {}
        for row in await cur.fetchall():
            state = DossierState(*row)  # type: ignore[arg-type]
            old[state.code] = state
        unknown = [code for code in codes if code not in old]
        # `<=`, not `<`: an event stamped exactly at the state's last event may already be in it
        # (another projection refolded the log after this batch was committed). Refolding is
        # always right; continuing from the state would apply such an event twice.
        needs_history = codes if refold_all else [
            code for code in codes
            if code in old and min(e.occurred_at for e in by_dossier[code]) <= old[code].last_event_at
        ]  # fmt: skip
        orphans: set[str] = set()
        if unknown:
            cur = await conn.execute(SELECT_ORPHANS, [unknown])
            orphans = {str(row[0]) for row in await cur.fetchall()}
            if not refold_all:
                needs_history += sorted(orphans)
        history: dict[str, list[DossierEvent]] = defaultdict(list)
        places = dict(owner_places or {})
        if missing_places := sorted({*needs_history, *unknown} - places.keys()):
            cur = await conn.execute(SELECT_OWNER_PLACES, [missing_places])
            places.update((str(row[0]), (str(row[1]), row[2])) for row in await cur.fetchall())  # type: ignore[misc]
        if needs_history:
            cur = await conn.execute(SELECT_HISTORY, [needs_history])
            for row in await cur.fetchall():
                event = DossierEvent(row[0], row[1], EventType(row[2]), *row[3:])  # type: ignore[arg-type]
                history[event.dossier_code].append(event)
            # A refold starts from the receipt, whose procedure this process may not have seen yet
            # (stored by another process). A batch's own procedures are in the shared cache: the
            # route fetched them to validate it, and the writer remembers those it registered.
            await self._procedures.prefetch(
                conn, {e.procedure_code for events in history.values() for e in events if e.procedure_code}
            )
        calendar_for = self._calendars.calendar_for
        procedure_of = self._procedures.get
        pairs: list[tuple[DossierState | None, DossierState | None]] = []
        still_orphan: list[str] = []
        for code in codes:
            before = old.get(code)
            if code in history:
                new = fold(None, history[code], calendar_for, procedure_of, places.get(code))
            elif refold_all:
                continue  # nothing in the log to fold: nothing to change
            else:
                new = fold(before, by_dossier[code], calendar_for, procedure_of, places.get(code))
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
        if changed:
            await conn.execute(PREPARE_STAGING)
            async with conn.cursor().copy(COPY_STATES) as copy:
                copy.set_types(STATE_TYPES)
                for state in changed:
                    await copy.write_row(_state_row(state))
            await conn.execute(MERGE_STATES)
        if delta:
            async with conn.cursor().copy(COPY_ROLLUP) as copy:
                copy.set_types(ROLLUP_TYPES)
                for key in sorted(delta):
                    await copy.write_row((*key, *delta[key], True))
        return {s.province_code for s in changed}


async def _notify_live(conn: Conn, provinces: set[str]) -> None:
    payload = orjson.dumps({"stream": "dossier", "provinces": sorted(provinces)}).decode()
    await conn.execute(NOTIFY_LIVE, [payload])
