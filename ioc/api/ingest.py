"""POST /api/v1/ingest/dossier-events: the push API data sources call.

Per-source API key (Authorization: Bearer …, or X-API-Key), scoped to streams and localities: an
item for a locality outside the key's scope is rejected on its own (`locality_out_of_scope`) and
writes nothing, and so is an event for a dossier registered in a locality outside it
(`dossier_out_of_scope`) or one that would move its dossier elsewhere (`locality_mismatch`;
ingest/ownership.py). A JSON array or NDJSON body. Every
item gets a result — accepted, duplicate or rejected with a reason — and accepted items are
committed before the response leaves. A body or batch over the limits is refused whole (413)
before anything is written.

By default (`ack=applied`) the response also waits for the batch to be applied to the dossier
state and the locality figures (ingest/projector.py), so whoever reads them next sees it. A bulk
source that only needs to know its events are safely stored may ask for `ack=stored`: the answer
comes once they are committed, and the projector loop applies them moments later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from ingest.parse import BatchFormatError, parse_batch, split_body
from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter
from ioc.api.deps import AppState, app_state
from ioc.api.guard import guard
from ioc.api.ratelimit import retry_after_header
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

log = logging.getLogger(__name__)
SourceWriter = Annotated[Principal, guard(Policy(Action.INGEST_DOSSIER, "items"))]


@dataclass
class IngestContext:
    procedures: ProcedureCache
    calendars: CalendarStore
    writer: DossierWriter
    projector: DossierProjector


async def read_capped_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds the limit of {limit} bytes; nothing was written")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body exceeds the limit of {limit} bytes; nothing was written")
        chunks.append(chunk)
    return b"".join(chunks)


def ingest_router() -> APIRouter:
    router = APIRouter()

    @router.post(
        "/api/v1/ingest/dossier-events",
        responses={400: {"description": "not a JSON array or NDJSON"}, 413: {"description": "too large"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            # Items are checked one by one (per-item results), so any JSON value is a valid item here.
            "application/json": {"schema": {"type": "array", "items": {}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        }}},
    )  # fmt: skip
    async def ingest_dossier_events(
        request: Request,
        principal: SourceWriter,
        ack: Annotated[
            Literal["applied", "stored"],
            Query(description="answer once the batch is applied to state and figures (default), or once stored"),
        ] = "applied",
    ) -> Response:
        state: AppState = app_state(request)
        settings, metrics, ctx = state.settings, state.metrics, state.ingest
        started = time.perf_counter()
        source_id = principal.source_id
        assert source_id is not None
        if "dossier" not in principal.streams:
            raise HTTPException(403, "this source's key does not cover the dossier stream")
        if state.ingest_limiter is not None and (wait := state.ingest_limiter.check(source_id)) > 0:
            metrics.ingest_batches_refused.labels("dossier", "rate_limited").inc()
            raise HTTPException(429, "too many batches from this source; nothing was written",
                                headers={"Retry-After": retry_after_header(wait)})  # fmt: skip
        try:
            body = await read_capped_body(request, settings.max_body_bytes)
        except HTTPException:
            metrics.ingest_batches_refused.labels("dossier", "body_too_large").inc()
            raise
        try:
            items = split_body(body, request.headers.get("content-type", "application/json"))
        except BatchFormatError as exc:
            metrics.ingest_batches_refused.labels("dossier", "malformed").inc()
            raise HTTPException(400, str(exc)) from exc
        if len(items) > settings.max_batch_items:
            metrics.ingest_batches_refused.labels("dossier", "too_many_items").inc()
            raise HTTPException(
                413, f"batch of {len(items)} events exceeds the limit of {settings.max_batch_items}; "
                "nothing was written",
            )  # fmt: skip
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            codes = {
                p["code"] for item in items
                if isinstance(item, dict) and isinstance(p := item.get("procedure"), dict)
                and isinstance(p.get("code"), str)
            }  # fmt: skip
            await ctx.procedures.prefetch(conn, codes)
            await ctx.calendars.refresh_if_stale(conn)
            await conn.commit()
            in_scope = None if principal.scope.national else principal.scope.allows_locality
            batch = parse_batch(
                items, source_id=source_id, now=now,
                future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
                max_age=timedelta(days=settings.retention_days),
                catalogue=state.catalogue, procedure_of=ctx.procedures.get, in_scope=in_scope,
            )  # fmt: skip
            await ctx.writer.ensure_partitions(conn, [e for _, e, _ in batch.accepted])
            async with conn.transaction():
                outcome = await ctx.writer.write(
                    conn, source_id, batch, now, deferred=ack == "stored", in_scope=in_scope
                )
            if ack == "applied":
                try:
                    async with conn.transaction():
                        await ctx.projector.apply(conn, outcome)
                except psycopg.Error as exc:
                    # The events are committed and their queue row stays: the projector loop
                    # applies them once the database answers again. The source must learn they
                    # are stored (a resend would only be answered `already_ingested`), not get a 500.
                    log.warning("ingest: batch %s stored but not yet applied (%s); the projector loop "
                                "will apply it", outcome.queue_id, type(exc).__name__)  # fmt: skip
        for result, n in (("accepted", outcome.accepted), ("duplicate", outcome.duplicate),
                          ("rejected", outcome.rejected)):  # fmt: skip
            if n:
                metrics.ingest_events.labels("dossier", result).inc(n)
        metrics.ingest_batch_seconds.labels("dossier").observe(time.perf_counter() - started)
        return Response(orjson.dumps(outcome.as_dict()), media_type="application/json")

    return router
