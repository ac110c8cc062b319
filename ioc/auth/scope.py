"""Scopes: which localities (and optionally which agencies and sectors) a principal may see.

A scope grants whole provinces and single communes; a row is in scope when its province is
granted or its commune is. Agencies and sectors, when given, narrow that further, strictly: a row
without an agency (or sector) is outside a scope that names agencies (or sectors), because such a
row is an aggregate over agencies the principal was not given. A national scope grants every
locality. Pure: no I/O, so the same rule serves SQL filters, live deltas and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ScopeError(ValueError):
    """A scope that cannot be granted (unknown keys or localities, or an empty grant)."""


def _codes(values: Iterable[Any] | None, what: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ScopeError(f"{what} must be a list of codes")
    out = set()
    for value in values:
        if not isinstance(value, str) or not value or len(value) > 64:
            raise ScopeError(f"{what} must hold non-empty codes of at most 64 characters")
        out.add(value)
    return frozenset(out)


@dataclass(frozen=True)
class Scope:
    national: bool = False
    provinces: frozenset[str] = frozenset()
    communes: frozenset[str] = frozenset()
    # None = every agency / sector; a set narrows the grant to those.
    agencies: frozenset[str] | None = None
    sectors: frozenset[str] | None = None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def everything(cls) -> Scope:
        return cls(national=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        unknown = set(data) - {"national", "provinces", "communes", "agencies", "sectors"}
        if unknown:
            raise ScopeError(f"unknown scope keys: {', '.join(sorted(unknown))}")
        national = data.get("national", False)
        if not isinstance(national, bool):
            raise ScopeError("national must be true or false")
        agencies, sectors = data.get("agencies"), data.get("sectors")
        scope = cls(
            national=national,
            provinces=_codes(data.get("provinces"), "provinces"),
            communes=_codes(data.get("communes"), "communes"),
            agencies=None if agencies is None else _codes(agencies, "agencies"),
            sectors=None if sectors is None else _codes(sectors, "sectors"),
        )
        if not scope.national and not scope.provinces and not scope.communes:
            raise ScopeError("a scope needs national: true or at least one province or commune")
        if scope.national and (scope.provinces or scope.communes):
            raise ScopeError("a national scope lists no provinces or communes")
        if scope.agencies == frozenset() or scope.sectors == frozenset():
            raise ScopeError("agencies and sectors are either omitted (all) or a non-empty list")
        return scope

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"national": self.national}
        if not self.national:
            out["provinces"] = sorted(self.provinces)
            out["communes"] = sorted(self.communes)
        out["agencies"] = None if self.agencies is None else sorted(self.agencies)
        out["sectors"] = None if self.sectors is None else sorted(self.sectors)
        return out

    @property
    def key(self) -> str:
        """A stable text form: equal scopes share a key (live views are keyed by it)."""
        parts = [
            "N" if self.national else "P:" + ",".join(sorted(self.provinces)) + ";C:" + ",".join(sorted(self.communes))
        ]
        parts.append("A:*" if self.agencies is None else "A:" + ",".join(sorted(self.agencies)))
        parts.append("S:*" if self.sectors is None else "S:" + ",".join(sorted(self.sectors)))
        return "|".join(parts)

    @property
    def unrestricted(self) -> bool:
        """National with every agency and sector: filters are no-ops."""
        return self.national and self.agencies is None and self.sectors is None

    # -- checks ---------------------------------------------------------------------------

    def allows_locality(self, province_code: str | None, commune_code: str | None = None) -> bool:
        if self.national:
            return True
        return (province_code in self.provinces) or (bool(commune_code) and commune_code in self.communes)

    def allows(
        self,
        province_code: str | None,
        commune_code: str | None = None,
        agency_code: str | None = None,
        sector: str | None = None,
    ) -> bool:
        if not self.allows_locality(province_code, commune_code):
            return False
        if self.agencies is not None and agency_code not in self.agencies:
            return False
        return self.sectors is None or sector in self.sectors

    def provinces_touched(self, province_of: Callable[[str], str | None]) -> frozenset[str] | None:
        """The provinces whose rows this scope can see (None: every province, for a national scope).

        A granted commune makes its province touched: the province row then counts that commune only.
        """
        if self.national:
            return None
        of_communes = {province_of(code) for code in self.communes}
        return self.provinces | {code for code in of_communes if code is not None}

    def sees_whole_province(self, province_code: str) -> bool:
        """Whether a province-wide aggregate over every agency and sector is in scope."""
        return (self.national or province_code in self.provinces) and self.agencies is None and self.sectors is None

    # -- SQL ------------------------------------------------------------------------------

    def sql_params(self) -> dict[str, Any]:
        """Bound parameters for `scope_filter_sql`."""
        return {
            "scope_national": self.national,
            "scope_provinces": sorted(self.provinces),
            "scope_communes": sorted(self.communes),
            "scope_agencies": None if self.agencies is None else sorted(self.agencies),
            "scope_sectors": None if self.sectors is None else sorted(self.sectors),
        }


def scope_filter_sql(
    *,
    province: str = "province_code",
    commune: str = "commune_code",
    agency: str | None = "agency_code",
    sector: str | None = "sector",
) -> str:
    """A WHERE fragment that keeps only in-scope rows; bind it with `Scope.sql_params()`.

    Pass `agency=None` / `sector=None` for tables without that column: rows of such a table are
    then outside any scope that names agencies / sectors (the strict rule above).
    """
    parts = [
        f"(%(scope_national)s OR {province} = ANY(%(scope_provinces)s::text[])"
        f" OR {commune} = ANY(%(scope_communes)s::text[]))"
    ]
    parts.append(
        f"(%(scope_agencies)s::text[] IS NULL OR {agency} = ANY(%(scope_agencies)s::text[]))"
        if agency
        else "%(scope_agencies)s::text[] IS NULL"
    )
    parts.append(
        f"(%(scope_sectors)s::text[] IS NULL OR {sector} = ANY(%(scope_sectors)s::text[]))"
        if sector
        else "%(scope_sectors)s::text[] IS NULL"
    )
    return "(" + " AND ".join(parts) + ")"
