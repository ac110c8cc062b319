"""An operator-configured province GeoJSON replaces the derived shapes on the map; a broken one
stops the API at start-up instead of failing on the first page load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ioc.api.frontend import frontend_router
from ioc.app import create_app
from ioc.localities.catalogue import load_catalogue
from ioc.map.boundaries import BoundaryFileError
from ioc.settings import PROJECT_ROOT, Settings

HALF = 0.05  # degrees: a square far smaller than any derived province shape


def official_file(path: Path, leave_out: str | None = None) -> Path:
    features: list[dict[str, Any]] = []
    for p in load_catalogue().provinces:
        if p.code == leave_out:
            continue
        ring = [[p.lon - HALF, p.lat - HALF], [p.lon + HALF, p.lat - HALF], [p.lon + HALF, p.lat + HALF],
                [p.lon - HALF, p.lat + HALF], [p.lon - HALF, p.lat - HALF]]  # fmt: skip
        features.append({"type": "Feature", "properties": {"ma_tinh": p.code, "ten_tinh": p.name},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    points = [pt for polygon in polygons for ring in polygon for pt in ring]
    xs, ys = [pt[0] for pt in points], [pt[1] for pt in points]
    return min(xs), min(ys), max(xs), max(ys)


def test_a_configured_file_replaces_the_derived_shapes(tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(frontend_router(boundary_file=official_file(tmp_path / "tinh.geojson"),
                                       frontend_dir=PROJECT_ROOT / "frontend"))  # fmt: skip
    with TestClient(app) as client:
        served = client.get("/api/v1/map/provinces.geojson").json()
    assert len(served["features"]) == 34
    hanoi = next(f for f in served["features"] if f["properties"]["code"] == "01")
    assert hanoi["properties"]["name"] == "Thành phố Hà Nội"
    west, south, east, north = bounds(hanoi["geometry"])
    # The operator's small square, not the derived shape (which spans about a degree).
    assert east - west <= 2 * HALF + 1e-6 and north - south <= 2 * HALF + 1e-6


def test_a_file_missing_a_province_stops_start_up(tmp_path: Path) -> None:
    broken = official_file(tmp_path / "thieu.geojson", leave_out="79")
    settings = Settings(database_url="postgresql://unused@127.0.0.1:1/unused", boundary_file=broken)
    with pytest.raises(BoundaryFileError, match="79"), TestClient(create_app(settings, settings.database_url or "")):
        pass
