"""The places indicators are reported for — provinces, communes, agencies — that a scope touches.

Provinces: those granted and those of granted communes. Communes (of one province, or all): every
commune of a granted province, and granted communes. Agencies: those of granted provinces or
communes, narrowed to the scope's agencies when it names some. Agencies and sectors narrow the
counts, not the list of localities (as in ioc/status.py). The list is what the caller may see;
the numbers of each place are then counted over in-scope rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ioc.auth.scope import Scope
from ioc.db.pool import Conn

Level = Literal["province", "commune", "agency"]

SELECT_PROVINCES = """
SELECT l.code, l.name, l.province_code FROM locality l
WHERE l.level = 'province' AND (%(only)s::text IS NULL OR l.code = %(only)s)
  AND (%(scope_national)s OR l.code = ANY(%(scope_provinces)s::text[])
       OR l.code IN (SELECT c.province_code FROM locality c WHERE c.code = ANY(%(scope_communes)s::text[])))
ORDER BY l.code
"""
SELECT_COMMUNES = """
SELECT l.code, l.name, l.province_code FROM locality l
WHERE l.level = 'commune' AND (%(province)s::text IS NULL OR l.province_code = %(province)s)
  AND (%(only)s::text IS NULL OR l.code = %(only)s)
  AND (%(scope_national)s OR l.province_code = ANY(%(scope_provinces)s::text[])
       OR l.code = ANY(%(scope_communes)s::text[]))
ORDER BY l.code
"""
SELECT_AGENCIES = """
SELECT a.code, a.name, a.province_code FROM agency a
WHERE (%(province)s::text IS NULL OR a.province_code = %(province)s)
  AND (%(only)s::text IS NULL OR a.code = %(only)s)
  AND (%(scope_national)s OR a.province_code = ANY(%(scope_provinces)s::text[])
       OR a.commune_code = ANY(%(scope_communes)s::text[]))
  AND (%(scope_agencies)s::text[] IS NULL OR a.code = ANY(%(scope_agencies)s::text[]))
ORDER BY a.code
"""


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    province_code: str


async def places(
    conn: Conn, scope: Scope, level: Level, province_code: str | None = None, only: str | None = None
) -> list[Place]:
    """The places of `level` the scope touches (in `province_code`, or just `only`, when given)."""
    params = {**scope.sql_params(), "province": province_code, "only": only}
    if level == "province":
        params["only"] = only or province_code
        sql = SELECT_PROVINCES
    else:
        sql = SELECT_COMMUNES if level == "commune" else SELECT_AGENCIES
    cur = await conn.execute(sql, params)
    return [Place(str(code), str(name), str(province)) for code, name, province in await cur.fetchall()]
