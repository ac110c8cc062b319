"""The alert-rules API over a real server: versions, 409 on a stale version, 422 with field paths."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import uvicorn

from ioc.api.alert_rules import alert_rules_router
from ioc.api.guard import iter_routes
from ioc.app import create_app
from ioc.auth.policy import Role
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.settings import Settings
from tests.auth_support import bearer, user_token
from tests.conftest import fresh_database


@pytest.fixture(scope="module")
def server(pg_server: EmbeddedPostgres) -> Iterator[tuple[str, str]]:
    db = fresh_database(pg_server)
    settings = Settings(database_url=db, port=free_port())
    app = create_app(settings, db)
    if not any(e.path == "/api/v1/alert-rules" for e in iter_routes(app)):
        app.include_router(alert_rules_router())  # until ioc/app.py includes it
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.port}", db
    finally:
        srv.should_exit = True
        thread.join(timeout=15)


RULE = {"id": "overdue_many", "kind": "threshold", "indicator": "overdue_count", "op": ">", "threshold": 10}


def test_create_update_conflict_versions_and_audit(server: tuple[str, str]) -> None:
    url, db = server
    admin = user_token(db, "rules-admin", "admin", Scope.everything())
    with httpx.Client(base_url=url, headers=bearer(admin), timeout=30) as c:
        assert c.post("/api/v1/alert-rules", json=RULE).status_code == 201
        assert c.post("/api/v1/alert-rules", json=RULE).status_code == 409
        r = c.put("/api/v1/alert-rules/overdue_many", json={"version": 1, "rule": {**RULE, "threshold": 20}})
        assert r.status_code == 200 and r.json()["rule"]["version"] == 2
        stale = c.put("/api/v1/alert-rules/overdue_many", json={"version": 1, "rule": {**RULE, "threshold": 5}})
        assert stale.status_code == 409 and stale.json()["detail"]["current_version"] == 2
        assert c.post("/api/v1/alert-rules/overdue_many/disable").json()["rule"]["enabled"] is False
        assert c.post("/api/v1/alert-rules/overdue_many/enable", json={"version": 3}).status_code == 200
        versions = c.get("/api/v1/alert-rules/overdue_many/versions").json()["versions"]
        assert [v["change"] for v in versions] == ["enable", "disable", "update", "create"]
        assert len({v["author"] for v in versions}) == 1 and "rules-admin" in versions[0]["author"]
        assert c.get("/api/v1/alert-rules/overdue_many").json()["rule"]["steps"][0]["threshold"] == 20
        assert c.delete("/api/v1/alert-rules/overdue_many").status_code == 200
        assert c.get("/api/v1/alert-rules/overdue_many").status_code == 404
    with psycopg.connect(db) as conn:
        sql = "SELECT action FROM audit_log WHERE target = 'alert_rule:overdue_many' ORDER BY id"
        actions = [r[0] for r in conn.execute(sql).fetchall()]
    assert actions == ["alert_rule.create", "alert_rule.update", "alert_rule.disable", "alert_rule.enable",
                       "alert_rule.delete"]  # fmt: skip


def test_validation_errors_are_422_with_paths_and_validate_is_a_dry_run(server: tuple[str, str]) -> None:
    url, db = server
    operator = user_token(db, "rules-operator", Role.OPERATOR.value, Scope.from_dict({"provinces": ["01"]}))
    admin = user_token(db, "rules-admin-2", "admin", Scope.everything())
    bad = {"id": "bad_rule", "kind": "overdue", "steps": [{"days_late": -1, "severity": "loud"}]}
    with httpx.Client(base_url=url, headers=bearer(admin), timeout=30) as c:
        r = c.post("/api/v1/alert-rules", json=bad)
        assert r.status_code == 422
        assert {e["path"] for e in r.json()["detail"]["errors"]} == {"steps[0].days_late", "steps[0].severity"}
    with httpx.Client(base_url=url, headers=bearer(operator), timeout=30) as c:
        ok = c.post("/api/v1/alert-rules/validate", json={"id": "dry_run", "kind": "cccd_coverage"})
        assert ok.status_code == 200 and ok.json()["rule"]["flap_damping"] == {"window": "1h", "max_changes": 4}
        assert c.get("/api/v1/alert-rules/dry_run").status_code == 404  # nothing written
        assert c.post("/api/v1/alert-rules", json=RULE).status_code == 403  # operators read, admins write
