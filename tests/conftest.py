"""Shared fixtures: a real PostgreSQL the suite starts itself, fresh databases cloned from a
migrated template, and the real application served by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.localities.catalogue import load_catalogue
from ioc.settings import Settings
from ioc.sources import register_source
from tests.auth_support import user_token

TEMPLATE = "ioc_template"
_names = count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    if os.environ.get("IOC_TEST_DATABASE_URL"):
        pytest.skip("external test databases are not supported; the suite runs its own PostgreSQL")
    # /tmp is world-traversable, so the unprivileged postgres account can reach it when we are root.
    root = Path(tempfile.mkdtemp(prefix="ioc-test-pg-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "data")
    server.start()
    with psycopg.connect(server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    template_url = server.url_for(TEMPLATE)
    apply_migrations(template_url)
    sync_localities(template_url, load_catalogue())
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def fresh_database(server: EmbeddedPostgres) -> str:
    name = f"ioc_test_{os.getpid()}_{next(_names)}"
    with psycopg.connect(server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return server.url_for(name)


@pytest.fixture
def db_url(pg_server: EmbeddedPostgres) -> str:
    return fresh_database(pg_server)


@pytest.fixture
def empty_db(pg_server: EmbeddedPostgres) -> str:
    """A database with nothing in it: no migrations, no localities."""
    name = f"ioc_empty_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.url_for(name)


@dataclass
class LiveServer:
    url: str
    ws_url: str
    db_url: str
    api_key: str
    settings: Settings
    admin_token: str = ""

    def client(self, token: str | None = None) -> httpx.Client:
        """A client that signs in as the test admin (national scope) unless given another token."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}"} if (token or self.admin_token) else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def post_events(self, events: list[dict[str, object]], key: str | None = None) -> httpx.Response:
        with self.client() as c:
            return c.post(
                "/api/v1/ingest/dossier-events", json=events,
                headers={"Authorization": f"Bearer {key or self.api_key}"},
            )  # fmt: skip


def serve_in_thread(
    settings: Settings, db_url: str, *, run_alerts: bool = False
) -> tuple[uvicorn.Server, threading.Thread]:
    from ioc.app import create_app

    app = create_app(settings, db_url, run_alerts=run_alerts)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning",
                            ws_per_message_deflate=False, lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    return server, thread


@pytest.fixture
def live_server(pg_server: EmbeddedPostgres) -> Iterator[LiveServer]:
    yield from _live_server(pg_server)


@pytest.fixture(scope="module")
def module_live_server(pg_server: EmbeddedPostgres) -> Iterator[LiveServer]:
    yield from _live_server(pg_server)


def _live_server(pg_server: EmbeddedPostgres) -> Iterator[LiveServer]:
    with running_app(fresh_database(pg_server)) as server:
        yield server


@contextlib.contextmanager
def running_app(url: str, *, run_alerts: bool = False, **overrides: Any) -> Iterator[LiveServer]:
    """The real app on a free port over the database at `url`, with a registered source key.

    ``run_alerts`` also runs the alert service (rules, notifications, delivery) in the process;
    ``overrides`` are extra settings (SMTP host, intervals...).
    """
    key = register_source(url, "test-source", "Nguồn thử nghiệm")
    admin_token = user_token(url, f"admin-{next(_names)}", "admin")
    vapid = Path(tempfile.mkdtemp(prefix="ioc-vapid-")) / "vapid-private.pem"
    settings = Settings(**{
        "database_url": url, "port": free_port(), "live_coalesce_seconds": 0.1, "max_batch_items": 500,
        "max_body_bytes": 512 * 1024, "vapid_private_key_file": vapid, **overrides,
    })  # fmt: skip
    server, thread = serve_in_thread(settings, url, run_alerts=run_alerts)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        yield LiveServer(base, base.replace("http", "ws") + "/ws", url, key, settings, admin_token)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live_server_url(module_live_server: LiveServer) -> str:
    return module_live_server.url


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
