"""The ID-issuance stream (CCCD chip cards, VNeID level-2 accounts): a `StreamIngester`.

Validation is pure and item by item (ingest/id_issuance_items.py for the shape; here the batch
rules: duplicates, time, locality, the source's scope); messages are English like the other
streams' (ingest/item_fields.py), reasons machine-readable. Writing is set-based: the accepted
reports go by binary COPY into a session staging table, then one statement files the new ones in
the append-only ledger `id_issuance_report` (a record id already there is a duplicate and changes
nothing) and puts each locality-day's newest report in force in `id_issuance_daily` — a later
report replaces the one in force only if its reported_at is strictly newer, so reports that
arrive out of order leave the same answer as reports that arrive in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ingest.batch import BatchContext, BatchOutcome, BatchRejected
from ingest.id_issuance_items import COUNT_FIELDS, record_id_of, validate_report
from ingest.item_fields import LocalityResolver
from ingest.parse import _Unparsable  # the body splitter's marker for an NDJSON line that is no JSON
from ingest.validate import InvalidItem
from ioc.db.pool import Conn
from ioc.live.channel import NOTIFY_LIVE

STREAM = "id_issuance"
VN = ZoneInfo("Asia/Ho_Chi_Minh")  # a report's day is a Vietnamese calendar day


@dataclass(frozen=True, slots=True)
class IdReport:
    """One accepted report: current locality codes, the time it speaks for, its figures."""

    index: int
    record_id: str
    province_code: str
    commune_code: str  # '' = the whole province
    day: date
    reported_at: datetime
    converted_from: str | None
    counts: tuple[int | None, ...]  # in COUNT_FIELDS order


@dataclass
class ValidatedBatch:
    accepted: list[IdReport] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # wire-form results


def _refusal(index: int, record_id: str | None, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"index": index, "record_id": record_id, "status": status, "reason": reason, "message": message}


def validate_batch(items: Sequence[Any], ctx: BatchContext) -> ValidatedBatch:
    """Check every item; pure. A refused item gets its own result and the rest go on."""
    batch = ValidatedBatch()
    seen: set[str] = set()
    latest_moment = ctx.now + timedelta(seconds=ctx.future_tolerance_seconds)
    latest_day = latest_moment.astimezone(VN).date()
    resolve_locality = LocalityResolver(ctx.catalogue)
    for index, raw in enumerate(items):
        if isinstance(raw, _Unparsable):
            batch.refused.append(_refusal(index, None, "rejected", "malformed_json", raw.error))
            continue
        try:
            item = validate_report(raw)
        except InvalidItem as exc:
            batch.refused.append(_refusal(index, record_id_of(raw), "rejected", exc.reason, str(exc)))
            continue
        if item.record_id in seen:
            batch.refused.append(_refusal(
                index, item.record_id, "duplicate", "duplicate_in_batch", "record_id repeats in this batch"
            ))  # fmt: skip
            continue
        reported_at = item.reported_at or ctx.now
        try:
            _check_times(item.day, reported_at, latest_day, latest_moment, ctx.future_tolerance_seconds)
            place = resolve_locality(item.locality)
        except InvalidItem as exc:
            batch.refused.append(_refusal(index, item.record_id, "rejected", exc.reason, str(exc)))
            continue
        if ctx.in_scope is not None and not ctx.in_scope(place.province_code, place.commune_code):
            batch.refused.append(_refusal(
                index, item.record_id, "rejected", "locality_out_of_scope",
                f"this source's key does not cover locality {place.commune_code or place.province_code}; "
                "nothing was written for this item",
            ))  # fmt: skip
            continue
        seen.add(item.record_id)
        batch.accepted.append(IdReport(
            index=index, record_id=item.record_id, province_code=place.province_code,
            commune_code=place.commune_code or "", day=item.day, reported_at=reported_at,
            converted_from=place.converted_from, counts=item.counts,
        ))  # fmt: skip
    return batch


def _check_times(day: date, reported_at: datetime, latest_day: date, latest_moment: datetime, tolerance: int) -> None:
    if day > latest_day:
        raise InvalidItem("future_time", f"day {day} is in the future (today is {latest_day} in Vietnam)")
    if reported_at > latest_moment:
        raise InvalidItem(
            "future_time", f"reported_at {reported_at.isoformat()} is more than {tolerance} s ahead of the server clock"
        )
    if reported_at.astimezone(VN).date() < day:
        raise InvalidItem("invalid_time", f"reported_at {reported_at.isoformat()} is before the day it reports on")


# --------------------------------------------------------------------------- writing

_KEY = ("source_id", "record_id")
_PLACE = ("province_code", "commune_code", "day")
STAGE_COLUMNS = ("item_index", *_KEY, *_PLACE, "reported_at", "ingested_at", "converted_from", *COUNT_FIELDS)
_STAGE_TYPES = {"item_index": "int4", "day": "date", "reported_at": "timestamptz", "ingested_at": "timestamptz",
                **{f: "int4" for f in COUNT_FIELDS[:5]}, **{f: "int8" for f in COUNT_FIELDS[5:]}}  # fmt: skip
STAGE_TYPES = [_STAGE_TYPES.get(name, "text") for name in STAGE_COLUMNS]
REPORT_COLUMNS = STAGE_COLUMNS[1:]
DAILY_COLUMNS = (*_PLACE, *COUNT_FIELDS, "reported_at", *_KEY)

PREPARE_STAGING = "SELECT ioc_prepare_id_issuance_staging()"
# A caller may run several batches in one transaction (a file import): start each one empty.
CLEAR_STAGE = "DELETE FROM pg_temp.id_issuance_stage"
COPY_STAGE = f"COPY pg_temp.id_issuance_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# One statement: file the fresh reports, pick each locality-day's newest among them (on a tie the
# first in the batch, as if the items had come one by one), and put it in force if it is newer
# than the report in force. Rows are written in key order so concurrent writers lock alike.
MERGE_STAGE = f"""
WITH fresh AS (
    INSERT INTO id_issuance_report ({", ".join(REPORT_COLUMNS)})
    SELECT {", ".join(REPORT_COLUMNS)} FROM pg_temp.id_issuance_stage ORDER BY {", ".join(_KEY)}
    ON CONFLICT ({", ".join(_KEY)}) DO NOTHING
    RETURNING {", ".join(_KEY)}
), newest AS (
    SELECT DISTINCT ON ({", ".join(_PLACE)}) s.*
    FROM pg_temp.id_issuance_stage s JOIN fresh USING ({", ".join(_KEY)})
    ORDER BY {", ".join(_PLACE)}, s.reported_at DESC, s.item_index
), in_force AS (
    INSERT INTO id_issuance_daily ({", ".join(DAILY_COLUMNS)})
    SELECT {", ".join(DAILY_COLUMNS)} FROM newest ORDER BY {", ".join(_PLACE)}
    ON CONFLICT ({", ".join(_PLACE)}) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in DAILY_COLUMNS if c not in _PLACE)}, updated_at = now()
    WHERE EXCLUDED.reported_at > id_issuance_daily.reported_at
)
SELECT record_id FROM fresh
"""
# A report file imported by a person may carry a source id that is no registered source (the
# freshness table refers to sources): freshness is then simply not recorded.
UPSERT_FRESHNESS = """
INSERT INTO feed_freshness (source_id, stream, last_event_at, last_ingest_at)
SELECT id, 'id_issuance', %s, now() FROM source WHERE id = %s
ON CONFLICT (source_id, stream) DO UPDATE SET
    last_event_at = GREATEST(feed_freshness.last_event_at, EXCLUDED.last_event_at),
    last_ingest_at = now()
