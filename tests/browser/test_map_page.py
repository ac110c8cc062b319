"""The dashboard against the whole app (real PostgreSQL, running hub), signed in through /login."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.auth_support import create_user
from tests.browser.pages import sign_in, wait_until_ready
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

EXPECTED_PROVINCES = 34


@pytest.fixture(scope="module")
def signed_in(browser: Any, module_live_server: LiveServer) -> str:
    """One sign-in for the module (sign-in attempts are rate-limited per address); the base URL."""
    base = module_live_server.url
    create_user(module_live_server.db_url, "dieu-hanh", "operator")
    sign_in(browser, base, "dieu-hanh")
    return base


@pytest.fixture()
def dashboard(browser: Any, signed_in: str) -> Any:
    browser.get(signed_in + "/")
    wait_until_ready(browser)
    return browser


def test_page_title_is_vietnamese(dashboard: Any) -> None:
    assert dashboard.title == "Trung tâm giám sát, điều hành thông minh (IOC)"


def test_map_draws_every_province(dashboard: Any) -> None:
    codes = dashboard.execute_script("return window.iocDashboard.renderedProvinceCodes()")
    assert len(codes) == EXPECTED_PROVINCES, codes
    assert len(set(codes)) == EXPECTED_PROVINCES


@pytest.mark.parametrize(
    "any_of",
    [
        ("Hà Nội",),
        ("Thành phố Hồ Chí Minh", "Hồ Chí Minh"),
        ("Khánh Hòa",),
        ("Đà Nẵng",),
    ],
)
def test_page_shows_vietnamese_names_with_diacritics(dashboard: Any, any_of: tuple[str, ...]) -> None:
    text = dashboard.execute_script("return document.body.innerText")
    assert any(name in text for name in any_of), f"none of {any_of} in the page text"


@pytest.mark.parametrize("zone", ["Hoàng Sa", "Trường Sa"])
def test_spec_labels_the_special_zones(live_server_url: str, zone: str) -> None:
    with urllib.request.urlopen(live_server_url.rstrip("/") + "/api/v1/map/spec") as response:
        spec = json.load(response)
    (layer,) = [layer for layer in spec["layers"] if layer["id"] == "special-zone-labels"]
    assert any(zone in row["text"] for row in layer["data"])


def test_status_badge_is_not_stuck_connecting(dashboard: Any) -> None:
    badge = dashboard.find_element("id", "status-badge").text
    assert badge in {"Trực tiếp", "Dữ liệu cũ"}, badge


def test_screenshot(dashboard: Any, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    assert dashboard.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000  # a blank or error page compresses far below this
