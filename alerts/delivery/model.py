"""What the notification planner hands to delivery: one message, for one address, on one channel.

The planner (alerts/notify) decides *what* to tell *whom*; delivery (alerts/delivery) renders it
with the templates and sends it, with retries. The ``delivery`` table (migrations/016) stores a
``DeliveryRequest``: ``payload`` is ``Notification.to_json()``; ``idempotency_key`` is unique, so
planning the same notification twice writes one row, and the receiver gets the key to drop
duplicates of a retried send.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "AlertStatus",
    "Channel",
    "DeliveryRequest",
    "Notification",
    "NotificationAlert",
    "NotificationKind",
    "idempotency_key",
]


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    TELEGRAM = "telegram"
    ZALO = "zalo"
    WEBPUSH = "webpush"


class NotificationKind(StrEnum):
    ALERT = "alert"  # a group's firing/resolved set changed, or its repeat interval passed
    ESCALATION = "escalation"  # a chain step: not acknowledged in time
    SILENCE_EXPIRY = "silence_expiry"  # reminder: a silence ends soon
    TEST = "test"  # an administrator's "send a test message"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class NotificationAlert:
    """One alert as a message shows it; ``link`` is the console path of the alert."""

    id: int
    fingerprint: str
    rule_id: str
    status: AlertStatus
    severity: str
    labels: Mapping[str, str]
    summary_vi: str
    summary_en: str
    value: float
    starts_at: datetime
    ends_at: datetime | None = None
    acknowledged_by: str | None = None

    @property
    def link(self) -> str:
        return f"/alerts/{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "fingerprint": self.fingerprint, "rule_id": self.rule_id,
            "status": self.status.value, "severity": self.severity, "labels": dict(self.labels),
            "summary_vi": self.summary_vi, "summary_en": self.summary_en, "value": self.value,
            "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "acknowledged_by": self.acknowledged_by, "link": self.link,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotificationAlert:
        return cls(
            id=int(data["id"]), fingerprint=str(data["fingerprint"]), rule_id=str(data["rule_id"]),
            status=AlertStatus(data["status"]), severity=str(data["severity"]),
            labels={str(k): str(v) for k, v in dict(data["labels"]).items()},
            summary_vi=str(data["summary_vi"]), summary_en=str(data["summary_en"]), value=float(data["value"]),
            starts_at=datetime.fromisoformat(data["starts_at"]),
            ends_at=datetime.fromisoformat(data["ends_at"]) if data.get("ends_at") else None,
            acknowledged_by=data.get("acknowledged_by"),
        )  # fmt: skip


@dataclass(frozen=True)
class Notification:
    """A message about a group of alerts (or a silence), language-neutral until rendered.

    ``extra`` carries kind-specific facts: the escalation step and level, or the silence id,
    comment and end time for a reminder.
    """

    kind: NotificationKind
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[NotificationAlert, ...]
    created_at: datetime
    language: str = "vi"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> tuple[NotificationAlert, ...]:
        return tuple(a for a in self.alerts if a.status is AlertStatus.FIRING)

    @property
    def resolved(self) -> tuple[NotificationAlert, ...]:
        return tuple(a for a in self.alerts if a.status is AlertStatus.RESOLVED)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "group_key": self.group_key, "group_labels": dict(self.group_labels),
            "alerts": [a.to_json() for a in self.alerts], "created_at": self.created_at.isoformat(),
            "language": self.language, "extra": dict(self.extra),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            kind=NotificationKind(data["kind"]), group_key=str(data["group_key"]),
            group_labels={str(k): str(v) for k, v in dict(data["group_labels"]).items()},
            alerts=tuple(NotificationAlert.from_json(a) for a in data["alerts"]),
            created_at=datetime.fromisoformat(data["created_at"]), language=str(data.get("language", "vi")),
            extra=dict(data.get("extra") or {}),
        )  # fmt: skip


@dataclass(frozen=True)
class DeliveryRequest:
    """One row of the ``delivery`` outbox.

    ``address``: e-mail address, webhook URL, Telegram chat id, Zalo user id, or for Web Push the
    ``push_subscription.id`` as text. ``options``: channel options from the contact point, e.g.
    ``{"format": "alertmanager"}`` for a webhook.
    """

    channel: Channel
    address: str
    notification: Notification
    idempotency_key: str
    options: Mapping[str, Any] = field(default_factory=dict)
    user_id: int | None = None


def idempotency_key(*parts: object) -> str:
    """A stable key from the facts that make a message unique (receiver, group, revision...)."""
    canonical = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
