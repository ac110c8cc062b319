"""Data sources and their API keys: scoped to streams and localities, rotatable, revocable.

Keys are random, shown once, and stored as SHA-256. A rotation issues a new key and gives the
old ones an expiry (a grace period in which both work); finishing the rotation, or the expiry,
ends the old ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg

from ioc.auth.credentials import digest, new_credential
from ioc.auth.scope import Scope
from ioc.db.pool import Conn

# "alerts": alerts posted in Alertmanager's format (POST /api/v2/alerts) by an existing Prometheus.
STREAMS = ("dossier", "payout", "id_issuance", "alerts")

SOURCE_COLUMNS = "s.id, s.name, s.streams, s.scope, s.created_at, s.revoked_at"
SELECT_SOURCE_BY_KEY = f"""
SELECT {SOURCE_COLUMNS}, k.id FROM source_key k JOIN source s ON s.id = k.source_id
WHERE k.key_sha256 = %s AND k.revoked_at IS NULL AND s.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now())
"""
SELECT_SOURCES = f"SELECT {SOURCE_COLUMNS} FROM source s ORDER BY s.id"
SELECT_SOURCE = f"SELECT {SOURCE_COLUMNS} FROM source s WHERE s.id = %s"
SELECT_KEYS = """
SELECT id, created_at, expires_at, revoked_at FROM source_key WHERE source_id = %s ORDER BY id
"""
INSERT_SOURCE = f"""
INSERT INTO source AS s (id, name, streams, scope) VALUES (%s, %s, %s, %s::jsonb)
ON CONFLICT (id) DO NOTHING RETURNING {SOURCE_COLUMNS}
"""
UPSERT_SOURCE = """
INSERT INTO source (id, name, streams, scope) VALUES (%s, %s, %s, %s::jsonb)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, streams = EXCLUDED.streams, scope = EXCLUDED.scope,
                               revoked_at = NULL
"""
INSERT_KEY = "INSERT INTO source_key (source_id, key_sha256) VALUES (%s, %s) RETURNING id"
REVOKE_ALL_KEYS = "UPDATE source_key SET revoked_at = now() WHERE source_id = %s AND revoked_at IS NULL"
# Old keys stay valid for the grace period (an earlier expiry already set is kept).
EXPIRE_OLD_KEYS = """
UPDATE source_key SET expires_at = least(coalesce(expires_at, %(until)s), %(until)s)
WHERE source_id = %(source)s AND id <> %(keep)s AND revoked_at IS NULL
"""
FINISH_ROTATION = """
UPDATE source_key SET revoked_at = now()
WHERE source_id = %s AND revoked_at IS NULL AND id <> (SELECT max(id) FROM source_key WHERE source_id = %s)
"""
REVOKE_KEY = "UPDATE source_key SET revoked_at = now() WHERE source_id = %s AND id = %s AND revoked_at IS NULL"
REVOKE_SOURCE = "UPDATE source SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"


class SourceError(ValueError):
    """A source request that cannot be met (unknown stream, duplicate id)."""


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    streams: frozenset[str]
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Source:
        sid, name, streams, scope, created, revoked = row[:6]
        return cls(sid, name, frozenset(streams), Scope.from_dict(scope), created, revoked)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "streams": sorted(self.streams), "scope": self.scope.as_dict(),
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }  # fmt: skip


@dataclass(frozen=True)
class SourceIdentity:
    """What an accepted key proves: the source, its streams and scope, and which key it was."""

    source: Source
    key_id: int


def check_streams(streams: frozenset[str]) -> None:
    unknown = streams - set(STREAMS)
    if not streams or unknown:
        raise SourceError(f"streams must be a non-empty subset of {', '.join(STREAMS)}")


def register_source(
    url: str,
    source_id: str,
    name: str,
    api_key: str | None = None,
    *,
    streams: frozenset[str] = frozenset(STREAMS),
    scope: Scope | None = None,
) -> str:
    """CLI and set-up: create or update the source and give it one new key (any other is revoked).

    Returns the key, which is only ever shown here.
    """
    check_streams(streams)
    key = api_key or new_credential("source")
    scope_json = orjson.dumps((scope or Scope.everything()).as_dict()).decode()
    with psycopg.connect(url) as conn:
        conn.execute(UPSERT_SOURCE, [source_id, name, sorted(streams), scope_json])
        conn.execute(REVOKE_ALL_KEYS, [source_id])
        conn.execute(INSERT_KEY, [source_id, digest(key)])
    return key


async def source_for_key(conn: Conn, api_key: str) -> SourceIdentity | None:
    cur = await conn.execute(SELECT_SOURCE_BY_KEY, [digest(api_key)])
    row: Any = await cur.fetchone()
    return SourceIdentity(Source.from_row(row), int(row[6])) if row else None


async def create_source(
    conn: Conn, source_id: str, name: str, streams: frozenset[str], scope: Scope
) -> tuple[Source, str]:
    check_streams(streams)
    cur = await conn.execute(INSERT_SOURCE, [source_id, name, sorted(streams), orjson.dumps(scope.as_dict()).decode()])
    row = await cur.fetchone()
    if row is None:
        raise SourceError(f"a source with id {source_id!r} exists")
    key = new_credential("source")
    await conn.execute(INSERT_KEY, [source_id, digest(key)])
    return Source.from_row(row), key


async def list_sources(conn: Conn) -> list[Source]:
    cur = await conn.execute(SELECT_SOURCES)
    return [Source.from_row(r) for r in await cur.fetchall()]


async def source_by_id(conn: Conn, source_id: str) -> Source | None:
    cur = await conn.execute(SELECT_SOURCE, [source_id])
    row = await cur.fetchone()
    return Source.from_row(row) if row else None


async def source_keys(conn: Conn, source_id: str, now: datetime) -> list[dict[str, Any]]:
    cur = await conn.execute(SELECT_KEYS, [source_id])
    out = []
    rows: list[Any] = await cur.fetchall()
    for kid, created, expires, revoked in rows:
        valid = revoked is None and (expires is None or expires > now)
        out.append({
            "id": kid, "created_at": created.isoformat(), "expires_at": expires.isoformat() if expires else None,
            "revoked_at": revoked.isoformat() if revoked else None, "valid": valid,
        })  # fmt: skip
    return out


async def rotate_key(conn: Conn, source_id: str, grace: timedelta, now: datetime) -> tuple[int, str]:
    """A new key; the old ones keep working until now + grace. Returns (key id, key)."""
    key = new_credential("source")
    cur = await conn.execute(INSERT_KEY, [source_id, digest(key)])
    row: Any = await cur.fetchone()
    assert row is not None
    await conn.execute(EXPIRE_OLD_KEYS, {"source": source_id, "keep": row[0], "until": now + grace})
    return int(row[0]), key


async def finish_rotation(conn: Conn, source_id: str) -> int:
    """End every key but the newest now; returns how many were ended."""
    cur = await conn.execute(FINISH_ROTATION, [source_id, source_id])
    return cur.rowcount


async def revoke_key(conn: Conn, source_id: str, key_id: int) -> bool:
    cur = await conn.execute(REVOKE_KEY, [source_id, key_id])
    return cur.rowcount > 0


async def revoke_source(conn: Conn, source_id: str) -> None:
    await conn.execute(REVOKE_SOURCE, [source_id])
