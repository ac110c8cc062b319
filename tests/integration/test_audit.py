"""The audit trail end to end: every sensitive action leaves a row, only admins read them, and the
database itself refuses to change or remove one.

One real app over a real PostgreSQL; a module fixture performs each sensitive action once through
the API (as an admin, or as a signed-in operator for sign-in and sign-out) with a recognisable
User-Agent, and each test then reads the trail.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from ioc.auth.resolve import SESSION_COOKIE
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.settings import Settings
from ioc.sources import register_source
from tests.auth_support import TEST_PASSWORD, create_user, display_token, user_token
from tests.conftest import LiveServer, fresh_database, serve_in_thread
from tests.integration.ingest_support import scalar

ADMIN = "admin-audit"
PERSON = "operator-audit"
USER_AGENT = "ioc-audit-test/1.0"
AUDIT = "/api/v1/admin/audit"
_n = itertools.count()


@dataclass
class World:
    server: LiveServer
    # What each action's row must name as its target (filled in as the actions are performed).
    targets: dict[str, str] = field(default_factory=dict)

    def admin(self) -> httpx.Client:
        client = self.server.client()
        client.headers["User-Agent"] = USER_AGENT
        return client

    def anonymous(self) -> httpx.Client:
        client = self.server.anonymous()
        client.headers["User-Agent"] = USER_AGENT
        return client

    def entries(self, **params: Any) -> list[dict[str, Any]]:
        with self.admin() as client:
            response = client.get(AUDIT, params=params)
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if "json" in response.headers.get("content-type", "") else {}
    return body


def _perform_every_sensitive_action(w: World) -> None:
    """Each audited action once, in this order (the paging test relies on there being many rows)."""
    # Signing in (wrong password, then right), and out again.
    with w.anonymous() as client:
        assert client.post("/api/v1/auth/login", json={"username": PERSON, "password": "sai"}).status_code == 401
        login = client.post("/api/v1/auth/login", json={"username": PERSON, "password": TEST_PASSWORD})
        _ok(login)
        session = login.cookies[SESSION_COOKIE]
        _ok(client.post("/api/v1/auth/logout", headers={"Cookie": f"{SESSION_COOKIE}={session}"}))
    w.targets.update({"login.failure": f"user:{PERSON}", "login.success": f"user:{PERSON}",
                      "logout": f"user:{PERSON}"})  # fmt: skip

    with w.admin() as admin:
        created = _ok(admin.post("/api/v1/admin/users", json={
            "username": "nguoi-moi", "display_name": "Người mới", "password": "mật-khẩu-đủ-dài-1",
            "role": "subscriber", "scope": {"provinces": ["01"]},
        }), 201)["user"]  # fmt: skip
        _ok(admin.patch(f"/api/v1/admin/users/{created['id']}", json={"display_name": "Người mới (đổi tên)"}))
        w.targets.update({"user.create": "user:nguoi-moi", "user.update": "user:nguoi-moi"})

        display = _ok(admin.post("/api/v1/admin/displays", json={
            "screen_name": "Phòng họp UBND", "scope": {"provinces": ["01"]}}), 201)["display"]  # fmt: skip
        _ok(admin.delete(f"/api/v1/admin/displays/{display['id']}"))
        w.targets.update({"display.create": f"display:{display['id']}", "display.revoke": f"display:{display['id']}"})

        _ok(admin.post("/api/v1/admin/sources", json={"id": "mot-cua", "name": "Một cửa", "scope": {"national": True}}),
            201)  # fmt: skip
        rotated = _ok(admin.post("/api/v1/admin/sources/mot-cua/keys", json={"grace_hours": 1}), 201)
        _ok(admin.post("/api/v1/admin/sources/mot-cua/keys/finish-rotation"))
        _ok(admin.delete(f"/api/v1/admin/sources/mot-cua/keys/{rotated['key_id']}"))
        _ok(admin.delete("/api/v1/admin/sources/mot-cua"))
        for action in ("create", "rotate", "finish_rotation", "key_revoke", "revoke"):
            w.targets[f"source.{action}"] = "source:mot-cua"

        override = {"day": "2026-09-03", "kind": "day_off", "province_code": "01", "note": "Nghỉ bù Quốc khánh"}
        _ok(admin.put("/api/v1/calendar/overrides", json=override))
        _ok(admin.delete("/api/v1/calendar/overrides/2026-09-03", params={"province_code": "01"}))
        w.targets.update({"calendar.override_set": "2026-09-03/01", "calendar.override_delete": "2026-09-03/01"})
        _ok(admin.put("/api/v1/calendar/policy/01", json={"due_instant": "end_of_day", "note": "BLDS điều 147"}))
        w.targets["calendar.policy_set"] = "01"

        alert_id = scalar(w.server.db_url,
            "INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, value, summary_vi,"
            " summary_en, active_since, fired_at) VALUES ('overdue', 'fp-audit', '{}', 'critical', 'firing', '01',"
            " 3, 'Hồ sơ quá hạn', 'Overdue dossiers', now(), now()) RETURNING id")  # fmt: skip
        _ok(admin.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "Đã giao phòng Tư pháp xử lý"}))
        w.targets["alert.acknowledge"] = f"alert:{alert_id}"

        export = admin.get("/api/v1/exports/overdue-dossiers.csv", params={"province_code": "01"})
        assert export.status_code == 200, export.text
        w.targets["export.overdue_dossiers"] = "dossiers:overdue"


@pytest.fixture(scope="module")
def world(pg_server: EmbeddedPostgres) -> Iterator[World]:
    url = fresh_database(pg_server)
    create_user(url, PERSON, "operator", Scope.from_dict({"provinces": ["01"]}))
    settings = Settings(database_url=url, port=free_port())
    http, thread = serve_in_thread(settings, url)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        w = World(
            LiveServer(base, base.replace("http", "ws") + "/ws", url, "", settings, user_token(url, ADMIN, "admin"))
        )
        _perform_every_sensitive_action(w)
        yield w
    finally:
        http.should_exit = True
        thread.join(timeout=15)


# Who each action is recorded against: the admin for changes, the person for their own sign-in.
ACTORS = {
    "login.success": (f"user:{PERSON}", "operator", "ok"),
    "login.failure": (f"user:{PERSON}", None, "denied"),
    "logout": (f"user:{PERSON}", "operator", "ok"),
    **{action: (f"user:{ADMIN}", "admin", "ok") for action in (
        "user.create", "user.update", "display.create", "display.revoke", "source.create", "source.rotate",
        "source.finish_rotation", "source.key_revoke", "source.revoke", "calendar.override_set",
        "calendar.override_delete", "calendar.policy_set", "alert.acknowledge", "export.overdue_dossiers")},
}  # fmt: skip
# Rows whose target is not an object the test created (checked separately below).
WITHOUT_TARGET = {"login.success", "login.failure", "logout", "export.overdue_dossiers"}


@pytest.mark.parametrize("action", sorted(ACTORS))
def test_each_sensitive_action_is_audited_with_actor_and_origin(world: World, action: str) -> None:
    [entry] = world.entries(action=action)
    actor, role, outcome = ACTORS[action]
    assert entry["action"] == action
    assert (entry["actor"], entry["actor_role"], entry["outcome"]) == (actor, role, outcome), entry
    assert entry["client_ip"] == "127.0.0.1", entry
    assert entry["user_agent"] == USER_AGENT, entry
    if action not in WITHOUT_TARGET:
        assert entry["target"] == world.targets[action], entry


def test_audit_details_say_what_changed_without_secrets(world: World) -> None:
    [created] = world.entries(action="user.create")
    assert created["details"] == {
        "role": "subscriber",
        "scope": {"national": False, "provinces": ["01"], "communes": [], "agencies": None, "sectors": None},
    }
    [updated] = world.entries(action="user.update")
    assert updated["details"]["changed"] == ["display_name"]
    [ack] = world.entries(action="alert.acknowledge")
    assert ack["details"] == {"comment": "Đã giao phòng Tư pháp xử lý"}
    [export] = world.entries(action="export.overdue_dossiers")
    assert export["details"]["province_code"] == "01"
    everything = str(world.entries(limit=1000))
    assert "mật-khẩu-đủ-dài-1" not in everything and TEST_PASSWORD not in everything
    assert "ioc_" not in everything.replace("source:", "")  # no key material (source ids are not keys)


def test_every_audit_row_names_its_target(world: World) -> None:
    for action in sorted(WITHOUT_TARGET):
        [entry] = world.entries(action=action)
        assert entry["target"] == world.targets[action], entry


def test_a_refused_change_leaves_no_audit_row(world: World) -> None:
    """The row is written in the change's transaction: no change, no row."""
    before = len(world.entries(action="user.create"))
    with world.admin() as admin:
        duplicate = admin.post("/api/v1/admin/users", json={
            "username": "nguoi-moi", "display_name": "Trùng tên", "password": "mật-khẩu-đủ-dài-2",
            "role": "subscriber", "scope": {"provinces": ["01"]},
        })  # fmt: skip
    assert duplicate.status_code == 409, duplicate.text
    assert len(world.entries(action="user.create")) == before


