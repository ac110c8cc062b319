"""HTTP hardening of the real app: rate limits, security headers, CORS, cross-site cookie writes,
body limits, secrets kept out of logs, and applicant personal data kept out of the database.

Each test starts the real app (uvicorn, real PostgreSQL) with the settings it is about, so a
limit of three sign-ins a minute is tested with three sign-ins, not three hundred.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from psycopg import sql

from ioc.api.hardening import CONTENT_SECURITY_POLICY
from ioc.auth.resolve import SESSION_COOKIE
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.settings import Settings
from ioc.sources import register_source
from tests.auth_support import TEST_PASSWORD, bearer, create_user, user_token
from tests.conftest import LiveServer, fresh_database, serve_in_thread
from tests.integration.ingest_support import HANOI_WARD, INGEST, VN, receipt, scalar

FOREIGN_ORIGIN = "https://trang-la.example"
TRUSTED_ORIGIN = "https://dieuhanh.example.gov.vn"
USER = "operator-hardening"
_n = itertools.count()


@contextlib.contextmanager
def serve(pg_server: EmbeddedPostgres, **overrides: Any) -> Iterator[LiveServer]:
    """The real app on a fresh database with these settings, an operator account, a source and an admin."""
    url = fresh_database(pg_server)
    create_user(url, USER, "operator")
    key = register_source(url, "hardening-source", "Nguồn thử nghiệm")
    settings = Settings(database_url=url, port=free_port(), **overrides)
    http, thread = serve_in_thread(settings, url)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        yield LiveServer(base, base.replace("http", "ws") + "/ws", url, key, settings,
                         user_token(url, f"admin-hardening-{next(_n)}", "admin"))  # fmt: skip
    finally:
        http.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def default_server(pg_server: EmbeddedPostgres) -> Iterator[LiveServer]:
    with serve(pg_server) as server:
        yield server


def _login(client: httpx.Client, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def _session(server: LiveServer) -> str:
    with server.anonymous() as client:
        response = _login(client, USER)
    assert response.status_code == 200, response.text
    return response.cookies[SESSION_COOKIE]


def _assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in headers  # plain http: HSTS is off unless configured


# --------------------------------------------------------------------------- rate limits


def test_sign_in_attempts_per_address_are_limited_with_retry_after(pg_server: EmbeddedPostgres) -> None:
    """Three attempts a minute per address: the fourth gets 429, even with the right password."""
    with serve(pg_server, login_attempts_per_minute=3, login_attempts_per_username_per_minute=100) as server:
        with server.anonymous() as client:
            for n in range(3):
                assert _login(client, f"doan-mo-{n}", "sai").status_code == 401
            limited = _login(client, USER)
            token_limited = client.post("/api/v1/auth/token", json={"username": USER, "password": TEST_PASSWORD})
        signed_in = scalar(server.db_url, "SELECT count(*) FROM audit_log WHERE action = 'login.success'")
    for response in (limited, token_limited):
        assert response.status_code == 429, response.text
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert SESSION_COOKIE not in response.cookies
        _assert_security_headers(response)
    assert signed_in == 0  # the right password did not get through either


def test_sign_in_attempts_per_username_are_limited(pg_server: EmbeddedPostgres) -> None:
    """Two attempts a minute per username (any letter case); another username is not held back."""
    limits = {"login_attempts_per_minute": 100, "login_attempts_per_username_per_minute": 2}
    with serve(pg_server, **limits) as server, server.anonymous() as client:
        assert _login(client, USER, "sai-1").status_code == 401
        assert _login(client, USER.upper(), "sai-2").status_code == 401
        limited = _login(client, USER)
        other = _login(client, f"nguoi-khac-{next(_n)}", "sai")
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) >= 1
    assert other.status_code == 401, other.text


def test_ingest_batches_per_source_are_limited(pg_server: EmbeddedPostgres) -> None:
    with serve(pg_server, ingest_batches_per_second=0.2, ingest_batch_burst=2) as server:
        statuses = []
        for n in range(3):
            events = [receipt(f"ev-rl-{n}", f"HS-RL-{n}", datetime.now(VN) - timedelta(hours=1))]
            response = server.post_events(events)
            statuses.append(response.status_code)
        assert statuses == [200, 200, 429], response.text
        assert int(response.headers["retry-after"]) >= 1
        assert scalar(server.db_url, "SELECT count(*) FROM dossier WHERE code = 'HS-RL-2'") == 0


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("path", "who", "status"),
    [
        ("/", "anonymous", 200),  # the map page
        ("/api/v1/auth/me", "admin", 200),  # an API answer
        ("/api/v1/auth/me", "anonymous", 401),  # a refusal
        ("/api/v1/admin/audit", "operator", 403),
        ("/api/v1/no-such-route", "admin", 404),
    ],
)
def test_security_headers_on_pages_answers_and_errors(
    default_server: LiveServer, path: str, who: str, status: int
) -> None:
    token = {"admin": default_server.admin_token, "anonymous": None,
             "operator": user_token(default_server.db_url, f"op-{next(_n)}", "operator")}[who]  # fmt: skip
    with default_server.anonymous() as client:
        response = client.get(path, headers=bearer(token) if token else {})
    assert response.status_code == status, response.text
    _assert_security_headers(response)
    if path.startswith("/api/"):
        # Per-user, live answers: no browser or proxy may keep a copy.
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"].startswith("application/json")


def test_hsts_when_configured(pg_server: EmbeddedPostgres) -> None:
    with serve(pg_server, hsts=True) as server, server.anonymous() as client:
        response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["strict-transport-security"].startswith("max-age=")


# --------------------------------------------------------------------------- CORS and cross-site writes


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options("/api/v1/auth/me", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization",
    })  # fmt: skip


def test_cors_is_closed_by_default(default_server: LiveServer) -> None:
    with default_server.anonymous() as client:
        preflight = _preflight(client, FOREIGN_ORIGIN)
        simple = client.get("/api/v1/auth/me", headers={"Origin": FOREIGN_ORIGIN, **bearer(default_server.admin_token)})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-credentials" not in preflight.headers
    assert simple.status_code == 200  # the server answers; the browser withholds it from the foreign page
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_only_to_the_configured_origins(pg_server: EmbeddedPostgres) -> None:
    with serve(pg_server, cors_origins=f"{TRUSTED_ORIGIN}, http://localhost:5173") as server:
        with server.anonymous() as client:
            trusted = _preflight(client, TRUSTED_ORIGIN)
            dev = _preflight(client, "http://localhost:5173")
            foreign = _preflight(client, FOREIGN_ORIGIN)
            simple = client.get("/api/v1/auth/me", headers={"Origin": TRUSTED_ORIGIN, **bearer(server.admin_token)})
        session = _session(server)
        with server.anonymous() as client:
            # A configured origin may also make cookie-authenticated writes.
            logout = client.post("/api/v1/auth/logout", headers={"Origin": TRUSTED_ORIGIN,
                                                                  "Cookie": f"{SESSION_COOKIE}={session}"})  # fmt: skip
    assert trusted.status_code == 200, trusted.text
    assert trusted.headers["access-control-allow-origin"] == TRUSTED_ORIGIN
    assert trusted.headers["access-control-allow-credentials"] == "true"
    assert dev.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-origin" not in foreign.headers
    assert simple.headers["access-control-allow-origin"] == TRUSTED_ORIGIN
    assert logout.status_code == 200, logout.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": FOREIGN_ORIGIN},
        {"Origin": "null"},  # a sandboxed frame or a file: page
        {"Sec-Fetch-Site": "cross-site"},  # a browser that sent no Origin
    ],
)
def test_cookie_authenticated_write_from_another_site_is_403(
    default_server: LiveServer, headers: dict[str, str]
) -> None:
    session = _session(default_server)
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
    with default_server.anonymous() as client:
        refused = client.post("/api/v1/auth/logout", headers={**headers, **cookie})
        assert refused.status_code == 403, refused.text
        _assert_security_headers(refused)
        # The session was not ended by the refused request, and reads are not affected.
        assert client.get("/api/v1/auth/me", headers={**headers, **cookie}).status_code == 200
        # The same write from the site itself goes through.
        own = client.post("/api/v1/auth/logout", headers={"Origin": default_server.url, **cookie})
        assert own.status_code == 200, own.text


def test_bearer_write_is_not_subject_to_the_origin_check(default_server: LiveServer) -> None:
    """A bearer token is never sent by a browser on its own, so it carries no cross-site risk."""
    token = user_token(default_server.db_url, f"bearer-{next(_n)}", "operator")
    with default_server.anonymous() as client:
        response = client.post("/api/v1/auth/logout", headers={"Origin": FOREIGN_ORIGIN, **bearer(token)})
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------- body limits


def test_body_over_the_request_limit_is_413_on_other_routes_but_not_on_ingest(pg_server: EmbeddedPostgres) -> None:
    limit = 4096
    with serve(pg_server, max_request_bytes=limit) as server:
        big = orjson.dumps({"username": USER, "password": "x" * (2 * limit)})

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield big[:limit]
            yield big[limit:]

        with server.anonymous() as client:
            declared = client.post("/api/v1/auth/login", content=big, headers={"Content-Type": "application/json"})
            streamed = client.post("/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
            admin_write = client.post("/api/v1/admin/users", content=big, headers={
                "Content-Type": "application/json", **bearer(server.admin_token)})  # fmt: skip
        # Ingest keeps its own, larger limit: a batch bigger than max_request_bytes goes through.
        t = datetime.now(VN) - timedelta(hours=1)
        batch = [receipt(f"ev-big-{n}", f"HS-BIG-{n}", t, locality=HANOI_WARD) for n in range(30)]
        assert len(orjson.dumps(batch)) > limit
        ingest = server.post_events(batch)
        audited = scalar(server.db_url, "SELECT count(*) FROM audit_log WHERE action LIKE 'login.%%'")
    for response in (declared, streamed, admin_write):
        assert response.status_code == 413, response.text
        assert str(limit) in response.json()["detail"]
        _assert_security_headers(response)
    assert audited == 0  # the oversized sign-ins never reached the route
    assert ingest.status_code == 200, ingest.text
    assert ingest.json()["accepted"] == 30


# --------------------------------------------------------------------------- logs


class _Capture(logging.Handler):
    """Every record at DEBUG and up that reaches the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._attached: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.args!r} {record.exc_text or ''}")

    def attach(self, *names: str) -> None:
        for name in names:
            logger = logging.getLogger(name)
            self._attached.append((logger, logger.level))
            logger.addHandler(self)
            logger.setLevel(logging.DEBUG)

    def detach(self) -> None:
        for logger, level in reversed(self._attached):
            logger.removeHandler(self)
            logger.setLevel(level)
        self._attached.clear()

    def server_lines(self) -> list[str]:
        """What the server logged (the test's own HTTP client logs its requests too)."""
        return [line for line in self.lines if not line.startswith(("httpx", "httpcore"))]


