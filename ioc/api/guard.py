"""Every route declares a Policy through `guard(...)`; this module enforces it.

`guard(policy)` is a FastAPI dependency: it finds the caller (ioc/auth/resolve.py), answers 401
without valid credentials and 403 when the role may not perform the action, and hands the route a
Principal whose scope the route then applies (lists filtered; one object out of scope: 404 to
read, 403 to write). The policy rides on the dependency, so `route_policy` can read it back from
the route table: the app refuses to start with an undeclared route, and the permission-matrix
test iterates the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from ioc.auth.audit import Origin
from ioc.auth.policy import Policy
from ioc.auth.principal import Principal
from ioc.auth.resolve import Unauthenticated, presented_credential, principal_for
from ioc.auth.scope import Scope
from ioc.localities.catalogue import LocalityCatalogue

POLICY_ATTRIBUTE = "ioc_policy"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# What an undeclared status code would look like in the OpenAPI document, per policy target.
_DETAIL = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"detail": {}}, "required": ["detail"]}}}}  # fmt: skip


def policy_responses(policy: Policy) -> dict[int | str, dict[str, Any]]:
    """The error answers a route under `policy` can give, for its OpenAPI entry."""
    if policy.public:
        return {}
    out: dict[int | str, dict[str, Any]] = {
        401: {"description": "Chưa đăng nhập / not authenticated", **_DETAIL},
        403: {"description": "Không có quyền / not allowed", **_DETAIL},
        429: {"description": "Quá nhiều yêu cầu / rate limited", **_DETAIL},
    }
    if policy.target in ("read", "write", "list"):
        out[404] = {"description": "Không tìm thấy / not found (or out of scope)", **_DETAIL}
    return out


def client_origin(connection: HTTPConnection) -> Origin:
    return Origin(connection.client.host if connection.client else None, connection.headers.get("user-agent"))


async def authenticate(connection: HTTPConnection) -> Principal | None:
    """The caller behind an HTTP request or a WebSocket handshake; None without credentials."""
    from ioc.api.deps import AppState

    state = connection.app.state.ioc
    assert isinstance(state, AppState)
    try:
        presented = presented_credential(connection.headers, connection.cookies)
        if presented is None:
            return None
        async with state.pool.connection() as conn:
            principal = await principal_for(conn, presented, datetime.now(UTC), state.oidc)
            await conn.commit()
        return principal
    except Unauthenticated as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


def same_origin(connection: HTTPConnection, allowed: Iterable[str]) -> bool:
    """Whether the Origin header (if any) is this site or an allowed origin."""
    origin = connection.headers.get("origin")
    if origin is None:
        # Browsers send Origin on every cross-site unsafe request and WebSocket; its absence means
        # a same-site navigation or a non-browser client (which carries no ambient cookie).
        return connection.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    own = f"{connection.url.scheme.replace('ws', 'http')}://{connection.headers.get('host', '')}"
    return origin == own or origin in allowed


def guard(policy: Policy) -> Any:
    """The dependency a route declares: `principal: Principal = guard(Policy(Action.X, "list"))`."""

    async def enforce(request: Request) -> Principal | None:
        if policy.public:
            return None
        principal = await authenticate(request)
        if principal is None:
            raise HTTPException(401, "cần đăng nhập / authentication required", headers={"WWW-Authenticate": "Bearer"})
        if not policy.allows_role(principal.role):
            raise HTTPException(403, f"vai trò {principal.role.value} không được phép / role may not {policy.action}")
        if request.method not in _SAFE_METHODS and principal.uses_cookie:
            # A cookie rides along on any request the browser makes; refuse writes from other sites.
            from ioc.api.deps import app_state

            if not same_origin(request, app_state(request).allowed_origins):
                raise HTTPException(403, "yêu cầu từ trang khác bị từ chối / cross-site request refused")
        request.state.principal = principal
        return principal

    setattr(enforce, POLICY_ATTRIBUTE, policy)
    return Depends(enforce)


def declare(policy: Policy) -> Any:
    """Declare the policy of a route that enforces it itself (the WebSocket authenticates in-band)."""

    async def declared() -> None:
        return None

    setattr(declared, POLICY_ATTRIBUTE, policy)
    return Depends(declared)


def route_policy(route: BaseRoute) -> Policy | None:
    if not isinstance(route, APIRoute | APIWebSocketRoute):
        return None
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        policy = getattr(dep.call, POLICY_ATTRIBUTE, None)
        if isinstance(policy, Policy):
            return policy
        pending.extend(dep.dependencies)
    return None


@dataclass(frozen=True)
class RouteEntry:
    """One route as the app serves it: full path, methods ("WS" for a WebSocket) and its policy."""

    path: str
    methods: frozenset[str]
    route: BaseRoute
    policy: Policy | None


def iter_routes(app: FastAPI) -> Iterator[RouteEntry]:
    """Every route with its full path, also those of included routers."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        methods = frozenset({"WS"}) if isinstance(route, APIWebSocketRoute) else frozenset(context.methods or ())
        yield RouteEntry(context.path or "", methods - {"HEAD"}, route, route_policy(route))


def framework_paths(app: FastAPI) -> set[str | None]:
    return {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}


def assert_every_route_has_policy(app: FastAPI) -> None:
    """Start-up check: a route without a declared policy is a configuration error."""
    framework = framework_paths(app)
    missing = [entry.path or repr(entry.route) for entry in iter_routes(app)
               if entry.policy is None and entry.path not in framework]  # fmt: skip
    if missing:
        raise RuntimeError(f"routes without an access policy (declare one with guard()): {', '.join(missing)}")


# -- scope checks inside routes ------------------------------------------------------------------


def ensure_readable(principal: Principal, allowed: bool, what: str) -> None:
    """An object outside the scope does not exist for this caller."""
    if not allowed:
        raise HTTPException(404, f"không tìm thấy / no {what}")


def ensure_writable(principal: Principal, allowed: bool, what: str) -> None:
    if not allowed:
        raise HTTPException(403, f"ngoài phạm vi được giao / {what} is outside your scope")


def sees_province(catalogue: LocalityCatalogue, scope: Scope, province_code: str) -> bool:
    """Whether `province_code` is a province and `scope` touches it (grants it or one of its communes)."""
    province = catalogue.get(province_code)
    if province is None or province.level != "province":
        return False
    touched = scope.provinces_touched(catalogue.province_code_of)
    return touched is None or province_code in touched


def scope_of(principal: Principal | None) -> Scope:
    assert principal is not None, "guarded routes always have a principal"
    return principal.scope
