"""Reading payout cycles for the caller's scope: the current state of each cycle, as reported.

Payout rows carry a locality and no agency or sector, so a scope that names agencies or sectors
sees none of them (the strict rule of ioc/auth/scope.py); a commune scope sees its communes'
rows and not a province-wide report (commune_code '').
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn

CYCLE_COLUMNS = (
    "province_code", "commune_code", "programme_code", "cycle_month", "cycle_opens_on", "deadline",
    "beneficiaries_due", "paid_total", "paid_bank", "paid_card", "paid_ewallet", "paid_cash", "failed",
    "failure_reasons", "amount_due_vnd", "amount_paid_vnd", "reported_at", "updated_at",
)  # fmt: skip
SELECT_CYCLES = f"""
SELECT {", ".join(CYCLE_COLUMNS)}
FROM payout_cycle
WHERE cycle_month = %(cycle_month)s
  AND (%(province)s::text IS NULL OR province_code = %(province)s)
  AND (%(programme)s::text IS NULL OR programme_code = %(programme)s)
  AND {scope_filter_sql(agency=None, sector=None)}
ORDER BY province_code, commune_code, programme_code
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class PayoutCycle:
    province_code: str
    commune_code: str  # '' = reported for the whole province
    programme_code: str
    cycle_month: date
    cycle_opens_on: date
    deadline: date
    beneficiaries_due: int
    paid_total: int
    paid_bank: int
    paid_card: int
    paid_ewallet: int
    paid_cash: int
    failed: int
    failure_reasons: dict[str, int]
    amount_due_vnd: int
    amount_paid_vnd: int
    reported_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "province_code": self.province_code, "commune_code": self.commune_code or None,
            "programme": self.programme_code, "cycle": self.cycle_month.strftime("%Y-%m"),
            "cycle_opens_on": self.cycle_opens_on.isoformat(), "deadline": self.deadline.isoformat(),
            "beneficiaries_due": self.beneficiaries_due, "paid_total": self.paid_total,
            "paid_bank": self.paid_bank, "paid_card": self.paid_card, "paid_ewallet": self.paid_ewallet,
            "paid_cash": self.paid_cash, "paid_cashless": self.paid_total - self.paid_cash,
            "failed": self.failed, "failures": self.failure_reasons,
            "amount_due_vnd": self.amount_due_vnd, "amount_paid_vnd": self.amount_paid_vnd,
            "reported_at": self.reported_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }  # fmt: skip


async def list_cycles(
    conn: Conn,
    cycle_month: date,
    scope: Scope,
    *,
    province_code: str | None = None,
    programme_code: str | None = None,
    limit: int = 10_000,
) -> list[PayoutCycle]:
    params = {"cycle_month": cycle_month, "province": province_code, "programme": programme_code, "limit": limit,
              **scope.sql_params()}  # fmt: skip
    cur = await conn.execute(SELECT_CYCLES, params)
    rows: list[Any] = await cur.fetchall()
    return [PayoutCycle(*row) for row in rows]
