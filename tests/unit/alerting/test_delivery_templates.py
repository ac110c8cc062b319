"""Templates: every notification kind in Vietnamese and English, each channel form, a link back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.delivery.model import AlertStatus, NotificationAlert, NotificationKind
from alerts.delivery.templates import format_time, render, severity_name
from tests.unit.alerting.test_delivery_fixtures import PUBLIC_URL, alert, notification

BASE = PUBLIC_URL.rstrip("/")


@pytest.mark.parametrize(
    ("severity", "vi", "en"),
    [("critical", "nghiêm trọng", "critical"), ("warning", "cảnh báo", "warning"), ("info", "thông tin", "info"),
     ("custom", "custom", "custom")],
)  # fmt: skip
def test_severity_names(severity: str, vi: str, en: str) -> None:
    assert severity_name(severity, "vi") == vi
    assert severity_name(severity, "en") == en


@pytest.mark.parametrize(
    ("instant", "vi", "en"),
    [
        (datetime(2026, 10, 12, 1, 30, tzinfo=UTC), "08:30 12/10/2026", "12 Oct 2026 08:30"),
        (datetime(2026, 12, 31, 17, 5, tzinfo=UTC), "00:05 01/01/2027", "1 Jan 2027 00:05"),  # next day locally
    ],
)
def test_times_are_vietnam_local_time(instant: datetime, vi: str, en: str) -> None:
    assert format_time(instant, "vi") == vi
    assert format_time(instant, "en") == en


# (kind, alerts, extra, language) → expected title, a phrase of the body, link path
CASES = [
    ("one firing, vi", NotificationKind.ALERT, [alert()], {}, "vi",
     "[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn", "Đang kích hoạt (1)", "/alerts/42"),
    ("one firing, en", NotificationKind.ALERT, [alert()], {}, "en",
     "[Critical] Ba Đình ward: 3 overdue dossiers", "Firing (1)", "/alerts/42"),
    ("group, vi", NotificationKind.ALERT, [alert(), alert(43, severity="warning")], {}, "vi",
     "[Nghiêm trọng] 2 cảnh báo đang kích hoạt — quy tắc: overdue · tỉnh/thành: 01", "từ 08:30 12/10/2026",
     "/alerts"),
    ("group with resolved, en", NotificationKind.ALERT, [alert(), alert(43, AlertStatus.RESOLVED)], {}, "en",
     "[Critical] 1 alert firing, 1 resolved — rule: overdue · province: 01", "resolved at 12 Oct 2026 10:05",
     "/alerts/42"),
    ("resolved, vi", NotificationKind.ALERT, [alert(status=AlertStatus.RESOLVED)], {}, "vi",
     "[Đã khắc phục] Phường Ba Đình: 3 hồ sơ quá hạn", "khắc phục lúc 10:05 12/10/2026", "/alerts/42"),
    ("resolved group, en", NotificationKind.ALERT,
     [alert(status=AlertStatus.RESOLVED), alert(43, AlertStatus.RESOLVED)], {}, "en",
     "[Resolved] 2 alerts resolved — rule: overdue · province: 01", "Resolved (2)", "/alerts"),
    ("warning, vi", NotificationKind.ALERT, [alert(severity="warning")], {}, "vi",
     "[Cảnh báo] Phường Ba Đình: 3 hồ sơ quá hạn", "• [Cảnh báo] Phường Ba Đình", "/alerts/42"),
    ("escalation, vi", NotificationKind.ESCALATION, [alert()],
     {"step": 1, "level": "province", "after_working_minutes": 30}, "vi",
     "[Chuyển cấp 2] Chưa được xác nhận: Phường Ba Đình: 3 hồ sơ quá hạn",
     "Cảnh báo chưa được xác nhận sau 30 phút làm việc; đã chuyển lên cấp tỉnh.", "/alerts/42"),
    ("escalation, en", NotificationKind.ESCALATION, [alert()], {"step": 0, "level": "national"}, "en",
     "[Escalation 1] Not acknowledged: Ba Đình ward: 3 overdue dossiers", "escalated to the national level",
     "/alerts/42"),
    ("silence expiry, vi", NotificationKind.SILENCE_EXPIRY, [],
     {"silence_id": 7, "comment": "Bảo trì hệ thống một cửa", "ends_at": "2026-10-17T10:00:00+00:00"}, "vi",
     "[Sắp hết tạm tắt] Tạm tắt #7 kết thúc lúc 17:00 17/10/2026", "Lý do tạm tắt: Bảo trì hệ thống một cửa",
     "/api/v1/silences/7"),
    ("silence expiry, en", NotificationKind.SILENCE_EXPIRY, [],
     {"silence_id": 7, "comment": "maintenance", "ends_at": "2026-10-17T10:00:00+00:00"}, "en",
     "[Silence ending] Silence #7 ends at 17 Oct 2026 17:00", "Reason for the silence: maintenance",
     "/api/v1/silences/7"),
    ("test, vi", NotificationKind.TEST, [], {}, "vi", "[Thử] Tin nhắn thử từ IOC",
     "kênh thông báo này hoạt động bình thường", "/alerts"),
    ("test, en", NotificationKind.TEST, [], {}, "en", "[Test] IOC test message", "this notification channel works",
     "/alerts"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "alerts", "extra", "language", "title", "phrase", "link"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_every_kind_in_both_languages(
    kind: NotificationKind,
    alerts: list[NotificationAlert],
    extra: dict[str, Any],
    language: str,
    title: str,
    phrase: str,
    link: str,
) -> None:
    message = render(notification(*alerts, kind=kind, extra=extra), language=language, public_url=PUBLIC_URL)
    assert message.language == language
    assert message.title == title == message.subject
    assert phrase in message.text
    assert message.link == BASE + link
    # Every form carries the link back (push carries it beside the body, in its payload).
    assert message.link in message.text and message.link in message.html and message.link in message.chat_text
    assert f'href="{message.link}"' in message.chat_html
    assert f'<html lang="{language}">' in message.html


def test_vietnamese_keeps_its_diacritics_everywhere() -> None:
    m = render(notification(alert(), alert(43, AlertStatus.RESOLVED)), language="vi", public_url=PUBLIC_URL)
    assert m.title == "[Nghiêm trọng] 1 cảnh báo đang kích hoạt, 1 đã khắc phục — quy tắc: overdue · tỉnh/thành: 01"
    for form in (m.text, m.html, m.short, m.chat_text, m.chat_html):
        assert "Phường Ba Đình" in form
    assert "Xem trên IOC" in m.text and "Thời gian theo giờ Việt Nam (UTC+7)" in m.text
    assert "Đã khắc phục: Phường Ba Đình" in m.short


def test_each_alert_links_to_itself_in_the_email() -> None:
    m = render(notification(alert(42), alert(43), alert(44)), language="vi", public_url=PUBLIC_URL)
    for i in (42, 43, 44):
        assert f"{BASE}/alerts/{i}" in m.text and f'href="{BASE}/alerts/{i}"' in m.html


def test_short_forms_list_a_few_alerts_then_say_how_many_more() -> None:
    alerts = [alert(i, summary_vi=f"Xã số {i}", summary_en=f"Commune {i}") for i in range(1, 8)]
    vi = render(notification(*alerts), language="vi", public_url=PUBLIC_URL)
    en = render(notification(*alerts), language="en", public_url=PUBLIC_URL)
    assert vi.short.splitlines() == ["• Xã số 1", "• Xã số 2", "• Xã số 3", "… và 4 cảnh báo khác"]
    assert en.short.splitlines()[-1] == "… and 4 more alerts"
    assert all(f"Xã số {i}" in vi.text for i in range(1, 8))  # the e-mail lists them all


def test_html_forms_escape_what_came_from_data() -> None:
    nasty = alert(summary_vi="<script>alert(1)</script> & Co", summary_en="<b>x</b>")
    m = render(notification(nasty), language="vi", public_url=PUBLIC_URL)
    assert "<script>" not in m.html and "&lt;script&gt;" in m.html and "&amp; Co" in m.html
    assert "<script>" not in m.chat_html and "&lt;script&gt;" in m.chat_html
    assert "<script>alert(1)</script> & Co" in m.text  # plain text stays plain


def test_acknowledged_alerts_say_by_whom() -> None:
    from dataclasses import replace

    acked = replace(alert(), acknowledged_by="nguyen.van.a")
    assert "đã xác nhận: nguyen.van.a" in render(notification(acked), language="vi", public_url=PUBLIC_URL).text
    assert "acknowledged by nguyen.van.a" in render(notification(acked), language="en", public_url=PUBLIC_URL).text


def test_an_explicit_link_from_the_planner_wins_but_only_a_local_path() -> None:
    n = notification(alert(), extra={"link": "/phone/alerts/42"})
    assert render(n, language="vi", public_url=PUBLIC_URL).link == f"{BASE}/phone/alerts/42"
    evil = notification(alert(), extra={"link": "//evil.example/x"})
    assert render(evil, language="vi", public_url=PUBLIC_URL).link == f"{BASE}/alerts/42"


def test_unknown_language_falls_back_to_vietnamese() -> None:
    assert render(notification(alert()), language="fr", public_url=PUBLIC_URL).language == "vi"
