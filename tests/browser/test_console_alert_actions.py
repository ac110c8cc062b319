"""The console's alert actions in headless Chromium at a desk's size.

An operator of Hà Nội signs in on the console (/), sees a firing alert of their province in the
alert list (and none of another province), then works it with the small forms in the alert's row:
acknowledges it with a comment (keyboard only), assigns it to a colleague, snoozes it until
tomorrow morning, opens its history, and closes it by hand. After each step the database holds the
alert's new columns and one more `alert_activity` line, and the row on screen shows the change,
which the live feed pushed (every `alert:<id>` change the page receives is recorded). A colleague
acting from elsewhere changes the row too, without anything done in this browser. The page never
calls window.prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ioc.auth.scope import Scope
from tests.auth_support import bearer, create_user, user_token
from tests.browser.pages import DESK_SIZE, console, eventually, sign_in, window_of
from tests.conftest import LiveServer
from tests.integration.alerting.people_support import fetch_all, fetch_one, seed_alert

pytestmark = pytest.mark.browser

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

# Record every alert row the live feed pushes, and every window.prompt (there must be none).
WATCH_PAGE = """
const live = window.iocDashboard.live;
window.__pushedAlerts = [];
window.__prompts = [];
const onDelta = live.handlers.onDelta;
live.handlers.onDelta = (changes) => {
  for (const [key, value] of Object.entries(changes)) {
    if (key.startsWith("alert:")) window.__pushedAlerts.push({ key: key, value: value });
  }
  onDelta(changes);
};
window.prompt = (message) => { window.__prompts.push(String(message)); return null; };
"""


@pytest.fixture()
def desk_sized(browser: Any) -> Iterator[Any]:
    with window_of(browser, DESK_SIZE) as sized:
        yield sized


def _keys() -> Any:
    return pytest.importorskip("selenium.webdriver.common.keys").Keys


def _row_text(browser: Any, alert_id: int) -> str:
    """The row's text, read in one step inside the page (a redraw cannot make it stale)."""
    script = "const r = document.querySelector(`#alert-feed li[data-alert-id='${arguments[0]}']`);"
    return str(browser.execute_script(script + " return r ? r.innerText : '';", alert_id))


def _read(browser: Any, selector: str, expression: str = "e.textContent") -> Any:
    """`expression` of the element `e` matching `selector` (None if absent), read in one step inside the page."""
    script = f"const e = document.querySelector(arguments[0]); return e ? ({expression}) : null;"
    return browser.execute_script(script, selector)


def _in_row(browser: Any, alert_id: int, selector: str) -> list[Any]:
    return list(browser.find_elements("css selector", f'#alert-feed li[data-alert-id="{alert_id}"] {selector}'))


def _click(browser: Any, alert_id: int, selector: str) -> None:
    """Click a control of the row; the live feed may redraw the list in between, so find it afresh."""
    stale = pytest.importorskip("selenium.common.exceptions").StaleElementReferenceException
    for _ in range(20):
        found = _in_row(browser, alert_id, selector)
        if found:
            try:
                found[0].click()
                return
            except stale:
                pass
        eventually(lambda: False, 0.1)
    pytest.fail(f"no {selector} in the row of alert {alert_id}: {_row_text(browser, alert_id)!r}")


def _type(browser: Any, text: str) -> None:
    """Type into whatever has the keyboard focus, as a person would."""
    browser.switch_to.active_element.send_keys(text)


def _focused(browser: Any) -> dict[str, Any]:
    script = """const a = document.activeElement;
    return {id: a.id, key: a.dataset.focusKey || null, tag: a.tagName, outline: getComputedStyle(a).outlineStyle};"""
    return dict(browser.execute_script(script))


def _pushed(browser: Any, alert_id: int) -> list[dict[str, Any]]:
    rows = browser.execute_script("return window.__pushedAlerts")
    return [r["value"] for r in rows if r["key"] == f"alert:{alert_id}" and r["value"] is not None]


def _pushed_where(browser: Any, alert_id: int, check: Callable[[dict[str, Any]], bool]) -> bool:
    return bool(eventually(lambda: any(check(row) for row in _pushed(browser, alert_id))))


def _activity(db_url: str, alert_id: int) -> list[tuple[Any, ...]]:
    query = "SELECT actor, kind, comment, data FROM alert_activity WHERE alert_id = %s ORDER BY id"
    return [tuple(r) for r in fetch_all(db_url, query, [alert_id])]


