"""Province shapes as GeoJSON: an operator's official file, or shapes derived from commune centres.

No official boundary data ships with the product, so with no file configured the map still needs
something Vietnam-shaped: every commune takes its Voronoi cell around its centre point, trimmed to
a disc sized from its area (so cells at the coast and the borders do not run off to the edge of the
diagram), and the cells are dissolved per province. The special zones Hoàng Sa and Trường Sa stay
their own island polygons of Đà Nẵng and Khánh Hòa, as every map of Vietnam must show them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from ioc.localities.catalogue import Locality, LocalityCatalogue, load_catalogue
from ioc.localities.resolve import LocalityError, LocalityRef, resolve

# The archipelagos' communes, with the names maps show for them.
SPECIAL_ZONE_LABELS: Mapping[str, str] = {
    "20333": "Quần đảo Hoàng Sa (Đà Nẵng)",
    "22736": "Quần đảo Trường Sa (Khánh Hòa)",
}

# Geometry is built in a sinusoidal projection centred on Vietnam, in degrees of latitude, so a
# buffer of radius r is a circle on the ground rather than an ellipse stretched east-west.
_CENTRAL_LON = 106.0
_KM_PER_DEGREE = 111.2
# A commune's own disc: this many times the radius of a circle of its area. Generous so that
# neighbouring discs overlap and the Voronoi cells, not the discs, draw the inland borders.
_DISC_SCALE = 1.8
_MAX_DISC_DEG = 0.22  # caps the overhang into the sea of the largest coastal communes
# An island of a few km² would otherwise vanish at country zoom; the far archipelagos get more.
_ISLAND_MIN_DISC_DEG = 0.1
_ARCHIPELAGO_MIN_DISC_DEG = 0.25
_FALLBACK_AREA_KM2 = 70.0  # about the median commune, for the few without an area
_SIMPLIFY_DEG = 0.004
_GRID_DEG = 1e-4  # four decimals, about 11 m: ample for a country map, and keeps the file small


class BoundaryFileError(Exception):
    """The configured boundary file cannot serve as the province map (stops start-up)."""


# ---------------------------------------------------------------------------- derived shapes


def derive_province_geojson(catalogue: LocalityCatalogue) -> dict[str, Any]:
    """A FeatureCollection of 34 province (multi)polygons derived from commune centre points."""
    communes = catalogue.communes
    lons = np.array([c.lon for c in communes])
    lats = np.array([c.lat for c in communes])
    xs, ys = _project(lons, lats)
    points = shapely.points(xs, ys)
    radii = np.array([_disc_radius(c) for c in communes])

    extent = shapely.box(xs.min() - 2, ys.min() - 2, xs.max() + 2, ys.max() + 2)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent, ordered=True))
    discs = shapely.buffer(points, radii, quad_segs=8)
    trimmed = shapely.intersection(cells, discs)

    cells_by_province: dict[str, list[BaseGeometry]] = {p.code: [] for p in catalogue.provinces}
    points_by_province: dict[str, list[BaseGeometry]] = {p.code: [] for p in catalogue.provinces}
    for commune, cell, point in zip(communes, trimmed, points, strict=True):
        cells_by_province[commune.province_code].append(cell)
        points_by_province[commune.province_code].append(point)

    features = []
    for province in catalogue.provinces:
        dissolved = shapely.union_all(shapely.set_precision(cells_by_province[province.code], 1e-6))
        projected = _solid_parts(dissolved, shapely.multipoints(points_by_province[province.code]))
        simplified = shapely.simplify(projected, _SIMPLIFY_DEG, preserve_topology=True)
        geometry = _as_polygonal(shapely.set_precision(_unproject(simplified), _GRID_DEG))
        features.append(_feature(province, geometry))
    return {
        "type": "FeatureCollection",
        "features": features,
        "special_zones": special_zone_labels(catalogue),
    }


def special_zone_labels(catalogue: LocalityCatalogue) -> list[dict[str, Any]]:
    """Label points for Hoàng Sa and Trường Sa: name, code, province_code, lat, lon."""
    labels = []
    for code, label in SPECIAL_ZONE_LABELS.items():
        zone = catalogue.get(code)
        if zone is None:
            raise LookupError(f"special zone {code} missing from the locality catalogue")
        labels.append(
            {
                "code": code,
                "name": label,
                "province_code": zone.province_code,
                "lat": zone.lat,
                "lon": zone.lon,
            }
        )
    return labels


def _solid_parts(geometry: BaseGeometry, centres: BaseGeometry) -> BaseGeometry:
    # Holes are gaps between the discs of small communes, not enclaves (no province has any), and
    # a part holding no commune centre is a sliver of the trimming, not land.
    shells = [
        Polygon(part.exterior)
        for part in shapely.get_parts(geometry)
        if isinstance(part, Polygon) and part.intersects(centres)
    ]
    return shapely.union_all(shells)


def _disc_radius(commune: Locality) -> float:
    area = commune.area_km2 or _FALLBACK_AREA_KM2
    radius = min(_DISC_SCALE * math.sqrt(area / math.pi) / _KM_PER_DEGREE, _MAX_DISC_DEG)
    if commune.code in SPECIAL_ZONE_LABELS:
        radius = max(radius, _ARCHIPELAGO_MIN_DISC_DEG)
    elif commune.kind == "Đặc khu":
        radius = max(radius, _ISLAND_MIN_DISC_DEG)
    return radius


def _project(lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (lons - _CENTRAL_LON) * np.cos(np.radians(lats)), lats


def _unproject(geometry: BaseGeometry) -> BaseGeometry:
    def back(coords: np.ndarray) -> np.ndarray:
        lats = coords[:, 1]
        lons = coords[:, 0] / np.cos(np.radians(lats)) + _CENTRAL_LON
        return np.column_stack([lons, lats])

    return shapely.transform(geometry, back)


# ---------------------------------------------------------------------------- official file


def load_province_geojson(path: Path, catalogue: LocalityCatalogue | None = None) -> dict[str, Any]:
    """An operator's province boundary file, normalised to the derived output's schema.

    Each feature is matched to a current province by `code` / `ma_tinh` / `province_code`, or
    else by a name (`name`, `ten_tinh`, `province_name`, `short_name`) matched as `resolve` does.
    Several features of one province are merged. A file that leaves out the archipelagos gets
    the derived island polygons added, so the map always shows Hoàng Sa and Trường Sa.
    """
    catalogue = catalogue or load_catalogue()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BoundaryFileError(f"Không đọc được tệp ranh giới {path} / cannot read boundary file: {error}") from error
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise BoundaryFileError(f"Tệp {path} không phải FeatureCollection / {path} is not a GeoJSON FeatureCollection")
    raw_features = document.get("features")
    if not isinstance(raw_features, list):
        raise BoundaryFileError(f"Tệp {path} thiếu danh sách features / {path} has no features list")

    parts: dict[str, list[BaseGeometry]] = {}
    for number, raw in enumerate(raw_features, start=1):
        code, geometry = _read_feature(raw, number, catalogue)
        parts.setdefault(code, []).append(geometry)

    missing = [p for p in catalogue.provinces if p.code not in parts]
    if missing:
        listed = ", ".join(f"{p.name} ({p.code})" for p in missing)
        raise BoundaryFileError(f"Tệp {path} thiếu tỉnh/thành phố: {listed} / provinces missing from {path}")

    islands = _special_zone_islands(catalogue)
    features = []
    for province in catalogue.provinces:
        geometry = shapely.union_all(parts[province.code])
        for zone, island in islands.get(province.code, []):
            if not geometry.covers(shapely.Point(zone.lon, zone.lat)):
                geometry = geometry.union(island)
        features.append(_feature(province, _as_polygonal(geometry)))
    return {
        "type": "FeatureCollection",
        "features": features,
        "special_zones": special_zone_labels(catalogue),
    }


def _read_feature(raw: Any, number: int, catalogue: LocalityCatalogue) -> tuple[str, BaseGeometry]:
    where = f"feature #{number}"
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        raise BoundaryFileError(f"{where} không phải Feature / {where} is not a GeoJSON Feature")
    properties = raw.get("properties") or {}
    geometry_json = raw.get("geometry") or {}
    if geometry_json.get("type") not in ("Polygon", "MultiPolygon"):
        raise BoundaryFileError(f"{where}: hình học phải là Polygon/MultiPolygon / geometry must be polygonal")
    try:
        geometry = shape(geometry_json)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as error:
        raise BoundaryFileError(f"{where}: hình học hỏng / malformed geometry: {error}") from error
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    return _province_code_of(properties, where, catalogue), geometry


_CODE_PROPERTIES = ("code", "ma_tinh", "province_code")
_NAME_PROPERTIES = ("name", "ten_tinh", "province_name", "short_name")


def _province_code_of(properties: Mapping[str, Any], where: str, catalogue: LocalityCatalogue) -> str:
    code = next((str(properties[k]) for k in _CODE_PROPERTIES if properties.get(k) not in (None, "")), None)
    name = next((str(properties[k]) for k in _NAME_PROPERTIES if properties.get(k) not in (None, "")), None)
    if code is None and name is None:
        raise BoundaryFileError(
            f"{where}: thiếu mã hoặc tên tỉnh (code, ma_tinh, province_code, name, ten_tinh) / "
            f"{where} names no province"
        )
    # A code settles it; the name is only a fallback (files often carry English or old names).
    ref = LocalityRef(province_code=code) if code is not None else LocalityRef(province_name=name)
    try:
        return resolve(ref, catalogue).province_code
    except LocalityError as error:
        raise BoundaryFileError(f"{where}: {error.message}") from error


def _special_zone_islands(catalogue: LocalityCatalogue) -> dict[str, list[tuple[Locality, BaseGeometry]]]:
    islands: dict[str, list[tuple[Locality, BaseGeometry]]] = {}
    for code in SPECIAL_ZONE_LABELS:
        zone = catalogue.get(code)
        if zone is None:
            continue
        x, y = _project(np.array([zone.lon]), np.array([zone.lat]))
        disc = shapely.Point(float(x[0]), float(y[0])).buffer(_disc_radius(zone), quad_segs=8)
        island = shapely.set_precision(_unproject(disc), _GRID_DEG)
        islands.setdefault(zone.province_code, []).append((zone, island))
    return islands


# ---------------------------------------------------------------------------- shared


@lru_cache(maxsize=4)
def _derived_for(catalogue: LocalityCatalogue) -> dict[str, Any]:
    return derive_province_geojson(catalogue)


def province_geojson(catalogue: LocalityCatalogue, path: Path | None) -> dict[str, Any]:
    """The operator's file when configured, else the derived shapes (computed once). Read-only."""
    if path is not None:
        return load_province_geojson(path, catalogue)
    return _derived_for(catalogue)


