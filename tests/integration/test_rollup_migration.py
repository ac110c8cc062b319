"""Migration 009 rebuilds the daily rollup, now keyed by agency and sector too, from `dossier`
exactly as the writer maintains it, and the writer carries on from the rebuilt rows.

The writer of this code base writes the new shape only, so the database "before 009" is made by
hand from one the writer filled: migrations up to 008, the same `dossier` rows, and the old
rollup (the writer's rows summed over agency and sector, which is what the old writer kept).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from ioc.db.localities import sync_localities
from ioc.db.migrate import MIGRATIONS_DIR, apply_migrations, discover
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from tests.integration.ingest_support import event, receipt
from tests.integration.writer_support import SOURCE_ID, write_batch

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=VN)
HO_TICH = {"code": "1.000001", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 1}
DAT_DAI = {"code": "1.004227", "name": "Đăng ký đất đai", "sector": "Đất đai", "statutory_days": 5}
A1 = {"code": "UBND-00004", "name": "UBND Phường Ba Đình"}
A2 = {"code": "SNNMT-01", "name": "Sở Nông nghiệp và Môi trường Hà Nội"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


def place(commune: str | None) -> dict[str, str]:
    return {"commune_code": commune} if commune else {"province_code": "79"}


def new(code: str, t: datetime, commune: str | None, agency: dict[str, str] | None, procedure: dict[str, Any],
        channel: str = "online") -> dict[str, Any]:  # fmt: skip
    return receipt(f"{code}-r", code, t, locality=place(commune), agency=agency, procedure=procedure, channel=channel)


def step(code: str, kind: str, t: datetime, commune: str | None = "00004") -> dict[str, Any]:
    return event(f"{code}-{kind}", code, kind, t, locality=place(commune))


# Before the migration: receipts late in the local evening (UTC says the day before), same-day,
# late and early resolutions, a dossier without agency and one known only at province level.
BEFORE = [
    new("M1", at(9, 23, 30), "00004", A1, HO_TICH),  # 16:30 UTC on the 9th, local day the 9th
    step("M1", "resolved", at(10, 0, 30)),  # local day the 10th, 17:30 UTC on the 9th
    new("M2", at(9, 9), "00004", A2, DAT_DAI, "direct"),
    step("M2", "resolved", at(9, 16)),
    new("M3", at(10, 9), "00097", A1, HO_TICH),
    step("M3", "resolved", at(12, 10), "00097"),  # due 11/11 09:00: late
    new("M4", at(10, 9), "00097", None, DAT_DAI, "postal"),
    new("M5", at(11, 7, 0), None, A2, HO_TICH),  # province 79, no commune
    new("M6", at(12, 9), "00004", A2, HO_TICH),
]
# After it: follow-ups of dossiers counted by the rebuild, and new ones.
AFTER = [
    step("M4", "resolved", at(13, 11), "00097"),
    step("M5", "resolved", at(13, 11), None),
    step("M6", "supplement_requested", at(12, 10)),
    step("M6", "supplement_received", at(13, 9)),
    step("M6", "resolved", at(14, 9) + timedelta(days=1)),
    new("M7", at(16, 8), "00097", A1, DAT_DAI),
    step("M7", "resolved", at(16, 9), "00097"),
]

# What the rollup says per key (a key may hold pending delta rows besides its merged one: 024).
ROLLUP = """
SELECT day, province_code, commune_code, agency_code, sector, sum(received)::int, sum(received_online)::int,
       sum(resolved)::int, sum(resolved_early)::int, sum(resolved_on_time)::int, sum(resolved_late)::int
FROM dossier_daily
GROUP BY day, province_code, commune_code, agency_code, sector
HAVING sum(received) <> 0 OR sum(received_online) <> 0 OR sum(resolved) <> 0   -- keys a change emptied say nothing
ORDER BY day, province_code, commune_code, agency_code, sector
"""
OLD_ROLLUP = """
SELECT day, province_code, commune_code, sum(received)::int, sum(received_online)::int, sum(resolved)::int,
       sum(resolved_early)::int, sum(resolved_on_time)::int, sum(resolved_late)::int
FROM dossier_daily GROUP BY 1, 2, 3
"""


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def copy_rows(source_url: str, target_url: str, select: str, insert: str) -> None:
    with psycopg.connect(source_url) as source, psycopg.connect(target_url) as target:
        found = source.execute(select).fetchall()
        with target.cursor() as cur:
            cur.executemany(insert, found)


def migrated_up_to(url: str, version: int, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    for migration in discover():
        if migration.version <= version:
            shutil.copy(MIGRATIONS_DIR / migration.name, directory / migration.name)
    apply_migrations(url, directory)
    sync_localities(url, load_catalogue())


async def test_migration_009_rebuilds_the_rollup_the_writer_keeps(db_url: str, empty_db: str, tmp_path: Path) -> None:
    # The writer's own rollup, on a database that has had 009 from the start.
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    await write_batch(db_url, BEFORE, NOW)
    maintained = rows(db_url, ROLLUP)
    assert {r[3] for r in maintained} == {"UBND-00004", "SNNMT-01", ""}  # agencies, '' = none
    assert {r[4] for r in maintained} == {"Hộ tịch", "Đất đai"}
    assert (at(9, 0).date(), "01", "00004", "UBND-00004", "Hộ tịch", 1, 1, 0, 0, 0, 0) in maintained

    # The same dossiers in a database at 008 with the rollup the old writer kept.
    migrated_up_to(empty_db, 8, tmp_path)
    with psycopg.connect(empty_db) as conn:
        columns = [str(r[0]) for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'dossier'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum"
        )]  # fmt: skip
    listed = ", ".join(columns)
    copy_rows(db_url, empty_db, f"SELECT {listed} FROM dossier",
              f"INSERT INTO dossier ({listed}) VALUES ({', '.join(['%s'] * len(columns))})")  # fmt: skip
    copy_rows(db_url, empty_db, OLD_ROLLUP, "INSERT INTO dossier_daily VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")

    applied = apply_migrations(empty_db)
    assert applied[0] == "009_rollup_by_agency_sector.sql"
    assert rows(empty_db, ROLLUP) == maintained

    # The writer goes on from the rebuilt rows as it does from its own.
    register_source(empty_db, SOURCE_ID, "Nguồn thử nghiệm")
    for url in (db_url, empty_db):
        await write_batch(url, AFTER, NOW)
    assert rows(empty_db, ROLLUP) == rows(db_url, ROLLUP)
    assert sum(r[7] for r in rows(db_url, ROLLUP)) == 7  # every dossier resolved by now


def test_a_rollup_staging_table_from_before_024_is_dropped(db_url: str) -> None:
    # Rollup rows were staged in a session table until 024; they are appended directly since, so
    # a pooled session's old staging table is dropped, and the dossier staging table is made.
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE dossier_daily_stage (day date, province_code text, commune_code text, received int) "
            "ON COMMIT DELETE ROWS"
        )
        conn.execute("SELECT ioc_prepare_staging()")
        conn.execute("SELECT ioc_prepare_staging()")  # and again: nothing left to do
        tables = conn.execute(
            "SELECT to_regclass('pg_temp.dossier_daily_stage') IS NULL, "
            "to_regclass('pg_temp.dossier_stage') IS NOT NULL"
        ).fetchone()
    assert tables == (True, True)