# --------------------------------------------------------------------------- who may read it


@pytest.mark.parametrize("role", ["leader", "operator", "subscriber", "display", "source"])
def test_only_admins_read_the_audit_trail(world: World, role: str) -> None:
    url = world.server.db_url
    everywhere = Scope.everything()
    if role == "display":
        token = display_token(url, f"Màn hình {next(_n)}", everywhere)
    elif role == "source":
        token = register_source(url, f"audit-src-{next(_n)}", "Nguồn")
    else:
        token = user_token(url, f"{role}-{next(_n)}", role, everywhere)
    with world.server.client(token) as client:
        response = client.get(AUDIT)
    assert response.status_code == 403, response.text


def test_anonymous_gets_401_from_the_audit_trail(world: World) -> None:
    with world.server.anonymous() as client:
        response = client.get(AUDIT)
    assert response.status_code == 401, response.text
    assert "entries" not in response.text


# --------------------------------------------------------------------------- append-only


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'user:someone-else' WHERE action = 'login.failure'",
        "UPDATE audit_log SET details = '{}'",
        "DELETE FROM audit_log WHERE action LIKE 'source.%'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_the_database_refuses_to_change_or_remove_audit_rows(world: World, statement: str) -> None:
    url = world.server.db_url
    before = scalar(url, "SELECT count(*) FROM audit_log")
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute(statement)
    assert scalar(url, "SELECT count(*) FROM audit_log") == before
    assert scalar(url, "SELECT actor FROM audit_log WHERE action = 'login.failure'") == f"user:{PERSON}"


