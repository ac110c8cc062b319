"""The notification planner: at ``now``, from everything the database holds, what to send.

Pure: the shell (alerts/notify/dispatcher.py) reads a ``PlannerInput``, calls ``plan`` and writes
the ``Plan`` in one transaction. Idempotency keys are derived from the state a notification moves
on from (the group's previous send, the escalation step and round, the silence window), never from
``now``, so planning the same thing twice — after a crash, or by two replicas — yields the same keys
and the ``delivery`` table's unique key keeps one row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.calendar import WorkingCalendar
from alerts.delivery.model import (
    AlertStatus,
    Channel,
    DeliveryRequest,
    Notification,
    NotificationAlert,
    NotificationKind,
    idempotency_key,
)
from alerts.notify.escalation import (
    EscalationAlert,
    EscalationPolicy,
    EscalationState,
    decide_escalation,
    step_recipients,
)
from alerts.notify.grouping import GroupState, GroupTiming, MemberAlert, decide_group, group_key_of
from alerts.notify.inhibition import InhibitRule, inhibited_by
from alerts.notify.routing import (
    ContactPoint,
    Person,
    Route,
    Subscription,
    in_quiet_hours,
    person_addresses,
    routes_for,
    subscription_wants,
)
from alerts.notify.silences import Silence, due_reminders, is_silenced

__all__ = ["SUBSCRIPTION_GROUP_BY", "Activity", "AlertRecord", "Plan", "PlannerInput", "plan"]

SUBSCRIPTION_GROUP_BY = ("rule", "province_code")
REMINDER_CHANNELS = ("email", "telegram", "zalo", "webpush")


@dataclass(frozen=True)
class AlertRecord:
    """An alert row as the planner needs it (firing, or resolved and still of interest)."""

    id: int
    fingerprint: str
    rule_id: str
    labels: Mapping[str, str]
    severity: str
    firing: bool
    value: float
    summary_vi: str
    summary_en: str
    fired_at: datetime
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    snoozed_until: datetime | None = None
    flapping: bool = False

    def notification(self) -> NotificationAlert:
        return NotificationAlert(
            id=self.id, fingerprint=self.fingerprint, rule_id=self.rule_id,
            status=AlertStatus.FIRING if self.firing else AlertStatus.RESOLVED, severity=self.severity,
            labels=dict(self.labels), summary_vi=self.summary_vi, summary_en=self.summary_en, value=self.value,
            starts_at=self.fired_at, ends_at=None if self.firing else self.resolved_at,
            acknowledged_by=self.acknowledged_by,
        )  # fmt: skip


@dataclass(frozen=True)
class PlannerInput:
    alerts: Sequence[AlertRecord]
    silences: Sequence[Silence] = ()
    inhibit_rules: Sequence[InhibitRule] = ()
    routes: Sequence[Route] = ()
    contact_points: Mapping[str, ContactPoint] = field(default_factory=dict)
    subscriptions: Sequence[Subscription] = ()
    people: Mapping[int, Person] = field(default_factory=dict)
    groups: Mapping[tuple[str, str], GroupState] = field(default_factory=dict)
    escalation_policies: Sequence[EscalationPolicy] = ()
    escalations: Mapping[int, EscalationState] = field(default_factory=dict)
    subscription_timing: GroupTiming = field(default_factory=GroupTiming)
    reminder_lead: timedelta = timedelta(minutes=30)
    # (alert id, silence id) pairs whose "silenced" line is already in the alert's timeline.
    silence_noted: frozenset[tuple[int, int]] = frozenset()


@dataclass(frozen=True)
class Activity:
    """An ``alert_activity`` line (actor 'system')."""

    alert_id: int
    kind: str  # 'notify' | 'escalate' | 'silenced'
    comment: str
    data: Mapping[str, Any]


@dataclass
class Plan:
    deliveries: list[DeliveryRequest] = field(default_factory=list)
    group_upserts: list[GroupState] = field(default_factory=list)
    group_deletes: list[tuple[str, str]] = field(default_factory=list)
    escalations: list[EscalationState] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    reminded: list[tuple[int, datetime]] = field(default_factory=list)  # (silence id, window end)
    held: int = 0  # notifications held back by quiet hours


@dataclass(frozen=True)
class _Mute:
    silenced: bool
    muted: bool
    reason: str | None
    silence_id: int | None = None


def _mutes(inp: PlannerInput, now: datetime) -> dict[int, _Mute]:
    firing = [(a.fingerprint, a.labels) for a in inp.alerts if a.firing]
    out = {}
    for a in inp.alerts:
        hit = is_silenced(a.labels, inp.silences, now)
        rule = inhibited_by(a.labels, a.fingerprint, firing, inp.inhibit_rules) if a.firing else None
        if rule is None and not a.firing:
            # A resolved alert stays inhibited while its source still fires (as in Alertmanager).
            rule = inhibited_by(a.labels, a.fingerprint, firing, inp.inhibit_rules)
        snoozed = a.snoozed_until is not None and a.snoozed_until > now
        silenced = hit is not None or rule is not None
        reason = (f"silence:{hit.silence_id}" if hit else f"inhibit:{rule}" if rule
                  else "snoozed" if snoozed else "flapping" if a.flapping else None)  # fmt: skip
        out[a.id] = _Mute(silenced, silenced or snoozed or a.flapping, reason, hit.silence_id if hit else None)
    return out


def _silence_lines(inp: PlannerInput, mutes: Mapping[int, _Mute]) -> list[Activity]:
    """One timeline line per firing alert and silence muting it, the first time it does, so the
    alert's history says why nobody was told."""
    lines = []
    for a in inp.alerts:
        sid = mutes[a.id].silence_id
        if a.firing and sid is not None and (a.id, sid) not in inp.silence_noted:
            lines.append(Activity(a.id, "silenced", f"Bị im lặng #{sid} tắt thông báo / muted by silence #{sid}",
                                  {"silence_id": sid}))  # fmt: skip
    return lines


