"""Builders shared by the notify unit tests: alerts, people, instants in local time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.notify.planner import AlertRecord
from alerts.notify.routing import Person
from ioc.auth.scope import Scope

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL)


def record(
    aid: int, fp: str, *, firing: bool = True, fired_at: datetime, rule: str = "overdue", severity: str = "warning",
    province: str = "01", commune: str | None = "00004", stream: str = "dossier", acked: bool = False,
    resolved_at: datetime | None = None, snoozed_until: datetime | None = None, flapping: bool = False,
    kind: str | None = None,
) -> AlertRecord:  # fmt: skip
    labels = {"rule": rule, "kind": kind or rule, "severity": severity, "province_code": province, "stream": stream}
    if commune:
        labels["commune_code"] = commune
    return AlertRecord(
        id=aid, fingerprint=fp, rule_id=rule, labels=labels, severity=severity, firing=firing, value=1.0,
        summary_vi=f"Cảnh báo {aid}", summary_en=f"Alert {aid}", fired_at=fired_at,
        resolved_at=resolved_at if not firing else None, acknowledged_at=fired_at if acked else None,
        acknowledged_by="user:an" if acked else None, snoozed_until=snoozed_until, flapping=flapping,
    )  # fmt: skip


def person(uid: int, role: str, scope: dict[str, object], **contacts: str) -> Person:
    return Person(uid, f"user{uid}", role, Scope.from_dict(scope), "vi", True, contacts, (100 + uid,))
