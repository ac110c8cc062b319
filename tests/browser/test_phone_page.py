"""The phone page in headless Chromium at a phone's size: a subscriber signs in, sees the alerts
of their scope (and not the others), acknowledges one with a tap; the database then holds the
acknowledgement and its history line. An operator assigns an alert to a colleague and closes
another with a reason, with the same checks and words as the console. Also: the service worker
registers, and the PWA files are served the way browsers require. (The console's alert actions:
test_console_alert_actions.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from psycopg import connect as psycopg_connect

from ioc.auth.scope import Scope
from tests.auth_support import create_user
from tests.browser.pages import (
    PHONE_SIZE,
    console,
    eventually,
    forget_everything,
    submit_login,
    wait_for_url,
    window_of,
)
from tests.browser.test_frontend_routes import FRONTEND_DIR, _InlineCode
from tests.conftest import LiveServer
from tests.integration.alerting.people_support import fetch_all, fetch_one, seed_alert

pytestmark = pytest.mark.browser


@pytest.fixture()
def phone_sized(browser: Any) -> Iterator[Any]:
    with window_of(browser, PHONE_SIZE) as sized:
        yield sized


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


def _keys() -> Any:
    return pytest.importorskip("selenium.webdriver.common.keys").Keys


def _read(browser: Any, selector: str, expression: str = "e.textContent") -> Any:
    """`expression` of the element `e` matching `selector` (None if absent), read in one step inside the page."""
    script = f"const e = document.querySelector(arguments[0]); return e ? ({expression}) : null;"
    return browser.execute_script(script, selector)


def _tap(browser: Any, alert_id: int, selector: str) -> None:
    """Tap a control of the card; the live feed may redraw the list in between, so find it afresh."""
    stale = pytest.importorskip("selenium.common.exceptions").StaleElementReferenceException
    for _ in range(20):
        found = browser.find_elements("css selector", f'li.alert-card[data-alert-id="{alert_id}"] {selector}')
        if found:
            try:
                found[0].click()
                return
            except stale:
                pass
        eventually(lambda: False, 0.1)
    pytest.fail(f"no {selector} in the card of alert {alert_id}: {_card_text(browser, alert_id)!r}")


def _type(browser: Any, *keys: str) -> None:
    """Type into whatever has the keyboard focus, as a person would."""
    browser.switch_to.active_element.send_keys(*keys)


def _focused_id(browser: Any) -> str:
    return str(browser.execute_script("return document.activeElement.id"))


def _alert_columns(db_url: str, alert_id: int) -> dict[str, Any]:
    columns = ("state", "assignee", "resolved_by")
    row = fetch_one(db_url, f"SELECT {', '.join(columns)} FROM alert WHERE id = %s", [alert_id])
    return dict(zip(columns, row, strict=True))


def _activity(db_url: str, alert_id: int) -> list[tuple[Any, ...]]:
    query = "SELECT actor, kind, comment, data FROM alert_activity WHERE alert_id = %s ORDER BY id"
    return [tuple(r) for r in fetch_all(db_url, query, [alert_id])]


def _listed(browser: Any) -> list[int]:
    script = "return [...document.querySelectorAll('li.alert-card')].map(li => Number(li.dataset.alertId))"
    return list(browser.execute_script(script))


# Every control of a card: its size on screen (a thumb needs about 44 px) and its accessible name.
CONTROLS = """return [...document.querySelectorAll(`li.alert-card[data-alert-id='${arguments[0]}'] button,
  li.alert-card[data-alert-id='${arguments[0]}'] select, li.alert-card[data-alert-id='${arguments[0]}'] input,
  li.alert-card[data-alert-id='${arguments[0]}'] textarea`)].map(e => {
  const r = e.getBoundingClientRect();
  const label = e.labels && e.labels.length ? e.labels[0].textContent : '';
  return {what: e.dataset.action || e.id || e.dataset.role, height: r.height, right: r.right,
          name: (e.getAttribute('aria-label') || label || e.textContent).trim()};
});"""


def _controls(browser: Any, alert_id: int) -> list[dict[str, Any]]:
    return list(browser.execute_script(CONTROLS, alert_id))


def _sign_in_on_the_phone(browser: Any, server: LiveServer, username: str) -> None:
    forget_everything(browser, server.url)
    submit_login(browser, server.url, username, query="?next=/phone")
    wait_for_url(browser, server.url + "/phone")
    ready = eventually(lambda: browser.execute_script("return !!(window.iocPhone && window.iocPhone.ready)"), 30)
    assert ready, console(browser)


def test_an_operator_assigns_and_closes_alerts_on_the_phone(phone_sized: Any, module_live_server: LiveServer) -> None:
    browser, server, db = phone_sized, module_live_server, module_live_server.db_url
    keys = _keys()
    hanoi = Scope.from_dict({"provinces": ["01"]})
    create_user(db, "phone-op", "operator", hanoi)
    create_user(db, "phone-op2", "subscriber", hanoi)  # a colleague whose scope covers the alerts
    create_user(db, "phone-far", "operator", Scope.from_dict({"provinces": ["79"]}))  # one whose scope does not
    to_assign = seed_alert(db, "01", summary="Hà Nội: 5 hồ sơ quá hạn tại Phường Cửa Nam")
    to_close = seed_alert(db, "01", summary="Hà Nội: 3 hồ sơ quá hạn tại Xã Sóc Sơn")
    closed_elsewhere = seed_alert(db, "01", summary="Hà Nội: 2 hồ sơ quá hạn tại Phường Tây Hồ")

    _sign_in_on_the_phone(browser, server, "phone-op")
    assert eventually(lambda: {to_assign, to_close, closed_elsewhere} <= set(_listed(browser))), console(browser)
    assert browser.execute_script("return window.innerWidth") <= PHONE_SIZE[0]
    # One column that fits the phone; every control is thumb-sized and has a name a screen reader says.
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    controls = _controls(browser, to_assign)
    assert {c["what"] for c in controls} >= {"ack", "snooze", "assign", "resolve", "history"}, controls
    assert all(c["height"] >= 44 and c["right"] <= PHONE_SIZE[0] and c["name"] for c in controls), controls
    # The same snooze lengths as the console (IocAlertActions.snoozeChoices), the console's default chosen.
    offered = browser.execute_script(
        "const s = document.querySelector(`li[data-alert-id='${arguments[0]}'] select[data-role=snooze-choice]`);"
        "return [[...s.options].map(o => [o.value, o.textContent]), s.value,"
        " IocAlertActions.snoozeChoices(new Date()).map(c => [c.value, c.label])];",
        to_assign,
    )
    assert offered[0] == offered[2] and [v for v, _ in offered[0]] == ["1h", "4h", "morning", "1d"], offered
    assert offered[1] == "4h"

    # 1. Assign ("Giao"): the form opens in the card with the focus in its labelled field.
    _tap(browser, to_assign, 'button[data-action="assign"]')
    field = f"alert-{to_assign}-assign-username"
    assert eventually(lambda: _focused_id(browser) == field), _focused_id(browser)
    assert _read(browser, f'label[for="{field}"]') == "Giao cho (tên đăng nhập)"
    assign_button = f'li[data-alert-id="{to_assign}"] button[data-action="assign"]'
    assert _read(browser, assign_button, "e.getAttribute('aria-expanded')") == "true"
    # A colleague whose scope does not cover the alert: the server's 422, in words, under the field.
    _type(browser, "phone-far", keys.ENTER)
    error = f"#alert-{to_assign}-form-error"
    refused = eventually(
        lambda: (_read(browser, error) or "").startswith("Dữ liệu không hợp lệ: cảnh báo ngoài phạm vi")
    )
    assert refused, _card_text(browser, to_assign)
    assert _read(browser, f"#{field}", "[e.getAttribute('aria-invalid'), e.getAttribute('aria-describedby')]") == [
        "true",
        f"{field}-hint alert-{to_assign}-form-error",
    ]
    assert _focused_id(browser) == field  # the focus stays in the field, to correct it
    assert _alert_columns(db, to_assign)["assignee"] is None and _activity(db, to_assign) == []
    _type(browser, keys.END, keys.BACKSPACE * 20, "phone-op2")
    _tap(browser, to_assign, "button.form-submit")

    assert eventually(lambda: _alert_columns(db, to_assign)["assignee"] == "phone-op2")
    assert _activity(db, to_assign) == [("phone-op", "assign", "", {"assignee": "phone-op2", "previous": None})]
    assert eventually(lambda: "Giao cho: phone-op2" in _card_text(browser, to_assign)), _card_text(browser, to_assign)
    assert _read(browser, "#notice") == "Đã giao cảnh báo cho phone-op2."
    assert _read(browser, f'li[data-alert-id="{to_assign}"] form') is None  # the form closed

    # 2. Close by hand ("Đóng"): an empty reason is refused in words before anything is sent.
    _tap(browser, to_close, 'button[data-action="resolve"]')
    reason = f"alert-{to_close}-resolve-comment"
    assert eventually(lambda: _focused_id(browser) == reason), _focused_id(browser)
    assert _read(browser, f'label[for="{reason}"]') == "Lý do đóng cảnh báo (bắt buộc)"
    assert _read(browser, f"#{reason}", "e.getAttribute('aria-required')") == "true"
    _type(browser, "   ")  # blanks are no reason either
    _tap(browser, to_close, "button.form-submit")
    error = f"#alert-{to_close}-form-error"
    assert eventually(lambda: _read(browser, error) == "Hãy ghi lý do đóng cảnh báo."), _card_text(browser, to_close)
    assert _read(browser, f"#{reason}", "e.getAttribute('aria-invalid')") == "true"
    assert _read(browser, f"#{reason}", "e.getAttribute('aria-describedby')") == f"alert-{to_close}-form-error"
    assert _alert_columns(db, to_close)["state"] == "firing" and _activity(db, to_close) == []
    _tap(browser, to_close, f"#{reason}")
    _type(browser, keys.END, keys.BACKSPACE * 5, "Xã đã trả kết quả cả 3 hồ sơ")
    _tap(browser, to_close, "button.form-submit")

    assert eventually(lambda: _alert_columns(db, to_close)["state"] == "resolved")
    assert _alert_columns(db, to_close)["resolved_by"] == "phone-op"
    assert _activity(db, to_close) == [
        ("phone-op", "resolve", "Xã đã trả kết quả cả 3 hồ sơ", {"from_state": "firing"})
    ]
    assert eventually(lambda: to_close not in _listed(browser)), _listed(browser)  # it leaves the open list
    assert _read(browser, "#notice") == "Đã đóng cảnh báo: Hà Nội: 3 hồ sơ quá hạn tại Xã Sóc Sơn"
    assert _focused_id(browser) == "notice"
    assert {to_assign, closed_elsewhere} <= set(_listed(browser))

    # 3. Closed by someone else while the reason is typed (written straight to the database, so the
    # page cannot know): the server's 409, in words under the field; the card stays until "Đã hiểu".
    _tap(browser, closed_elsewhere, 'button[data-action="resolve"]')
    reason = f"alert-{closed_elsewhere}-resolve-comment"
    assert eventually(lambda: _focused_id(browser) == reason), _focused_id(browser)
    _type(browser, "Phường đã xử lý")
    with psycopg_connect(db) as conn:
        conn.execute(
            "UPDATE alert SET state = 'resolved', resolved_at = now(), resolved_by = 'phone-op2' WHERE id = %s",
            [closed_elsewhere],
        )
    _tap(browser, closed_elsewhere, "button.form-submit")
    error = f"#alert-{closed_elsewhere}-form-error"
    assert eventually(lambda: _read(browser, error) == "Cảnh báo đã đóng."), _card_text(browser, closed_elsewhere)
    assert _read(browser, f"#{reason}", "[e.value, e.disabled]") == ["Phường đã xử lý", True]
    assert _read(browser, f'li[data-alert-id="{closed_elsewhere}"] button.form-submit', "e.disabled") is True
    assert _activity(db, closed_elsewhere) == []
    _tap(browser, closed_elsewhere, "button.ghost[data-focus-key$='resolve-cancel']")
    assert eventually(lambda: closed_elsewhere not in _listed(browser)), _listed(browser)

    # The browser logs the refused requests (422, 409) as failed loads; nothing else went wrong.
    errors = [e for e in console(browser) if e.get("level") == "SEVERE"]
    assert [e for e in errors if "status of 422" not in e["message"] and "status of 409" not in e["message"]] == []


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
