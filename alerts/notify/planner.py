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
from alerts.notify.inhibition import InhibitIndex, InhibitRule
from alerts.notify.routing import (
    ContactPoint,
    Person,
    Route,
    Subscription,
    SubscriptionIndex,
    in_quiet_hours,
    person_addresses,
    routes_for,
)
from alerts.notify.silences import Silence, SilenceMatchCache, SilenceRound, due_reminders

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
        # Built once per record: the dispatcher reuses an unchanged row's record from round to
        # round, and every round puts every alert in its groups (both are immutable).
        cached: NotificationAlert | None = self.__dict__.get("_notification")
        if cached is None:
            cached = self._build_notification()
            object.__setattr__(self, "_notification", cached)
        return cached

    def _build_notification(self) -> NotificationAlert:
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
    # Silence label matches remembered across rounds (the dispatcher keeps one per process).
    silence_cache: SilenceMatchCache | None = field(default=None, compare=False)


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


_NOT_MUTED = _Mute(False, False, None)


def _mutes(inp: PlannerInput, now: datetime) -> dict[int, _Mute]:
    """Why each alert is kept quiet, in one pass: silences through a ``SilenceRound`` (indexed,
    label matches cached across rounds), inhibition through an ``InhibitIndex`` (sources indexed by
    their ``equal`` labels) — O(alerts × rules), never alerts × alerts or alerts × silences."""
    inhibit = InhibitIndex(inp.inhibit_rules, ((a.fingerprint, a.labels) for a in inp.alerts if a.firing))
    silences = SilenceRound(inp.silences, now, inp.silence_cache)
    out = {}
    check_silences = bool(inp.silences)
    check_inhibit = inhibit.active
    for a in inp.alerts:
        hit = silences.hit(a.fingerprint, a.labels) if check_silences else None
        # A resolved alert stays inhibited while its source still fires (as in Alertmanager).
        rule = inhibit.inhibited_by(a.labels, a.fingerprint) if check_inhibit else None
        snoozed = a.snoozed_until is not None and a.snoozed_until > now
        if hit is None and rule is None and not snoozed and not a.flapping:
            out[a.id] = _NOT_MUTED  # the common case: one shared value
            continue
        silenced = hit is not None or rule is not None
        reason = (f"silence:{hit.silence_id}" if hit else f"inhibit:{rule}" if rule
                  else "snoozed" if snoozed else "flapping" if a.flapping else None)  # fmt: skip
        out[a.id] = _Mute(silenced, silenced or snoozed or a.flapping, reason, hit.silence_id if hit else None)
    silences.close()
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
    members: dict[tuple[str, str], list[MemberAlert]] = {}
    group_meta: dict[tuple[str, str], tuple[dict[str, str], GroupTiming]] = {}
    receivers = _Receivers(inp)
    # Alerts in fingerprint order make every group's members come sorted; with no fingerprint
    # twice (the usual case: one open episode per fingerprint, few resolved ones) each group
    # skips its own dedup and sort.
    alerts = sorted(inp.alerts, key=lambda a: a.fingerprint)
    distinct = all(alerts[i].fingerprint != alerts[i + 1].fingerprint for i in range(len(alerts) - 1))
    for a in alerts:
        wanted = receivers.of(a.labels)
        if not wanted:
            continue
        m = mutes[a.id]
        member = MemberAlert(a.notification(), m.silenced, m.muted, a.acknowledged_at is not None)
        grouped: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, str]]] = {}
        for receiver, route_id, group_by, timing in wanted:
            # Every subscription groups by the same labels: one group key per alert for all of them.
            found = grouped.get((route_id, group_by))
            if found is None:
                found = grouped[(route_id, group_by)] = receivers.group(route_id, group_by, a.labels)
            key, labels = found
            gk = (receiver, key)
            group = members.get(gk)
            if group is None:
                members[gk] = [member]
                group_meta[gk] = (labels, timing)
            else:
                group.append(member)

    subs = {f"sub:{s.id}": s for s in inp.subscriptions}
    for gk in sorted(set(members) | set(inp.groups)):
        receiver, key = gk
        prior = inp.groups.get(gk)
        labels, timing = group_meta.get(gk, (dict(prior.group_labels) if prior else {}, GroupTiming()))
        decision = decide_group(receiver, key, labels, members.get(gk, []), prior, timing, now,
                                distinct_sorted=distinct)  # fmt: skip
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


