"""Routes of the dashboard page: the HTML, its scripts, deck.gl from node_modules, the map spec and shapes."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse

from ioc.api.guard import guard
from ioc.api.params import RowId
from ioc.auth.policy import PUBLIC
from ioc.localities.catalogue import load_catalogue
from ioc.map.boundaries import province_geojson, special_zone_labels
from ioc.map.spec import build_map_spec, map_labels

PROVINCES_GEOJSON_PATH = "/api/v1/map/provinces.geojson"
MAP_SPEC_PATH = "/api/v1/map/spec"
LOGIN_PAGE = "/login"
DISPLAY_PAGE = "/display"
PHONE_PAGE = "/phone"
SERVICE_WORKER = "/sw.js"
MANIFEST = "/manifest.webmanifest"

# The only files /vendor serves: deck.gl's plain-script bundles, installed by `npm ci` at set-up.
VENDOR_FILES: dict[str, str] = {
    "deck-core.min.js": "@deck.gl/core/dist.min.js",
    "deck-layers.min.js": "@deck.gl/layers/dist.min.js",
    "deck-json.min.js": "@deck.gl/json/dist.min.js",
}

NOT_INSTALLED_MESSAGE = (
    "Thiếu thư viện bản đồ deck.gl: chưa cài đặt thư mục {node_modules}.\n"
    "Hãy chạy bước cài đặt (npm ci trong thư mục frontend/) rồi tải lại trang.\n\n"
    "deck.gl is not installed ({node_modules} is missing).\n"
    "Run the set-up (`npm ci` in frontend/) and reload the page.\n"
)

# Vendor bundles are pinned by package-lock.json, so they only change on an upgrade and a restart.
_VENDOR_CACHE = "public, max-age=86400"
# The page's own files and the shapes revalidate on every load: cheap with an ETag, never stale.
_REVALIDATE = "no-cache"


@dataclass(frozen=True)
class _CachedBody:
    body: bytes
    etag: str


def _cached_body(value: Any) -> _CachedBody:
    body = orjson.dumps(value)
    return _CachedBody(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')


class _MapAssets:
    """The province shapes and the spec, built once on first use (deriving shapes takes a moment)."""

    def __init__(self, boundary_file: Path | None) -> None:
        self._boundary_file = boundary_file
        self._lock = threading.Lock()
        self._geojson: _CachedBody | None = None
        self._spec: _CachedBody | None = None

    def geojson(self) -> _CachedBody:
        self._build()
        assert self._geojson is not None
        return self._geojson

    def spec(self) -> _CachedBody:
        self._build()
        assert self._spec is not None
        return self._spec

    def _build(self) -> None:
        with self._lock:
            if self._geojson is not None:
                return
            catalogue = load_catalogue()
            shapes = province_geojson(catalogue, self._boundary_file)
            labels = map_labels(shapes, special_zone_labels(catalogue))
            self._geojson = _cached_body(shapes)
            self._spec = _cached_body(build_map_spec(PROVINCES_GEOJSON_PATH, labels))


def _json_with_etag(request: Request, cached: _CachedBody, media_type: str) -> Response:
    headers = {"ETag": cached.etag, "Cache-Control": _REVALIDATE}
    if request.headers.get("if-none-match") == cached.etag:
        return Response(status_code=304, headers=headers)
    return Response(content=cached.body, media_type=media_type, headers=headers)


def missing_vendor_files(frontend_dir: Path) -> list[Path]:
    node_modules = frontend_dir / "node_modules"
    return [node_modules / rel for rel in VENDOR_FILES.values() if not (node_modules / rel).is_file()]


def _not_installed(frontend_dir: Path) -> PlainTextResponse:
    return PlainTextResponse(NOT_INSTALLED_MESSAGE.format(node_modules=frontend_dir / "node_modules"), status_code=500)


def _page(path: Path) -> FileResponse:
    return FileResponse(path, media_type="text/html", headers={"Cache-Control": _REVALIDATE})


def frontend_router(*, boundary_file: Path | None, frontend_dir: Path) -> APIRouter:
    """`/`, `/login`, `/display`, `/phone` (+ `/sw.js`, `/manifest.webmanifest`), `/static/...`,
    `/vendor/...` and the map endpoints under `/api/v1/map/`."""
    # Public: the page shells, their scripts and the country's geography hold no operational data;
    # the dashboard asks who is signed in (and sends strangers to /login) before it opens the live feed.
    router = APIRouter(dependencies=[guard(PUBLIC)])
    static_dir = (frontend_dir / "static").resolve()
    index_file = frontend_dir / "index.html"
    assets = _MapAssets(boundary_file)

    @router.get(LOGIN_PAGE, response_class=HTMLResponse, include_in_schema=False)
    def login_page() -> Response:
        """Username and password; the page posts them to /api/v1/auth/login, then goes to `next`."""
        return _page(frontend_dir / "login.html")

    @router.get(DISPLAY_PAGE, response_class=HTMLResponse, include_in_schema=False)
    def display_page() -> Response:
        """A wall screen pastes its display token here once (POST /api/v1/auth/display)."""
        return _page(frontend_dir / "display.html")

    @router.get(PHONE_PAGE, response_class=HTMLResponse, include_in_schema=False)
    def phone_page() -> Response:
        """The phone page (a PWA): one's alerts, acknowledge with one tap, turn on notifications."""
        return _page(frontend_dir / "phone.html")

    # Links in notifications (e-mail, chat, push) point at /alerts/{id}: the phone page shows the
    # alert (it works on a desk too, and signs the reader in first when needed).
    @router.get("/alerts", include_in_schema=False)
    def alerts_link() -> Response:
        return RedirectResponse(PHONE_PAGE, status_code=303)

    @router.get("/alerts/{alert_id}", include_in_schema=False)
    def alert_link(alert_id: RowId) -> Response:
        return RedirectResponse(f"{PHONE_PAGE}#alert-{alert_id}", status_code=303)

    @router.get(SERVICE_WORKER, include_in_schema=False)
    def service_worker() -> Response:
        # Served from the root so its scope covers /phone and the notification's links; the
        # header says so explicitly, and no-cache lets a new version replace it on the next visit.
        return FileResponse(frontend_dir / "sw.js", media_type="text/javascript",
                            headers={"Cache-Control": _REVALIDATE, "Service-Worker-Allowed": "/"})  # fmt: skip

    @router.get(MANIFEST, include_in_schema=False)
    def web_manifest() -> Response:
        return FileResponse(frontend_dir / "manifest.webmanifest", media_type="application/manifest+json",
                            headers={"Cache-Control": _REVALIDATE})  # fmt: skip

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_page() -> Response:
        # A page without deck.gl would render an empty map; say what is wrong instead.
        if missing_vendor_files(frontend_dir):
            return _not_installed(frontend_dir)
        return _page(index_file)

    @router.get("/vendor/{file_name}", include_in_schema=False)
    def vendor_file(file_name: str) -> Response:
        rel = VENDOR_FILES.get(file_name)
        if rel is None:
            raise HTTPException(status_code=404)
        path = frontend_dir / "node_modules" / rel
        if not path.is_file():
            return _not_installed(frontend_dir)
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": _VENDOR_CACHE})

    @router.get("/static/{file_path:path}", include_in_schema=False)
    def static_file(file_path: str) -> Response:
        path = (static_dir / file_path).resolve()
        if not path.is_relative_to(static_dir) or not path.is_file():
            raise HTTPException(status_code=404)
        return FileResponse(path, headers={"Cache-Control": _REVALIDATE})

    @router.get(
        PROVINCES_GEOJSON_PATH,
        response_class=Response,
        responses={200: {"content": {"application/geo+json": {}}}, 304: {"description": "not modified"}},
    )
    def provinces_geojson(request: Request) -> Response:
        """The 34 provinces as a GeoJSON FeatureCollection (official file if configured, else derived)."""
        return _json_with_etag(request, assets.geojson(), "application/geo+json")

    @router.get(
        MAP_SPEC_PATH,
        response_class=Response,
        responses={200: {"content": {"application/json": {}}}, 304: {"description": "not modified"}},
    )
    def map_spec(request: Request) -> Response:
        """The deck.gl JSON layer spec the dashboard renders with `@deck.gl/json`."""
        return _json_with_etag(request, assets.spec(), "application/json")

    return router
