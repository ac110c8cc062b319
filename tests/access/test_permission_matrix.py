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

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from ioc.api.guard import iter_routes
from ioc.app import create_app
from ioc.auth.policy import MATRIX, Policy, Role
from ioc.auth.scope import Scope
from ioc.settings import Settings
from ioc.sources import register_source
from tests.auth_support import TEST_PASSWORD, bearer, create_user, display_token, user_token
from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, receipt

IN_PROVINCE, OUT_PROVINCE = "01", "79"  # Hà Nội is granted; Hồ Chí Minh is not
SCOPED = Scope.from_dict({"provinces": [IN_PROVINCE]})
ROLES: tuple[Role | None, ...] = (None, *Role)  # None = anonymous
VARIANTS = ("in", "out")
EXPECTED_PUBLIC = {
    ("GET", "/"), ("GET", "/login"), ("GET", "/display"), ("GET", "/vendor/{file_name}"),
    ("GET", "/static/{file_path:path}"), ("GET", "/api/v1/map/provinces.geojson"), ("GET", "/api/v1/map/spec"),
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/display"),
}  # fmt: skip
_n = itertools.count()


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    server: LiveServer
    tokens: dict[Role, str] = field(default_factory=dict)
    alert_in: int = 0
    alert_out: int = 0

    @property
    def db(self) -> str:
        return self.server.db_url

    def fresh_token(self, role: Role) -> str:
        """A credential of `role` that a test may spend (sign out, change the password)."""
        if role is Role.DISPLAY:
            return display_token(self.db, f"Màn hình {next(_n)}", SCOPED)
        if role is Role.SOURCE:
            return register_source(self.db, f"spent-{next(_n)}", "Nguồn", scope=SCOPED)
        scope = Scope.everything() if role is Role.ADMIN else SCOPED
        return user_token(self.db, f"fresh-{role.value}-{next(_n)}", role.value, scope)

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        with psycopg.connect(self.db) as conn:
            return conn.execute(query, params).fetchone()


def _alert(world: World, province: str, marker: str) -> int:
    row = world.sql(
        "INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, value, summary_vi,"
        " summary_en, active_since, fired_at) VALUES ('overdue', %s, '{}', 'critical', 'firing', %s, 3, %s, %s,"
        " now(), now()) RETURNING id",
        [f"fp-{marker}", province, f"Cảnh báo {marker}", f"Alert {marker}"],
    )
    return int(row[0])


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
    w.alert_in, w.alert_out = _alert(w, IN_PROVINCE, "MX-IN"), _alert(w, OUT_PROVINCE, "MX-OUT")
    return w


# --------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class Example:
    """How to call one route for an in-scope and an out-of-scope object."""

    make: Callable[[World, str], Call]  # (world, variant) → the request
    leaked: Callable[[World, Any], bool] = lambda w, body: False  # out-of-scope data in a list answer?
    out_status: int = 200  # a list filtered to an out-of-scope locality may answer 404 instead
    spends_credential: bool = False  # the call ends the caller's session: use a fresh one
    ok: tuple[int, ...] = (200, 201)


def _victim_user(w: World) -> int:
    return create_user(w.db, f"victim-{next(_n)}", "operator", SCOPED)


def _victim_display(w: World) -> int:
    display_token(w.db, f"Nạn nhân {next(_n)}", SCOPED)
    return int(w.sql("SELECT max(id) FROM display_token")[0])


def _victim_source(w: World) -> str:
    source_id = f"victim-{next(_n)}"
    register_source(w.db, source_id, "Nguồn", scope=SCOPED)
    return source_id


def _victim_key(w: World) -> str:
    source_id = _victim_source(w)
    key_id = w.sql("SELECT max(id) FROM source_key WHERE source_id = %s", [source_id])[0]
    return f"/api/v1/admin/sources/{source_id}/keys/{key_id}"


def _override(w: World) -> str:
    day = (datetime(2030, 1, 1) + timedelta(days=next(_n))).date().isoformat()
    w.sql("INSERT INTO calendar_override (day, province_code, kind) VALUES (%s, '', 'day_off') RETURNING day", [day])
    return f"/api/v1/calendar/overrides/{day}"


def _province(variant: str) -> str:
    return IN_PROVINCE if variant == "in" else OUT_PROVINCE


def _dossier(variant: str) -> str:
    return "MX-IN" if variant == "in" else "MX-OUT"


def _mentions(body: Any, *needles: str) -> bool:
    text = orjson.dumps(body).decode() if not isinstance(body, str) else body
    return any(n in text for n in needles)


def _provinces_leak(w: World, body: Any) -> bool:
    return any(p["code"] != IN_PROVINCE for p in body["provinces"])


def _alerts_leak(w: World, body: Any) -> bool:
    return any(a["province_code"] != IN_PROVINCE for a in body["alerts"])


def _dossiers_leak(w: World, body: Any) -> bool:
    return _mentions(body, "MX-OUT")


def _ingest(w: World, variant: str) -> Call:
    old = datetime.now(UTC) - timedelta(days=2)
    place = HANOI_WARD if variant == "in" else HCMC_WARD
    return Call("/api/v1/ingest/dossier-events", json=[receipt(f"mx-{next(_n)}", f"MX-SRC-{next(_n)}", old,
                                                               locality=place)])  # fmt: skip


