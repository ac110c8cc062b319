"""Province shapes: derived from commune centres, or loaded from an operator's GeoJSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, shape

from ioc.localities.catalogue import LocalityCatalogue, load_catalogue
from ioc.map.boundaries import (
    BoundaryFileError,
    derive_province_geojson,
    load_province_geojson,
    province_geojson,
    special_zone_labels,
)

PROPERTY_NAMES = {"code", "name", "short_name", "kind", "label_lat", "label_lon"}


@pytest.fixture(scope="module")
def catalogue() -> LocalityCatalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def derived(catalogue: LocalityCatalogue) -> dict[str, Any]:
    return province_geojson(catalogue, None)


def _geometry_of(collection: dict[str, Any], code: str) -> Any:
    (feature,) = [f for f in collection["features"] if f["properties"]["code"] == code]
    return shape(feature["geometry"])


# ---------------------------------------------------------------------------- derived


def test_one_valid_polygonal_feature_per_province(catalogue: LocalityCatalogue, derived: dict[str, Any]) -> None:
    assert derived["type"] == "FeatureCollection"
    assert len(derived["features"]) == 34
    assert [f["properties"]["code"] for f in derived["features"]] == [p.code for p in catalogue.provinces]
    for feature in derived["features"]:
        geometry = shape(feature["geometry"])
        assert geometry.geom_type in ("Polygon", "MultiPolygon")
        assert geometry.is_valid, feature["properties"]["code"]
        assert set(feature["properties"]) == PROPERTY_NAMES
        label = Point(feature["properties"]["label_lon"], feature["properties"]["label_lat"])
        assert geometry.buffer(1e-3).contains(label)


@pytest.mark.parametrize(
    ("province_code", "lat", "lon", "what"),
    [
        ("48", 16.57, 112.14, "Hoàng Sa"),
        ("56", 9.71, 114.45, "Trường Sa"),
        ("01", 21.0567, 105.845, "Phường Hồng Hà"),
        ("79", 10.776, 106.700, "Sài Gòn centre"),
        ("79", 8.698, 106.6115, "Côn Đảo"),
        ("91", 10.2751, 103.991, "Phú Quốc"),
    ],
)
def test_shapes_contain_their_places(
    derived: dict[str, Any], province_code: str, lat: float, lon: float, what: str
) -> None:
    assert _geometry_of(derived, province_code).contains(Point(lon, lat)), what


@pytest.mark.parametrize(("province_code", "lat", "lon"), [("48", 16.57, 112.14), ("56", 9.71, 114.45)])
def test_archipelagos_are_islands_of_their_own(
    derived: dict[str, Any], province_code: str, lat: float, lon: float
) -> None:
    geometry = _geometry_of(derived, province_code)
    assert geometry.geom_type == "MultiPolygon"
    (island,) = [part for part in geometry.geoms if part.contains(Point(lon, lat))]
    assert island.bounds[0] > 110  # well off the mainland coast
    assert island.area > 0.1  # big enough to see at country zoom, not a speck
    others = [f for f in derived["features"] if f["properties"]["code"] != province_code]
    assert not any(shape(f["geometry"]).contains(Point(lon, lat)) for f in others)


def test_it_looks_like_vietnam(derived: dict[str, Any]) -> None:
    # The S: the north is wide, the centre (Quảng Trị / Huế) is narrow, the south widens again.
    def width_at(lat: float) -> float:
        line = shape({"type": "LineString", "coordinates": [[100.0, lat], [108.9, lat]]})
        return float(sum(line.intersection(shape(f["geometry"])).length for f in derived["features"]))

    assert width_at(22.0) > 4.0
    assert width_at(16.8) < 1.5
    assert width_at(10.5) > 2.0
    bounds = [shape(f["geometry"]).bounds for f in derived["features"]]
    assert min(b[1] for b in bounds) < 8.8 and max(b[3] for b in bounds) > 23.2


def test_output_stays_small(derived: dict[str, Any]) -> None:
    encoded = json.dumps(derived, ensure_ascii=False, separators=(",", ":"))
    assert len(encoded.encode()) < 1_500_000
    first_ring = derived["features"][0]["geometry"]["coordinates"][0]
    assert all(len(repr(value).split(".")[-1]) <= 4 for point in first_ring for value in point)


def test_derived_result_is_computed_once(catalogue: LocalityCatalogue, derived: dict[str, Any]) -> None:
    assert province_geojson(catalogue, None) is derived


def test_special_zone_labels(catalogue: LocalityCatalogue, derived: dict[str, Any]) -> None:
    labels = special_zone_labels(catalogue)
    assert [(z["name"], z["province_code"]) for z in labels] == [
        ("Quần đảo Hoàng Sa (Đà Nẵng)", "48"),
        ("Quần đảo Trường Sa (Khánh Hòa)", "56"),
    ]
    assert labels[0]["lat"] == pytest.approx(16.57, abs=0.05)
    assert labels[1]["lon"] == pytest.approx(114.45, abs=0.05)
    assert derived["special_zones"] == labels


# ---------------------------------------------------------------------------- operator file


def _square(lon: float, lat: float, half: float = 0.1) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _synthetic(catalogue: LocalityCatalogue, skip: str | None = None) -> dict[str, Any]:
    """One square per province, identified in the different ways real files do."""
    features = []
    for number, province in enumerate(catalogue.provinces):
        if province.code == skip:
            continue
        identities: list[dict[str, Any]] = [
            {"code": province.code},
            {"ma_tinh": int(province.code)},  # leading zero lost to an integer column
            {"province_code": province.code, "name": "ignored when a code is present"},
            {"ten_tinh": province.name.upper()},
            {"name": province.short_name},
        ]
        identity = identities[number % len(identities)]
        features.append({"type": "Feature", "properties": identity, "geometry": _square(province.lon, province.lat)})
    return {"type": "FeatureCollection", "features": features}


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "provinces.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_loads_an_official_file(tmp_path: Path, catalogue: LocalityCatalogue) -> None:
    path = _write(tmp_path, _synthetic(catalogue))
    loaded = province_geojson(catalogue, path)
    assert len(loaded["features"]) == 34
    for feature, province in zip(loaded["features"], catalogue.provinces, strict=True):
        assert feature["properties"]["code"] == province.code
        assert feature["properties"]["name"] == province.name
        assert set(feature["properties"]) == PROPERTY_NAMES
        assert shape(feature["geometry"]).contains(Point(province.lon, province.lat))
    # the file left the archipelagos out: they are added, so the map still shows them
    assert _geometry_of(loaded, "48").contains(Point(112.14, 16.57))
    assert _geometry_of(loaded, "56").contains(Point(114.45, 9.71))
    assert load_province_geojson(path, catalogue) == loaded


def test_merges_several_features_of_one_province(tmp_path: Path, catalogue: LocalityCatalogue) -> None:
    document = _synthetic(catalogue)
    document["features"].append(
        {"type": "Feature", "properties": {"code": "01"}, "geometry": _square(107.0, 23.0, 0.05)}
    )
    loaded = load_province_geojson(_write(tmp_path, document), catalogue)
    assert _geometry_of(loaded, "01").contains(Point(107.0, 23.0))


@pytest.mark.parametrize(
    ("mutate", "mentions"),
    [
        (lambda doc, cat: _synthetic(cat, skip="92"), "Thành phố Cần Thơ (92)"),
        (lambda doc, cat: {**doc, "type": "Feature"}, "FeatureCollection"),
        (lambda doc, cat: {"type": "FeatureCollection"}, "features"),
        (
            lambda doc, cat: {
                **doc,
                "features": [
                    *doc["features"],
                    {"type": "Feature", "properties": {"code": "77"}, "geometry": _square(1, 1)},
                ],
            },
            "'77'",
        ),
        (
            lambda doc, cat: {
                **doc,
                "features": [
                    *doc["features"],
                    {"type": "Feature", "properties": {"name": "Yên Bái"}, "geometry": _square(1, 1)},
                ],
            },
            "'Yên Bái'",
        ),
        (
            lambda doc, cat: {
                **doc,
                "features": [
                    *doc["features"],
                    {"type": "Feature", "properties": {}, "geometry": _square(1, 1)},
                ],
            },
            "feature #35",
        ),
        (
            lambda doc, cat: {
                **doc,
                "features": [
                    *doc["features"],
                    {
                        "type": "Feature",
                        "properties": {"code": "01"},
                        "geometry": {"type": "Point", "coordinates": [1, 1]},
                    },
                ],
            },
            "Polygon",
        ),
    ],
)
def test_rejects_unusable_files(tmp_path: Path, catalogue: LocalityCatalogue, mutate: Any, mentions: str) -> None:
    path = _write(tmp_path, mutate(_synthetic(catalogue), catalogue))
    with pytest.raises(BoundaryFileError) as caught:
        load_province_geojson(path, catalogue)
    assert mentions in str(caught.value)


def test_rejects_a_file_that_is_not_json(tmp_path: Path, catalogue: LocalityCatalogue) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BoundaryFileError, match="cannot read"):
        load_province_geojson(path, catalogue)


def test_derive_is_deterministic(catalogue: LocalityCatalogue, derived: dict[str, Any]) -> None:
    assert derive_province_geojson(catalogue) == derived
