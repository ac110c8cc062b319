"""Locality catalogue (34 provinces / 3,321 communes) and resolution of event locality fields."""

from __future__ import annotations

import pytest

from ioc.localities.catalogue import LocalityCatalogue, load_catalogue
from ioc.localities.names import name_key
from ioc.localities.resolve import LocalityError, LocalityRef, Resolved, resolve


@pytest.fixture(scope="module")
def catalogue() -> LocalityCatalogue:
    return load_catalogue()


# ---------------------------------------------------------------------------- catalogue


def test_counts_after_the_2025_reform(catalogue: LocalityCatalogue) -> None:
    assert len(catalogue.provinces) == 34
    assert len(catalogue.communes) == 3321
    assert [p.code for p in catalogue.provinces] == sorted(p.code for p in catalogue.provinces)
    assert {p.kind for p in catalogue.provinces} == {"Tỉnh", "Thành phố"}
    assert sum(p.kind == "Thành phố" for p in catalogue.provinces) == 6
    assert {c.kind for c in catalogue.communes} == {"Xã", "Phường", "Đặc khu"}


@pytest.mark.parametrize(
    ("code", "level", "name", "short_name", "kind", "province_code"),
    [
        ("01", "province", "Thành phố Hà Nội", "Hà Nội", "Thành phố", "01"),
        ("56", "province", "Tỉnh Khánh Hòa", "Khánh Hòa", "Tỉnh", "56"),
        ("00097", "commune", "Phường Hồng Hà", "Hồng Hà", "Phường", "01"),
        ("20333", "commune", "Đặc khu Hoàng Sa", "Hoàng Sa", "Đặc khu", "48"),
        ("22736", "commune", "Đặc khu Trường Sa", "Trường Sa", "Đặc khu", "56"),
    ],
)
def test_units_keep_their_diacritics(
    catalogue: LocalityCatalogue,
    code: str,
    level: str,
    name: str,
    short_name: str,
    kind: str,
    province_code: str,
) -> None:
    unit = catalogue.get(code)
    assert unit is not None
    assert (unit.level, unit.name, unit.short_name, unit.kind, unit.province_code) == (
        level,
        name,
        short_name,
        kind,
        province_code,
    )


@pytest.mark.parametrize(
    ("code", "province_name", "lat", "lon"),
    [
        ("20333", "Thành phố Đà Nẵng", 16.57, 112.14),
        ("22736", "Tỉnh Khánh Hòa", 9.71, 114.45),
    ],
)
def test_special_zones_belong_to_their_provinces(
    catalogue: LocalityCatalogue, code: str, province_name: str, lat: float, lon: float
) -> None:
    zone = catalogue.get(code)
    assert zone is not None
    assert catalogue.province_of(code).name == province_name
    assert zone.lat == pytest.approx(lat, abs=0.05)
    assert zone.lon == pytest.approx(lon, abs=0.05)


def test_lookups(catalogue: LocalityCatalogue) -> None:
    assert catalogue.get("99999") is None
    assert catalogue.province_of("01").code == "01"
    with pytest.raises(KeyError):
        catalogue.province_of("99999")
    assert sum(len(catalogue.communes_of(p.code)) for p in catalogue.provinces) == 3321
    hanoi = catalogue.get("01")
    assert hanoi is not None and hanoi.area_km2 == pytest.approx(3360, rel=0.01)


def test_each_legacy_province_went_wholly_into_one_new_province(catalogue: LocalityCatalogue) -> None:
    legacy = catalogue.legacy
    assert (len(legacy.provinces), len(legacy.wards)) == (63, 10035)
    for ward in legacy.wards.values():
        province = legacy.provinces[ward.legacy_province_code]
        assert ward.new_province_code == province.new_province_code
        assert {catalogue.province_of(c).code for c in ward.successors} == {province.new_province_code}
    successors = {c for unit in (*legacy.wards.values(), *legacy.districts.values()) for c in unit.successors}
    assert successors == {c.code for c in catalogue.communes}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Thành phố Hà Nội", "thanhphohanoi"),
        ("  HÀ-NỘI ", "hanoi"),
        ("Đặc khu Hoàng Sa", "dackhuhoangsa"),
        ("Bà Rịa - Vũng Tàu", "bariavungtau"),
    ],
)
def test_name_key(text: str, key: str) -> None:
    assert name_key(text) == key