def _alert_columns(db_url: str, alert_id: int) -> dict[str, Any]:
    columns = ("state", "acknowledged_by", "acknowledged_at", "assignee", "snoozed_until", "resolved_by")
    row = fetch_one(db_url, f"SELECT {', '.join(columns)} FROM alert WHERE id = %s", [alert_id])
    return dict(zip(columns, row, strict=True))


def _tomorrow_morning(now: datetime) -> datetime:
    """08:00 Việt Nam time on the next day there (the console's "Đến sáng mai")."""
    day = now.astimezone(VIETNAM).date() + timedelta(days=1)
    return datetime.combine(day, time(8, 0), tzinfo=VIETNAM)


def _history_lines(browser: Any, alert_id: int) -> list[str]:
    script = "return [...document.querySelectorAll(`#alert-${arguments[0]}-history li`)].map(li => li.textContent)"
    return list(browser.execute_script(script, alert_id))


def test_an_operator_works_an_alert_from_the_console(desk_sized: Any, module_live_server: LiveServer) -> None:
    browser, server, db = desk_sized, module_live_server, module_live_server.db_url
    keys = _keys()
    hanoi = Scope.from_dict({"provinces": ["01"]})
    create_user(db, "desk-op", "operator", hanoi)
    colleague_token = user_token(db, "desk-op2", "operator", hanoi)
    mine = seed_alert(db, "01", summary="Hà Nội: 9 hồ sơ quá hạn tại Phường Hoàn Kiếm")
    theirs = seed_alert(db, "79", summary="TP Hồ Chí Minh: 40 hồ sơ quá hạn ở bàn điều khiển")

    sign_in(browser, server.url, "desk-op")
    assert browser.execute_script("return window.innerWidth") >= 1200  # the desk layout, not the stacked one
    browser.execute_script(WATCH_PAGE)
    assert eventually(lambda: "9 hồ sơ quá hạn" in _row_text(browser, mine)), console(browser)
    row = _row_text(browser, mine)
    assert "Chưa xác nhận" in row and "Đang cảnh báo" in row
    # Another province's alert is not listed at all, so no action on it is offered.
    assert _in_row(browser, theirs, "*") == []
    assert "40 hồ sơ" not in browser.find_element("id", "alert-feed").text

    # 1. Acknowledge with a comment, by keyboard: the form opens with the focus in its field.
    _click(browser, mine, 'button[data-action="ack"]')
    assert eventually(lambda: _focused(browser)["id"] == f"alert-{mine}-ack-comment"), _focused(browser)
    assert _focused(browser)["outline"] == "solid"  # the focus is visible
    assert _read(browser, f'label[for="alert-{mine}-ack-comment"]') == "Ghi chú khi xác nhận (không bắt buộc)"
    ack_button = f'#alert-feed li[data-alert-id="{mine}"] button[data-action="ack"]'
    assert _read(browser, ack_button, "e.getAttribute('aria-expanded')") == "true"
    _type(browser, "Đã gọi UBND phường" + keys.ENTER)

    assert eventually(lambda: _alert_columns(db, mine)["acknowledged_by"] == "desk-op")
    assert _activity(db, mine) == [("desk-op", "ack", "Đã gọi UBND phường", {})]
    assert _pushed_where(browser, mine, lambda a: a["acknowledged_by"] == "desk-op"), _pushed(browser, mine)
    assert eventually(lambda: "Đã xác nhận: desk-op" in _row_text(browser, mine)), _row_text(browser, mine)
    assert _in_row(browser, mine, "form") == [] and _in_row(browser, mine, 'button[data-action="ack"]') == []

    # 2. Assign to a colleague: Escape closes the form and gives the focus back to its button;
    # Enter on the button opens it again; the name is typed and sent with Enter.
    _click(browser, mine, 'button[data-action="assign"]')
    assert eventually(lambda: _focused(browser)["id"] == f"alert-{mine}-assign-username"), _focused(browser)
    _type(browser, keys.ESCAPE)
    assert eventually(lambda: _in_row(browser, mine, "form") == [])
    assert eventually(lambda: _focused(browser)["key"] == f"{mine}:button:assign"), _focused(browser)
    _type(browser, keys.ENTER)
    assert eventually(lambda: _focused(browser)["id"] == f"alert-{mine}-assign-username"), _focused(browser)
    _type(browser, "desk-op2" + keys.ENTER)

    assert eventually(lambda: _alert_columns(db, mine)["assignee"] == "desk-op2")
    assert _activity(db, mine)[1:] == [("desk-op", "assign", "", {"assignee": "desk-op2", "previous": None})]
    assert _pushed_where(browser, mine, lambda a: a["assignee"] == "desk-op2"), _pushed(browser, mine)
    assert eventually(lambda: "Giao cho: desk-op2" in _row_text(browser, mine)), _row_text(browser, mine)

    # 3. Snooze until tomorrow morning (08:00 Việt Nam time), chosen among the four lengths.
    _click(browser, mine, 'button[data-action="snooze"]')
    assert eventually(lambda: _in_row(browser, mine, 'form[data-form="snooze"]'))
    choices = browser.execute_script(
        "return [...document.querySelectorAll(`#alert-${arguments[0]}-form label.alert-form-choice`)]"
        ".map(l => l.textContent.trim())",
        mine,
    )
    assert choices[:2] == ["1 giờ", "4 giờ"] and choices[3] == "1 ngày", choices
    assert choices[2].startswith("Đến sáng mai (08:00 ngày "), choices
    assert _focused(browser)["id"] == f"alert-{mine}-snooze-4h"  # the default choice has the focus
    before = datetime.now(VIETNAM)
    _click(browser, mine, f'label[for="alert-{mine}-snooze-morning"]')
    _click(browser, mine, "button.alert-form-submit")

    assert eventually(lambda: _alert_columns(db, mine)["snoozed_until"] is not None)
    snoozed_until = _alert_columns(db, mine)["snoozed_until"]
    assert snoozed_until in {_tomorrow_morning(before), _tomorrow_morning(datetime.now(VIETNAM))}
    snooze_line = _activity(db, mine)[2]
    assert snooze_line[:3] == ("desk-op", "snooze", "")
    assert datetime.fromisoformat(snooze_line[3]["until"]) == snoozed_until
    assert _pushed_where(browser, mine, lambda a: a["snoozed_until"] is not None), _pushed(browser, mine)
    shown_until = browser.execute_script("return IocAlertActions.hhmm(arguments[0])", snoozed_until.isoformat())
    assert eventually(lambda: f"Tạm hoãn đến {shown_until}" in _row_text(browser, mine)), _row_text(browser, mine)

    # 4. The history: the rule's firing, then the three actions, in order.
    _click(browser, mine, 'button[data-action="history"]')
    assert eventually(lambda: len(_history_lines(browser, mine)) == 4), _history_lines(browser, mine)
    fired, acked, assigned, snoozed = _history_lines(browser, mine)
    assert "Trạng thái: đang cảnh báo" in fired
    assert acked.endswith("Xác nhận · desk-op: Đã gọi UBND phường")
    assert assigned.endswith("Giao việc · desk-op → desk-op2")
    assert snoozed.endswith(f"Tạm hoãn · desk-op đến {shown_until}")

    # A colleague ends the snooze from their phone: the row and the open history follow, pushed
    # by the live feed, with nothing done in this browser.
    with httpx.Client(base_url=server.url, timeout=30, headers=bearer(colleague_token)) as phone:
        ended = phone.post(f"/api/v1/alerts/{mine}/snooze", json={"until": None, "comment": "Đã có mặt tại phường"})
        assert ended.status_code == 200, ended.text
    assert _pushed_where(browser, mine, lambda a: a["snoozed_until"] is None and a["assignee"] == "desk-op2")
    assert eventually(lambda: "Tạm hoãn đến" not in _row_text(browser, mine)), _row_text(browser, mine)
    assert eventually(lambda: len(_history_lines(browser, mine)) == 5), _history_lines(browser, mine)
    assert _history_lines(browser, mine)[4].endswith("Tạm hoãn · desk-op2 (kết thúc): Đã có mặt tại phường")

    # 5. Close by hand: a reason is required (said next to the field, nothing is sent), then given.
    _click(browser, mine, 'button[data-action="resolve"]')
    assert eventually(lambda: _focused(browser)["id"] == f"alert-{mine}-resolve-comment"), _focused(browser)
    _type(browser, keys.ENTER)
    error = f"#alert-{mine}-form-error"
    assert eventually(lambda: _read(browser, error) == "Hãy ghi lý do đóng cảnh báo."), _row_text(browser, mine)
    field = f"#alert-{mine}-resolve-comment"
    assert _read(browser, field, "[e.getAttribute('aria-invalid'), e.getAttribute('aria-describedby')]") == [
        "true",
        f"alert-{mine}-form-error",
    ]
    assert _focused(browser)["id"] == f"alert-{mine}-resolve-comment"  # the focus stays in the field
    assert _alert_columns(db, mine)["state"] == "firing" and len(_activity(db, mine)) == 4
    _type(browser, "Phường đã xử lý xong 9 hồ sơ")
    _click(browser, mine, "button.alert-form-submit")

    assert eventually(lambda: _alert_columns(db, mine)["state"] == "resolved")
    assert _alert_columns(db, mine)["resolved_by"] == "desk-op"
    assert _activity(db, mine)[4:] == [("desk-op", "resolve", "Phường đã xử lý xong 9 hồ sơ", {"from_state": "firing"})]
    last_transition = fetch_one(
        db, "SELECT from_state, to_state, summary_vi FROM alert_transition WHERE alert_id = %s ORDER BY id DESC", [mine]
    )
    assert tuple(last_transition) == ("firing", "resolved", "Phường đã xử lý xong 9 hồ sơ")
    assert _pushed_where(browser, mine, lambda a: a["state"] == "resolved"), _pushed(browser, mine)
    assert eventually(lambda: "Đóng bởi: desk-op" in _row_text(browser, mine)), _row_text(browser, mine)
    assert "Đã hết" in _row_text(browser, mine)
    offered = browser.execute_script(
        "return [...document.querySelectorAll(`#alert-feed li[data-alert-id='${arguments[0]}'] .alert-action`)]"
        ".map(b => b.dataset.action)",
        mine,
    )
    assert offered == ["history"]  # a closed alert only has its history
    assert eventually(lambda: len(_history_lines(browser, mine)) == 7), _history_lines(browser, mine)
    assert _history_lines(browser, mine)[-1].endswith("Đóng · desk-op: Phường đã xử lý xong 9 hồ sơ")

    assert browser.execute_script("return window.__prompts") == []
    assert [e for e in console(browser) if e.get("level") == "SEVERE"] == []

    # Forcing an action on the other province's alert from this page (the API module itself) is refused.
    refused = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "IocAlertActions.api.ack(arguments[0], 'thử').then(r => done([r.status, IocAlertActions.errorText(r)]));",
        theirs,
    )
    assert refused == [403, "Không có quyền với cảnh báo này."]
    assert _alert_columns(db, theirs)["acknowledged_at"] is None and _activity(db, theirs) == []
    assert _in_row(browser, theirs, "*") == []


