"""/metrics (Prometheus text), /healthz (the process is up), /readyz (the database answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ioc.api.deps import app_state
from ioc.api.guard import guard
from ioc.auth.policy import PUBLIC


def ops_router() -> APIRouter:
    # Public: probes and the Prometheus scraper carry no credentials, and none of these answers
    # holds a locality or a person (metric labels are streams and results only).
    router = APIRouter(dependencies=[guard(PUBLIC)])

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(app_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request, response: Response) -> dict[str, str]:
        try:
            async with app_state(request).pool.connection(timeout=2.0) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:  # any failure means: not ready, and say why
            response.status_code = 503
            return {"status": "unavailable", "error": type(exc).__name__}
        return {"status": "ok"}

    return router
