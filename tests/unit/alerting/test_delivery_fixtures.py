"""Notifications and outbox rows the delivery tests share (no tests here)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.delivery.model import AlertStatus, Channel, Notification, NotificationAlert, NotificationKind
from alerts.delivery.outbox import DeliveryRow

PUBLIC_URL = "https://ioc.example.gov.vn/"
STARTS = datetime(2026, 10, 12, 1, 30, tzinfo=UTC)  # 08:30 Monday 12/10/2026 in Hà Nội
ENDS = datetime(2026, 10, 12, 3, 5, tzinfo=UTC)  # 10:05


def alert(
    id_: int = 42,
    status: AlertStatus = AlertStatus.FIRING,
    severity: str = "critical",
    summary_vi: str = "Phường Ba Đình: 3 hồ sơ quá hạn",
    summary_en: str = "Ba Đình ward: 3 overdue dossiers",
    **labels: str,
) -> NotificationAlert:
    return NotificationAlert(
        id=id_, fingerprint=f"fp{id_:04d}", rule_id="overdue", status=status, severity=severity,
        labels={"rule": "overdue", "severity": severity, "province_code": "01", "commune_code": "00004",
                "stream": "dossier", **labels},
        summary_vi=summary_vi, summary_en=summary_en, value=3.0, starts_at=STARTS,
        ends_at=ENDS if status is AlertStatus.RESOLVED else None,
    )  # fmt: skip


def notification(
    *alerts: NotificationAlert,
    kind: NotificationKind = NotificationKind.ALERT,
    language: str = "vi",
    extra: Mapping[str, Any] | None = None,
) -> Notification:
    return Notification(
        kind=kind, group_key='{}:{rule="overdue",province_code="01"}', group_labels={"rule": "overdue",
        "province_code": "01"}, alerts=tuple(alerts), created_at=STARTS, language=language, extra=dict(extra or {}),
    )  # fmt: skip


def row(
    n: Notification,
    channel: Channel = Channel.WEBHOOK,
    address: str = "http://127.0.0.1:1/hook",
    options: Mapping[str, Any] | None = None,
    key: str = "0123456789abcdef0123456789abcdef",
) -> DeliveryRow:
    return DeliveryRow(id=1, idempotency_key=key, channel=channel, address=address, notification=n, attempts=1,
                       created_at=STARTS, options=dict(options or {}))  # fmt: skip
