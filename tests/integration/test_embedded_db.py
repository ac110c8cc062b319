"""The embedded PostgreSQL cluster: start, share between processes of the project, stop, restart."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ioc.db.embedded import DATABASE_NAME, EmbeddedPostgres


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # World-traversable root: when we are root the server runs as the `postgres` account.
    root = Path(tempfile.mkdtemp(prefix="ioc-test-embedded-"))
    root.chmod(0o755)
    yield root / "data"
    shutil.rmtree(root, ignore_errors=True)


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_start_share_stop_and_restart(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir)
    started: list[EmbeddedPostgres] = [first]
    try:
        # Start: initialises the data dir, creates the product database, gives a working URL.
        url = first.start()
        assert url == first.url == first.url_for(DATABASE_NAME)
        assert url.endswith(f"/{DATABASE_NAME}")
        assert (data_dir / "PG_VERSION").exists()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE survives_restart (note text)")
            conn.execute("INSERT INTO survives_restart VALUES ('còn đây')")

        # A second instance on the same data dir (another `ioc` command) shares the running server.
        second = EmbeddedPostgres(data_dir)
        assert second.start() == url
        assert second.port == first.port
        # It did not start the server, so its stop() leaves it running.
        second.stop()
        assert answers(url)

        # The instance that started it stops it.
        first.stop()
        assert not answers(url)
        assert not (data_dir / "postmaster.pid").exists()
        first.stop()  # a second stop is harmless

        # Starting again reuses the initialised data dir: the table written before is still there.
        pg_version = (data_dir / "PG_VERSION").stat().st_mtime_ns
        third = EmbeddedPostgres(data_dir)
        started.append(third)
        url_again = third.start()
        assert (data_dir / "PG_VERSION").stat().st_mtime_ns == pg_version
        with psycopg.connect(url_again) as conn:
            assert conn.execute("SELECT note FROM survives_restart").fetchall() == [("còn đây",)]
        third.stop()
        assert not answers(url_again)
    finally:
        for server in started:
            server.stop()


def test_context_manager_stops_what_it_started(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir) as server:
        url = server.url
        assert answers(url)
    assert not answers(url)
