"""The phone page in headless Chromium at a phone's size: a subscriber signs in, sees the alerts
of their scope (and not the others), acknowledges one with a tap; the database then holds the
acknowledgement and its history line. Also: the service worker registers, and the PWA files are
served the way browsers require. (The console's alert actions: test_console_alert_actions.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ioc.auth.scope import Scope
from tests.auth_support import create_user
from tests.browser.pages import console, eventually, forget_everything, submit_login, wait_for_url
from tests.browser.test_frontend_routes import FRONTEND_DIR, _InlineCode
from tests.conftest import LiveServer
from tests.integration.alerting.people_support import fetch_all, fetch_one, seed_alert

pytestmark = pytest.mark.browser

PHONE_SIZE = (390, 844)
DESKTOP_SIZE = (1600, 1000)  # conftest.CHROMIUM_FLAGS --window-size


@pytest.fixture()
def phone_sized(browser: Any) -> Iterator[Any]:
    browser.set_window_size(*PHONE_SIZE)
    try:
        yield browser
    finally:
        browser.set_window_size(*DESKTOP_SIZE)


def _card_text(browser: Any, alert_id: int) -> str:
    """The card's text read in one step inside the page (a re-render cannot make it stale)."""
    script = "const c = document.getElementById(arguments[0]); return c ? c.innerText : '';"
    return str(browser.execute_script(script, f"alert-{alert_id}"))


def _card(browser: Any, alert_id: int) -> Any:
    found = browser.find_elements("css selector", f'li.alert-card[data-alert-id="{alert_id}"]')
    return found[0] if found else None


def test_a_subscriber_acknowledges_an_alert_with_one_tap(phone_sized: Any, module_live_server: LiveServer) -> None:
    browser, server = phone_sized, module_live_server
    create_user(server.db_url, "phone-sub", "subscriber", Scope.from_dict({"provinces": ["01"]}))
    mine = seed_alert(server.db_url, "01", summary="Hà Nội: 12 hồ sơ quá hạn tại Phường Ba Đình")
    theirs = seed_alert(server.db_url, "79", summary="TP Hồ Chí Minh: 30 hồ sơ quá hạn")

    forget_everything(browser, server.url)
    browser.get(server.url + "/phone")
    wait_for_url(browser, server.url + "/login?next=/phone")  # signed out: the ordinary login, then back
    console(browser)  # forget the signed-out visit's expected 401
    submit_login(browser, server.url, "phone-sub", query="?next=/phone")
    wait_for_url(browser, server.url + "/phone")
    ready = eventually(lambda: browser.execute_script("return !!(window.iocPhone && window.iocPhone.ready)"), 30)
    assert ready, console(browser)
    assert eventually(lambda: _card(browser, mine) is not None), console(browser)
    card = _card(browser, mine)
    assert "12 hồ sơ quá hạn" in card.text and "Chưa xác nhận" in card.text
    assert _card(browser, theirs) is None
    assert "30 hồ sơ" not in browser.find_element("id", "alert-list").text
    assert browser.execute_script("return window.innerWidth") <= PHONE_SIZE[0]

    card.find_element("css selector", '[data-role="ack-comment"]').send_keys("Đang liên hệ phường")
    card.find_element("css selector", 'button[data-action="ack"]').click()

    acked = eventually(lambda: fetch_one(server.db_url, "SELECT acknowledged_by FROM alert WHERE id = %s", [mine])[0])
    assert acked == "phone-sub"
    history = fetch_all(server.db_url, "SELECT actor, kind, comment FROM alert_activity WHERE alert_id = %s", [mine])
    assert history == [("phone-sub", "ack", "Đang liên hệ phường")]
    shown = eventually(lambda: "Đã xác nhận: phone-sub" in _card_text(browser, mine))
    assert shown, _card_text(browser, mine)

    _card(browser, mine).find_element("css selector", 'button[data-action="history"]').click()
    lines = eventually(lambda: "Xác nhận · phone-sub: Đang liên hệ phường" in _card_text(browser, mine))
    assert lines, _card_text(browser, mine)
    assert eventually(lambda: browser.execute_script("return window.iocPhone.swReady"), 20), console(browser)
    errors = [e for e in console(browser) if e.get("level") == "SEVERE"]
    assert errors == []


def test_pwa_files_are_served_for_browsers(module_live_server: LiveServer) -> None:
    with httpx.Client(base_url=module_live_server.url, timeout=30) as client:
        page = client.get("/phone")
        assert page.status_code == 200 and "<title>Cảnh báo · IOC trên điện thoại</title>" in page.text
        worker = client.get("/sw.js")
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["service-worker-allowed"] == "/"
        assert "notificationclick" in worker.text and "Xác nhận" in worker.text
        manifest = client.get("/manifest.webmanifest")
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = manifest.json()
        assert body["start_url"] == "/phone" and body["display"] == "standalone"
        for icon in body["icons"]:
            image = client.get(icon["src"])
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_phone_page_has_no_inline_code_or_styles() -> None:
    parser = _InlineCode()
    parser.feed((FRONTEND_DIR / "phone.html").read_text(encoding="utf-8"))
    assert parser.found == []
