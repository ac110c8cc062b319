"""The migrations runner and the partition helpers, on fresh empty databases of the test server."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ioc.db.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations

ALL_MIGRATIONS = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {str(r[0]) for r in rows}


def ledger(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(v), str(n)) for v, n in conn.execute("SELECT version, name FROM schema_migration ORDER BY 1")]


def test_applies_every_file_in_order_then_is_a_no_op(empty_db: str) -> None:
    assert ALL_MIGRATIONS[0].startswith("001_")
    assert apply_migrations(empty_db) == ALL_MIGRATIONS
    assert [name for _, name in ledger(empty_db)] == ALL_MIGRATIONS
    assert {"locality", "source", "procedure", "event_receipt", "dossier", "dossier_daily", "alert"} <= tables(empty_db)
    assert apply_migrations(empty_db) == []
    assert [name for _, name in ledger(empty_db)] == ALL_MIGRATIONS


def test_new_file_is_applied_alone(empty_db: str, migrations_copy: Path) -> None:
    apply_migrations(empty_db, migrations_copy)
    (migrations_copy / "900_extra_table.sql").write_text("CREATE TABLE extra_table (id int);\n")
    assert apply_migrations(empty_db, migrations_copy) == ["900_extra_table.sql"]
    assert "extra_table" in tables(empty_db)


def test_edited_applied_file_is_refused(empty_db: str, migrations_copy: Path) -> None:
    apply_migrations(empty_db, migrations_copy)
    edited = migrations_copy / ALL_MIGRATIONS[1]
    edited.write_text(edited.read_text() + "\n-- a harmless-looking comment\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        apply_migrations(empty_db, migrations_copy)


def test_edited_file_is_refused_before_later_files_are_applied(empty_db: str, migrations_copy: Path) -> None:
    apply_migrations(empty_db, migrations_copy)
    edited = migrations_copy / ALL_MIGRATIONS[0]
    edited.write_text(edited.read_text() + "\n-- edited\n")
    (migrations_copy / "900_later.sql").write_text("CREATE TABLE later (id int);\n")
    with pytest.raises(MigrationError):
        apply_migrations(empty_db, migrations_copy)
    assert "later" not in tables(empty_db)


@pytest.mark.parametrize(
    "bad_name",
    [
        "6_short_number.sql",  # three digits, always
        "900-dashes.sql",
        "900_CamelCase.sql",
        "900_.sql.sql",
        "extra.sql",
    ],
)
def test_bad_file_name_is_refused_before_anything_runs(empty_db: str, migrations_copy: Path, bad_name: str) -> None:
    (migrations_copy / bad_name).write_text("CREATE TABLE never (id int);\n")
    with pytest.raises(MigrationError, match=r"is not NNN_lower_snake\.sql"):
        apply_migrations(empty_db, migrations_copy)
    assert tables(empty_db) == set()


def test_two_files_with_one_number_are_refused(empty_db: str, migrations_copy: Path) -> None:
    (migrations_copy / f"{ALL_MIGRATIONS[0][:3]}_twin.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="share a number"):
        apply_migrations(empty_db, migrations_copy)


def test_failing_migration_leaves_no_trace_and_can_be_fixed(empty_db: str, migrations_copy: Path) -> None:
    apply_migrations(empty_db, migrations_copy)
    broken = migrations_copy / "900_broken.sql"
    broken.write_text("CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")
    with pytest.raises(psycopg.errors.DivisionByZero):
        apply_migrations(empty_db, migrations_copy)
    assert "half_done" not in tables(empty_db)
    assert len(ledger(empty_db)) == len(ALL_MIGRATIONS)
    broken.write_text("CREATE TABLE half_done (id int);\n")
    assert apply_migrations(empty_db, migrations_copy) == ["900_broken.sql"]


# --------------------------------------------------------------------------- storage and partitions


@pytest.fixture
def migrated(empty_db: str) -> str:
    apply_migrations(empty_db)
    return empty_db


def partitions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'dossier_event'::regclass ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def call(url: str, sql: str, *params: object) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, list(params)).fetchone()
    assert row is not None
    return row[0]


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_storage_mode_is_partitioned_on_plain_postgresql(migrated: str) -> None:
    assert call(migrated, "SELECT ioc_storage_mode()") == "partitioned"
    assert partitions(migrated) == []


@pytest.mark.parametrize(
    ("from_ts", "to_ts", "created", "names"),
    [
        (
            utc(2024, 1, 15),
            utc(2024, 3, 2),
            3,
            ["dossier_event_202401", "dossier_event_202402", "dossier_event_202403"],
        ),
        (utc(2024, 1, 1), utc(2024, 1, 1), 1, ["dossier_event_202401"]),
        (utc(2024, 12, 31, 23), utc(2025, 1, 1, 1), 2, ["dossier_event_202412", "dossier_event_202501"]),
        # Months are UTC months: 1/2/2024 03:00 in Hà Nội is still January in UTC.
        (datetime.fromisoformat("2024-02-01T03:00:00+07:00"), utc(2024, 1, 31), 1, ["dossier_event_202401"]),
    ],
)
def test_ensure_partitions_creates_monthly_partitions(
    migrated: str, from_ts: datetime, to_ts: datetime, created: int, names: list[str]
) -> None:
    assert call(migrated, "SELECT ensure_dossier_event_partitions(%s, %s)", from_ts, to_ts) == created
    assert partitions(migrated) == names
    # Idempotent: a second call creates nothing and changes nothing.
    assert call(migrated, "SELECT ensure_dossier_event_partitions(%s, %s)", from_ts, to_ts) == 0
    assert partitions(migrated) == names


def test_ensure_partitions_only_adds_missing_months(migrated: str) -> None:
    call(migrated, "SELECT ensure_dossier_event_partitions(%s, %s)", utc(2024, 1, 1), utc(2024, 2, 1))
    assert call(migrated, "SELECT ensure_dossier_event_partitions(%s, %s)", utc(2024, 2, 10), utc(2024, 4, 1)) == 2
    assert partitions(migrated) == [f"dossier_event_2024{m:02d}" for m in range(1, 5)]


def insert_event(url: str, event_id: str, at: datetime) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO dossier_event (occurred_at, dossier_code, event_type, source_id, event_id, ingested_at, "
            "province_code) VALUES (%s, 'HS', 'received', 'src', %s, now(), '01')",
            [at, event_id],
        )


def test_events_land_in_their_month_and_old_months_are_dropped(migrated: str) -> None:
    call(migrated, "SELECT ensure_dossier_event_partitions(%s, %s)", utc(2024, 1, 1), utc(2024, 4, 30))
    for month in (1, 2, 3, 4):
        insert_event(migrated, f"ev-{month}", utc(2024, month, 10))
    with pytest.raises(psycopg.errors.CheckViolation):  # no partition for May: refused, not misfiled
        insert_event(migrated, "ev-5", utc(2024, 5, 10))
    assert call(migrated, "SELECT count(*) FROM dossier_event_202402") == 1

    # A cut-off inside March keeps March (it still holds events newer than the cut-off).
    assert call(migrated, "SELECT drop_dossier_event_partitions_before(%s)", utc(2024, 3, 15)) == 2
    assert partitions(migrated) == ["dossier_event_202403", "dossier_event_202404"]
    assert call(migrated, "SELECT array_agg(event_id ORDER BY event_id) FROM dossier_event") == ["ev-3", "ev-4"]
    # Nothing left before the cut-off: a second call drops nothing.
    assert call(migrated, "SELECT drop_dossier_event_partitions_before(%s)", utc(2024, 3, 15)) == 0
    # A cut-off on a month boundary drops the whole month before it.
    assert call(migrated, "SELECT drop_dossier_event_partitions_before(%s)", utc(2024, 4, 1)) == 1
    assert partitions(migrated) == ["dossier_event_202404"]