_Want = tuple[str, str, tuple[str, ...], GroupTiming]  # (receiver, route id, group_by, timing)


class _Receivers:
    """Who receives an alert and in which group, without walking everything per alert.

    Routes read only the labels their matchers name: alerts sharing those values share the walk
    (memoised; bounded by the distinct values). Subscriptions are looked up by locality
    (``SubscriptionIndex``). A group key reads only its ``group_by`` labels and is computed once
    per distinct group.
    """

    def __init__(self, inp: PlannerInput) -> None:
        self._routes = sorted(inp.routes, key=lambda r: (r.position, r.id))
        self._route_labels = tuple(sorted({m.label for r in self._routes for m in r.matchers}))
        self._contact_points = inp.contact_points
        self._subs = SubscriptionIndex(
            [(s, inp.people[s.user_id]) for s in inp.subscriptions if s.user_id in inp.people]
        )
        self._sub_wants = {
            s.id: (f"sub:{s.id}", "sub", SUBSCRIPTION_GROUP_BY, inp.subscription_timing) for s in inp.subscriptions
        }
        self._by_route: dict[tuple[str, ...], tuple[_Want, ...]] = {}
        self._groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[str, dict[str, str]]] = {}

    def of(self, labels: Mapping[str, str]) -> list[_Want]:
        # Matchers read a missing label as "", so the values (with "") decide the walk.
        key = tuple([labels.get(n, "") for n in self._route_labels])
        routed = self._by_route.get(key)
        if routed is None:
            wants = []
            for route in routes_for(self._routes, labels):
                for cp in route.contact_points:
                    if cp in self._contact_points:
                        wants.append((f"cp:{cp}", route.id, route.group_by, route.timing))
            routed = self._by_route[key] = tuple(wants)
        out = list(routed)
        sub_wants = self._sub_wants
        for sub, _person in self._subs.wanting(labels):
            out.append(sub_wants[sub.id])
        return out

    def group(self, route_id: str, group_by: tuple[str, ...], labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """``group_key_of``, computed once per distinct group (its labels dict is shared: read-only)."""
        key = (route_id, group_by, tuple([labels.get(k, "") for k in group_by]))
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = group_key_of(route_id, group_by, labels)
        return found


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
    # Only people whose scope covers the alert's place can be recipients: national ones, and
    # those granted its province or commune. Indexed once per round, so an escalation walks the
    # people of its place, not everybody.
    national: list[int] = []
    by_place: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(people):
        if p.scope.national:
            national.append(i)
        for code in p.scope.provinces:
            by_place[f"p:{code}"].append(i)
        for code in p.scope.communes:
            by_place[f"c:{code}"].append(i)

    def candidates(labels: Mapping[str, str]) -> list[Person]:
        found = set(national)
        found.update(by_place.get(f"p:{labels.get('province_code')}", ()))
        found.update(by_place.get(f"c:{labels.get('commune_code')}", ()))
        return [people[i] for i in sorted(found)]

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
        recipients = step_recipients(step, candidates(a.labels), a.labels)
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


def _remind(out: Plan, inp: PlannerInput, now: datetime) -> None:
    due = due_reminders(inp.silences, now, inp.reminder_lead)
    if not due:
        return
    # Silence creators by username (the first enabled account of that name), built once per round.
    by_name: dict[str, Person] = {}
    for p in inp.people.values():
        if p.enabled:
            by_name.setdefault(p.username, p)
    for reminder in due:
        s = reminder.silence
        out.reminded.append((s.id, reminder.window_end))
        person = by_name.get(s.created_by.removeprefix("user:"))
        if person is None:
            continue
        extra = {"silence_id": s.id, "comment": s.comment, "ends_at": reminder.window_end.isoformat(),
                 "matchers": [m.to_json() for m in s.matchers]}  # fmt: skip
        for channel, address in person_addresses(person, REMINDER_CHANNELS):
            note = Notification(NotificationKind.SILENCE_EXPIRY, f"silence:{s.id}", {}, (), now, person.language, extra)
            ikey = idempotency_key("silence_expiry", s.id, reminder.window_end.isoformat(), channel.value, address)
            out.deliveries.append(DeliveryRequest(channel, address, note, ikey, {}, person.id))
