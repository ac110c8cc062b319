"""Resolve the locality fields of an incoming event to current (34-province) units.

Pure: everything comes from the catalogue handed in. The name indexes are built once per catalogue
and kept beside it, because ingest calls `resolve` for every event.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ioc.localities.catalogue import Locality, LocalityCatalogue
from ioc.localities.legacy import LegacyUnit
from ioc.localities.names import name_key, prefer_exact, without_type_prefix

ErrorCode = Literal["unknown_locality", "ambiguous_legacy_locality", "locality_mismatch", "missing_locality"]


@dataclass(frozen=True)
class LocalityRef:
    commune_code: str | None = None
    province_code: str | None = None
    commune_name: str | None = None
    province_name: str | None = None
    legacy_province_code: str | None = None
    legacy_district_code: str | None = None
    legacy_ward_code: str | None = None
    legacy_province_name: str | None = None
    legacy_district_name: str | None = None
    legacy_ward_name: str | None = None


@dataclass(frozen=True)
class Resolved:
    province_code: str
    commune_code: str | None
    converted_from: str | None  # "legacy district 001 (Quận Ba Đình, Thành phố Hà Nội)" or None


class LocalityError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def resolve(ref: LocalityRef, catalogue: LocalityCatalogue) -> Resolved:
    """Current codes win; legacy fields fill in only what the current fields leave open.

    A current commune settles everything. A current province alone accepts a more precise legacy
    ward/district only if that converts into the same province (otherwise `locality_mismatch`).
    """
    index = _index_for(catalogue)
    province, commune = _current(ref, catalogue, index)
    if commune is not None:
        return Resolved(commune.province_code, commune.code, None)
    legacy = _legacy(ref, catalogue, index)
    if province is None:
        if legacy is None:
            raise LocalityError(
                "missing_locality",
                "Thiếu thông tin địa bàn (mã/tên tỉnh, xã) / No locality field given",
            )
        return legacy
    if legacy is None:
        return Resolved(province.code, None, None)
    if legacy.province_code != province.code:
        raise LocalityError(
            "locality_mismatch",
            f"Địa bàn cũ ({legacy.converted_from}) không thuộc {province.name} ({province.code}) / "
            f"legacy locality does not belong to province {province.code}",
        )
    return legacy


# ---------------------------------------------------------------------------- indexes


class _Index:
    def __init__(self, catalogue: LocalityCatalogue) -> None:
        legacy = catalogue.legacy
        self.provinces = _names_index(catalogue.provinces)
        self.communes = _names_index(catalogue.communes)
        self.legacy_provinces = _names_index(legacy.provinces.values())
        self.legacy_districts = _names_index(legacy.districts.values())
        self.legacy_wards = _names_index(legacy.wards.values())


_INDEXES: weakref.WeakKeyDictionary[LocalityCatalogue, _Index] = weakref.WeakKeyDictionary()


def _index_for(catalogue: LocalityCatalogue) -> _Index:
    index = _INDEXES.get(catalogue)
    if index is None:
        index = _INDEXES[catalogue] = _Index(catalogue)
    return index


def _names_index(units: Iterable[Locality | LegacyUnit]) -> dict[str, tuple[str, ...]]:
    codes_by_key: dict[str, list[str]] = {}
    for unit in units:
        for key in {name_key(unit.name), name_key(unit.short_name)}:
            codes_by_key.setdefault(key, []).append(unit.code)
    return {key: tuple(codes) for key, codes in codes_by_key.items()}


def _codes_named(index: dict[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    key = name_key(name)
    found = index.get(key)
    if found is None:
        # "TP Hà Nội", or a type the source got wrong ("Xã Hồng Hà" for Phường Hồng Hà).
        bare = without_type_prefix(key)
        found = index.get(bare, ()) if bare else ()
    return found


def _clean(value: str | None, width: int = 0) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    # Codes often lose their leading zeros on the way through spreadsheets and integer columns.
    return value.zfill(width) if width and value.isdigit() else value


# ---------------------------------------------------------------------------- current units


def _current(ref: LocalityRef, catalogue: LocalityCatalogue, index: _Index) -> tuple[Locality | None, Locality | None]:
    province: Locality | None = None
    province_code = _clean(ref.province_code, 2)
    if province_code is not None:
        province = catalogue.get(province_code)
        if province is None or province.level != "province":
            raise LocalityError(
                "unknown_locality",
                f"Không có tỉnh/thành phố mã '{province_code}' / unknown province code '{province_code}'",
            )
    province_name = _clean(ref.province_name)
    if province_name is not None:
        named = _codes_named(index.provinces, province_name)
        if not named:
            raise LocalityError(
                "unknown_locality",
                f"Không có tỉnh/thành phố tên '{province_name}' / unknown province name '{province_name}'",
            )
        if province is not None and province.code not in named:
            raise LocalityError(
                "locality_mismatch",
                f"Tên tỉnh '{province_name}' không khớp mã {province.code} ({province.name}) / "
                f"province name '{province_name}' does not match code {province.code}",
            )
        province = province or catalogue.get(named[0])

    commune: Locality | None = None
    commune_code = _clean(ref.commune_code, 5)
    if commune_code is not None:
        commune = catalogue.get(commune_code)
        if commune is None or commune.level != "commune":
            raise LocalityError(
                "unknown_locality",
                f"Không có xã/phường/đặc khu mã '{commune_code}' / unknown commune code '{commune_code}'",
            )
    commune_name = _clean(ref.commune_name)
    if commune_name is not None:
        commune = _commune_by_name(commune_name, commune, province, catalogue, index)
    if commune is not None and province is not None and commune.province_code != province.code:
        raise LocalityError(
            "locality_mismatch",
            f"{commune.name} ({commune.code}) không thuộc {province.name} ({province.code}) / "
            f"commune {commune.code} is not in province {province.code}",
        )
    return province, commune


def _commune_by_name(
    name: str,
    by_code: Locality | None,
    province: Locality | None,
    catalogue: LocalityCatalogue,
    index: _Index,
) -> Locality:
    named = _codes_named(index.communes, name)
    if not named:
        raise LocalityError(
            "unknown_locality", f"Không có xã/phường/đặc khu tên '{name}' / unknown commune name '{name}'"
        )
    if by_code is not None:
        if by_code.code not in named:
            raise LocalityError(
                "locality_mismatch",
                f"Tên xã '{name}' không khớp mã {by_code.code} ({by_code.name}) / "
                f"commune name '{name}' does not match code {by_code.code}",
            )
        return by_code
    candidates = [c for c in map(catalogue.get, named) if c is not None]
    if province is not None:
        in_province = [c for c in candidates if c.province_code == province.code]
        if not in_province:
            raise LocalityError(
                "locality_mismatch",
                f"Không có xã/phường tên '{name}' trong {province.name} / "
                f"no commune named '{name}' in province {province.code}",
            )
        candidates = in_province
    candidates = prefer_exact(name, candidates, _names_of)
    if len(candidates) > 1:
        listed = "; ".join(f"{c.name}, {catalogue.province_of(c.code).name} ({c.code})" for c in candidates)
        hint_vi, hint_en = (
            ("cần thêm tỉnh", "give the province")
            if province is None
            else ("cần ghi đúng dấu hoặc dùng mã", "spell it with diacritics or give the code")
        )
        raise LocalityError(
            "unknown_locality",
            f"Tên xã '{name}' trùng ở nhiều nơi, {hint_vi}: {listed} / commune name '{name}' is not unique, {hint_en}",
        )
    return candidates[0]


# ---------------------------------------------------------------------------- legacy units

_LEVEL_VI = {"province": "tỉnh cũ", "district": "huyện cũ", "ward": "xã cũ"}


def _legacy(ref: LocalityRef, catalogue: LocalityCatalogue, index: _Index) -> Resolved | None:
    legacy = catalogue.legacy
    province = _legacy_unit(
        legacy.provinces, index.legacy_provinces, ref.legacy_province_code, ref.legacy_province_name, 2, ()
    )
    district = _legacy_unit(
        legacy.districts,
        index.legacy_districts,
        ref.legacy_district_code,
        ref.legacy_district_name,
        3,
        (province,),
    )
    ward = _legacy_unit(
        legacy.wards, index.legacy_wards, ref.legacy_ward_code, ref.legacy_ward_name, 5, (province, district)
    )
    most_precise = ward or district or province
    if most_precise is None:
        return None
    return _converted(most_precise, catalogue)


def _legacy_unit(
    units: dict[str, LegacyUnit],
    names: dict[str, tuple[str, ...]],
    raw_code: str | None,
    raw_name: str | None,
    width: int,
    parents: tuple[LegacyUnit | None, ...],
) -> LegacyUnit | None:
    code = _clean(raw_code, width)
    name = _clean(raw_name)
    if code is None and name is None:
        return None
    level = next(iter(units.values())).level
    if code is not None:
        unit = units.get(code)
        if unit is None:
            raise LocalityError(
                "unknown_locality",
                f"Không có {_LEVEL_VI[level]} mã '{code}' / unknown legacy {level} code '{code}'",
            )
        candidates = [unit]
    else:
        assert name is not None
        candidates = [units[c] for c in _codes_named(names, name)]
        if not candidates:
            raise LocalityError(
                "unknown_locality",
                f"Không có {_LEVEL_VI[level]} tên '{name}' / unknown legacy {level} name '{name}'",
            )
    inside = [u for u in candidates if all(_is_within(u, parent) for parent in parents)]
    if name is not None:
        inside = prefer_exact(name, inside, _names_of)
    if not inside:
        raise LocalityError(
            "locality_mismatch",
            f"{_LEVEL_VI[level].capitalize()} '{code or name}' không thuộc "
            f"{', '.join(p.full_name for p in parents if p)} / legacy {level} '{code or name}' "
            "is not inside the given legacy province/district",
        )
    if code is not None and name is not None and name_key(name) not in _unit_keys(inside[0]):
        raise LocalityError(
            "locality_mismatch",
            f"Tên '{name}' không khớp {_LEVEL_VI[level]} mã {code} ({inside[0].full_name}) / "
            f"legacy {level} name '{name}' does not match code {code}",
        )
    if len({(u.new_province_code, u.successors) for u in inside}) > 1:
        listed = "; ".join(f"{u.full_name} ({u.code})" for u in inside)
        raise LocalityError(
            "ambiguous_legacy_locality",
            f"Tên {_LEVEL_VI[level]} '{name}' trùng ở nhiều nơi: {listed} / "
            f"legacy {level} name '{name}' matches several units",
        )
    return inside[0]


def _names_of(unit: Locality | LegacyUnit) -> tuple[str, str]:
    return unit.name, unit.short_name


def _unit_keys(unit: LegacyUnit) -> set[str]:
    keys = {name_key(unit.name), name_key(unit.short_name)}
    return keys | {bare for key in keys if (bare := without_type_prefix(key))}


def _is_within(unit: LegacyUnit, parent: LegacyUnit | None) -> bool:
    if parent is None:
        return True
    if parent.level == "province":
        return unit.legacy_province_code == parent.code
    return unit.legacy_district_code == parent.code


def _converted(unit: LegacyUnit, catalogue: LocalityCatalogue) -> Resolved:
    note = f"legacy {unit.level} {unit.code} ({unit.full_name})"
    if unit.level == "ward" and len(unit.successors) > 1:
        listed = "; ".join(_commune_label(code, catalogue) for code in unit.successors)
        raise LocalityError(
            "ambiguous_legacy_locality",
            f"Xã cũ {unit.full_name} ({unit.code}) đã chia cho nhiều xã/phường mới: {listed} / "
            f"legacy ward {unit.code} was split across several current communes",
        )
    commune = unit.successors[0] if len(unit.successors) == 1 else None
    return Resolved(unit.new_province_code, commune, note)


def _commune_label(code: str, catalogue: LocalityCatalogue) -> str:
    commune = catalogue.get(code)
    return f"{commune.name} ({code})" if commune else code
