"""What each channel puts on the wire, built purely: Alertmanager's webhook shape, IOC's own,
Telegram's sendMessage, Zalo's message, the push payload, the e-mail."""

from __future__ import annotations

from email import message_from_bytes, policy

from alerts.delivery.alertmanager_format import ZERO_TIME, alertmanager_payload, rfc3339
from alerts.delivery.email import build_email, message_id, recipients
from alerts.delivery.model import AlertStatus, Channel, NotificationKind
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.telegram import TELEGRAM_MAX_CHARS, telegram_request
from alerts.delivery.webhook import webhook_payload
from alerts.delivery.webpush import push_payload
from alerts.delivery.zalo import ZALO_MAX_CHARS, zalo_request
from tests.unit.alerting.test_delivery_fixtures import ENDS, PUBLIC_URL, STARTS, alert, notification, row

BASE = PUBLIC_URL.rstrip("/")


def test_alertmanager_payload_has_the_version_4_shape() -> None:
    firing, resolved = alert(42), alert(43, AlertStatus.RESOLVED, severity="warning", agency_code="UBND-00004")
    body = alertmanager_payload(notification(firing, resolved), receiver="so-noi-vu", public_url=PUBLIC_URL)
    assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                         "commonLabels", "commonAnnotations", "externalURL", "alerts"}  # fmt: skip
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "so-noi-vu"
    assert body["groupKey"] == '{}:{rule="overdue",province_code="01"}'
    assert body["groupLabels"] == {"rule": "overdue", "province_code": "01"}
    assert body["externalURL"] == BASE
    # Common labels: what both alerts share (severity and agency differ).
    assert body["commonLabels"] == {"alertname": "overdue", "rule": "overdue", "province_code": "01",
                                    "commune_code": "00004", "stream": "dossier"}  # fmt: skip
    first, second = body["alerts"]
    assert set(first) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert first["status"] == "firing" and first["labels"]["alertname"] == "overdue"
    assert first["labels"]["severity"] == "critical"
    assert first["annotations"]["summary"] == "Phường Ba Đình: 3 hồ sơ quá hạn"
    assert first["startsAt"] == "2026-10-12T01:30:00Z" and first["endsAt"] == ZERO_TIME
    assert first["generatorURL"] == f"{BASE}/alerts/42" and first["fingerprint"] == "fp0042"
    assert second["status"] == "resolved" and second["endsAt"] == rfc3339(ENDS) == "2026-10-12T03:05:00Z"
    assert second["labels"]["agency_code"] == "UBND-00004"


def test_alertmanager_status_is_resolved_when_nothing_fires_and_alerts_can_be_truncated() -> None:
    resolved = [alert(i, AlertStatus.RESOLVED) for i in range(1, 6)]
    body = alertmanager_payload(notification(*resolved), receiver="r", public_url=PUBLIC_URL, max_alerts=2)
    assert body["status"] == "resolved" and len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3


def test_alertmanager_summary_follows_the_language() -> None:
    body = alertmanager_payload(notification(alert()), receiver="r", public_url=PUBLIC_URL, language="en")
    assert body["alerts"][0]["annotations"]["summary"] == "Ba Đình ward: 3 overdue dossiers"
    assert body["commonAnnotations"]["ioc_title"] == "[Critical] Ba Đình ward: 3 overdue dossiers"


def test_rfc3339_keeps_fractions_like_go() -> None:
    assert rfc3339(STARTS.replace(microsecond=250000)) == "2026-10-12T01:30:00.25Z"


def test_webhook_payload_forms() -> None:
    n = notification(alert())
    own = webhook_payload(row(n), PUBLIC_URL)
    assert own["version"] == "ioc/1" and own["idempotency_key"] == "0123456789abcdef0123456789abcdef"
    assert own["link"] == f"{BASE}/alerts/42" and own["notification"] == n.to_json()
    am = webhook_payload(row(n, options={"format": "alertmanager", "receiver": "prom"}), PUBLIC_URL)
    assert am["version"] == "4" and am["receiver"] == "prom"
    assert webhook_payload(row(n, options={"language": "en"}), PUBLIC_URL)["language"] == "en"


def test_telegram_request_shape_and_length() -> None:
    body = telegram_request(row(notification(alert()), Channel.TELEGRAM, "-1001234567"), PUBLIC_URL)
    assert body["chat_id"] == "-1001234567" and body["parse_mode"] == "HTML"
    assert body["text"].startswith("<b>[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn</b>\n")
    many = [alert(i, summary_vi="x" * 3000) for i in range(3)]
    long = telegram_request(row(notification(*many), Channel.TELEGRAM, "1"), PUBLIC_URL)
    assert len(long["text"]) <= TELEGRAM_MAX_CHARS and long["text"].endswith(f"{BASE}/alerts")


def test_zalo_request_shape_and_length() -> None:
    body = zalo_request(row(notification(alert()), Channel.ZALO, "8412345"), PUBLIC_URL)
    assert body == {"recipient": {"user_id": "8412345"}, "message": {"text": body["message"]["text"]}}
    assert body["message"]["text"].splitlines()[0] == "[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn"
    assert body["message"]["text"].endswith(f"{BASE}/alerts/42")
    long = zalo_request(row(notification(*[alert(i, summary_vi="y" * 900) for i in range(4)]), Channel.ZALO, "1"),
                        PUBLIC_URL)  # fmt: skip
    assert len(long["message"]["text"]) <= ZALO_MAX_CHARS and long["message"]["text"].endswith(f"{BASE}/alerts")


def test_push_payload() -> None:
    n = notification(alert(42), alert(43, AlertStatus.RESOLVED, severity="warning"))
    body = push_payload(row(n, Channel.WEBPUSH, "5"), PUBLIC_URL)
    assert body["title"].startswith("[Nghiêm trọng] 1 cảnh báo đang kích hoạt")
    assert body["url"] == f"{BASE}/alerts/42" and body["alert_ids"] == [42, 43] and body["firing_alert_ids"] == [42]
    assert body["severity"] == "critical" and body["kind"] == "alert"
    test = push_payload(row(notification(kind=NotificationKind.TEST), Channel.WEBPUSH, "5"), PUBLIC_URL)
    assert test["title"] == "[Thử] Tin nhắn thử từ IOC" and test["alert_ids"] == []


def test_email_is_multipart_utf8_with_a_stable_message_id() -> None:
    settings = DeliverySettings(public_url=PUBLIC_URL, smtp_host="127.0.0.1", smtp_from="IOC <canh-bao@ioc.gov.vn>")
    mail = build_email(row(notification(alert()), Channel.EMAIL, "a@x.vn; Bà B <b@y.vn>"), settings)
    assert mail["Message-ID"] == "<0123456789abcdef0123456789abcdef@ioc.gov.vn>"
    assert mail["To"] == "a@x.vn, b@y.vn"
    raw = mail.as_bytes()
    assert b"=?utf-8?" in raw  # the Vietnamese subject is RFC 2047-encoded on the wire
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "[Nghiêm trọng] Phường Ba Đình: 3 hồ sơ quá hạn"
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Phường Ba Đình" in text and f"{BASE}/alerts/42" in text and f'href="{BASE}/alerts/42"' in html


def test_email_addresses() -> None:
    assert recipients("a@x.vn,b@y.vn") == ["a@x.vn", "b@y.vn"]
    assert recipients("not an address") == []
    assert message_id("k", "no-domain") == "<k@ioc.localhost>"
