"""Accounts end to end: signing in and out, sessions and tokens, account administration, the CLI.

A real app over a real PostgreSQL. Each test says what each credential gets: a session token
counts only from its HTTP-only cookie, an access token only from the Authorization header; a
refresh token works once, and a reused one ends its whole family; disabling an account or
changing its password ends its sessions.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc.auth.resolve import SESSION_COOKIE
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.settings import Settings
from tests.auth_support import TEST_PASSWORD, bearer, create_user, user_token
from tests.conftest import LiveServer, fresh_database, serve_in_thread
from tests.integration.ingest_support import scalar

IOC_CLI = Path(sys.executable).with_name("ioc")
NEW_PASSWORD = "mật-khẩu-mới-đủ-dài-2026"
_n = itertools.count()


@pytest.fixture(scope="module")
def server(pg_server: EmbeddedPostgres) -> Iterator[LiveServer]:
    """The app with sign-in rate limits far above what these tests need (test_hardening covers them)."""
    url = fresh_database(pg_server)
    settings = Settings(database_url=url, port=free_port(), login_attempts_per_minute=10_000,
                        login_attempts_per_username_per_minute=10_000)  # fmt: skip
    http, thread = serve_in_thread(settings, url)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        yield LiveServer(base, base.replace("http", "ws") + "/ws", url, "", settings,
                         user_token(url, "admin-accounts", "admin"))  # fmt: skip
    finally:
        http.should_exit = True
        thread.join(timeout=15)


def _person(server: LiveServer, role: str = "operator") -> str:
    username = f"{role}-{next(_n)}"
    create_user(server.db_url, username, role)
    return username


def _login(server: LiveServer, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
    with server.anonymous() as client:
        return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def _session(server: LiveServer, username: str, password: str = TEST_PASSWORD) -> str:
    response = _login(server, username, password)
    assert response.status_code == 200, response.text
    return response.cookies[SESSION_COOKIE]


def _tokens(server: LiveServer, username: str) -> dict[str, Any]:
    with server.anonymous() as client:
        response = client.post("/api/v1/auth/token", json={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refresh(server: LiveServer, refresh_token: str) -> httpx.Response:
    with server.anonymous() as client:
        return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def _me_with_cookie(server: LiveServer, value: str) -> httpx.Response:
    # The cookie is sent by hand, so that what is presented is exactly what the test says.
    with server.anonymous() as client:
        return client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={value}"})


def _me_with_bearer(server: LiveServer, token: str) -> httpx.Response:
    with server.anonymous() as client:
        return client.get("/api/v1/auth/me", headers=bearer(token))


def _user_id(server: LiveServer, username: str) -> int:
    return int(scalar(server.db_url, "SELECT id FROM app_user WHERE username = %s", [username]))


# --------------------------------------------------------------------------- browser sessions


def test_login_sets_an_http_only_strict_cookie_that_me_accepts(server: LiveServer) -> None:
    username = _person(server, "leader")
    response = _login(server, username)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == username
    assert "password_hash" not in response.text
    [set_cookie] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    assert "secure" not in attributes  # cookie_secure is off over plain http (the test server)
    session = response.cookies[SESSION_COOKIE]
    assert session.startswith("iocs_")
    me = _me_with_cookie(server, session)
    assert me.status_code == 200, me.text
    assert me.json() == {"subject": f"user:{username}", "name": f"Người dùng {username}", "role": "leader",
                         "scope": {"national": True, "agencies": None, "sectors": None},
                         "credential": "session"}  # fmt: skip


def test_wrong_password_and_unknown_user_get_the_same_401(server: LiveServer) -> None:
    username = _person(server)
    wrong = _login(server, username, "không-phải-mật-khẩu")
    unknown = _login(server, f"nobody-{next(_n)}", TEST_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert SESSION_COOKIE not in wrong.cookies


def test_disabled_user_cannot_sign_in_and_their_session_stops_working(server: LiveServer) -> None:
    username = _person(server)
    session = _session(server, username)
    token = _tokens(server, username)
    assert _me_with_cookie(server, session).status_code == 200
    user_id = _user_id(server, username)
    with server.client() as admin:
        response = admin.patch(f"/api/v1/admin/users/{user_id}", json={"disabled": True})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["disabled_at"] is not None
    assert _me_with_cookie(server, session).status_code == 401
    assert _me_with_bearer(server, token["access_token"]).status_code == 401
    assert _refresh(server, token["refresh_token"]).status_code == 401
    assert _login(server, username).status_code == 401
    # Enabled again: a new sign-in works, the old session stays ended.
    with server.client() as admin:
        assert admin.patch(f"/api/v1/admin/users/{user_id}", json={"disabled": False}).status_code == 200
    assert _login(server, username).status_code == 200
    assert _me_with_cookie(server, session).status_code == 401


def test_logout_ends_the_session(server: LiveServer) -> None:
    session = _session(server, _person(server))
    with server.anonymous() as client:
        response = client.post("/api/v1/auth/logout", headers={"Cookie": f"{SESSION_COOKIE}={session}"})
    assert response.status_code == 200, response.text
    # The browser is told to forget the cookie, and the server forgets the session anyway.
    [forget] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")]
    assert "Max-Age=0" in forget
    assert _me_with_cookie(server, session).status_code == 401


def test_logout_with_an_access_token_ends_its_refresh_token_too(server: LiveServer) -> None:
    pair = _tokens(server, _person(server))
    with server.anonymous() as client:
        assert client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"])).status_code == 200
    assert _me_with_bearer(server, pair["access_token"]).status_code == 401
    assert _refresh(server, pair["refresh_token"]).status_code == 401


# --------------------------------------------------------------------------- bearer tokens


def test_token_endpoint_gives_an_access_and_a_refresh_token(server: LiveServer) -> None:
    username = _person(server, "subscriber")
    pair = _tokens(server, username)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == int(server.settings.access_token_minutes * 60)
    assert pair["access_token"].startswith("ioca_") and pair["refresh_token"].startswith("iocr_")
    me = _me_with_bearer(server, pair["access_token"])
    assert me.status_code == 200, me.text
    assert (me.json()["subject"], me.json()["credential"]) == (f"user:{username}", "access_token")
    # The refresh token is not an access token.
    assert _me_with_bearer(server, pair["refresh_token"]).status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_family(server: LiveServer) -> None:
    first = _tokens(server, _person(server))
    rotated = _refresh(server, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert _me_with_bearer(server, second["access_token"]).status_code == 200

    # The spent refresh token is refused, and presenting it (a stolen copy) ends the whole family:
    # the new access token and the new refresh token stop working too.
    assert _refresh(server, first["refresh_token"]).status_code == 401
    assert _me_with_bearer(server, second["access_token"]).status_code == 401
    assert _me_with_bearer(server, first["access_token"]).status_code == 401
    assert _refresh(server, second["refresh_token"]).status_code == 401


def test_a_credential_counts_only_where_it_belongs(server: LiveServer) -> None:
    """Access token: bearer yes, cookie no. Session token: cookie yes, bearer no."""
    username = _person(server)
    session = _session(server, username)
    access = _tokens(server, username)["access_token"]
    assert _me_with_bearer(server, access).status_code == 200
    assert _me_with_cookie(server, session).status_code == 200
    assert _me_with_bearer(server, session).status_code == 401
    assert _me_with_cookie(server, access).status_code == 401
    with server.anonymous() as client:
        # Nor does an access token count from the header meant for source keys.
        assert client.get("/api/v1/auth/me", headers={"X-API-Key": access}).status_code == 401
    # A broken Authorization header is an error, not a silent fall-back to the cookie.
    with server.anonymous() as client:
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Basic {access}",
                                                          "Cookie": f"{SESSION_COOKIE}={session}"})  # fmt: skip
    assert response.status_code == 401


# --------------------------------------------------------------------------- administration


def test_admin_creates_a_scoped_user_who_can_sign_in(server: LiveServer) -> None:
    username = f"chuyen-vien-{next(_n)}"
    with server.client() as admin:
        response = admin.post("/api/v1/admin/users", json={
            "username": username, "display_name": "Chuyên viên Phường Ba Đình", "password": NEW_PASSWORD,
            "role": "operator", "scope": {"communes": ["00004"], "provinces": ["79"]},
        })  # fmt: skip
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert (user["username"], user["role"]) == (username, "operator")
    assert user["scope"] == {"national": False, "provinces": ["79"], "communes": ["00004"], "agencies": None,
                             "sectors": None}  # fmt: skip
    assert "password" not in response.text and NEW_PASSWORD not in response.text
    me = _me_with_cookie(server, _session(server, username, NEW_PASSWORD))
    assert me.status_code == 200, me.text
    assert me.json()["scope"] == user["scope"]
    with server.client() as admin:
        duplicate = admin.post("/api/v1/admin/users", json={
            "username": username, "display_name": "Lần hai", "password": NEW_PASSWORD, "role": "operator",
            "scope": {"national": True},
        })  # fmt: skip
    assert duplicate.status_code == 409, duplicate.text


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("unknown province", {"scope": {"provinces": ["99"]}}),
        ("unknown commune", {"scope": {"communes": ["99999"]}}),
        ("a commune code given as a province", {"scope": {"provinces": ["00004"]}}),
        ("a province code given as a commune", {"scope": {"communes": ["01"]}}),
        ("an empty scope", {"scope": {}}),
        ("national and provinces at once", {"scope": {"national": True, "provinces": ["01"]}}),
        ("an admin with a province scope", {"role": "admin", "scope": {"provinces": ["01"]}}),
        ("an admin narrowed to a sector", {"role": "admin", "scope": {"national": True, "sectors": ["Hộ tịch"]}}),
        ("a role for screens", {"role": "display"}),
        ("a username with a space", {"username": "nguyen van a"}),
        ("an upper-case username", {"username": "NguyenVanA"}),
        ("a one-letter username", {"username": "a"}),
        ("a username with diacritics", {"username": "nguyễn"}),
        ("a username of 65 characters", {"username": "a" * 65}),
        ("a username with a NUL", {"username": "ab\x00c"}),
        ("a short password", {"password": "ngắn"}),
    ],
)
def test_admin_user_creation_refuses_bad_input_with_422(server: LiveServer, case: str, changes: dict[str, Any]) -> None:
    body = {"username": f"hop-le-{next(_n)}", "display_name": "Người dùng", "password": NEW_PASSWORD,
            "role": "operator", "scope": {"provinces": ["01"]}, **changes}  # fmt: skip
    before = scalar(server.db_url, "SELECT count(*) FROM app_user")
    with server.client() as admin:
        response = admin.post("/api/v1/admin/users", json=body)
    assert response.status_code == 422, f"{case}: {response.text}"
    assert scalar(server.db_url, "SELECT count(*) FROM app_user") == before, case


def test_only_admins_manage_users(server: LiveServer) -> None:
    body = {"username": f"khong-duoc-{next(_n)}", "display_name": "X", "password": NEW_PASSWORD,
            "role": "admin", "scope": {"national": True}}  # fmt: skip
    for role in ("leader", "operator", "subscriber"):
        with server.client(user_token(server.db_url, f"{role}-{next(_n)}", role)) as client:
            assert client.post("/api/v1/admin/users", json=body).status_code == 403, role
            assert client.get("/api/v1/admin/users").status_code == 403, role
    with server.anonymous() as client:
        assert client.post("/api/v1/admin/users", json=body).status_code == 401


def test_password_change_ends_the_other_sessions(server: LiveServer) -> None:
    username = _person(server)
    this_session, other_session = _session(server, username), _session(server, username)
    other_token = _tokens(server, username)
    cookie = {"Cookie": f"{SESSION_COOKIE}={this_session}"}
    with server.anonymous() as client:
        wrong = client.post("/api/v1/auth/password", headers=cookie,
                            json={"current_password": "sai-mật-khẩu", "new_password": NEW_PASSWORD})  # fmt: skip
        assert wrong.status_code == 403, wrong.text
        assert _me_with_cookie(server, other_session).status_code == 200  # a refused change ends nothing
        changed = client.post("/api/v1/auth/password", headers=cookie,
                              json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert _me_with_cookie(server, other_session).status_code == 401
    assert _me_with_bearer(server, other_token["access_token"]).status_code == 401
    assert _refresh(server, other_token["refresh_token"]).status_code == 401
    assert _login(server, username, TEST_PASSWORD).status_code == 401
    assert _login(server, username, NEW_PASSWORD).status_code == 200


def test_password_change_keeps_the_session_that_made_it(server: LiveServer) -> None:
    username = _person(server)
    session = _session(server, username)
    with server.anonymous() as client:
        changed = client.post("/api/v1/auth/password", headers={"Cookie": f"{SESSION_COOKIE}={session}"},
                              json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert _me_with_cookie(server, session).status_code == 200


# --------------------------------------------------------------------------- the CLI


def test_cli_creates_a_user_who_can_sign_in(server: LiveServer) -> None:
    username = f"cli-operator-{next(_n)}"
    env = {**os.environ, "IOC_DATABASE_URL": server.db_url}
    result = subprocess.run(
        [str(IOC_CLI), "user", "create", username, "--role", "operator", "--commune", "00004", "--password-stdin",
         "--name", "Cán bộ một cửa"],
        input=NEW_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert NEW_PASSWORD not in result.stdout + result.stderr  # a password from stdin is never echoed
    me = _me_with_cookie(server, _session(server, username, NEW_PASSWORD))
    assert me.status_code == 200, me.text
    assert (me.json()["role"], me.json()["name"]) == ("operator", "Cán bộ một cửa")
    assert me.json()["scope"]["communes"] == ["00004"]
    # The CLI also refuses what the API refuses, and creates nothing then.
    refused = subprocess.run(
        [str(IOC_CLI), "user", "create", f"cli-admin-{next(_n)}", "--role", "admin", "--province", "01",
         "--password-stdin"],
        input=NEW_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "national" in refused.stderr
