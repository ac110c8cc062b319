"""What a scoped user and a wall screen see, through the real sign-in and the real live feed.

The map always draws the 34 provinces (geography is public); the numbers, the table and the
alerts hold only what the server's snapshot for that scope holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ioc.auth.scope import Scope
from tests.auth_support import create_user, display_token
from tests.browser.pages import (
    DISPLAY_COOKIE,
    SESSION_COOKIE,
    eventually,
    forget_everything,
    is_shown,
    province_table_rows,
    sign_in,
    sign_in_display,
    submit_login,
    text_of,
    wait_for_url,
)
from tests.conftest import LiveServer, running_app
from tests.integration.ingest_support import receipt

pytestmark = pytest.mark.browser

HANOI = Scope.from_dict({"provinces": ["01"]})
BA_DINH = Scope.from_dict({"communes": ["00004"]})  # Phường Ba Đình, Thành phố Hà Nội


def rendered_province_codes(browser: Any) -> list[str]:
    return list(browser.execute_script("return window.iocDashboard.renderedProvinceCodes()"))


def shown_received(browser: Any, code: str) -> int | None:
    value = browser.execute_script(
        "const p = window.iocDashboard.state.provinces[arguments[0]]; return p && p.received", code
    )
    return None if value is None else int(value)


def test_province_leader_sees_only_their_province(browser: Any, module_live_server: LiveServer) -> None:
    create_user(module_live_server.db_url, "lanh-dao-ha-noi", "leader", HANOI)
    sign_in(browser, module_live_server.url, "lanh-dao-ha-noi")
    assert province_table_rows(browser) == ["Hà Nội"]
    assert text_of(browser, "who-role") == "Lãnh đạo"
    assert text_of(browser, "who-scope") == "Thành phố Hà Nội"
    assert text_of(browser, "totals-title") == "Thành phố Hà Nội"
    assert len(rendered_province_codes(browser)) == 34  # the others are drawn, dimmed, with no numbers
    assert browser.execute_script("return Object.keys(window.iocDashboard.state.provinces)") == ["01"]


def test_commune_operator_sees_their_commune_only_as_it_changes(browser: Any, module_live_server: LiveServer) -> None:
    create_user(module_live_server.db_url, "can-bo-ba-dinh", "operator", BA_DINH)
    sign_in(browser, module_live_server.url, "can-bo-ba-dinh")
    assert province_table_rows(browser) == ["Hà Nội"]
    assert "Phường Ba Đình" in text_of(browser, "who-scope")
    before = shown_received(browser, "01")
    now = datetime.now(UTC) - timedelta(minutes=5)
    events = [
        receipt("ev-ba-dinh-1", "HS-BD-1", now, locality={"commune_code": "00004"}),
        receipt("ev-ngoc-ha-1", "HS-NH-1", now, locality={"commune_code": "00008"}),  # same province
        receipt("ev-hcm-1", "HS-HCM-1", now, locality={"commune_code": "25747"}),
    ]
    assert module_live_server.post_events(events).status_code == 200
    # The deltas carry commune:<code> rows too: the page keeps going and counts its own commune only.
    assert eventually(lambda: shown_received(browser, "01") == (before or 0) + 1), shown_received(browser, "01")
    assert province_table_rows(browser) == ["Hà Nội"]
    assert browser.execute_script("return Object.keys(window.iocDashboard.state.communes)") == ["00004"]


def test_display_token_signs_in_through_the_display_page(browser: Any, module_live_server: LiveServer) -> None:
    token = display_token(module_live_server.db_url, "Phòng họp UBND", Scope.everything())
    sign_in_display(browser, module_live_server.url, token)
    assert len(rendered_province_codes(browser)) == 34
    assert len(province_table_rows(browser)) == 34
    assert text_of(browser, "who-name") == "Màn hình: Phòng họp UBND"
    assert text_of(browser, "who-role") == "Màn hình trình chiếu"
    assert not is_shown(browser, "sign-out"), "a wall screen has nobody at it to sign out"
    cookie = browser.get_cookie(DISPLAY_COOKIE)
    assert cookie is not None and cookie["httpOnly"]
    assert browser.get_cookie(SESSION_COOKIE) is None


def test_revoked_display_goes_back_to_the_display_page(browser: Any, module_live_server: LiveServer) -> None:
    token = display_token(module_live_server.db_url, "Sảnh tiếp dân", HANOI)
    sign_in_display(browser, module_live_server.url, token)
    assert province_table_rows(browser) == ["Hà Nội"]
    with module_live_server.client() as admin:
        (screen,) = [
            d for d in admin.get("/api/v1/admin/displays").json()["displays"] if d["screen_name"] == "Sảnh tiếp dân"
        ]
        assert admin.delete(f"/api/v1/admin/displays/{screen['id']}").status_code in (200, 204)
    browser.execute_script("window.iocDashboard.live.resync()")
    wait_for_url(browser, module_live_server.url + "/display")


def test_wrong_display_token_is_refused(browser: Any, module_live_server: LiveServer) -> None:
    forget_everything(browser, module_live_server.url)
    browser.get(module_live_server.url + "/display")
    browser.find_element("id", "token").send_keys("iocd_không-phải-mã-thật")
    browser.find_element("id", "submit").click()
    box = browser.find_element("id", "form-error")
    assert eventually(lambda: box.is_displayed() and "Mã màn hình không hợp lệ hoặc đã bị thu hồi" in box.text)
    assert browser.get_cookie(DISPLAY_COOKIE) is None


def test_too_many_attempts_say_how_long_to_wait(browser: Any, pg_server: Any) -> None:
    """A server of its own: this test uses up the address's sign-in attempts."""
    from tests.conftest import fresh_database

    with running_app(fresh_database(pg_server)) as server:
        create_user(server.db_url, "doan-mat-khau", "operator")
        with httpx.Client(base_url=server.url) as client:
            answers = [
                client.post("/api/v1/auth/login", json={"username": f"khach-{n}", "password": "x"}).status_code
                for n in range(12)
            ]
        assert 429 in answers, answers
        forget_everything(browser, server.url)
        submit_login(browser, server.url, "doan-mat-khau")
        box = browser.find_element("id", "form-error")
        assert eventually(lambda: box.is_displayed() and "Quá nhiều lần đăng nhập" in box.text), box.text
        assert "giây" in box.text and "Try again in" in box.text
        assert not browser.find_element("id", "submit").is_enabled()
        assert browser.get_cookie(SESSION_COOKIE) is None
