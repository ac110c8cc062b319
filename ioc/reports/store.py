"""Stored report files (`report_file`): written by the monthly schedule, listed and read by the API.

A stored report covers a whole province, so a caller sees it only when their scope does: the
province granted whole, with every agency and sector (Scope.sees_whole_province).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql
from ioc.db.pool import Conn

# The table has no commune: "NULL::text" never matches a granted commune, and agency / sector
# None make a scope that names agencies or sectors see nothing (a province-wide file aggregates them).
_WHOLE_PROVINCE_IN_SCOPE = scope_filter_sql(province="r.province_code", commune="NULL::text", agency=None, sector=None)

INSERT_REPORT = """
INSERT INTO report_file (province_code, kind, month, format, content, size_bytes, generated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (province_code, kind, month, format) DO NOTHING
RETURNING id
"""
SELECT_MONTH_KEYS = "SELECT province_code, kind, format FROM report_file WHERE month = %s"
REPORT_COLUMNS = "r.id, r.province_code, l.name, r.kind, r.month, r.format, r.size_bytes, r.generated_at"
SELECT_REPORTS = f"""
SELECT {REPORT_COLUMNS}
FROM report_file r JOIN locality l ON l.code = r.province_code
WHERE (%(province)s::text IS NULL OR r.province_code = %(province)s)
  AND (%(kind)s::text IS NULL OR r.kind = %(kind)s)
  AND (%(month)s::date IS NULL OR r.month = %(month)s)
  AND (%(format)s::text IS NULL OR r.format = %(format)s)
  AND {_WHOLE_PROVINCE_IN_SCOPE}
ORDER BY r.month DESC, r.province_code, r.kind, r.format
LIMIT %(limit)s
"""
SELECT_REPORT = f"SELECT {REPORT_COLUMNS}, r.content FROM report_file r JOIN locality l ON l.code = r.province_code " \
                "WHERE r.id = %s"  # fmt: skip


@dataclass(frozen=True)
class StoredReport:
    id: int
    province_code: str
    province_name: str
    kind: str
    month: date
    format: str
    size_bytes: int
    generated_at: datetime

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredReport:
        return cls(*row)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "province_code": self.province_code, "province_name": self.province_name,
            "kind": self.kind, "month": f"{self.month:%Y-%m}", "format": self.format, "size_bytes": self.size_bytes,
            "generated_at": self.generated_at.isoformat(), "url": f"/api/v1/reports/{self.id}",
        }  # fmt: skip


async def save(
    conn: Conn, *, province_code: str, kind: str, month: date, fmt: str, content: bytes, generated_at: datetime
) -> int | None:
    """Store one file; None when that province, kind, month and format is already stored."""
    cur = await conn.execute(INSERT_REPORT, [province_code, kind, month, fmt, content, len(content), generated_at])
    row: tuple[Any, ...] | None = await cur.fetchone()
    return int(row[0]) if row else None


async def stored_keys(conn: Conn, month: date) -> set[tuple[str, str, str]]:
    cur = await conn.execute(SELECT_MONTH_KEYS, [month])
    return {(str(p), str(k), str(f)) for p, k, f in await cur.fetchall()}


async def list_reports(
    conn: Conn,
    scope: Scope,
    *,
    province_code: str | None = None,
    kind: str | None = None,
    month: date | None = None,
    fmt: str | None = None,
    limit: int = 500,
) -> list[StoredReport]:
    params = {"province": province_code, "kind": kind, "month": month, "format": fmt, "limit": limit,
              **scope.sql_params()}  # fmt: skip
    cur = await conn.execute(SELECT_REPORTS, params)
    return [StoredReport.from_row(row) for row in await cur.fetchall()]


async def read_report(conn: Conn, report_id: int) -> tuple[StoredReport, bytes] | None:
    cur = await conn.execute(SELECT_REPORT, [report_id])
    row: tuple[Any, ...] | None = await cur.fetchone()
    if row is None:
        return None
    return StoredReport.from_row(row[:-1]), bytes(row[-1])
