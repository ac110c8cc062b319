"""Driving the pages as a person would: sign in through the real forms, wait for the dashboard."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.auth_support import TEST_PASSWORD

READY_TIMEOUT_SECONDS = 60.0
SESSION_COOKIE = "ioc_session"
DISPLAY_COOKIE = "ioc_display"


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """`check()` once it is truthy, or its last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


PHONE_SIZE = (390, 844)
DESK_SIZE = (1400, 900)
DEFAULT_SIZE = (1600, 1000)  # conftest.CHROMIUM_FLAGS --window-size


@contextlib.contextmanager
def window_of(browser: Any, size: tuple[int, int]) -> Iterator[Any]:
    """The shared browser at `size`, on a blank page with an empty console: the previous test's
    page (whose live feed reconnects to a server that is gone) must not log into this test."""
    browser.get("about:blank")
    console(browser)
    browser.set_window_size(*size)
    try:
        yield browser
    finally:
        browser.set_window_size(*DEFAULT_SIZE)


def console(browser: Any) -> list[dict[str, Any]]:
    """The browser console since the last call (reading it empties it)."""
    return list(browser.get_log("browser"))


def wait_until_ready(browser: Any, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Until the dashboard has its first snapshot drawn on the map."""
    ready = eventually(
        lambda: browser.execute_script("return !!(window.iocDashboard && window.iocDashboard.ready)"), timeout
    )
    if not ready:
        logs = "\n".join(str(entry) for entry in console(browser))
        pytest.fail(
            f"window.iocDashboard.ready stayed false for {timeout} s at {browser.current_url}; console:\n{logs}"
        )


def wait_for_url(browser: Any, url: str, timeout: float = 20.0) -> None:
    if not eventually(lambda: browser.current_url == url, timeout):
        pytest.fail(f"expected to be at {url}, still at {browser.current_url}")


def forget_everything(browser: Any, base_url: str) -> None:
    """A browser that never signed in here: no cookies, no remembered sign-in page.

    Cookies are per host, not per port, so one left by another test server would ride along.
    """
    browser.get(base_url + "/login")
    browser.delete_all_cookies()
    browser.execute_script("window.localStorage.clear()")


def submit_login(browser: Any, base_url: str, username: str, password: str = TEST_PASSWORD, query: str = "") -> None:
    """Fill in and send the /login form (the page then goes on by itself, or shows an error)."""
    browser.get(base_url + "/login" + query)
    browser.find_element("id", "username").send_keys(username)
    browser.find_element("id", "password").send_keys(password)
    browser.find_element("id", "submit").click()


def sign_in(browser: Any, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through /login?next=/ and wait for the dashboard to be ready."""
    forget_everything(browser, base_url)
    submit_login(browser, base_url, username, password, "?next=/")
    wait_for_url(browser, base_url + "/")
    wait_until_ready(browser)


def sign_in_display(browser: Any, base_url: str, token: str) -> None:
    """Paste a display token into /display, as an administrator does once at a wall screen."""
    forget_everything(browser, base_url)
    browser.get(base_url + "/display")
    browser.find_element("id", "token").send_keys(token)
    browser.find_element("id", "submit").click()
    wait_for_url(browser, base_url + "/")
    wait_until_ready(browser)


def text_of(browser: Any, element_id: str) -> str:
    return str(browser.execute_script("return document.getElementById(arguments[0]).textContent", element_id))


def is_shown(browser: Any, element_id: str) -> bool:
    return bool(browser.find_element("id", element_id).is_displayed())


def province_table_rows(browser: Any) -> list[str]:
    return list(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('#province-table tbody tr'), tr => tr.cells[0].textContent)"
        )
    )
