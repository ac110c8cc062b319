"""The notify routers over HTTP: silences with scope, configuration, a test message, own subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import ioc.app
from ioc.auth.scope import Scope
from tests.auth_support import user_token
from tests.conftest import LiveServer, running_app


@pytest.fixture
def server(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The real app; the notify routers are mounted here until ioc/app.py includes them."""
    from ioc.api.notification_config import notification_config_router
    from ioc.api.silences import silences_router
    from ioc.api.subscriptions import subscriptions_router
    from tests.conftest import fresh_database

    original = ioc.app.create_app

    def with_notify(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        paths = {getattr(r, "path", "") for r in app.routes}
        for router in (silences_router(), notification_config_router(), subscriptions_router()):
            if not any(getattr(r, "path", "") in paths for r in router.routes):
                app.include_router(router)
        return app

    monkeypatch.setattr(ioc.app, "create_app", with_notify)
    with running_app(fresh_database(pg_server)) as s:
        yield s


HANOI = [{"label": "province_code", "op": "=", "value": "01"}]
WINDOW = {"starts_at": "2030-01-01T00:00:00+07:00", "ends_at": "2030-01-02T00:00:00+07:00"}


def test_silences_scope_and_lifecycle(server: LiveServer) -> None:
    operator = user_token(server.db_url, "op-ha-noi", "operator", Scope.from_dict({"provinces": ["01"]}))
    with server.client(operator) as c:
        out = c.post(
            "/api/v1/silences",
            json={**WINDOW, "comment": "x", "matchers": [{"label": "province_code", "op": "=", "value": "79"}]},
        )
        assert out.status_code == 403
        unpinned = c.post(
            "/api/v1/silences",
            json={**WINDOW, "comment": "x", "matchers": [{"label": "rule", "op": "=", "value": "overdue"}]},
        )
        assert unpinned.status_code == 403
        bad = c.post(
            "/api/v1/silences",
            json={
                "comment": "x",
                "matchers": HANOI,
                "recurrence": {"weekly": [{"days": [9], "from": "13:00", "to": "17:00"}]},
            },
        )
        assert bad.status_code == 422 and "recurrence.weekly[0].days" in bad.text
        made = c.post(
            "/api/v1/silences",
            json={
                "comment": "Chiều thứ Bảy",
                "matchers": HANOI,
                "recurrence": {"weekly": [{"days": [6], "from": "13:00", "to": "17:00"}]},
            },
        )
        assert made.status_code == 201, made.text
        sid = made.json()["id"]
        assert made.json()["state"] in ("active", "pending")
        assert sid in [s["id"] for s in c.get("/api/v1/silences").json()["silences"]]
        detail = c.get(f"/api/v1/silences/{sid}").json()
        assert detail["muted_alerts"] == [] or isinstance(detail["muted_alerts"], list)
        assert c.post(f"/api/v1/silences/{sid}/expire").json()["state"] == "expired"
        assert [s["id"] for s in c.get("/api/v1/silences", params={"state": "expired"}).json()["silences"]] == [sid]


def test_configuration_and_test_message(server: LiveServer) -> None:
    with server.client() as admin:
        cp = admin.put(
            "/api/v1/notify/contact-points/ops-hook",
            json={"channel": "webhook", "address": "http://127.0.0.1:9/hook", "options": {"format": "alertmanager"}},
        )
        assert cp.status_code == 200, cp.text
        bad = admin.put("/api/v1/notify/routes/all", json={"contact_points": ["missing"]})
        assert bad.status_code == 422
        assert admin.put("/api/v1/notify/routes/all", json={"contact_points": ["ops-hook"]}).status_code == 200
        assert admin.delete("/api/v1/notify/contact-points/ops-hook").status_code == 409
        bad_regex = admin.put(
            "/api/v1/notify/inhibit-rules/x-y",
            json={"source_matchers": [{"label": "rule", "op": "=~", "value": "("}], "target_matchers": HANOI},
        )
        assert bad_regex.status_code == 422 and "source_matchers[0].value" in bad_regex.text
        assert admin.post("/api/v1/notify/contact-points/ops-hook/test").status_code == 200
    with psycopg.connect(server.db_url) as conn:
        row = conn.execute("SELECT channel, payload->>'kind' FROM delivery").fetchone()
    assert row == ("webhook", "test")


def test_own_subscriptions(server: LiveServer) -> None:
    mine = user_token(server.db_url, "nguoi-dang-ky", "subscriber", Scope.from_dict({"provinces": ["01"]}))
    other = user_token(server.db_url, "nguoi-khac", "subscriber", Scope.from_dict({"provinces": ["01"]}))
    with server.client(mine) as c, server.client(other) as o:
        assert c.post("/api/v1/me/subscriptions", json={"provinces": ["79"], "channels": ["email"]}).status_code == 403
        made = c.post(
            "/api/v1/me/subscriptions",
            json={"provinces": ["01"], "channels": ["email"], "quiet_from": "22:00", "quiet_to": "06:00"},
        )
        assert made.status_code == 201, made.text
        sid = made.json()["id"]
        assert o.delete(f"/api/v1/me/subscriptions/{sid}").status_code == 404
        assert [s["id"] for s in c.get("/api/v1/me/subscriptions").json()["subscriptions"]] == [sid]
        assert c.put("/api/v1/me/contacts/email", json={"address": "khong-hop-le"}).status_code == 422
        assert c.put("/api/v1/me/contacts/telegram", json={"address": "12345"}).status_code == 200
        assert c.put("/api/v1/me/language", json={"language": "en"}).status_code == 200
        assert c.get("/api/v1/me/contacts").json() == {"contacts": {"telegram": "12345"}, "language": "en"}
        assert c.delete(f"/api/v1/me/subscriptions/{sid}").status_code == 200
