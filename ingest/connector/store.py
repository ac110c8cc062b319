"""The `connector` and `connector_state` tables (migrations/013): configuration and progress."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from ingest.connector.config import ConnectorConfig
from ioc.db.pool import Conn

CONFIG_FIELDS = tuple(f.name for f in fields(ConnectorConfig))
STATE_FIELDS = ("cursor", "pages", "items_accepted", "items_duplicate", "items_rejected", "last_page_at",
                "last_run_at", "last_success_at", "last_error", "last_error_at", "next_run_at")  # fmt: skip

SELECT_CONNECTORS = f"""
SELECT {", ".join(f"c.{n}" for n in CONFIG_FIELDS)}, {", ".join(f"s.{n}" for n in STATE_FIELDS)}
FROM connector c LEFT JOIN connector_state s ON s.connector_id = c.id
WHERE (%(id)s::text IS NULL OR c.id = %(id)s)
ORDER BY c.id
"""
SELECT_DUE = f"""
SELECT {", ".join(f"c.{n}" for n in CONFIG_FIELDS)}
FROM connector c LEFT JOIN connector_state s ON s.connector_id = c.id
WHERE c.enabled AND (%(id)s::text IS NULL OR c.id = %(id)s)
  AND (%(all)s OR s.next_run_at IS NULL OR s.next_run_at <= %(now)s)
ORDER BY s.next_run_at NULLS FIRST, c.id
"""
SELECT_NEXT_RUN = """
SELECT min(coalesce(s.next_run_at, now())) FROM connector c LEFT JOIN connector_state s ON s.connector_id = c.id
WHERE c.enabled
"""
UPSERT_CONNECTOR = f"""
INSERT INTO connector AS c ({", ".join(CONFIG_FIELDS)}) VALUES ({", ".join(f"%({n})s" for n in CONFIG_FIELDS)})
ON CONFLICT (id) DO UPDATE SET
    {", ".join(f"{n} = EXCLUDED.{n}" for n in CONFIG_FIELDS if n != "id")}, updated_at = now()
RETURNING (xmax = 0) AS created
"""
DELETE_CONNECTOR = "DELETE FROM connector WHERE id = %s"
ENSURE_STATE = """
INSERT INTO connector_state (connector_id, cursor) VALUES (%s, %s) ON CONFLICT (connector_id) DO NOTHING
"""
SELECT_CURSOR = "SELECT cursor FROM connector_state WHERE connector_id = %s"
# Taken in the page's transaction: the cursor this poller read must still be the stored one.
LOCK_STATE = "SELECT cursor FROM connector_state WHERE connector_id = %s FOR UPDATE"
ADVANCE = """
UPDATE connector_state SET cursor = %(cursor)s, pages = pages + 1, items_accepted = items_accepted + %(accepted)s,
    items_duplicate = items_duplicate + %(duplicate)s, items_rejected = items_rejected + %(rejected)s,
    last_page_at = %(now)s
WHERE connector_id = %(id)s
"""
FINISH_RUN = """
UPDATE connector_state SET last_run_at = %(now)s, next_run_at = %(next)s,
    last_success_at = CASE WHEN %(error)s::text IS NULL THEN %(now)s ELSE last_success_at END,
    last_error = %(error)s, last_error_at = CASE WHEN %(error)s::text IS NULL THEN last_error_at ELSE %(now)s END
WHERE connector_id = %(id)s
"""


def config_from_row(row: tuple[Any, ...]) -> ConnectorConfig:
    return ConnectorConfig(**dict(zip(CONFIG_FIELDS, row[: len(CONFIG_FIELDS)], strict=True)))


def public_view(row: tuple[Any, ...]) -> dict[str, Any]:
    """A connector as the admin API shows it: the stored credential is never shown again."""
    config = config_from_row(row)
    out = {k: v for k, v in asdict(config).items() if k != "auth_value"}
    out["auth_value_set"] = config.auth_value is not None
    state = dict(zip(STATE_FIELDS, row[len(CONFIG_FIELDS) :], strict=True))
    out["state"] = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in state.items()}
    return out


async def list_connectors(conn: Conn, connector_id: str | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(SELECT_CONNECTORS, {"id": connector_id})
    return [public_view(row) for row in await cur.fetchall()]


async def stored_config(conn: Conn, connector_id: str) -> ConnectorConfig | None:
    cur = await conn.execute(SELECT_CONNECTORS, {"id": connector_id})
    row = await cur.fetchone()
    return config_from_row(row) if row else None


async def save_connector(conn: Conn, config: ConnectorConfig) -> bool:
    """Create or replace; returns whether it was created."""
    cur = await conn.execute(UPSERT_CONNECTOR, asdict(config))
    row = await cur.fetchone()
    assert row is not None
    return bool(row[0])


async def delete_connector(conn: Conn, connector_id: str) -> bool:
    cur = await conn.execute(DELETE_CONNECTOR, [connector_id])
    return cur.rowcount > 0


async def due_connectors(
    conn: Conn, now: datetime, *, connector_id: str | None = None, every: bool = False
) -> list[ConnectorConfig]:
    cur = await conn.execute(SELECT_DUE, {"id": connector_id, "all": every, "now": now})
    return [config_from_row(row) for row in await cur.fetchall()]


async def next_run_at(conn: Conn) -> datetime | None:
    cur = await conn.execute(SELECT_NEXT_RUN)
    row = await cur.fetchone()
    value = row[0] if row else None
    return value if isinstance(value, datetime) else None
