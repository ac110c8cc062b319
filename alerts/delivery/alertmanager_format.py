"""Alertmanager's webhook payload (version 4), so receivers written for Prometheus work unchanged.

Pure. Shape as Alertmanager's ``notify/webhook`` sends it: receiver, status, alerts (status,
labels, annotations, startsAt, endsAt, generatorURL, fingerprint), groupLabels, commonLabels,
commonAnnotations, externalURL, version, groupKey, truncatedAlerts. Alertmanager writes the zero
time "0001-01-01T00:00:00Z" for an alert without an end, and every alert has an ``alertname``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.delivery.model import AlertStatus, Notification, NotificationAlert
from alerts.delivery.templates import render

__all__ = ["ZERO_TIME", "alertmanager_payload", "rfc3339"]

ZERO_TIME = "0001-01-01T00:00:00Z"


def alertmanager_payload(
    notification: Notification, *, receiver: str, public_url: str, language: str = "vi", max_alerts: int = 0
) -> dict[str, Any]:
    """The JSON body Alertmanager would post for this group; ``max_alerts`` 0 = no limit."""
    base = public_url.rstrip("/")
    alerts = [_alert(a, base, language) for a in notification.alerts]
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated, alerts = len(alerts) - max_alerts, alerts[:max_alerts]
    status = AlertStatus.FIRING if notification.firing else AlertStatus.RESOLVED
    extra_annotations = {"ioc_kind": notification.kind.value,
                         "ioc_title": render(notification, language=language, public_url=base).title}  # fmt: skip
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
        "status": status.value,
        "receiver": receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": {**_common([a["annotations"] for a in alerts]), **extra_annotations},
        "externalURL": base,
        "alerts": alerts,
    }


def rfc3339(t: datetime) -> str:
    """UTC with a Z, as Go's time.Time marshals: "2026-10-12T01:30:00Z" (fraction only if any)."""
    utc = t.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _alert(a: NotificationAlert, base: str, language: str) -> dict[str, Any]:
    labels = {"alertname": a.rule_id, **a.labels, "severity": a.severity}
    summary = a.summary_en if language == "en" else a.summary_vi
    annotations = {"summary": summary, "summary_vi": a.summary_vi, "summary_en": a.summary_en, "value": f"{a.value:g}"}
    if a.acknowledged_by:
        annotations["acknowledged_by"] = a.acknowledged_by
    return {
        "status": a.status.value,
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(a.starts_at),
        "endsAt": rfc3339(a.ends_at) if a.ends_at else ZERO_TIME,
        "generatorURL": base + a.link,
        "fingerprint": a.fingerprint,
    }


def _common(dicts: list[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every alert has with the same value (Alertmanager's commonLabels/Annotations)."""
    if not dicts:
        return {}
    first, *rest = dicts
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in rest)}
