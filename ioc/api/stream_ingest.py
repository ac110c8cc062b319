"""The push API of the streams beyond dossiers (payout, ID issuance): one handler, as the dossier
route behaves.

The source's key must cover the stream (403 otherwise); batches per source are rate-limited
(429); the body and the number of items are capped (413, nothing written); the body is a JSON
array or NDJSON (400 otherwise). Every item gets a result — accepted, duplicate or rejected with
a reason, an item outside the key's localities `locality_out_of_scope` — and the accepted ones
are committed before the response leaves.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response

from ingest.batch import BatchContext
from ingest.parse import BatchFormatError, split_body
from ingest.streams import STREAM_INGESTERS
from ioc.api.deps import app_state
from ioc.api.ingest import read_capped_body
from ioc.api.ratelimit import retry_after_header
from ioc.auth.principal import Principal

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "không phải mảng JSON hoặc NDJSON / not a JSON array or NDJSON"},
    413: {"description": "quá lớn, không ghi gì / too large, nothing written"},
}
# Items are checked one by one (per-item results), so any JSON value is a valid item here.
INGEST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": {}}},
    "application/x-ndjson": {"schema": {"type": "string"}},
}}}  # fmt: skip


async def ingest_stream_batch(request: Request, principal: Principal, stream: str) -> Response:
    state = app_state(request)
    settings, metrics = state.settings, state.metrics
    started = time.perf_counter()
    source_id = principal.source_id
    assert source_id is not None
    if stream not in principal.streams:
        raise HTTPException(403, f"khóa của nguồn này không gồm luồng {stream} / this source's key does not cover "
                                 f"the {stream} stream")  # fmt: skip
    if state.ingest_limiter is not None and (wait := state.ingest_limiter.check(source_id)) > 0:
        metrics.ingest_batches_refused.labels(stream, "rate_limited").inc()
        raise HTTPException(429, "too many batches from this source; nothing was written",
                            headers={"Retry-After": retry_after_header(wait)})  # fmt: skip
    try:
        body = await read_capped_body(request, settings.max_body_bytes)
    except HTTPException:
        metrics.ingest_batches_refused.labels(stream, "body_too_large").inc()
        raise
    try:
        items = split_body(body, request.headers.get("content-type", "application/json"))
    except BatchFormatError as exc:
        metrics.ingest_batches_refused.labels(stream, "malformed").inc()
        raise HTTPException(400, str(exc)) from exc
    if len(items) > settings.max_batch_items:
        metrics.ingest_batches_refused.labels(stream, "too_many_items").inc()
        raise HTTPException(
            413, f"batch of {len(items)} items exceeds the limit of {settings.max_batch_items}; nothing was written"
        )
    ctx = BatchContext(
        source_id=source_id, now=datetime.now(UTC), catalogue=state.catalogue,
        in_scope=None if principal.scope.national else principal.scope.allows_locality,
        future_tolerance_seconds=settings.future_tolerance_seconds,
    )  # fmt: skip
    async with state.pool.connection() as conn, conn.transaction():
        outcome = await STREAM_INGESTERS[stream].ingest(conn, items, ctx)
    for result in ("accepted", "duplicate", "rejected"):
        if n := outcome.count(result):
            metrics.ingest_events.labels(stream, result).inc(n)
    metrics.ingest_batch_seconds.labels(stream).observe(time.perf_counter() - started)
    return Response(orjson.dumps(outcome.as_dict()), media_type="application/json")
