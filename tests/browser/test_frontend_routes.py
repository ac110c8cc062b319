"""The page's routes and the pydeck spec, without a browser (no database, no hub)."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ioc.api.frontend import VENDOR_FILES, frontend_router, missing_vendor_files
from ioc.map.spec import build_map_spec, map_labels
from ioc.settings import PROJECT_ROOT

FRONTEND_DIR = PROJECT_ROOT / "frontend"
needs_node_modules = pytest.mark.skipif(
    bool(missing_vendor_files(FRONTEND_DIR)), reason="frontend/node_modules missing: run `npm ci` in frontend/"
)


def client_for(frontend_dir: Path) -> TestClient:
    app = FastAPI()
    app.include_router(frontend_router(boundary_file=None, frontend_dir=frontend_dir))
    return TestClient(app)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return client_for(FRONTEND_DIR)


@pytest.fixture()
def frontend_without_node_modules(tmp_path: Path) -> Path:
    for page in FRONTEND_DIR.glob("*.html"):
        shutil.copy(page, tmp_path / page.name)
    shutil.copytree(FRONTEND_DIR / "static", tmp_path / "static")
    return tmp_path


@needs_node_modules
def test_page_is_the_vietnamese_dashboard(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "<title>Trung tâm giám sát, điều hành thông minh (IOC)</title>" in response.text
    assert "//cdn" not in response.text and "unpkg" not in response.text


@needs_node_modules
@pytest.mark.parametrize("name", sorted(VENDOR_FILES))
def test_vendor_serves_the_deck_gl_bundles(client: TestClient, name: str) -> None:
    response = client.get(f"/vendor/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert "root['deck']" in response.text[:1000]


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/login", "Đăng nhập · Trung tâm giám sát, điều hành thông minh (IOC)"),
        ("/display", "Màn hình trình chiếu · Trung tâm giám sát, điều hành thông minh (IOC)"),
    ],
)
def test_sign_in_pages_are_served_without_deck_gl(frontend_without_node_modules: Path, path: str, title: str) -> None:
    response = client_for(frontend_without_node_modules).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"<title>{title}</title>" in response.text
    assert response.headers["cache-control"] == "no-cache"


class _InlineCode(HTMLParser):
    """What a strict Content-Security-Policy (no 'unsafe-inline') would refuse in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.found.append("<style> block")
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        self.found += [f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on")]
        self.found += [f"javascript: URL on <{tag}>" for _, value in attrs if (value or "").startswith("javascript:")]


@pytest.mark.parametrize("page", ["index.html", "login.html", "display.html"])
def test_pages_have_no_inline_code_or_styles(page: str) -> None:
    parser = _InlineCode()
    parser.feed((FRONTEND_DIR / page).read_text(encoding="utf-8"))
    assert parser.found == []


@pytest.mark.parametrize("name", ["dist.min.js", "deck.gl.js", "..%2Fpackage.json", "deck-core.min.js.map"])
def test_vendor_refuses_anything_else(client: TestClient, name: str) -> None:
    assert client.get(f"/vendor/{name}").status_code == 404


@pytest.mark.parametrize("path", ["/", "/vendor/deck-core.min.js"])
def test_missing_node_modules_fails_loudly(frontend_without_node_modules: Path, path: str) -> None:
    response = client_for(frontend_without_node_modules).get(path)
    assert response.status_code == 500
    assert "npm ci" in response.text
    assert "deck.gl" in response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/dashboard.js", 200),
        ("/static/dashboard.css", 200),
        ("/static/missing.js", 404),
        ("/static/..%2Findex.html", 404),
        ("/static/..%2Fpackage.json", 404),
    ],
)
def test_static_files_stay_inside_static(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status


def test_province_geojson_has_34_provinces_and_an_etag(client: TestClient) -> None:
    first = client.get("/api/v1/map/provinces.geojson")
    assert first.status_code == 200
    assert len(first.json()["features"]) == 34
    again = client.get("/api/v1/map/provinces.geojson", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_spec_endpoint_has_the_three_layers(client: TestClient) -> None:
    spec = client.get("/api/v1/map/spec").json()
    assert [layer["id"] for layer in spec["layers"]] == ["provinces", "province-labels", "special-zone-labels"]
    # Nothing the page would fetch from the internet: no basemap style, no CDN.
    assert "http" not in json.dumps(spec)
    assert spec["layers"][0]["data"] == "/api/v1/map/provinces.geojson"
    assert len(spec["layers"][1]["data"]) == 34


GEOJSON: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": None,
            "properties": {"code": "01", "short_name": "Hà Nội", "label_lat": 21.0, "label_lon": 105.7},
        },
        {
            "type": "Feature",
            "geometry": None,
            "properties": {"code": "56", "short_name": "Khánh Hòa", "label_lat": 12.2, "label_lon": 109.1},
        },
    ],
}
ZONES = [{"name": "Quần đảo Trường Sa (Khánh Hòa)", "lat": 9.71, "lon": 114.45}]


def layer(spec: dict[str, Any], layer_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [entry for entry in spec["layers"] if entry["id"] == layer_id]
    assert len(found) == 1, [entry["id"] for entry in spec["layers"]]
    return found[0]


@pytest.mark.parametrize(
    ("layer_id", "key", "expected"),
    [
        ("provinces", "@@type", "GeoJsonLayer"),
        ("provinces", "data", "/shapes.geojson"),
        ("provinces", "pickable", True),
        ("provinces", "stroked", True),
        ("provinces", "filled", True),
        ("province-labels", "@@type", "TextLayer"),
        # Literal "auto", not pydeck's accessor form "@@=auto": the glyph atlas needs ộ, ư, ạ ...
        ("province-labels", "characterSet", "auto"),
        ("province-labels", "getText", "@@=text"),
        ("province-labels", "getPosition", "@@=[lon, lat]"),
        ("special-zone-labels", "characterSet", "auto"),
        ("special-zone-labels", "sizeUnits", "pixels"),
    ],
)
def test_spec_layer_props(layer_id: str, key: str, expected: Any) -> None:
    spec = build_map_spec("/shapes.geojson", map_labels(GEOJSON, ZONES))
    assert layer(spec, layer_id)[key] == expected


@pytest.mark.parametrize(
    ("layer_id", "texts"),
    [
        ("province-labels", ["Hà Nội", "Khánh Hòa"]),
        ("special-zone-labels", ["Quần đảo Trường Sa (Khánh Hòa)"]),
    ],
)
def test_spec_labels_keep_diacritics(layer_id: str, texts: list[str]) -> None:
    spec = build_map_spec("/shapes.geojson", map_labels(GEOJSON, ZONES))
    assert [row["text"] for row in layer(spec, layer_id)["data"]] == texts


def test_spec_has_no_basemap_and_a_vietnam_view() -> None:
    spec = build_map_spec("/shapes.geojson", map_labels(GEOJSON, ZONES))
    assert spec.get("mapProvider") is None and spec.get("mapStyle") is None
    assert [view["@@type"] for view in spec["views"]] == ["MapView"]
    view = spec["initialViewState"]
    assert 8.0 < view["latitude"] < 23.5 and 102.0 < view["longitude"] < 117.0
    assert 4.0 <= view["zoom"] <= 5.5
