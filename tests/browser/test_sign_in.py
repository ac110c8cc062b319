"""Signing in and out through the real pages, against the whole app (real PostgreSQL, running hub).

Sign-in attempts are rate-limited per client address (10 a minute by default), and every test
here comes from 127.0.0.1: this module makes fewer than that; the rate-limit test has a server
of its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

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
    # The strict Content-Security-Policy the app sends: anything the page or deck.gl does that it
    # forbids is refused and reported on the console.
    with httpx.Client() as client:
        assert "script-src 'self'" in client.get(base + "/").headers["content-security-policy"]
    violations = [e for e in console(browser) if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]
    assert violations == []


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
