"""Wall-display tokens: read-only, bound to a scope and a screen name, revocable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ioc.auth.credentials import digest, new_credential
from ioc.auth.scope import Scope
from ioc.db.pool import Conn

DISPLAY_COLUMNS = "id, screen_name, scope, created_at, created_by, last_seen_at, revoked_at"
INSERT_DISPLAY = f"""
INSERT INTO display_token (screen_name, scope, token_sha256, created_by) VALUES (%s, %s::jsonb, %s, %s)
RETURNING {DISPLAY_COLUMNS}
"""
SELECT_DISPLAYS = f"SELECT {DISPLAY_COLUMNS} FROM display_token ORDER BY id"
SELECT_DISPLAY_BY_ID = f"SELECT {DISPLAY_COLUMNS} FROM display_token WHERE id = %s"
# Seen-at is written at most once a minute per screen, not on every request.
SELECT_DISPLAY_BY_TOKEN = f"""
UPDATE display_token SET last_seen_at = now()
WHERE token_sha256 = %s AND revoked_at IS NULL
  AND (last_seen_at IS NULL OR last_seen_at < now() - INTERVAL '1 minute')
RETURNING {DISPLAY_COLUMNS}
"""
SELECT_ACTIVE_DISPLAY_BY_TOKEN = f"SELECT {DISPLAY_COLUMNS} FROM display_token WHERE token_sha256 = %s"
REVOKE_DISPLAY = f"""
UPDATE display_token SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING {DISPLAY_COLUMNS}
"""


@dataclass(frozen=True)
class Display:
    id: int
    screen_name: str
    scope: Scope
    created_at: datetime
    created_by: str
    last_seen_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Display:
        did, name, scope, created, by, seen, revoked = row
        return cls(did, name, Scope.from_dict(scope), created, by, seen, revoked)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "screen_name": self.screen_name, "scope": self.scope.as_dict(),
            "created_at": self.created_at.isoformat(), "created_by": self.created_by,
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }  # fmt: skip


async def create_display(conn: Conn, screen_name: str, scope: Scope, created_by: str) -> tuple[Display, str]:
    """A new display and its token (shown only here)."""
    token = new_credential("display")
    cur = await conn.execute(INSERT_DISPLAY, [screen_name, orjson.dumps(scope.as_dict()).decode(), digest(token),
                                              created_by])  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    return Display.from_row(row), token


async def display_for_token(conn: Conn, token: str) -> Display | None:
    key = digest(token)
    cur = await conn.execute(SELECT_DISPLAY_BY_TOKEN, [key])
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute(SELECT_ACTIVE_DISPLAY_BY_TOKEN, [key])
        row = await cur.fetchone()
    if row is None:
        return None
    display = Display.from_row(row)
    return display if display.revoked_at is None else None


async def list_displays(conn: Conn) -> list[Display]:
    cur = await conn.execute(SELECT_DISPLAYS)
    return [Display.from_row(r) for r in await cur.fetchall()]


async def display_by_id(conn: Conn, display_id: int) -> Display | None:
    cur = await conn.execute(SELECT_DISPLAY_BY_ID, [display_id])
    row = await cur.fetchone()
    return Display.from_row(row) if row else None


async def revoke_display(conn: Conn, display_id: int) -> Display | None:
    cur = await conn.execute(REVOKE_DISPLAY, [display_id])
    row = await cur.fetchone()
    return Display.from_row(row) if row else None