def test_snooze_choices_and_form_checks_are_pure(browser: Any, module_live_server: LiveServer) -> None:
    """The module's pure helpers, run in the page: the four lengths at a fixed `now`, and the checks."""
    browser.get(module_live_server.url + "/login")
    browser.execute_script(
        "const s = document.createElement('script'); s.src = '/static/alert_actions.js'; document.head.appendChild(s);"
    )
    assert eventually(lambda: browser.execute_script("return !!window.IocAlertActions"))
    # 22:30 in Hà Nội on 31 Dec 2025 (15:30 UTC): tomorrow morning is 1 Jan 2026 08:00 there (01:00 UTC).
    choices = browser.execute_script(
        "return IocAlertActions.snoozeChoices(new Date('2025-12-31T15:30:00Z'))"
        ".map(c => [c.value, c.label, c.until.toISOString()])"
    )
    assert choices == [
        ["1h", "1 giờ", "2025-12-31T16:30:00.000Z"],
        ["4h", "4 giờ", "2025-12-31T19:30:00.000Z"],
        ["morning", "Đến sáng mai (08:00 ngày 01/01)", "2026-01-01T01:00:00.000Z"],
        ["1d", "1 ngày", "2026-01-01T15:30:00.000Z"],
    ]
    # 06:00 in Hà Nội (23:00 UTC the day before): "sáng mai" is still the next calendar day there.
    morning = browser.execute_script(
        "return IocAlertActions.snoozeUntil('morning', new Date('2026-03-01T23:00:00Z')).toISOString()"
    )
    assert morning == "2026-03-03T01:00:00.000Z"
    checks = browser.execute_script(
        """const p = IocAlertActions.formProblem;
        return [p('resolve', {comment: ''}), p('resolve', {comment: 'xong'}), p('assign', {username: ''}),
                p('assign', {username: 'Nguyễn Văn A'}), p('assign', {username: 'desk-op2'}),
                p('snooze', {choice: 'morning'}), p('snooze', {choice: '99h'}), p('ack', {comment: ''})]"""
    )
    assert checks == [
        "Hãy ghi lý do đóng cảnh báo.",
        None,
        None,
        "Tên đăng nhập gồm 2–64 ký tự: chữ thường không dấu, số và . _ @ -",
        None,
        None,
        "Hãy chọn thời gian tạm hoãn.",
        None,
    ]