@contextlib.contextmanager
def _captured_logs() -> Iterator[_Capture]:
    """A capture on the root logger; call `attach(*UVICORN_LOGGERS)` once uvicorn has configured its
    own loggers (they do not propagate to the root, and configuring them drops earlier handlers)."""
    capture = _Capture()
    capture.attach("")
    try:
        yield capture
    finally:
        capture.detach()


UVICORN_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


def test_no_secret_reaches_the_logs(pg_server: EmbeddedPostgres) -> None:
    """Sign-ins (right and wrong password), a token pair and its refresh, a session, an ingest batch
    and a refused key, all logged at DEBUG: no password, token or API key appears in any record."""
    wrong_password = "mật-khẩu-đoán-sai-9731"
    # The handler is on the root logger before the app starts, as a deployment's would be.
    with _captured_logs() as capture, serve(pg_server) as server:
        capture.attach(*UVICORN_LOGGERS)
        with server.anonymous() as client:
            assert _login(client, USER, wrong_password).status_code == 401
            session = _login(client, USER).cookies[SESSION_COOKIE]
            pair = client.post("/api/v1/auth/token", json={"username": USER, "password": TEST_PASSWORD}).json()
            refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
            assert client.get("/api/v1/auth/me", headers=bearer(refreshed["access_token"])).status_code == 200
            assert client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={session}"}).status_code == 200
            # A replayed refresh token: refused, and its family ended (an audited event).
            assert client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
        events = [receipt(f"ev-log-{n}", f"HS-LOG-{n}", datetime.now(VN) - timedelta(hours=1)) for n in range(3)]
        assert server.post_events(events).status_code == 200
        assert server.post_events(events, key=server.api_key[:-2] + "xx").status_code == 401
    secrets = {
        "password": TEST_PASSWORD, "wrong password": wrong_password, "session": session,
        "access token": pair["access_token"], "refresh token": pair["refresh_token"],
        "refreshed access token": refreshed["access_token"], "refreshed refresh token": refreshed["refresh_token"],
        "API key": server.api_key, "admin token": server.admin_token,
    }  # fmt: skip
    # The access log names every request: proof that the capture saw the server's records.
    assert any("/api/v1/auth/refresh" in line for line in capture.server_lines()), capture.server_lines()
    logged = "\n".join(capture.lines)
    leaked = [name for name, secret in secrets.items() if secret in logged]
    assert leaked == [], f"secrets in the logs: {leaked}"


