"""Alertmanager's API v2, the part Prometheus speaks: POST /api/v2/alerts (and a small status).

An existing Prometheus feeds IOC's routing, escalation and screens by listing IOC as one of its
alertmanagers, with a source key:

    alerting:
      alertmanagers:
        - api_version: v2
          scheme: https
          authorization: {credentials: <source key>}
          static_configs: [{targets: ["ioc.example.gov.vn"]}]

The body is Alertmanager's: a JSON array of {labels, annotations, startsAt, endsAt,
generatorURL}. A body that is not a JSON array, or is over the size or count limits, is refused
whole (400 / 413) before anything is written. Otherwise every item gets a result: accepted (with
what it did: created, updated, refreshed, resolved, unchanged) or rejected with a precise reason
and HTTP-like status — an item for a province outside the key's scope `locality_out_of_scope`,
an item without province or commune only with a national key. Accepted items are committed
together before the response leaves. The mapping lives in alerts/interop/postable.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response

from alerts.interop.postable import ExternalAlert, ParseContext, Rejection, parse_item
from alerts.interop.store import Applied, apply_external_alerts
from ioc.api.deps import app_state
from ioc.api.guard import guard
from ioc.api.ingest import read_capped_body
from ioc.api.ratelimit import retry_after_header
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

AlertPoster = Annotated[Principal, guard(Policy(Action.ALERTS_EXTERNAL_INGEST, "items"))]
StatusCaller = Annotated[Principal, guard(Policy(Action.ALERTS_EXTERNAL_INGEST, "global"))]

# Prometheus sends at most 64 alerts per request by default (notifier max batch 256 when tuned).
MAX_ALERTS_PER_BATCH = 1000
_STARTED = datetime.now(UTC)
_STREAM = "alertmanager"  # the ingest metrics' stream label for this route

POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "không phải mảng JSON / not a JSON array; nothing written"},
    413: {"description": "quá lớn, không ghi gì / too large, nothing written"},
}
# Items are checked one by one (per-item results), so any JSON value is a valid item here.
POST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": {}}},
}}}  # fmt: skip


def alertmanager_router() -> APIRouter:
    router = APIRouter(prefix="/api/v2", tags=["alertmanager"])

    @router.post("/alerts", responses=POST_RESPONSES, openapi_extra=POST_BODY)
    async def post_alerts(request: Request, principal: AlertPoster) -> Response:
        """Alerts in Alertmanager's format, as Prometheus posts them; per-item results."""
        state = app_state(request)
        settings, metrics = state.settings, state.metrics
        started = time.perf_counter()
        source_id = principal.source_id
        assert source_id is not None
        if "alerts" not in principal.streams:
            raise HTTPException(403, "khóa của nguồn này không gồm luồng cảnh báo / this key does not cover alerts")
        if state.ingest_limiter is not None and (wait := state.ingest_limiter.check(source_id)) > 0:
            metrics.ingest_batches_refused.labels(_STREAM, "rate_limited").inc()
            raise HTTPException(429, "quá nhiều yêu cầu; không ghi gì / too many batches; nothing was written",
                                headers={"Retry-After": retry_after_header(wait)})  # fmt: skip
        body = await read_capped_body(request, settings.max_request_bytes)
        items = _array(body)
        if len(items) > MAX_ALERTS_PER_BATCH:
            metrics.ingest_batches_refused.labels(_STREAM, "too_many_items").inc()
            raise HTTPException(413, f"{len(items)} cảnh báo vượt giới hạn {MAX_ALERTS_PER_BATCH}; không ghi gì / "
                                     f"batch of {len(items)} alerts exceeds {MAX_ALERTS_PER_BATCH}; nothing was "
                                     "written")  # fmt: skip
        now = datetime.now(UTC)
        ctx = ParseContext(now=now, catalogue=state.catalogue, scope=principal.scope,
                           future_tolerance=timedelta(seconds=settings.future_tolerance_seconds))  # fmt: skip
        parsed = [parse_item(item, ctx) for item in items]
        accepted = [p for p in parsed if isinstance(p, ExternalAlert)]
        async with state.pool.connection() as conn:
            applied = iter(await apply_external_alerts(conn, accepted, now))
        results = [_result(i, p if isinstance(p, Rejection) else next(applied), p) for i, p in enumerate(parsed)]
        counts = {"accepted": 0, "rejected": 0}
        for r in results:
            counts[r["status"]] += 1
        for result, n in counts.items():
            if n:
                metrics.ingest_events.labels(_STREAM, result).inc(n)
        metrics.ingest_batch_seconds.labels(_STREAM).observe(time.perf_counter() - started)
        return Response(orjson.dumps({**counts, "results": results}), media_type="application/json")

    @router.get("/status")
    async def status(principal: StatusCaller) -> dict[str, Any]:
        """A minimal Alertmanager status, so a client checking the receiver sees it is up."""
        return {
            "cluster": {"name": "ioc", "status": "ready", "peers": []},
            "versionInfo": {"version": "ioc", "branch": "", "revision": "", "buildUser": "", "buildDate": "",
                            "goVersion": ""},
            "config": {"original": ""},
            "uptime": _STARTED.isoformat(),
        }  # fmt: skip

    return router


def _array(body: bytes) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"không phải JSON / not JSON: {exc}; nothing was written") from exc
    if not isinstance(data, list):
        raise HTTPException(400, "thân yêu cầu phải là mảng JSON các cảnh báo / the body must be a JSON array of "
                                 "alerts; nothing was written")  # fmt: skip
    return data


def _result(index: int, outcome: Applied | Rejection, parsed: ExternalAlert | Rejection) -> dict[str, Any]:
    fingerprint = parsed.fingerprint if isinstance(parsed, ExternalAlert) else None
    if isinstance(outcome, Rejection):
        return {"index": index, "fingerprint": fingerprint, "status": "rejected", "reason": outcome.reason,
                "message": outcome.message, "http_status": outcome.http_status}  # fmt: skip
    return {"index": index, "fingerprint": fingerprint, "status": "accepted", "outcome": outcome.outcome,
            "alert_id": outcome.alert_id}  # fmt: skip
