"""Ingest through the real writer, without HTTP: parse, validate, write and apply one batch
exactly as the ingest route does (events, then state), on a database URL from the fixtures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from ingest.parse import parse_batch
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter, WriteOutcome
from ioc.localities.catalogue import load_catalogue

SOURCE_ID = "test-source"


async def ingest(db_url: str, items: list[dict[str, Any]], now: datetime, *, apply: bool = True) -> WriteOutcome:
    """One batch from SOURCE_ID (register it first): stage one, then (with `apply`, as the
    route's default) stage two; whatever the items' results."""
    procedures = ProcedureCache()
    async with await AsyncConnection.connect(db_url) as conn:
        named = {item["procedure"]["code"] for item in items if isinstance(item.get("procedure"), dict)}
        await procedures.prefetch(conn, named)
        await conn.commit()
        batch = parse_batch(
            items, source_id=SOURCE_ID, now=now, future_tolerance=timedelta(seconds=300),
            max_age=timedelta(days=1095), catalogue=load_catalogue(), procedure_of=procedures.get,
        )  # fmt: skip
        writer = DossierWriter(procedures)
        await writer.ensure_partitions(conn, [e for _, e, _ in batch.accepted])
        async with conn.transaction():
            outcome = await writer.write(conn, SOURCE_ID, batch, now)
        if apply:
            await project(conn, outcome)
    return outcome


async def write_batch(db_url: str, items: list[dict[str, Any]], now: datetime) -> None:
    """Write and apply `items` as one batch; every item must be accepted."""
    outcome = await ingest(db_url, items, now)
    assert outcome.accepted == len(items), outcome.as_dict()["results"]


async def store_batch(db_url: str, items: list[dict[str, Any]], now: datetime) -> WriteOutcome:
    """Stage one only (the events stored, the batch queued for projection), as `?ack=stored`
    leaves it — or as a crash between the two stages would; every item must be accepted."""
    outcome = await ingest(db_url, items, now, apply=False)
    assert outcome.accepted == len(items), outcome.as_dict()["results"]
    return outcome


async def project(conn: AsyncConnection[Any], outcome: WriteOutcome) -> None:
    """Stage two for a stored batch, as the route runs it: with the batch's procedures cached (the
    route fetched them to validate it) and nothing else."""
    procedures, calendars = ProcedureCache(), CalendarStore()
    await procedures.prefetch(conn, {e.procedure_code for e in outcome.fresh if e.procedure_code})
    await calendars.refresh_if_stale(conn)
    await conn.commit()
    async with conn.transaction():
        await DossierProjector(procedures, calendars).apply(conn, outcome)