# --------------------------------------------------------------------------- personal data


APPLICANT = {"full_name": "Nguyễn Thị Hoa", "id_number": "001190012345", "phone": "0912345678",
             "address": "Số 5 phố Nguyễn Thái Học"}  # fmt: skip


def _rows_mentioning(db_url: str, needle: str) -> dict[str, int]:
    """How many rows of each table hold `needle` anywhere in them (the whole row as text)."""
    found = {}
    with psycopg.connect(db_url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]  # fmt: skip
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {} AS r WHERE r::text LIKE %s").format(sql.Identifier(table))
            row = conn.execute(query, [f"%{needle}%"]).fetchone()
            if row and row[0]:
                found[table] = int(row[0])
    return found


def test_applicant_personal_data_is_accepted_and_dropped(default_server: LiveServer) -> None:
    """Source systems send the applicant; the validator accepts the `applicant` object and drops it:
    the event is stored, nothing about the person is (Decree 13/2023)."""
    tag = next(_n)
    event = {**receipt(f"ev-pii-{tag}", f"HS-PII-{tag}", datetime.now(VN) - timedelta(hours=1)),
             "applicant": APPLICANT}  # fmt: skip
    with _captured_logs() as capture:
        capture.attach(*UVICORN_LOGGERS)
        response = default_server.post_events([event])
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "accepted"
    assert scalar(default_server.db_url, "SELECT count(*) FROM dossier WHERE code = %s", [f"HS-PII-{tag}"]) == 1
    for value in APPLICANT.values():
        assert _rows_mentioning(default_server.db_url, value) == {}, value
        assert value not in "\n".join(capture.lines)
    # Nor is it shown back: the dossier page has no trace of the applicant.
    with default_server.client() as admin:
        page = admin.get(f"/api/v1/dossiers/HS-PII-{tag}")
    assert page.status_code == 200, page.text
    assert all(value not in page.text for value in APPLICANT.values())


