"""Data sources and their API keys. Keys are random, shown once, and stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

import psycopg

from ioc.db.pool import Conn

SELECT_SOURCE_BY_KEY = "SELECT id FROM source WHERE key_sha256 = %s AND revoked_at IS NULL"
UPSERT_SOURCE = """
INSERT INTO source (id, name, key_sha256) VALUES (%s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, key_sha256 = EXCLUDED.key_sha256, revoked_at = NULL
"""


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return "ioc_" + secrets.token_urlsafe(32)


def register_source(url: str, source_id: str, name: str, api_key: str | None = None) -> str:
    """Create the source or give it a new key; returns the key (only ever shown here)."""
    key = api_key or new_api_key()
    with psycopg.connect(url) as conn:
        conn.execute(UPSERT_SOURCE, [source_id, name, key_digest(key)])
    return key


async def source_for_key(conn: Conn, api_key: str) -> str | None:
    cur = await conn.execute(SELECT_SOURCE_BY_KEY, [key_digest(api_key)])
    row = await cur.fetchone()
    return str(row[0]) if row else None
