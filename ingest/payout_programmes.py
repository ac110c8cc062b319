"""The payout programmes: configuration kept in the database, managed by admins through the API.

Seeded with the three the domain knows (migrations/010_payout.sql): people with meritorious
service, social-protection beneficiaries, pensions. A programme is retired by setting it
inactive, never deleted: its past cycles stay, and new reports for it are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ioc.db.pool import Conn

PROGRAMME_COLUMNS = "code, name_vi, name_en, cashless_target, active, created_at, updated_at"
SELECT_PROGRAMMES = f"SELECT {PROGRAMME_COLUMNS} FROM payout_programme ORDER BY code"
SELECT_ACTIVE_CODES = "SELECT code FROM payout_programme WHERE active"
# xmax = 0 on the returned row: it was inserted, not updated.
UPSERT_PROGRAMME = f"""
INSERT INTO payout_programme AS p (code, name_vi, name_en, cashless_target, active)
VALUES (%(code)s, %(name_vi)s, %(name_en)s, %(cashless_target)s, %(active)s)
ON CONFLICT (code) DO UPDATE SET
    name_vi = EXCLUDED.name_vi, name_en = EXCLUDED.name_en, cashless_target = EXCLUDED.cashless_target,
    active = EXCLUDED.active, updated_at = now()
RETURNING {PROGRAMME_COLUMNS}, (xmax = 0) AS created
"""


@dataclass(frozen=True)
class Programme:
    code: str
    name_vi: str
    name_en: str
    cashless_target: Decimal  # share of paid beneficiaries to be paid cashless, 0..1
    active: bool
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "name_vi": self.name_vi, "name_en": self.name_en,
            "cashless_target": float(self.cashless_target), "active": self.active,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }  # fmt: skip


async def list_programmes(conn: Conn) -> list[Programme]:
    cur = await conn.execute(SELECT_PROGRAMMES)
    rows: list[Any] = await cur.fetchall()
    return [Programme(*row) for row in rows]


async def active_programmes(conn: Conn) -> frozenset[str]:
    cur = await conn.execute(SELECT_ACTIVE_CODES)
    return frozenset(str(row[0]) for row in await cur.fetchall())


async def upsert_programme(
    conn: Conn, code: str, *, name_vi: str, name_en: str, cashless_target: Decimal, active: bool
) -> tuple[Programme, bool]:
    """Create or change a programme; returns it and whether it was created."""
    params = {"code": code, "name_vi": name_vi, "name_en": name_en, "cashless_target": cashless_target,
              "active": active}  # fmt: skip
    cur = await conn.execute(UPSERT_PROGRAMME, params)
    row: Any = await cur.fetchone()
    assert row is not None
    return Programme(*row[:7]), bool(row[7])
