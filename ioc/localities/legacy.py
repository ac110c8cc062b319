"""The 63-province units in use until 30 June 2025, and the current units each one became.

Many source systems still emit these codes and names. The mapping comes from the converter data
bundled with `vietnamadminunits` (`converter_2025.json`), which the package only exposes through a
slow, name-parsing `convert_address`; here it is read once into code-keyed tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

LegacyLevel = Literal["province", "district", "ward"]


@dataclass(frozen=True)
class LegacyUnit:
    code: str  # 2 digits (province), 3 (district) or 5 (ward)
    level: LegacyLevel
    name: str  # "Quận Ba Đình"
    short_name: str  # "Ba Đình"
    full_name: str  # "Quận Ba Đình, Thành phố Hà Nội"
    legacy_province_code: str
    legacy_district_code: str | None  # None for a province
    new_province_code: str
    # Current commune codes the unit's territory went to; empty for a province (too many to matter).
    successors: tuple[str, ...]


class LegacyCatalogue:
    def __init__(self, units: Iterable[LegacyUnit]) -> None:
        self.provinces: dict[str, LegacyUnit] = {}
        self.districts: dict[str, LegacyUnit] = {}
        self.wards: dict[str, LegacyUnit] = {}
        tables: dict[LegacyLevel, dict[str, LegacyUnit]] = {
            "province": self.provinces,
            "district": self.districts,
            "ward": self.wards,
        }
        for unit in units:
            tables[unit.level][unit.code] = unit


def build_legacy_units(
    legacy_rows: Iterable[Mapping[str, Any]],
    current_rows: Iterable[Mapping[str, Any]],
    converter: Mapping[str, Any],
) -> list[LegacyUnit]:
    """Join legacy rows to current communes through the converter's name keys.

    The converter speaks in keys ("thanhphohanoi_quanbadinh_phuongphucxa" -> "phuongbadinh" within
    "thanhphohanoi"); islands districts without wards appear with an empty ward part.
    """
    new_province_by_key: dict[str, str] = {}
    new_commune_by_key: dict[tuple[str, str], str] = {}
    for row in current_rows:
        new_province_by_key[row["provinceKey"]] = str(row["provinceCode"])
        new_commune_by_key[(row["provinceKey"], row["wardKey"])] = str(row["wardCode"])

    new_province_key_of_old: dict[str, str] = {
        old: new for new, olds in converter["DICT_PROVINCE"].items() for old in olds
    }
    successors_of_key: dict[str, tuple[str, ...]] = {}
    for new_province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward, old_keys in wards.items():
            for old_key in old_keys:
                successors_of_key[old_key] = (new_commune_by_key[(new_province, new_ward)],)
    for new_province, splits in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in splits.items():
            successors_of_key[old_key] = tuple(
                sorted({new_commune_by_key[(new_province, part["newWardKey"])] for part in parts})
            )

    units: list[LegacyUnit] = []
    provinces: dict[str, LegacyUnit] = {}
    district_rows: dict[str, tuple[Mapping[str, Any], set[str]]] = {}
    for row in legacy_rows:
        province_code = str(row["provinceCode"])
        district_code = str(row["districtCode"])
        new_province = new_province_by_key[new_province_key_of_old[row["provinceKey"]]]
        old_key = f"{row['provinceKey']}_{row['districtKey']}_{row['wardKey'] or ''}"
        ward_successors = successors_of_key[old_key]
        if province_code not in provinces:
            provinces[province_code] = LegacyUnit(
                code=province_code,
                level="province",
                name=row["province"],
                short_name=row["provinceShort"],
                full_name=row["province"],
                legacy_province_code=province_code,
                legacy_district_code=None,
                new_province_code=new_province,
                successors=(),
            )
        district_rows.setdefault(district_code, (row, set()))[1].update(ward_successors)
        if row["wardCode"]:
            units.append(
                LegacyUnit(
                    code=str(row["wardCode"]),
                    level="ward",
                    name=row["ward"],
                    short_name=row["wardShort"],
                    full_name=f"{row['ward']}, {row['district']}, {row['province']}",
                    legacy_province_code=province_code,
                    legacy_district_code=district_code,
                    new_province_code=new_province,
                    successors=ward_successors,
                )
            )
    for district_code, (row, successors) in district_rows.items():
        units.append(
            LegacyUnit(
                code=district_code,
                level="district",
                name=row["district"],
                short_name=row["districtShort"],
                full_name=f"{row['district']}, {row['province']}",
                legacy_province_code=str(row["provinceCode"]),
                legacy_district_code=district_code,
                new_province_code=provinces[str(row["provinceCode"])].new_province_code,
                successors=tuple(sorted(successors)),
            )
        )
    return [*provinces.values(), *units]


_LEGACY_FIELDS = [
    "province",
    "district",
    "ward",
    "provinceShort",
    "districtShort",
    "wardShort",
    "provinceCode",
    "districtCode",
    "wardCode",
    "provinceKey",
    "districtKey",
    "wardKey",
]


def load_legacy_catalogue() -> LegacyCatalogue:
    from vietnamadminunits.database import get_data

    converter_file = resources.files("vietnamadminunits").joinpath("data", "converter_2025.json")
    converter = json.loads(converter_file.read_text(encoding="utf-8"))
    units = build_legacy_units(
        get_data(fields=_LEGACY_FIELDS, table="admin_units_legacy"),
        get_data(fields=["provinceKey", "provinceCode", "wardKey", "wardCode"], table="admin_units"),
        converter,
    )
    return LegacyCatalogue(units)
