"""Access control wiring for one API process: OIDC, origins, rate limits, middleware, policies."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ioc.api.deps import AppState
from ioc.api.guard import assert_every_route_has_policy, iter_routes, policy_responses
from ioc.api.hardening import BodySizeLimitMiddleware, SecurityHeadersMiddleware, cors_origins_from
from ioc.api.ratelimit import RateLimiter
from ioc.auth.oidc import OidcConfig, OidcVerifier
from ioc.settings import Settings

log = logging.getLogger(__name__)

INGEST_PREFIX = "/api/v1/ingest/"
IMPORTS_PREFIX = "/api/v1/imports"  # department report files, as large as an ingest batch


def oidc_verifier(settings: Settings) -> OidcVerifier | None:
    """The verifier for the configured identity provider; a half-done configuration stops start-up."""
    if not settings.oidc_issuer:
        return None
    if not settings.oidc_audience or not (settings.oidc_jwks_url or settings.oidc_jwks_file):
        raise RuntimeError("IOC_OIDC_ISSUER needs IOC_OIDC_AUDIENCE and IOC_OIDC_JWKS_URL or IOC_OIDC_JWKS_FILE")
    try:
        role_map: Any = orjson.loads(settings.oidc_role_map) if settings.oidc_role_map else {}
    except orjson.JSONDecodeError as exc:
        raise RuntimeError(f"IOC_OIDC_ROLE_MAP is not JSON: {exc}") from exc
    if not isinstance(role_map, dict) or not all(isinstance(v, str) for v in role_map.values()):
        raise RuntimeError('IOC_OIDC_ROLE_MAP must be a JSON object like {"group": "role"}')
    try:
        config = OidcConfig(
            issuer=settings.oidc_issuer, audience=settings.oidc_audience, jwks_url=settings.oidc_jwks_url,
            jwks_file=Path(settings.oidc_jwks_file) if settings.oidc_jwks_file else None,
            role_claim=settings.oidc_role_claim, scope_claim=settings.oidc_scope_claim, role_map=role_map,
            groups_claim=settings.oidc_groups_claim,
        )  # fmt: skip
        return OidcVerifier(config)
    except ValueError as exc:
        raise RuntimeError(f"OIDC configuration: {exc}") from exc


def configure_access(state: AppState, settings: Settings) -> None:
    """Fill the access-control parts of a process's state (called by the app's lifespan)."""
    state.oidc = oidc_verifier(settings)
    state.allowed_origins = frozenset(cors_origins_from(settings.cors_origins)) | frozenset(
        cors_origins_from(settings.ws_allowed_origins)
    )
    state.login_limiter_by_ip = RateLimiter(settings.login_attempts_per_minute / 60, burst=max(
        1, int(settings.login_attempts_per_minute)))  # fmt: skip
    state.login_limiter_by_user = RateLimiter(settings.login_attempts_per_username_per_minute / 60, burst=max(
        1, int(settings.login_attempts_per_username_per_minute)))  # fmt: skip
    state.ingest_limiter = RateLimiter(settings.ingest_batches_per_second, burst=settings.ingest_batch_burst)


async def _http_error(request: Request, exc: Exception) -> Response:
    """HTTP errors as FastAPI answers them, with a route's own 422s shaped like validation errors.

    The OpenAPI document promises one shape for 422 (a list of {loc, msg, type}); a check done in
    a route (an unknown commune in a scope) must keep that promise too.
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        detail: Any = [{"loc": ["body"], "msg": exc.detail, "type": "value_error"}]
        exc = StarletteHTTPException(422, detail, exc.headers)
    return await http_exception_handler(request, exc)


# Seconds a client is asked to wait when the database cannot be reached: about how long a
# PostgreSQL restart or a fail-over takes, and long enough not to hammer one that is recovering.
DATABASE_RETRY_AFTER_SECONDS = 5


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is unreachable or the pool has no connection to give: nothing this request
    was doing was committed (a route that commits in steps answers for what it committed itself,
    see ioc/api/ingest.py), so the client may send it again later — 503 with Retry-After, never a
    bare 500."""
    log.warning("database unavailable for %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        {"detail": "cơ sở dữ liệu tạm thời không sẵn sàng, không có gì được ghi; hãy gửi lại sau / "
                   "the database is temporarily unavailable; nothing was written; retry later"},
        status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )  # fmt: skip


_MALFORMED_BODY = {
    "description": "Thân yêu cầu không đọc được / malformed request body",
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}}
    },
}


def _document_policy_errors(app: FastAPI) -> None:
    """Add each route's policy answers (401, 403, 404, 429) to the OpenAPI document."""
    build = app.openapi
    policies = {(entry.path, method.lower()): entry.policy for entry in iter_routes(app) for method in entry.methods}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    if "requestBody" in operation:
                        # A body that is not even JSON (bad bytes) is refused before validation.
                        operation.setdefault("responses", {}).setdefault("400", _MALFORMED_BODY)
                    policy = policies.get((path, method))
                    if policy is None:
                        continue
                    for status, spec in policy_responses(policy).items():
                        operation.setdefault("responses", {}).setdefault(str(status), spec)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def secure_app(app: FastAPI, settings: Settings) -> None:
    """Middleware and route checks, applied once the routes are in place.

    Refuses a route without a policy; adds each policy's error answers to the OpenAPI document;
    limits request bodies (ingest has its own, larger limit); sets security headers; opens CORS
    only to the configured origins.
    """
    assert_every_route_has_policy(app)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    _document_policy_errors(app)
    origins = cors_origins_from(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )  # fmt: skip
    large = {prefix: settings.max_body_bytes for prefix in (INGEST_PREFIX, IMPORTS_PREFIX)}
    app.add_middleware(BodySizeLimitMiddleware, default_limit=settings.max_request_bytes, limits=large)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.hsts)
