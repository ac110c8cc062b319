"""Signing in and out through the real pages, against the whole app (real PostgreSQL, running hub).

Sign-in attempts are rate-limited per client address (10 a minute by default), and every test
here comes from 127.0.0.1: this module makes fewer than that; the rate-limit test has a server
of its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from selenium.webdriver import ActionChains

from tests.auth_support import create_user
from tests.browser.pages import (
    SESSION_COOKIE,
    console,
    eventually,
    forget_everything,
    is_shown,
    province_table_rows,
    sign_in,
    submit_login,
    text_of,
    wait_for_url,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture()
def base(browser: Any, module_live_server: LiveServer) -> str:
    forget_everything(browser, module_live_server.url)
    return module_live_server.url


def error_text(browser: Any) -> str:
    box = browser.find_element("id", "form-error")
    return str(box.text) if box.is_displayed() else ""


def test_a_stranger_is_sent_to_the_login_page(browser: Any, base: str) -> None:
    browser.get(base + "/")
    wait_for_url(browser, base + "/login?next=/")
    assert browser.title.startswith("Đăng nhập")


def test_wrong_password_shows_the_error_and_sets_no_cookie(
    browser: Any, base: str, module_live_server: LiveServer
) -> None:
    create_user(module_live_server.db_url, "sai-mat-khau", "operator")
    submit_login(browser, base, "sai-mat-khau", "không-phải-mật-khẩu", "?next=/")
    assert eventually(lambda: "Sai tên đăng nhập hoặc mật khẩu" in error_text(browser)), error_text(browser)
    assert "Wrong username or password" in error_text(browser)
    assert browser.current_url == base + "/login?next=/"
    assert browser.get_cookie(SESSION_COOKIE) is None
    assert browser.find_element("id", "password").get_attribute("value") == ""


def test_sign_in_shows_who_is_signed_in_without_csp_violations(
    browser: Any, base: str, module_live_server: LiveServer
) -> None:
    create_user(module_live_server.db_url, "quan-tri-vien", "admin")
    console(browser)  # start from an empty console
    sign_in(browser, base, "quan-tri-vien")
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert text_of(browser, "who-name") == "Người dùng quan-tri-vien"
    assert text_of(browser, "who-role") == "Quản trị viên"
    assert text_of(browser, "who-scope") == "Toàn quốc"
    assert is_shown(browser, "sign-out")
    assert len(province_table_rows(browser)) == 34
    # The map's tooltip is HTML that deck.gl builds at run time: bring it up too.
    hover_over_hanoi(browser)
    assert eventually(lambda: browser.execute_script("return !!document.querySelector('.map-tooltip')"))
    # The strict Content-Security-Policy the app sends: anything the login page, the dashboard or
    # deck.gl does that it forbids is refused and reported on the console.
    with httpx.Client() as client:
        assert "script-src 'self'" in client.get(base + "/").headers["content-security-policy"]
    entries = console(browser)
    assert csp_violations(entries) == []
    assert [e for e in entries if e["level"] == "SEVERE"] == []


def hover_over_hanoi(browser: Any) -> None:
    map_element = browser.find_element("id", "map")
    x, y, width, height = browser.execute_script(
        "const d = window.iocDashboard.deck, box = document.getElementById('map');"
        "const [x, y] = d.getViewports()[0].project([105.8, 21.0]);"
        "return [x, y, box.clientWidth, box.clientHeight];"
    )
    # Selenium's offsets count from the element's centre.
    ActionChains(browser).move_to_element_with_offset(map_element, int(x - width / 2), int(y - height / 2)).perform()


def csp_violations(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("source") == "security" or "Content Security Policy" in e["message"]]


def test_the_console_check_does_see_a_csp_violation(browser: Any, base: str) -> None:
    """The test above proves nothing unless Chromium reports violations where it looks."""
    console(browser)
    browser.execute_script("const s = document.createElement('script'); s.textContent = '1'; document.body.append(s);")
    assert eventually(lambda: csp_violations(console(browser)), timeout=5)


def test_next_never_leaves_the_site(browser: Any, base: str, module_live_server: LiveServer) -> None:
    create_user(module_live_server.db_url, "chuyen-huong", "operator")
    submit_login(browser, base, "chuyen-huong", query="?next=//example.com/%2F..")
    wait_for_url(browser, base + "/")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/?man-hinh=1#ban-do", "/?man-hinh=1#ban-do"),
        ("/static/../", "/"),
        (None, "/"),
        ("", "/"),
        ("//example.com", "/"),
        ("/\\example.com", "/"),
        ("\\\\example.com", "/"),
        ("/\t/example.com", "/"),
        ("https://example.com/", "/"),
        ("javascript:alert(1)", "/"),
        ("example.com", "/"),
        ("/login?next=/", "/"),
    ],
)
def test_safe_next_keeps_only_paths_of_this_site(browser: Any, base: str, raw: str | None, expected: str) -> None:
    got = browser.execute_script("return IocSession.safeNext(arguments[0], window.location.origin)", raw)
    assert got == expected


def test_sign_out_returns_to_login_and_ends_the_session(
    browser: Any, base: str, module_live_server: LiveServer
) -> None:
    create_user(module_live_server.db_url, "dang-xuat", "leader")
    sign_in(browser, base, "dang-xuat")
    session = browser.get_cookie(SESSION_COOKIE)["value"]
    browser.find_element("id", "sign-out").click()
    wait_for_url(browser, base + "/login")
    assert browser.get_cookie(SESSION_COOKIE) is None
    with httpx.Client(base_url=base, cookies={SESSION_COOKIE: session}) as client:
        assert client.get("/api/v1/auth/me").status_code == 401, "the old cookie must be dead, not just deleted"
    browser.get(base + "/")
    wait_for_url(browser, base + "/login?next=/")


def test_a_session_revoked_elsewhere_sends_the_page_to_login(
    browser: Any, base: str, module_live_server: LiveServer
) -> None:
    create_user(module_live_server.db_url, "bi-thu-hoi", "operator")
    sign_in(browser, base, "bi-thu-hoi")
    session = browser.get_cookie(SESSION_COOKIE)["value"]
    # Signing out from another tab (same cookie, same origin) ends this session server-side.
    with httpx.Client(base_url=base, cookies={SESSION_COOKIE: session}, headers={"Origin": base}) as client:
        assert client.post("/api/v1/auth/logout").status_code == 200
    # The server re-checks open sockets only every minute; a reconnect meets the revocation at once.
    browser.execute_script("window.iocDashboard.live.resync()")
    wait_for_url(browser, base + "/login?next=/")


NAMES = {"provinces": {"01": "Thành phố Hà Nội", "56": "Tỉnh Khánh Hòa"}, "communes": {"00004": "Phường Ba Đình"}}


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ({"national": True, "agencies": None, "sectors": None}, "Toàn quốc"),
        ({"national": False, "provinces": ["01", "56"], "communes": []}, "Thành phố Hà Nội, Tỉnh Khánh Hòa"),
        ({"national": False, "provinces": [], "communes": ["00004", "99999"]}, "Phường Ba Đình, Xã/phường 99999"),
        ({"national": False, "provinces": ["02"], "communes": []}, "Tỉnh/thành 02"),
        (
            {"national": True, "agencies": ["SO-TP"], "sectors": ["Hộ tịch", "Đất đai"]},
            "Toàn quốc · cơ quan: SO-TP · lĩnh vực: Hộ tịch, Đất đai",
        ),
    ],
)
def test_scope_in_words(browser: Any, base: str, scope: dict[str, Any], words: str) -> None:
    assert browser.execute_script("return IocSession.scopeWords(arguments[0], arguments[1])", scope, NAMES) == words
