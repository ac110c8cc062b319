"""The page's side of the live protocol, against a scripted hub (no database needed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ioc.api.frontend import missing_vendor_files
from ioc.settings import PROJECT_ROOT
from tests.browser.scripted_hub import ScriptedHub, freshness, province_rows

FRONTEND_DIR = PROJECT_ROOT / "frontend"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(missing_vendor_files(FRONTEND_DIR)), reason="frontend/node_modules missing: run `npm ci` in frontend/"
    ),
]


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture()
def hub() -> Iterator[ScriptedHub]:
    scripted = ScriptedHub(FRONTEND_DIR)
    scripted.start()
    yield scripted
    scripted.stop()


@pytest.fixture()
def page(browser: Any, hub: ScriptedHub) -> Iterator[Any]:
    browser.get(hub.url)
    ready = eventually(lambda: browser.execute_script("return !!(window.iocDashboard && window.iocDashboard.ready)"))
    assert ready, browser.get_log("browser")
    yield browser
    browser.get("about:blank")  # closes the socket, so the next test's hub sees a fresh page


def badge(page: Any) -> str:
    return str(page.execute_script("return document.getElementById('status-badge').textContent"))


def test_first_hello_has_no_position_and_all_provinces_are_drawn(page: Any, hub: ScriptedHub) -> None:
    assert hub.wait_for_hellos(1)[0] == {"type": "hello", "epoch": None, "last_seq": None}
    assert len(page.execute_script("return window.iocDashboard.renderedProvinceCodes()")) == 34
    assert badge(page) == "Trực tiếp"


def test_next_delta_is_applied(page: Any, hub: ScriptedHub) -> None:
    row = dict(province_rows()[0], overdue=4321)
    hub.delta({f"province:{row['code']}": row})
    shown = eventually(lambda: "4.321" in page.execute_script("return document.body.innerText"))
    assert shown, "the delta's overdue count (Vietnamese format 4.321) never appeared"
    assert page.execute_script("return window.iocDashboard.state.provinces['01'].overdue") == 4321


def test_gap_in_seq_drops_the_position_and_asks_for_a_snapshot(page: Any, hub: ScriptedHub) -> None:
    hub.delta({}, seq=hub.seq + 2)
    hellos = hub.wait_for_hellos(2)
    assert hellos[1] == {"type": "hello", "epoch": None, "last_seq": None}


def test_reconnect_resumes_from_the_last_seq(page: Any, hub: ScriptedHub) -> None:
    hub.delta({})
    hub.delta({})
    assert eventually(lambda: page.execute_script("return window.iocDashboard.live.seq") == 12)
    hub.drop_connection()
    hellos = hub.wait_for_hellos(2)
    assert hellos[1] == {"type": "hello", "epoch": "epoch-1", "last_seq": 12}
    assert eventually(lambda: badge(page) == "Trực tiếp")


def test_lost_server_is_shown_as_disconnected(page: Any, hub: ScriptedHub) -> None:
    hub.stop()
    assert eventually(lambda: badge(page) == "Mất kết nối", timeout=10), badge(page)
    banner = page.find_element("id", "status-banner")
    assert banner.is_displayed()
    assert "Mất kết nối" in banner.text


@pytest.mark.parametrize(
    ("age_seconds", "expected_every", "expected_badge"),
    [
        (5, 300, "Trực tiếp"),
        (599, 300, "Trực tiếp"),
        (601, 300, "Dữ liệu cũ"),
        (130, 60, "Dữ liệu cũ"),
        (None, 300, "Dữ liệu cũ"),
    ],
)
def test_badge_follows_feed_freshness(
    page: Any, hub: ScriptedHub, age_seconds: int | None, expected_every: int, expected_badge: str
) -> None:
    at = None if age_seconds is None else datetime.now(UTC) - timedelta(seconds=age_seconds)
    hub.delta({"freshness": freshness(at, expected_every)})
    assert eventually(lambda: badge(page) == expected_badge, timeout=5), badge(page)
