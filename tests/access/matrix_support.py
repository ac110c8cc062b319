"""The permission-matrix test's world and example types; examples live in examples_*.py beside it.

Each examples module exports EXAMPLES: {(method, path): Example}. An Example builds the request
for an in-scope ("in") and an out-of-scope ("out") object; it may create what it needs through
`World` (SQL, a source key, the cache for objects made once per module).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from ioc.auth.policy import Role
from ioc.auth.scope import Scope
from ioc.sources import register_source
from tests.auth_support import create_user, display_token, user_token
from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, receipt

IN_PROVINCE, OUT_PROVINCE = "01", "79"  # Hà Nội is granted; Hồ Chí Minh is not
SCOPED = Scope.from_dict({"provinces": [IN_PROVINCE]})
_n = itertools.count()


def next_id() -> int:
    """A number no other example in this run has used (unique names, days, ids)."""
    return next(_n)


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    server: LiveServer
    tokens: dict[Role, str] = field(default_factory=dict)
    alert_in: int = 0
    alert_out: int = 0
    cache: dict[str, Any] = field(default_factory=dict)  # objects examples make once per module

    @property
    def db(self) -> str:
        return self.server.db_url

    def fresh_token(self, role: Role) -> str:
        """A credential of `role` that a test may spend (sign out, change the password)."""
        if role is Role.DISPLAY:
            return display_token(self.db, f"Màn hình {next_id()}", SCOPED)
        if role is Role.SOURCE:
            return register_source(self.db, f"spent-{next_id()}", "Nguồn", scope=SCOPED)
        scope = Scope.everything() if role is Role.ADMIN else SCOPED
        return user_token(self.db, f"fresh-{role.value}-{next_id()}", role.value, scope)

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        with psycopg.connect(self.db) as conn:
            return conn.execute(query, params).fetchone()


def alert(world: World, province: str, marker: str) -> int:
    row = world.sql(
        "INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, value, summary_vi,"
        " summary_en, active_since, fired_at) VALUES ('overdue', %s, '{}', 'critical', 'firing', %s, 3, %s, %s,"
        " now(), now()) RETURNING id",
        [f"fp-{marker}", province, f"Cảnh báo {marker}", f"Alert {marker}"],
    )
    return int(row[0])


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


def victim_user(w: World) -> int:
    return create_user(w.db, f"victim-{next_id()}", "operator", SCOPED)


def victim_display(w: World) -> int:
    display_token(w.db, f"Nạn nhân {next_id()}", SCOPED)
    return int(w.sql("SELECT max(id) FROM display_token")[0])


def victim_source(w: World) -> str:
    source_id = f"victim-{next_id()}"
    register_source(w.db, source_id, "Nguồn", scope=SCOPED)
    return source_id


def victim_key(w: World) -> str:
    source_id = victim_source(w)
    key_id = w.sql("SELECT max(id) FROM source_key WHERE source_id = %s", [source_id])[0]
    return f"/api/v1/admin/sources/{source_id}/keys/{key_id}"


def override(w: World) -> str:
    day = (datetime(2030, 1, 1) + timedelta(days=next_id())).date().isoformat()
    w.sql("INSERT INTO calendar_override (day, province_code, kind) VALUES (%s, '', 'day_off') RETURNING day", [day])
    return f"/api/v1/calendar/overrides/{day}"


def province(variant: str) -> str:
    return IN_PROVINCE if variant == "in" else OUT_PROVINCE


def dossier(variant: str) -> str:
    return "MX-IN" if variant == "in" else "MX-OUT"


def mentions(body: Any, *needles: str) -> bool:
    text = orjson.dumps(body).decode() if not isinstance(body, str) else body
    return any(n in text for n in needles)


def provinces_leak(w: World, body: Any) -> bool:
    return any(p["code"] != IN_PROVINCE for p in body["provinces"])


def alerts_leak(w: World, body: Any) -> bool:
    return any(a["province_code"] != IN_PROVINCE for a in body["alerts"])


def dossiers_leak(w: World, body: Any) -> bool:
    return mentions(body, "MX-OUT")


def ingest(w: World, variant: str) -> Call:
    old = datetime.now(UTC) - timedelta(days=2)
    place = HANOI_WARD if variant == "in" else HCMC_WARD
    return Call("/api/v1/ingest/dossier-events", json=[receipt(f"mx-{next_id()}", f"MX-SRC-{next_id()}", old,
                                                               locality=place)])  # fmt: skip


def scope_body(w: World, variant: str) -> dict[str, Any]:
    return {"provinces": [province(variant)]}
