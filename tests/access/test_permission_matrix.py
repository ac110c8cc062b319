"""The permission matrix, generated from the application's route table.

Every route × every role (and anonymous) × an in-scope and an out-of-scope object. Expectations
come from the route's declared Policy and ioc/auth/policy.py's MATRIX, not from a copy of them:

  anonymous on a guarded route                   → 401
  role not in MATRIX[action]                     → 403
  allowed, target "global"                       → 2xx
  allowed, target "list"                         → 2xx (or the example's out-of-scope status)
                                                   and nothing out of scope in the answer
  allowed, target "read"                         → in scope 2xx, out of scope 404
  allowed, target "write"                        → in scope 2xx, out of scope 403
  allowed, target "items" (ingest)               → 200; an out-of-scope item rejected per item

A new route fails here until it declares a policy (the app would not even start) and gets an
example below; a new public route fails until it is added to EXPECTED_PUBLIC on purpose.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import tests.access
from ioc.api.guard import iter_routes
from ioc.app import create_app
from ioc.auth.policy import MATRIX, Policy, Role
from ioc.settings import Settings
from tests.access.matrix_support import IN_PROVINCE, OUT_PROVINCE, Example, World, alert
from tests.auth_support import bearer
from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, receipt

ROLES: tuple[Role | None, ...] = (None, *Role)  # None = anonymous
VARIANTS = ("in", "out")
EXPECTED_PUBLIC = {
    ("GET", "/"), ("GET", "/login"), ("GET", "/display"), ("GET", "/vendor/{file_name}"),
    ("GET", "/static/{file_path:path}"), ("GET", "/api/v1/map/provinces.geojson"), ("GET", "/api/v1/map/spec"),
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/display"),
    # The phone page (a PWA): the page, its service worker and its manifest; data needs a sign-in.
    ("GET", "/phone"), ("GET", "/sw.js"), ("GET", "/manifest.webmanifest"),
    # Links in notifications: redirects to the phone page, which signs the reader in.
    ("GET", "/alerts"), ("GET", "/alerts/{alert_id}"),
}  # fmt: skip


def _all_examples() -> dict[tuple[str, str], Example]:
    merged: dict[tuple[str, str], Example] = {}
    for info in pkgutil.iter_modules(tests.access.__path__):
        if info.name.startswith("examples_"):
            module = importlib.import_module(f"tests.access.{info.name}")
            clash = set(merged) & set(module.EXAMPLES)
            assert not clash, f"routes with two examples: {clash}"
            merged.update(module.EXAMPLES)
    return merged


EXAMPLES = _all_examples()


@pytest.fixture(scope="module")
def world(module_live_server: LiveServer) -> World:
    server = module_live_server
    w = World(server)
    for role in Role:
        w.tokens[role] = w.fresh_token(role)
    old = datetime.now(UTC) - timedelta(days=20)
    response = server.post_events([
        receipt("mx-in-1", "MX-IN", old, locality=HANOI_WARD),
        receipt("mx-out-1", "MX-OUT", old, locality=HCMC_WARD),
    ])  # fmt: skip
    assert response.status_code == 200, response.text
    w.alert_in, w.alert_out = alert(w, IN_PROVINCE, "MX-IN"), alert(w, OUT_PROVINCE, "MX-OUT")
    return w


# --------------------------------------------------------------------------- the route table


def _route_table() -> list[tuple[str, str, Policy | None]]:
    app = create_app(Settings(), "postgresql://unused")  # building the app opens nothing
    return [(method, entry.path, entry.policy) for entry in iter_routes(app) for method in sorted(entry.methods)]


ROUTES = _route_table()
GUARDED = [(m, p, pol) for m, p, pol in ROUTES if pol is not None and not pol.public and m != "WS"]


def test_every_route_declares_a_policy() -> None:
    undeclared = [(m, p) for m, p, pol in ROUTES if pol is None and p != "/openapi.json"]
    assert undeclared == []


def test_public_routes_are_exactly_the_expected_ones() -> None:
    public = {(m, p) for m, p, pol in ROUTES if pol is not None and pol.public}
    assert public == EXPECTED_PUBLIC


def test_websocket_declares_status_read() -> None:
    [ws] = [pol for m, _, pol in ROUTES if m == "WS"]
    assert ws is not None and ws.action is not None and ws.action.value == "status.read"


def test_every_guarded_route_has_an_example() -> None:
    missing = [(m, p) for m, p, _ in GUARDED if (m, p) not in EXAMPLES]
    assert missing == [], "add an Example for each new route"
    assert not set(EXAMPLES) - {(m, p) for m, p, _ in GUARDED}, "examples for routes that no longer exist"


def _cells() -> Iterator[Any]:
    for method, path, policy in GUARDED:
        for role in ROLES:
            for variant in VARIANTS:
                name = f"{method} {path} [{role.value if role else 'anonymous'}, {variant}]"
                yield pytest.param(method, path, policy, role, variant, id=name)


def _expected(policy: Policy, role: Role | None, variant: str, example: Example) -> int | tuple[int, ...]:
    if role is None:
        return 401
    assert policy.action is not None
    if role not in MATRIX[policy.action]:
        return 403
    in_scope = variant == "in" or role is Role.ADMIN
    if in_scope or policy.target in ("global", "items"):
        return example.ok
    if policy.target == "list":
        return example.out_status
    return 404 if policy.target == "read" else 403


@pytest.mark.parametrize(("method", "path", "policy", "role", "variant"), list(_cells()))
def test_matrix(world: World, method: str, path: str, policy: Policy, role: Role | None, variant: str) -> None:
    example = EXAMPLES[(method, path)]
    call = example.make(world, variant)
    headers = {}
    if role is not None:
        token = world.fresh_token(role) if example.spends_credential else world.tokens[role]
        headers = bearer(token)
    with httpx.Client(base_url=world.server.url, timeout=30) as client:
        response = client.request(method, call.path, json=call.json, params=call.params, headers=headers)
    expected = _expected(policy, role, variant, example)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert response.status_code in allowed, f"{response.status_code}: {response.text[:300]}"
    if role is None or response.status_code >= 300:
        return
    body: Any = response.json() if "json" in response.headers.get("content-type", "") else response.text
    if policy.target == "list" and role is not Role.ADMIN:
        assert not example.leaked(world, body), f"out-of-scope data in the answer: {str(body)[:300]}"
    if policy.target == "items":
        [item] = body["results"] if "results" in body else body["items"]
        in_scope = variant == "in" or role is Role.ADMIN
        assert (item["status"], item.get("reason")) == (
            ("accepted", None) if in_scope else ("rejected", "locality_out_of_scope")
        ), item


def test_admin_sees_out_of_scope_objects_that_a_scoped_leader_does_not(world: World) -> None:
    """The lists above are filtered, not empty: the national admin's answer holds both provinces."""
    with world.server.client() as admin, world.server.client(world.tokens[Role.LEADER]) as leader:
        everything = admin.get("/api/v1/dossiers", params={"status": "open"}).json()["dossiers"]
        scoped = leader.get("/api/v1/dossiers", params={"status": "open"}).json()["dossiers"]
    assert {"MX-IN", "MX-OUT"} <= {d["code"] for d in everything}
    assert "MX-IN" in {d["code"] for d in scoped} and "MX-OUT" not in {d["code"] for d in scoped}


def test_access_token_helper_is_a_real_token(world: World) -> None:
    """Guard against a vacuous matrix: the tokens used above do authenticate, and a bad one does not."""
    with world.server.client(world.tokens[Role.OPERATOR]) as c:
        assert c.get("/api/v1/auth/me").json()["role"] == "operator"
    with world.server.client("ioca_not-a-real-token-at-all-xxxxxxxx") as c:
        assert c.get("/api/v1/auth/me").status_code == 401
