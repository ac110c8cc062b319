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


# -- access control: the close codes and a refused handshake ------------------------------------


def test_4401_sends_a_person_to_the_login_page(page: Any, hub: ScriptedHub) -> None:
    hub.identity = None  # what /api/v1/auth/me now says, too
    hub.drop_connection(4401, "phiên đã hết hạn hoặc bị thu hồi")
    assert eventually(lambda: page.current_url == hub.url + "login?next=/"), page.current_url
    assert len(hub.hellos) == 1, "the page must not reconnect after 4401"


def test_4401_sends_a_wall_screen_to_the_display_page(browser: Any, hub: ScriptedHub) -> None:
    hub.identity = {
        "subject": "display:7", "name": "Phòng họp UBND", "role": "display",
        "scope": {"national": True, "agencies": None, "sectors": None}, "credential": "display_token",
    }  # fmt: skip
    browser.get(hub.url)
    assert eventually(lambda: browser.execute_script("return !!(window.iocDashboard && window.iocDashboard.ready)"))
    try:
        assert "Phòng họp UBND" in browser.find_element("id", "who-name").text
        assert not browser.find_element("id", "sign-out").is_displayed(), "a wall screen has no sign-out button"
        hub.drop_connection(4401)
        assert eventually(lambda: browser.current_url == hub.url + "display"), browser.current_url
    finally:
        browser.get("about:blank")


def test_4403_says_the_role_may_not_read_status_and_stops(page: Any, hub: ScriptedHub) -> None:
    hub.drop_connection(4403, "vai trò không được xem trạng thái")
    assert eventually(lambda: badge(page) == "Không có quyền", timeout=5), badge(page)
    banner = page.find_element("id", "status-banner")
    assert banner.is_displayed() and "không được xem số liệu" in banner.text
    time.sleep(2)  # several back-off periods: no reconnect may happen
    assert hub.handshakes == 1
    assert page.current_url == hub.url


def test_refused_handshake_of_a_signed_out_browser_goes_to_login(page: Any, hub: ScriptedHub) -> None:
    # The real server refuses a revoked cookie at the handshake (HTTP 401): the page sees only an
    # abnormal close, asks /api/v1/auth/me, and learns that it is signed out.
    hub.identity = None
    hub.refuse_handshakes = True
    hub.drop_connection(1012)
    assert eventually(lambda: page.current_url == hub.url + "login?next=/"), page.current_url


def test_refused_handshake_while_signed_in_keeps_retrying(page: Any, hub: ScriptedHub) -> None:
    hub.refuse_handshakes = True
    hub.drop_connection(1012)
    assert eventually(lambda: hub.handshakes >= 3, timeout=15), hub.handshakes
    assert page.current_url == hub.url
    assert badge(page) == "Mất kết nối"


def test_a_stranger_is_sent_to_login_before_any_socket(browser: Any, hub: ScriptedHub) -> None:
    hub.identity = None
    browser.get(hub.url)
    try:
        assert eventually(lambda: browser.current_url == hub.url + "login?next=/"), browser.current_url
        assert hub.handshakes == 0
    finally:
        browser.get("about:blank")


def test_unknown_delta_keys_are_ignored(page: Any, hub: ScriptedHub) -> None:
    row = dict(province_rows()[0], overdue=777)
    commune = {"code": "00004", "name": "Phường Ba Đình", "province_code": "01", "overdue": 5}
    hub.delta({"commune:00004": commune, "future-kind:x": {"a": 1}, "nokey": 3, f"province:{row['code']}": row})
    assert eventually(lambda: page.execute_script("return window.iocDashboard.state.provinces['01'].overdue") == 777)
    assert badge(page) == "Trực tiếp"
    hub.delta({})
    assert eventually(lambda: page.execute_script("return window.iocDashboard.live.seq") == 12)