def _as_polygonal(geometry: BaseGeometry) -> Polygon | MultiPolygon:
    polygons = [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon) and not g.is_empty]
    nested = [g for g in shapely.get_parts(geometry) if isinstance(g, MultiPolygon)]
    polygons += [p for m in nested for p in m.geoms]
    if not polygons:
        raise ValueError("no polygon left")
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _feature(province: Locality, geometry: Polygon | MultiPolygon) -> dict[str, Any]:
    if not geometry.is_valid:
        geometry = _as_polygonal(shapely.make_valid(geometry))
    label = _label_point(province, geometry)
    return {
        "type": "Feature",
        "properties": {
            "code": province.code,
            "name": province.name,
            "short_name": province.short_name,
            "kind": province.kind,
            "label_lat": round(label.y, 4),
            "label_lon": round(label.x, 4),
        },
        "geometry": _rounded(mapping(geometry)),
    }


def _label_point(province: Locality, geometry: Polygon | MultiPolygon) -> shapely.Point:
    """The province's own centre if it falls on its main land polygon, else a point inside that."""
    main = max(shapely.get_parts(geometry), key=lambda part: part.area)
    centre = shapely.Point(province.lon, province.lat)
    return centre if main.contains(centre) else main.point_on_surface()


def _rounded(value: Any) -> Any:
    # set_precision already snapped to the grid; this drops float noise such as 105.80000000000001.
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