def plan(inp: PlannerInput, now: datetime, calendar: WorkingCalendar) -> Plan:
    out = Plan()
    mutes = _mutes(inp, now)
    out.activities.extend(_silence_lines(inp, mutes))
    members: dict[tuple[str, str], list[MemberAlert]] = defaultdict(list)
    group_meta: dict[tuple[str, str], tuple[dict[str, str], GroupTiming]] = {}

    def add(receiver: str, route_id: str, group_by: Sequence[str], timing: GroupTiming, a: AlertRecord) -> None:
        key, labels = group_key_of(route_id, group_by, a.labels)
        m = mutes[a.id]
        acked = a.acknowledged_at is not None
        members[(receiver, key)].append(MemberAlert(a.notification(), m.silenced, m.muted, acked))
        group_meta[(receiver, key)] = (labels, timing)

    for a in inp.alerts:
        for route in routes_for(inp.routes, a.labels):
            for cp in route.contact_points:
                if cp in inp.contact_points:
                    add(f"cp:{cp}", route.id, route.group_by, route.timing, a)
        for sub in inp.subscriptions:
            person = inp.people.get(sub.user_id)
            if person is not None and subscription_wants(sub, person, a.labels):
                add(f"sub:{sub.id}", "sub", SUBSCRIPTION_GROUP_BY, inp.subscription_timing, a)

    subs = {f"sub:{s.id}": s for s in inp.subscriptions}
    for gk in sorted(set(members) | set(inp.groups)):
        receiver, key = gk
        prior = inp.groups.get(gk)
        labels, timing = group_meta.get(gk, (dict(prior.group_labels) if prior else {}, GroupTiming()))
        decision = decide_group(receiver, key, labels, members.get(gk, []), prior, timing, now)
        if decision.send:
            sent = _send_group(out, inp, receiver, key, labels, decision.firing, decision.resolved,
                               decision.revision, decision.repeat, subs.get(receiver), now)  # fmt: skip
            if not sent:
                out.held += 1
                if prior is None and decision.state is not None:
                    out.group_upserts.append(GroupState(receiver, key, labels, now, None))
                continue
        if decision.state is None:
            if prior is not None:
                out.group_deletes.append(gk)
        elif decision.state != prior:
            out.group_upserts.append(decision.state)

    _escalate(out, inp, mutes, calendar, now)
    _remind(out, inp, now)
    return out