def test_rows_can_still_be_appended(world: World) -> None:
    with psycopg.connect(world.server.db_url) as conn:
        conn.execute("INSERT INTO audit_log (actor, action) VALUES ('cli:test', 'test.append')")
    assert [e["actor"] for e in world.entries(action="test.append")] == ["cli:test"]


# --------------------------------------------------------------------------- querying


def test_filter_by_actor(world: World) -> None:
    entries = world.entries(actor=f"user:{PERSON}")
    assert sorted(e["action"] for e in entries) == ["login.failure", "login.success", "logout"]
    assert world.entries(actor="user:nobody") == []


def test_filter_by_action_prefix(world: World) -> None:
    assert sorted(e["action"] for e in world.entries(action="login")) == ["login.failure", "login.success"]
    assert sorted(e["action"] for e in world.entries(action="source")) == [
        "source.create", "source.finish_rotation", "source.key_revoke", "source.revoke", "source.rotate",
    ]  # fmt: skip
    # A prefix matches whole dotted segments only.
    assert world.entries(action="sour") == []
    assert world.entries(action="source.rot") == []
    combined = world.entries(actor=f"user:{ADMIN}", action="calendar")
    assert sorted(e["action"] for e in combined) == [
        "calendar.override_delete", "calendar.override_set", "calendar.policy_set",
    ]  # fmt: skip


@pytest.mark.parametrize("pattern", ["%", "_ogin", "source%"])
def test_action_filter_treats_like_wildcards_literally(world: World, pattern: str) -> None:
    assert world.entries(action=pattern) == []


def test_pages_with_before_id_newest_first(world: World) -> None:
    everything = world.entries(limit=1000)
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and len(ids) >= len(ACTORS)
    paged: list[int] = []
    page = world.entries(limit=4)
    while page:
        assert len(page) <= 4
        paged.extend(e["id"] for e in page)
        page = world.entries(limit=4, before_id=page[-1]["id"])
    assert paged == ids


def test_bad_audit_queries_get_422(world: World) -> None:
    with world.admin() as admin:
        assert admin.get(AUDIT, params={"limit": 0}).status_code == 422
        assert admin.get(AUDIT, params={"limit": 1001}).status_code == 422
        assert admin.get(AUDIT, params={"before_id": 0}).status_code == 422
        assert admin.get(AUDIT, params={"action": "login\x00"}).status_code == 422