# ---------------------------------------------------------------------------- resolve

HA_DANG = "legacy ward 00001 (Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội)"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        # current codes
        (LocalityRef(commune_code="00097"), Resolved("01", "00097", None)),
        (LocalityRef(commune_code=" 97 "), Resolved("01", "00097", None)),
        (LocalityRef(province_code="79"), Resolved("79", None, None)),
        (LocalityRef(province_code="1"), Resolved("01", None, None)),
        (LocalityRef(commune_code="00097", province_code="01"), Resolved("01", "00097", None)),
        (LocalityRef(commune_code="22736"), Resolved("56", "22736", None)),
        # a current commune code that is also a legacy ward code: the current field means current
        (LocalityRef(commune_code="09619"), Resolved("01", "09619", None)),
        # current names, with or without accents and type
        (LocalityRef(province_name="Thành phố Hà Nội"), Resolved("01", None, None)),
        (LocalityRef(province_name="ha noi"), Resolved("01", None, None)),
        (LocalityRef(province_name="HÀ NỘI"), Resolved("01", None, None)),
        (LocalityRef(province_name="TP. Hồ Chí Minh"), Resolved("79", None, None)),
        (LocalityRef(province_name="khanh hoa"), Resolved("56", None, None)),
        (LocalityRef(commune_name="Phường Hồng Hà"), Resolved("01", "00097", None)),
        (LocalityRef(commune_name="hong ha", province_name="Hà Nội"), Resolved("01", "00097", None)),
        (LocalityRef(commune_name="Đặc khu Trường Sa"), Resolved("56", "22736", None)),
        # an exact spelling picks one of the names that only the accents tell apart
        (LocalityRef(commune_name="Tân Thành", province_code="80"), Resolved("80", "25534", None)),
        (LocalityRef(commune_name="Tân Thạnh", province_code="80"), Resolved("80", "27826", None)),
        # legacy provinces: each went wholly into one new province
        (
            LocalityRef(legacy_province_code="74"),
            Resolved("79", None, "legacy province 74 (Tỉnh Bình Dương)"),
        ),
        (
            LocalityRef(legacy_province_name="Bình Dương"),
            Resolved("79", None, "legacy province 74 (Tỉnh Bình Dương)"),
        ),
        (
            LocalityRef(legacy_province_name="yen bai"),
            Resolved("15", None, "legacy province 15 (Tỉnh Yên Bái)"),
        ),
        (LocalityRef(legacy_province_code="80"), Resolved("80", None, "legacy province 80 (Tỉnh Long An)")),
        # legacy districts: the new province, and the commune only when there is just one
        (
            LocalityRef(legacy_district_code="001"),
            Resolved("01", None, "legacy district 001 (Quận Ba Đình, Thành phố Hà Nội)"),
        ),
        (
            LocalityRef(legacy_district_code="498"),
            Resolved("48", "20333", "legacy district 498 (Huyện Hoàng Sa, Thành phố Đà Nẵng)"),
        ),
        (
            LocalityRef(legacy_district_name="Huyện Côn Đảo"),
            Resolved("79", "26732", "legacy district 755 (Huyện Côn Đảo, Tỉnh Bà Rịa - Vũng Tàu)"),
        ),
        (
            LocalityRef(legacy_district_name="Châu Thành", legacy_province_name="Kiên Giang"),
            Resolved("91", None, "legacy district 905 (Huyện Châu Thành, Tỉnh Kiên Giang)"),
        ),
        # legacy wards that went whole into one new commune
        (LocalityRef(legacy_ward_code="00001"), Resolved("01", "00097", HA_DANG)),
        (LocalityRef(legacy_ward_code="1", legacy_district_code="001"), Resolved("01", "00097", HA_DANG)),
        (LocalityRef(legacy_ward_name="phuc xa"), Resolved("01", "00097", HA_DANG)),
        (
            LocalityRef(legacy_ward_name="Phường 1", legacy_district_name="Quận 3"),
            Resolved("79", "27154", "legacy ward 27160 (Phường 1, Quận 3, Thành phố Hồ Chí Minh)"),
        ),
        # current fields win; a legacy field only refines a current province it agrees with
        (
            LocalityRef(province_code="79", legacy_province_code="74"),
            Resolved("79", None, "legacy province 74 (Tỉnh Bình Dương)"),
        ),
        (LocalityRef(province_code="01", legacy_ward_code="00001"), Resolved("01", "00097", HA_DANG)),
        (LocalityRef(commune_code="00097", legacy_province_code="74"), Resolved("01", "00097", None)),
    ],
)
def test_resolves(catalogue: LocalityCatalogue, ref: LocalityRef, expected: Resolved) -> None:
    assert resolve(ref, catalogue) == expected