def _send_group(
    out: Plan,
    inp: PlannerInput,
    receiver: str,
    key: str,
    labels: Mapping[str, str],
    firing: Sequence[NotificationAlert],
    resolved: Sequence[NotificationAlert],
    revision: str,
    repeat: bool,
    sub: Subscription | None,
    now: datetime,
) -> bool:
    """Queue one group notification; False when quiet hours hold it back (nothing written)."""
    alerts = (*firing, *resolved)
    targets: list[tuple[Channel, str, str, dict[str, Any], int | None]] = []
    if receiver.startswith("cp:"):
        cp = inp.contact_points[receiver[3:]]
        targets.append((cp.channel, cp.address, cp.language, dict(cp.options), None))
    else:
        assert sub is not None
        person = inp.people[sub.user_id]
        if in_quiet_hours(sub, now):
            critical = any(a.severity == "critical" for a in firing)
            if not (critical and sub.quiet_allows_critical):
                return False
        for ch, addr in person_addresses(person, sub.channels):
            targets.append((ch, addr, person.language, {}, person.id))
    fps = ",".join(a.fingerprint for a in firing)
    rfps = ",".join(a.fingerprint for a in resolved)
    for channel, address, language, options, user_id in targets:
        note = Notification(NotificationKind.ALERT, key, dict(labels), tuple(alerts), now, language,
                            {"receiver": receiver, "repeat": repeat})  # fmt: skip
        ikey = idempotency_key("alert", receiver, key, channel.value, address, revision, fps, rfps)
        out.deliveries.append(DeliveryRequest(channel, address, note, ikey, options, user_id))
    channels = sorted({t[0].value for t in targets})
    for a in alerts:
        out.activities.append(Activity(
            a.id, "notify",
            f"Đã gửi thông báo ({'đã hết' if a.status is AlertStatus.RESOLVED else 'đang cảnh báo'}) tới {receiver}"
            f" / notified {receiver} ({a.status.value})",
            {"receiver": receiver, "group_key": key, "status": a.status.value, "channels": channels,
             "recipients": len(targets), "repeat": repeat},
        ))  # fmt: skip
    return True


def _escalate(out: Plan, inp: PlannerInput, mutes: Mapping[int, _Mute], calendar: WorkingCalendar,
              now: datetime) -> None:  # fmt: skip
    people = sorted(inp.people.values(), key=lambda p: p.id)
    latest: dict[int, AlertRecord] = {a.id: a for a in inp.alerts}
    for alert_id in sorted(latest):
        a = latest[alert_id]
        state = inp.escalations.get(alert_id)
        view = EscalationAlert(a.id, a.labels, a.fired_at, a.firing, a.acknowledged_at is not None,
                               mutes[a.id].muted)  # fmt: skip
        decision = decide_escalation(view, state, inp.escalation_policies, calendar, now)
        if decision.state is None:
            continue
        out.escalations.append(decision.state)
        step = decision.step
        if step is None:
            continue
        st = decision.state
        recipients = step_recipients(step, people, a.labels)
        note_alert = a.notification()
        for person in recipients:
            for channel, address in person_addresses(person, step.channels):
                extra = {"policy_id": st.policy_id, "step": st.step, "round": st.round, "level": step.level}
                note = Notification(NotificationKind.ESCALATION, f"alert:{a.id}", dict(a.labels), (note_alert,),
                                    now, person.language, extra)  # fmt: skip
                ikey = idempotency_key("escalation", a.id, st.policy_id, st.round, st.step, channel.value, address)
                out.deliveries.append(DeliveryRequest(channel, address, note, ikey, {}, person.id))
        out.activities.append(Activity(
            a.id, "escalate",
            f"Chuyển cấp {step.level} (bước {st.step + 1}, vòng {st.round + 1}) tới {len(recipients)} người"
            f" / escalated to {step.level} (step {st.step + 1}, round {st.round + 1}), {len(recipients)} people",
            {"policy_id": st.policy_id, "step": st.step, "round": st.round, "level": step.level,
             "roles": sorted(step.roles), "recipients": [p.username for p in recipients]},
        ))  # fmt: skip


def _creator(inp: PlannerInput, created_by: str) -> Person | None:
    name = created_by.removeprefix("user:")
    return next((p for p in inp.people.values() if p.username == name and p.enabled), None)


def _remind(out: Plan, inp: PlannerInput, now: datetime) -> None:
    for reminder in due_reminders(inp.silences, now, inp.reminder_lead):
        s = reminder.silence
        out.reminded.append((s.id, reminder.window_end))
        person = _creator(inp, s.created_by)
        if person is None:
            continue
        extra = {"silence_id": s.id, "comment": s.comment, "ends_at": reminder.window_end.isoformat(),
                 "matchers": [m.to_json() for m in s.matchers]}  # fmt: skip
        for channel, address in person_addresses(person, REMINDER_CHANNELS):
            note = Notification(NotificationKind.SILENCE_EXPIRY, f"silence:{s.id}", {}, (), now, person.language, extra)
            ikey = idempotency_key("silence_expiry", s.id, reminder.window_end.isoformat(), channel.value, address)
            out.deliveries.append(DeliveryRequest(channel, address, note, ikey, {}, person.id))
