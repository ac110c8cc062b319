"""The "Cài đặt thông báo" panel of the phone page, in headless Chromium at a phone's size: a subscriber
scoped to one commune sets an e-mail address, subscribes to their commune (critical + warning, by
e-mail, quiet 22:00–06:00), edits and deletes the subscription, and picks the language of their
messages; the database holds exactly what was chosen. A subscription naming a province outside the
scope (left from a wider scope) is refused by the server, and the page says why next to the places."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest

from ioc.auth.scope import Scope
from tests.auth_support import create_user
from tests.browser.pages import (
    PHONE_SIZE,
    console,
    eventually,
    forget_everything,
    submit_login,
    text_of,
    wait_for_url,
    window_of,
)
from tests.conftest import LiveServer
from tests.integration.alerting.people_support import fetch_all, fetch_one

pytestmark = pytest.mark.browser

BA_DINH = Scope.from_dict({"communes": ["00004"]})  # Phường Ba Đình, Thành phố Hà Nội
EMAIL = "can-bo@badinh.hanoi.gov.vn"
SUBSCRIPTION_COLUMNS = (
    "SELECT provinces, communes, agencies, sectors, severities, channels, quiet_from, quiet_to,"
    " quiet_allows_critical, enabled FROM alert_subscription WHERE user_id = %s ORDER BY id"
)


@pytest.fixture()
def phone_sized(browser: Any) -> Iterator[Any]:
    with window_of(browser, PHONE_SIZE) as sized:
        yield sized


def _open_settings(browser: Any, server: LiveServer, username: str) -> None:
    """Sign in on /phone as `username` and open the settings dialog, loaded."""
    forget_everything(browser, server.url)
    console(browser)  # forget what earlier pages (and other tests' servers) logged
    submit_login(browser, server.url, username, query="?next=/phone")
    wait_for_url(browser, server.url + "/phone")
    assert eventually(lambda: browser.execute_script("return !!(window.iocPhone && window.iocPhone.ready)"), 30)
    browser.find_element("id", "open-settings").click()
    ready = eventually(lambda: browser.execute_script("return window.iocPhoneSettings.ready"), 20)
    assert ready, console(browser)
    assert browser.find_element("id", "settings-panel").is_displayed()


def _click(browser: Any, css: str) -> None:
    browser.find_element("css selector", css).click()


def _set_time(browser: Any, element_id: str, value: str) -> None:
    # A time input's typing depends on the browser's locale (12 or 24 hours): set the value as the
    # native picker would.
    browser.execute_script(
        "const i = document.getElementById(arguments[0]); i.value = arguments[1];"
        " i.dispatchEvent(new Event('input', {bubbles: true})); i.dispatchEvent(new Event('change', {bubbles: true}));",
        element_id,
        value,
    )


def _checked(browser: Any, element_id: str) -> bool:
    return bool(browser.execute_script("return document.getElementById(arguments[0]).checked", element_id))


def _duplicate_ids(browser: Any) -> list[str]:
    script = "const ids = [...document.querySelectorAll('[id]')].map(e => e.id);"
    script += " return ids.filter((id, i) => ids.indexOf(id) !== i);"
    return list(browser.execute_script(script))


def _subscriptions(server: LiveServer, user_id: int) -> list[Any]:
    return fetch_all(server.db_url, SUBSCRIPTION_COLUMNS, [user_id])


def _page_errors(browser: Any) -> list[dict[str, Any]]:
    """SEVERE console lines other than the refused requests the test makes on purpose."""
    expected = ("status of 403", "status of 422")
    return [e for e in console(browser) if e.get("level") == "SEVERE" and not any(x in e["message"] for x in expected)]


def test_a_subscriber_manages_their_subscription_on_the_phone(phone_sized: Any, module_live_server: LiveServer) -> None:
    browser, server = phone_sized, module_live_server
    uid = create_user(server.db_url, "settings-sub", "subscriber", BA_DINH)
    _open_settings(browser, server, "settings-sub")
    assert browser.execute_script("return window.innerWidth") <= PHONE_SIZE[0]

    # Contacts: a wrong address is refused in words next to the field, a right one is kept.
    email = browser.find_element("id", "contact-email")
    email.send_keys("khong-hop-le")
    _click(browser, 'button[data-action="save-contact"][data-channel="email"]')
    assert eventually(lambda: "E-mail không hợp lệ" in text_of(browser, "contact-email-note")), console(browser)
    assert email.get_attribute("aria-invalid") == "true"
    email.clear()
    email.send_keys(EMAIL)
    _click(browser, 'button[data-action="save-contact"][data-channel="email"]')
    assert eventually(lambda: text_of(browser, "contact-email-note") == "Đã lưu.")
    assert fetch_all(server.db_url, "SELECT channel, address FROM user_contact WHERE user_id = %s", [uid]) == [
        ("email", EMAIL)
    ]

    # A new subscription: the one commune of the scope is offered by name; warning and critical by default.
    browser.find_element("id", "settings-add").click()
    assert "Phường Ba Đình" in browser.find_element("id", "sub-places").text
    assert _checked(browser, "sub-severity-critical") and _checked(browser, "sub-severity-warning")
    assert not _checked(browser, "sub-severity-info")
    assert _duplicate_ids(browser) == []
    _click(browser, "#sub-commune-00004")
    browser.find_element("id", "sub-save").click()  # no channel yet: said before sending
    assert eventually(lambda: "ít nhất một kênh" in text_of(browser, "sub-channels-error"))
    assert _subscriptions(server, uid) == []
    _click(browser, "#sub-channel-email")
    assert text_of(browser, "sub-channels-error") == ""  # the field changed: its old error goes
    _click(browser, "#sub-quiet-on")
    _set_time(browser, "sub-quiet-from", "22:00")
    _set_time(browser, "sub-quiet-to", "06:00")
    browser.find_element("id", "sub-save").click()

    made = eventually(lambda: _subscriptions(server, uid))
    assert made == [([], ["00004"], [], [], ["critical", "warning"], ["email"], time(22), time(6), True, True)]
    sid = fetch_one(server.db_url, "SELECT id FROM alert_subscription WHERE user_id = %s", [uid])[0]
    item = eventually(lambda: browser.find_elements("id", f"subscription-{sid}"))
    assert item, console(browser)
    shown = item[0].text
    assert "Địa bàn: Phường Ba Đình" in shown and "Mức độ: Nghiêm trọng, Cảnh báo" in shown
    assert "Kênh: E-mail" in shown and "Giờ yên lặng: 22:00–06:00 (vẫn nhận cảnh báo nghiêm trọng)" in shown

    # Edit: information instead of warnings, nothing critical through the quiet hours, paused.
    _click(browser, f'#subscription-{sid} button[data-action="edit"]')
    assert _checked(browser, "sub-commune-00004") and _checked(browser, "sub-channel-email")
    _click(browser, "#sub-severity-warning")
    _click(browser, "#sub-severity-info")
    _click(browser, "#sub-quiet-critical")
    _click(browser, "#sub-enabled-on")
    browser.find_element("id", "sub-save").click()
    edited = eventually(lambda: _subscriptions(server, uid)[0][4] == ["critical", "info"])
    assert edited, _subscriptions(server, uid)
    assert _subscriptions(server, uid) == [
        ([], ["00004"], [], [], ["critical", "info"], ["email"], time(22), time(6), False, False)
    ]
    assert eventually(lambda: "Đang tắt" in browser.find_element("id", f"subscription-{sid}").text)

    # Delete takes a second tap.
    _click(browser, f'#subscription-{sid} button[data-action="delete"]')
    assert _subscriptions(server, uid) != []
    _click(browser, f'#subscription-{sid} button[data-action="confirm-delete"]')
    assert eventually(lambda: _subscriptions(server, uid) == [])
    assert eventually(lambda: not browser.find_elements("id", f"subscription-{sid}"))

    # The language of the messages.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "settings-language")).select_by_value("en")
    language = eventually(
        lambda: fetch_one(server.db_url, "SELECT language FROM app_user WHERE id = %s", [uid])[0] == "en"
    )
    assert language
    assert "English" in text_of(browser, "settings-language-note")
    assert _page_errors(browser) == []


def test_a_province_outside_the_scope_is_refused_in_words(phone_sized: Any, module_live_server: LiveServer) -> None:
    browser, server = phone_sized, module_live_server
    uid = create_user(server.db_url, "settings-narrowed", "subscriber", BA_DINH)
    # Made while the person's scope still covered TP Hồ Chí Minh; the scope is now Ba Đình only.
    fetch_one(
        server.db_url,
        "INSERT INTO alert_subscription (user_id, provinces, channels) VALUES (%s, '{79}', '{email}') RETURNING id",
        [uid],
    )
    sid = fetch_one(server.db_url, "SELECT id FROM alert_subscription WHERE user_id = %s", [uid])[0]
    _open_settings(browser, server, "settings-narrowed")
    assert "cả tỉnh/thành 79" in browser.find_element("id", f"subscription-{sid}").text

    _click(browser, f'#subscription-{sid} button[data-action="edit"]')
    outside = browser.find_element("id", "sub-province-79")
    assert outside.is_selected()
    assert "ngoài phạm vi của bạn" in browser.find_element("id", "sub-other-places").text
    browser.find_element("id", "sub-save").click()
    refused = eventually(lambda: "ngoài phạm vi" in text_of(browser, "sub-places-error"))
    assert refused, console(browser)
    assert "Chỉ chọn địa bàn" in text_of(browser, "sub-places-error")
    assert browser.find_element("id", "sub-places").get_attribute("class").endswith("invalid")
    assert _subscriptions(server, uid)[0][:2] == (["79"], [])

    # Untick the old province, pick the commune: accepted, the error goes away with the form.
    outside.click()
    _click(browser, "#sub-commune-00004")
    browser.find_element("id", "sub-save").click()
    assert eventually(lambda: _subscriptions(server, uid)[0][:2] == ([], ["00004"])), _subscriptions(server, uid)
    assert eventually(lambda: not browser.find_elements("id", "sub-form"))
    assert _page_errors(browser) == []


def _invalid(*loc: Any, kind: str, msg: str = "") -> list[dict[str, Any]]:
    """A 422's detail as FastAPI (and ioc/api/access.py for a route's own checks) shapes it."""
    return [{"loc": ["body", *loc], "msg": msg, "type": kind}]


OUTSIDE = "bộ lọc ngoài phạm vi được giao / filters outside your scope"
OUTSIDE_WORDS = (
    "Không được phép: bộ lọc ngoài phạm vi được giao. Chỉ chọn địa bàn, cơ quan, lĩnh vực trong phạm vi của bạn."
)
# The server's refusals -> {field on the form: words}: (status, body sent, answer's detail, expected).
REFUSALS = [
    (422, {}, _invalid("channels", kind="too_short"), {"channels": "Hãy chọn ít nhất một mục."}),
    (
        422,
        {},
        _invalid("agencies", 0, kind="string_pattern_mismatch"),
        {"agencies": "Mã chỉ gồm chữ không dấu, số, dấu chấm, gạch ngang và gạch dưới."},
    ),
    (422, {}, _invalid("quiet_from", kind="time_parsing"), {"quiet": "Giờ không hợp lệ: cần dạng HH:MM, ví dụ 22:00."}),
    (
        422,
        {},
        _invalid(kind="value_error", msg="quiet_from và quiet_to đi cùng nhau / give both"),
        {"quiet": "quiet_from và quiet_to đi cùng nhau"},
    ),
    (403, {"agencies": ["X9"], "sectors": []}, OUTSIDE, {"agencies": OUTSIDE_WORDS}),  # not one of the scope's
    (403, {"agencies": ["A1"], "sectors": []}, OUTSIDE, {"places": OUTSIDE_WORDS}),
    (404, {}, "không tìm thấy", {"form": "Đăng ký này không còn nữa (có thể đã bị xoá ở nơi khác)."}),
    (0, {}, None, {"form": "Không kết nối được máy chủ. Hãy thử lại."}),
]


def test_refusals_are_put_in_words_next_to_their_field(browser: Any, module_live_server: LiveServer) -> None:
    create_user(module_live_server.db_url, "settings-words", "subscriber", BA_DINH)
    _open_settings(browser, module_live_server, "settings-words")
    scope = {"national": False, "provinces": [], "communes": ["00004"], "agencies": ["A1"], "sectors": None}
    for status, body, detail, expected in REFUSALS:
        words = browser.execute_script(
            "return window.iocPhoneSettings.pure.fieldErrors({ok: false, status: arguments[0],"
            " body: arguments[2] === null ? null : {detail: arguments[2]}}, arguments[1], arguments[3])",
            status,
            body,
            detail,
            scope,
        )
        assert words == expected, (status, detail)
