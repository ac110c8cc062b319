"""The current (since 1 July 2025) provinces and communes, read from `vietnamadminunits`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from ioc.localities.legacy import LegacyCatalogue, load_legacy_catalogue

LocalityLevel = Literal["province", "commune"]


@dataclass(frozen=True)
class Locality:
    code: str  # 2 digits for a province, 5 for a commune
    level: LocalityLevel
    name: str  # "Thành phố Hà Nội", "Phường Hồng Hà"
    short_name: str  # "Hà Nội", "Hồng Hà"
    kind: str  # "Thành phố", "Tỉnh", "Phường", "Xã", "Đặc khu"
    province_code: str  # a province's own code for provinces
    lat: float
    lon: float
    area_km2: float | None


class LocalityCatalogue:
    """All current units, looked up by code. Build once (see `load_catalogue`) and share."""

    def __init__(self, provinces: Iterable[Locality], communes: Iterable[Locality], legacy: LegacyCatalogue) -> None:
        self.provinces: tuple[Locality, ...] = tuple(sorted(provinces, key=lambda p: p.code))
        self.communes: tuple[Locality, ...] = tuple(sorted(communes, key=lambda c: c.code))
        self.legacy = legacy
        self._by_code: dict[str, Locality] = {u.code: u for u in (*self.provinces, *self.communes)}
        if len(self._by_code) != len(self.provinces) + len(self.communes):
            raise ValueError("duplicate locality code in catalogue")
        communes_of: dict[str, list[Locality]] = {p.code: [] for p in self.provinces}
        for commune in self.communes:
            communes_of[commune.province_code].append(commune)
        self._communes_of = {code: tuple(units) for code, units in communes_of.items()}

    def get(self, code: str) -> Locality | None:
        return self._by_code.get(code)

    def province_of(self, code: str) -> Locality:
        """The province of a province or commune code; KeyError for an unknown code."""
        return self._by_code[self._by_code[code].province_code]

    def province_code_of(self, code: str) -> str | None:
        """The province code of a province or commune code; None for an unknown code."""
        unit = self._by_code.get(code)
        return unit.province_code if unit is not None else None

    def communes_of(self, province_code: str) -> tuple[Locality, ...]:
        return self._communes_of.get(province_code, ())


def _kind_of(full_name: str, short_name: str) -> str:
    # The package has no province type column; the type is whatever precedes the short name.
    return full_name.removesuffix(short_name).strip()


def build_localities(rows: Iterable[Mapping[str, Any]]) -> tuple[list[Locality], list[Locality]]:
    """Provinces and communes from `admin_units` rows (one row per commune)."""
    communes: list[Locality] = []
    provinces: dict[str, Locality] = {}
    area_by_province: dict[str, float] = {}
    for row in rows:
        province_code = str(row["provinceCode"])
        area = row["wardAreaKm2"]
        communes.append(
            Locality(
                code=str(row["wardCode"]),
                level="commune",
                name=str(row["ward"]),
                short_name=str(row["wardShort"]),
                kind=str(row["wardType"]),
                province_code=province_code,
                lat=float(row["wardLat"]),
                lon=float(row["wardLon"]),
                area_km2=None if area is None else float(area),
            )
        )
        area_by_province[province_code] = area_by_province.get(province_code, 0.0) + float(area or 0.0)
        if province_code not in provinces:
            provinces[province_code] = Locality(
                code=province_code,
                level="province",
                name=str(row["province"]),
                short_name=str(row["provinceShort"]),
                kind=_kind_of(str(row["province"]), str(row["provinceShort"])),
                province_code=province_code,
                lat=float(row["provinceLat"]),
                lon=float(row["provinceLon"]),
                area_km2=None,
            )
    with_areas = [replace(p, area_km2=round(area_by_province[p.code], 2)) for p in provinces.values()]
    return with_areas, communes


_CURRENT_FIELDS = [
    "province",
    "ward",
    "provinceShort",
    "wardShort",
    "wardType",
    "provinceCode",
    "provinceLat",
    "provinceLon",
    "wardCode",
    "wardLat",
    "wardLon",
    "wardAreaKm2",
]


@lru_cache(maxsize=1)
def load_catalogue() -> LocalityCatalogue:
    """The catalogue from the installed `vietnamadminunits` package (read once per process)."""
    from vietnamadminunits.database import get_data  # the package's public query API

    provinces, communes = build_localities(get_data(fields=_CURRENT_FIELDS, table="admin_units"))
    return LocalityCatalogue(provinces, communes, load_legacy_catalogue())