@pytest.mark.parametrize(
    ("extra", "reason", "names"),
    [
        # Personal data outside the `applicant` object: the closed schema refuses the unknown key.
        ({"citizen_id": "001190012345"}, "invalid_field", "citizen_id"),
        ({"applicant_name": "Nguyễn Thị Hoa"}, "invalid_field", "applicant_name"),
        # An applicant that is not an object (a bare name) is refused, not stored.
        ({"applicant": "Nguyễn Thị Hoa"}, "invalid_field", "applicant"),
        # Personal data tucked into the locality object.
        ({"locality": {**HANOI_WARD, "address": "Số 5 phố Nguyễn Thái Học"}}, "invalid_field", "locality.address"),
    ],
)
def test_personal_data_outside_the_applicant_object_is_rejected_and_not_echoed(
    default_server: LiveServer, extra: dict[str, Any], reason: str, names: str
) -> None:
    tag = next(_n)
    event = {**receipt(f"ev-pii-x-{tag}", f"HS-PII-X-{tag}", datetime.now(VN) - timedelta(hours=1)), **extra}
    response = default_server.post_events([event])
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", reason), result
    assert names in result["message"]
    for value in ("001190012345", "Nguyễn Thị Hoa", "Số 5 phố Nguyễn Thái Học"):
        assert value not in response.text  # the refusal names the field, never its value
    assert scalar(default_server.db_url, "SELECT count(*) FROM dossier WHERE code = %s", [f"HS-PII-X-{tag}"]) == 0
    assert scalar(default_server.db_url, "SELECT count(*) FROM event_receipt WHERE event_id = %s",
                  [f"ev-pii-x-{tag}"]) == 0  # fmt: skip


def test_a_client_that_waits_as_told_by_retry_after_gets_through(pg_server: EmbeddedPostgres) -> None:
    """One batch per 2.5 s: the refused second batch is told how long to wait, and after that it goes through.

    The first two requests are malformed bodies, refused at once after the rate check (which they
    pass through first), so the refusal comes a few milliseconds after the spent batch: Retry-After
    then has to say 3 s (2.49… rounded up) for the retry to be allowed.
    """
    with serve(pg_server, ingest_batches_per_second=0.4, ingest_batch_burst=1) as server, server.anonymous() as client:
        key = bearer(server.api_key)
        assert client.post(INGEST, content=b"[", headers=key).status_code == 400
        refused = client.post(INGEST, content=b"[", headers=key)
        assert refused.status_code == 429, refused.text
        time.sleep(int(refused.headers["retry-after"]))
        events = [receipt("ev-wait", "HS-WAIT", datetime.now(VN) - timedelta(hours=1))]
        retried = client.post(INGEST, json=events, headers=key)
        assert retried.status_code == 200, retried.text
