"""The official handling a dossier (cán bộ xử lý) through the real writer: kept on events, folded
into the dossier state, and the same when the state is refolded from the stored history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from ioc.db.migrate import apply_migrations, discover
from ioc.sources import register_source
from tests.integration.ingest_support import event, receipt
from tests.integration.writer_support import SOURCE_ID, write_batch

NOW = datetime(2026, 10, 10, 3, 0, tzinfo=UTC)
LAN = {"code": "CB-01", "name": "Nguyễn Thị Lan"}
DUC = {"code": "CB-02", "name": "Trần Văn Đức"}


def handled(item: dict[str, Any], handler: dict[str, str]) -> dict[str, Any]:
    return {**item, "handler": handler}


def state(db_url: str, code: str) -> tuple[Any, ...] | None:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT handler_code, handler_name FROM dossier WHERE code = %s", [code]).fetchone()


async def test_the_handler_is_stored_on_events_and_in_the_state(db_url: str) -> None:
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    t = NOW - timedelta(days=3)
    await write_batch(db_url, [handled(receipt("h-1", "HS-H1", t), LAN)], NOW)
    assert state(db_url, "HS-H1") == ("CB-01", "Nguyễn Thị Lan")
    await write_batch(db_url, [handled(event("h-2", "HS-H1", "resolved", t + timedelta(hours=5)), DUC)], NOW)
    assert state(db_url, "HS-H1") == ("CB-02", "Trần Văn Đức")
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT event_id, handler_code, handler_name FROM dossier_event WHERE dossier_code = 'HS-H1' ORDER BY 1"
        ).fetchall()
    assert stored == [("h-1", "CB-01", "Nguyễn Thị Lan"), ("h-2", "CB-02", "Trần Văn Đức")]


async def test_a_refold_from_history_gives_the_same_handler(db_url: str) -> None:
    """The resolution arrives before the receipt: it waits as an orphan, then the whole stored
    history is folded, in occurred_at order, when the receipt comes."""
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    t = NOW - timedelta(days=3)
    await write_batch(db_url, [handled(event("o-2", "HS-H2", "resolved", t + timedelta(hours=5)), DUC)], NOW)
    assert state(db_url, "HS-H2") is None
    await write_batch(db_url, [handled(receipt("o-1", "HS-H2", t), LAN)], NOW)
    assert state(db_url, "HS-H2") == ("CB-02", "Trần Văn Đức")
    # And an event without a handler leaves it as it is.
    await write_batch(db_url, [event("o-3", "HS-H2", "returned", t + timedelta(hours=6))], NOW)
    assert state(db_url, "HS-H2") == ("CB-02", "Trần Văn Đức")


def test_a_session_that_staged_before_migration_014_stages_the_new_shape_after_it(
    empty_db: str, tmp_path: Path
) -> None:
    """The writer stages dossier rows in a session table made LIKE dossier: a pooled connection
    that made it before 014 must not keep the old shape (COPY would name a missing column)."""
    before = tmp_path / "migrations"
    before.mkdir()
    for migration in discover():
        if migration.version < 14:
            (before / migration.name).write_text(migration.sql, encoding="utf-8")
    apply_migrations(empty_db, before)
    with psycopg.connect(empty_db, autocommit=True) as session:
        session.execute("SELECT ioc_prepare_staging()")
        assert not _stage_has_handler(session)
        apply_migrations(empty_db)  # 014 and anything after it, from another connection
        session.execute("SELECT ioc_prepare_staging()")
        assert _stage_has_handler(session)


def _stage_has_handler(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('pg_temp.dossier_stage')"
        " AND attname = 'handler_code' AND NOT attisdropped"
    ).fetchone()
    return row is not None and row[0] == 1