@pytest.mark.parametrize(
    ("ref", "code", "mentions"),
    [
        (LocalityRef(), "missing_locality", ["Thiếu"]),
        (LocalityRef(commune_code="  ", province_name=""), "missing_locality", ["Thiếu"]),
        (LocalityRef(commune_code="99999"), "unknown_locality", ["'99999'"]),
        (LocalityRef(commune_code="01"), "unknown_locality", ["'00001'"]),
        (LocalityRef(province_code="77"), "unknown_locality", ["'77'", "tỉnh"]),
        (LocalityRef(province_name="Atlantis"), "unknown_locality", ["'Atlantis'"]),
        # Yên Bái no longer exists; only the legacy field knows it
        (LocalityRef(province_name="Yên Bái"), "unknown_locality", ["'Yên Bái'"]),
        (LocalityRef(legacy_ward_code="99999"), "unknown_locality", ["'99999'", "legacy ward"]),
        (LocalityRef(legacy_district_name="Quận Không Có"), "unknown_locality", ["'Quận Không Có'"]),
        (
            LocalityRef(commune_name="Tân Thành"),
            "unknown_locality",
            ["cần thêm tỉnh", "Tỉnh Tây Ninh (25534)"],
        ),
        # a legacy ward split across several new communes: the candidates are named
        (
            LocalityRef(legacy_ward_code="09619"),
            "ambiguous_legacy_locality",
            ["Thị trấn Tây Đằng", "Xã Quảng Oai (09619)", "Xã Minh Châu (09661)"],
        ),
        (
            LocalityRef(legacy_ward_name="Xã Hồng Hà", legacy_district_name="Đan Phượng"),
            "ambiguous_legacy_locality",
            ["Xã Hồng Hà, Huyện Đan Phượng", "(08980)", "(09817)"],
        ),
        # a legacy name shared by several units in different places
        (LocalityRef(legacy_district_name="Châu Thành"), "ambiguous_legacy_locality", ["Tỉnh Bến Tre (831)"]),
        (LocalityRef(legacy_ward_name="Phường 1"), "ambiguous_legacy_locality", ["Quận 3"]),
        # contradictions
        (
            LocalityRef(commune_code="26732", province_code="01"),
            "locality_mismatch",
            ["26732", "Thành phố Hà Nội"],
        ),
        (LocalityRef(commune_code="00097", province_name="Hồ Chí Minh"), "locality_mismatch", ["00097"]),
        (LocalityRef(commune_code="00097", commune_name="Ba Đình"), "locality_mismatch", ["'Ba Đình'"]),
        (LocalityRef(province_code="01", province_name="Đà Nẵng"), "locality_mismatch", ["'Đà Nẵng'"]),
        (LocalityRef(commune_name="Hồng Hà", province_code="79"), "locality_mismatch", ["'Hồng Hà'"]),
        (
            LocalityRef(province_code="01", legacy_province_code="74"),
            "locality_mismatch",
            ["Tỉnh Bình Dương"],
        ),
        (
            LocalityRef(legacy_ward_code="00001", legacy_district_code="002"),
            "locality_mismatch",
            ["'00001'", "Quận Hoàn Kiếm"],
        ),
        (
            LocalityRef(legacy_province_code="74", legacy_province_name="Đồng Nai"),
            "locality_mismatch",
            ["'Đồng Nai'"],
        ),
    ],
)
def test_rejects(catalogue: LocalityCatalogue, ref: LocalityRef, code: str, mentions: list[str]) -> None:
    with pytest.raises(LocalityError) as caught:
        resolve(ref, catalogue)
    assert caught.value.code == code
    for text in mentions:
        assert text in caught.value.message
    assert " / " in caught.value.message  # Vietnamese first, English second