def _scope_body(w: World, variant: str) -> dict[str, Any]:
    return {"provinces": [_province(variant)]}


# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/auth/me"): Example(lambda w, v: Call("/api/v1/auth/me")),
    ("POST", "/api/v1/auth/logout"): Example(lambda w, v: Call("/api/v1/auth/logout"), spends_credential=True),
    ("POST", "/api/v1/auth/password"): Example(
        lambda w, v: Call(
            "/api/v1/auth/password", json={"current_password": TEST_PASSWORD, "new_password": "mật-khẩu-mới-dài-hơn"}
        ),
        spends_credential=True,
    ),
    ("GET", "/api/v1/admin/users"): Example(lambda w, v: Call("/api/v1/admin/users")),
    ("POST", "/api/v1/admin/users"): Example(
        lambda w, v: Call(
            "/api/v1/admin/users",
            json={
                "username": f"new-{next(_n)}",
                "display_name": "Cán bộ mới",
                "password": "một-mật-khẩu-dài",
                "role": "operator",
                "scope": _scope_body(w, v),
            },
        )
    ),
    ("GET", "/api/v1/admin/users/{user_id}"): Example(lambda w, v: Call(f"/api/v1/admin/users/{_victim_user(w)}")),
    ("PATCH", "/api/v1/admin/users/{user_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/users/{_victim_user(w)}", json={"disabled": True})
    ),
    ("GET", "/api/v1/admin/displays"): Example(lambda w, v: Call("/api/v1/admin/displays")),
    ("POST", "/api/v1/admin/displays"): Example(
        lambda w, v: Call("/api/v1/admin/displays", json={"screen_name": "Phòng họp", "scope": _scope_body(w, v)})
    ),
    ("DELETE", "/api/v1/admin/displays/{display_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/displays/{_victim_display(w)}")
    ),
    ("GET", "/api/v1/admin/sources"): Example(lambda w, v: Call("/api/v1/admin/sources")),
    ("POST", "/api/v1/admin/sources"): Example(
        lambda w, v: Call(
            "/api/v1/admin/sources", json={"id": f"src-{next(_n)}", "name": "Nguồn mới", "scope": _scope_body(w, v)}
        )
    ),
    ("GET", "/api/v1/admin/sources/{source_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{_victim_source(w)}")
    ),
    ("DELETE", "/api/v1/admin/sources/{source_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{_victim_source(w)}")
    ),
    ("POST", "/api/v1/admin/sources/{source_id}/keys"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{_victim_source(w)}/keys", json={"grace_hours": 1})
    ),
    ("POST", "/api/v1/admin/sources/{source_id}/keys/finish-rotation"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{_victim_source(w)}/keys/finish-rotation")
    ),
    ("DELETE", "/api/v1/admin/sources/{source_id}/keys/{key_id}"): Example(lambda w, v: Call(_victim_key(w))),
    ("GET", "/api/v1/admin/audit"): Example(lambda w, v: Call("/api/v1/admin/audit")),
    ("POST", "/api/v1/ingest/dossier-events"): Example(_ingest),
    ("GET", "/api/v1/status/provinces"): Example(
        lambda w, v: Call("/api/v1/status/provinces"), leaked=_provinces_leak
    ),
    ("GET", "/api/v1/status/provinces/{province_code}/communes"): Example(
        lambda w, v: Call(f"/api/v1/status/provinces/{_province(v)}/communes"),
        out_status=404,
        leaked=lambda w, body: any(not c["code"] or c["province_code"] != IN_PROVINCE for c in body["communes"]),
    ),
    ("GET", "/api/v1/alerts"): Example(
        lambda w, v: Call("/api/v1/alerts", params={"province_code": _province(v)}), leaked=_alerts_leak
    ),
    ("GET", "/api/v1/alerts/{alert_id}"): Example(
        lambda w, v: Call(f"/api/v1/alerts/{w.alert_in if v == 'in' else w.alert_out}")
    ),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): Example(
        lambda w, v: Call(
            f"/api/v1/alerts/{w.alert_in if v == 'in' else w.alert_out}/ack",
            json={"comment": "Đã nắm thông tin, đang xử lý"},
        )
    ),
    ("GET", "/api/v1/dossiers"): Example(
        lambda w, v: Call("/api/v1/dossiers", params={"province_code": _province(v)}), leaked=_dossiers_leak
    ),
    ("GET", "/api/v1/dossiers/{code}"): Example(lambda w, v: Call(f"/api/v1/dossiers/{_dossier(v)}")),
    ("GET", "/api/v1/exports/overdue-dossiers.csv"): Example(
        lambda w, v: Call("/api/v1/exports/overdue-dossiers.csv", params={"province_code": _province(v)}),
        leaked=_dossiers_leak,
    ),
    ("GET", "/api/v1/calendar/overrides"): Example(lambda w, v: Call("/api/v1/calendar/overrides")),
    ("PUT", "/api/v1/calendar/overrides"): Example(
        lambda w, v: Call(
            "/api/v1/calendar/overrides",
            json={"day": "2031-05-02", "kind": "day_off", "province_code": _province(v), "note": "Nghỉ bù"},
        )
    ),
    ("DELETE", "/api/v1/calendar/overrides/{day}"): Example(lambda w, v: Call(_override(w))),
}
# fmt: on


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