"""


async def write_reports(conn: Conn, source_id: str, reports: Sequence[IdReport], ingested_at: datetime) -> set[str]:
    """Write inside the caller's open transaction; return the record ids that were new."""
    if not reports:
        return set()
    await conn.execute(PREPARE_STAGING)
    await conn.execute(CLEAR_STAGE)
    async with conn.cursor().copy(COPY_STAGE) as copy:
        copy.set_types(STAGE_TYPES)
        for r in reports:
            await copy.write_row((
                r.index, source_id, r.record_id, r.province_code, r.commune_code, r.day, r.reported_at,
                ingested_at, r.converted_from, *r.counts,
            ))  # fmt: skip
    cur = await conn.execute(MERGE_STAGE)
    fresh = {str(row[0]) for row in await cur.fetchall()}
    if fresh:
        newest = max(r.reported_at for r in reports if r.record_id in fresh)
        await conn.execute(UPSERT_FRESHNESS, [newest, source_id])
        provinces = sorted({r.province_code for r in reports if r.record_id in fresh})
        await conn.execute(NOTIFY_LIVE, [orjson.dumps({"stream": STREAM, "provinces": provinces}).decode()])
    return fresh


# --------------------------------------------------------------------------- the ingester

_ALREADY_INGESTED = ("already_ingested", "this source already sent a report with this record_id")


def _results(batch: ValidatedBatch, fresh: set[str] | None) -> list[dict[str, Any]]:
    """Every item's result in index order; `fresh` None = nothing was written (all valid ones pass)."""
    results: list[dict[str, Any]] = [{}] * (len(batch.accepted) + len(batch.refused))
    for refused in batch.refused:
        results[refused["index"]] = refused
    for report in batch.accepted:
        result: dict[str, Any] = {"index": report.index, "record_id": report.record_id, "status": "accepted"}
        if fresh is not None and report.record_id not in fresh:
            reason, message = _ALREADY_INGESTED
            result.update(status="duplicate", reason=reason, message=message)
        elif report.converted_from:
            result["converted_from"] = report.converted_from
        results[report.index] = result
    return results


class IdIssuanceIngester:
    """The ID-issuance stream for the push API, file imports and polling connectors alike."""

    stream = STREAM

    async def ingest(
        self, conn: Conn, items: Sequence[Any], ctx: BatchContext, *, atomic: bool = False
    ) -> BatchOutcome:
        batch = validate_batch(items, ctx)
        if atomic and any(r["status"] == "rejected" for r in batch.refused):
            # Nothing is written; items that passed every check keep status "accepted" (they would
            # have been, had the rest of the batch been good), and the rejected ones say why.
            raise BatchRejected(BatchOutcome(results=_results(batch, None)))
        fresh = await write_reports(conn, ctx.source_id, batch.accepted, ctx.now)
        provinces = {r.province_code for r in batch.accepted if r.record_id in fresh}
        return BatchOutcome(results=_results(batch, fresh), provinces=provinces)


ID_ISSUANCE = IdIssuanceIngester()
