"""Numbered SQL migrations, applied once each and recorded with their hash.

Files are `migrations/NNN_name.sql`. Re-running is a no-op; a file edited after it was applied is
refused, because the database would no longer match what the file says it is. An advisory lock
makes concurrent starts (several API processes, the one-shot migrate container) safe.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ioc.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any fixed 64-bit number; it only has to be the same for every process of this product.
_LOCK_KEY = 7_311_042_001

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migration (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version, name, sha256 FROM schema_migration"
INSERT_APPLIED = "INSERT INTO schema_migration (version, name, sha256) VALUES (%s, %s, %s)"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name {path.name!r} is not NNN_lower_snake.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


def apply_migrations(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            conn.execute(CREATE_LEDGER)
            applied = {row[0]: (row[1], row[2]) for row in conn.execute(SELECT_APPLIED)}
            for migration in migrations:
                if migration.version in applied:
                    name, digest = applied[migration.version]
                    if digest != migration.sha256:
                        raise MigrationError(
                            f"migration {migration.name} was edited after it was applied as {name}; "
                            "add a new numbered migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(INSERT_APPLIED, [migration.version, migration.name, migration.sha256])
                log.info("applied migration %s", migration.name)
                applied_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    return applied_now
