"""The whole planning round against the round it replaced, on generated worlds.

The oracle is the previous ``plan`` (copied here as it was): every silence and every firing alert
scanned per alert, every route and subscription walked per alert, each group deduplicating its own
members. The shared steps (group decisions, sending, escalation, reminders) are the module's own.
Several rounds per world, each fed the groups, escalations and timeline lines the previous one
wrote, so first notifications, changes, resolutions, unmutes and repeats are all compared.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from alerts.calendar import WorkingCalendar
from alerts.delivery.model import Channel
from alerts.notify.escalation import parse_policy
from alerts.notify.grouping import GroupState, GroupTiming, MemberAlert, decide_group, group_key_of
from alerts.notify.matchers import parse_matchers
from alerts.notify.planner import (
    SUBSCRIPTION_GROUP_BY,
    AlertRecord,
    Plan,
    PlannerInput,
    _escalate,
    _Mute,
    _remind,
    _send_group,
    _silence_lines,
    plan,
)
from alerts.notify.routing import ContactPoint, Person, Route, Subscription, routes_for, subscription_wants
from alerts.notify.silences import SilenceMatchCache
from tests.unit.alerting.test_notify_indexed import (
    BASE,
    gen_labels,
    gen_matcher,
    gen_rules,
    gen_scope,
    gen_silence,
    old_inhibited_by,
    old_is_silenced,
    some,
)

CAL = WorkingCalendar()


def old_mutes(inp: PlannerInput, now: Any) -> dict[int, _Mute]:
    firing = [(a.fingerprint, a.labels) for a in inp.alerts if a.firing]
    out = {}
    for a in inp.alerts:
        hit = old_is_silenced(a.labels, inp.silences, now)
        rule = old_inhibited_by(a.labels, a.fingerprint, firing, inp.inhibit_rules) if a.firing else None
        if rule is None and not a.firing:
            rule = old_inhibited_by(a.labels, a.fingerprint, firing, inp.inhibit_rules)
        snoozed = a.snoozed_until is not None and a.snoozed_until > now
        silenced = hit is not None or rule is not None
        reason = (f"silence:{hit.silence_id}" if hit else f"inhibit:{rule}" if rule
                  else "snoozed" if snoozed else "flapping" if a.flapping else None)  # fmt: skip
        out[a.id] = _Mute(silenced, silenced or snoozed or a.flapping, reason, hit.silence_id if hit else None)
    return out


def old_plan(inp: PlannerInput, now: Any, calendar: WorkingCalendar) -> Plan:
    out = Plan()
    mutes = old_mutes(inp, now)
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


def gen_alerts(rng: random.Random, now: Any) -> list[AlertRecord]:
    alerts = []
    for i in range(rng.randint(5, 40)):
        labels = gen_labels(rng)
        labels["severity"] = rng.choice(["warning", "critical"])
        if rng.random() < 0.7:
            labels["agency_code"] = rng.choice(["A1", "A2", "A3"])
        if rng.random() < 0.7:
            labels["sector"] = rng.choice(["S1", "S2"])
        firing = rng.random() < 0.75
        alerts.append(AlertRecord(
            id=i + 1, fingerprint=f"fp{rng.randrange(30)}", rule_id=labels.get("rule", "overdue"), labels=labels,
            severity=labels["severity"], firing=firing, value=1.0, summary_vi=f"Cảnh báo {i}", summary_en=f"Alert {i}",
            fired_at=now - timedelta(minutes=rng.randint(1, 300)),
            resolved_at=None if firing else now - timedelta(minutes=rng.randint(0, 60)),
            acknowledged_at=now if rng.random() < 0.1 else None,
            snoozed_until=now + timedelta(hours=1) if rng.random() < 0.05 else None, flapping=rng.random() < 0.05,
        ))  # fmt: skip
    return alerts


def gen_world(rng: random.Random, now: Any) -> PlannerInput:
    cps = {f"cp{i}": ContactPoint(f"cp{i}", Channel.WEBHOOK, f"http://127.0.0.1:9/{i}") for i in range(3)}
    routes = [
        Route(f"r{i}", rng.randint(0, 3), parse_matchers([gen_matcher(rng) for _ in range(rng.randint(0, 2))]),
              tuple(rng.sample([*cps, "gone"], rng.randint(1, 2))),
              tuple(rng.sample(["rule", "province_code", "commune_code", "stream"], rng.randint(0, 2))),
              GroupTiming(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4)), rng.random() < 0.6)
        for i in range(rng.randint(0, 4))
    ]  # fmt: skip
    people, subs = {}, []
    for uid in range(1, rng.randint(1, 8)):
        people[uid] = Person(uid, f"u{uid}", rng.choice(["operator", "leader"]), gen_scope(rng), "vi",
                             rng.random() > 0.1, {"email": f"u{uid}@example.vn"}, (100 + uid,))  # fmt: skip
        subs.append(Subscription(
            uid, uid if rng.random() > 0.1 else 999, provinces=some(rng, ["01", "79", "48"]),
            communes=some(rng, ["00004", "00007"]), agencies=some(rng, ["A1", "A2"]), sectors=some(rng, ["S1", "S2"]),
            severities=some(rng, ["warning", "critical"]) or frozenset({"warning", "critical"}),
            channels=("email", "webpush"), enabled=rng.random() > 0.1,
        ))  # fmt: skip
    policy = parse_policy({"id": "p", "position": 1, "matchers": [], "repeat": 1,
                           "steps": [{"after_working_minutes": 0, "level": "province", "roles": ["operator"],
                                      "channels": ["email"]},
                                     {"after_working_minutes": 30, "level": "commune", "roles": ["leader"],
                                      "channels": ["email"]}]})  # fmt: skip
    return PlannerInput(
        alerts=gen_alerts(rng, now), silences=[gen_silence(rng, i + 1) for i in range(rng.randint(0, 5))],
        inhibit_rules=gen_rules(rng), routes=routes, contact_points=cps, subscriptions=subs, people=people,
        escalation_policies=[policy] if rng.random() < 0.5 else [],
        subscription_timing=GroupTiming(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4)),
    )  # fmt: skip


def fed_back(inp: PlannerInput, result: Plan, alerts: list[AlertRecord]) -> PlannerInput:
    groups = dict(inp.groups)
    for g in result.group_upserts:
        groups[(g.receiver, g.group_key)] = g
    for k in result.group_deletes:
        groups.pop(k, None)
    escalations = dict(inp.escalations)
    for e in result.escalations:
        escalations[e.alert_id] = e
    noted = set(inp.silence_noted) | {(a.alert_id, a.data["silence_id"]) for a in result.activities
                                      if a.kind == "silenced"}  # fmt: skip
    return PlannerInput(
        alerts=alerts, silences=inp.silences, inhibit_rules=inp.inhibit_rules, routes=inp.routes,
        contact_points=inp.contact_points, subscriptions=inp.subscriptions, people=inp.people, groups=groups,
        escalation_policies=inp.escalation_policies, escalations=escalations,
        subscription_timing=inp.subscription_timing, silence_noted=frozenset(noted), silence_cache=inp.silence_cache,
    )  # fmt: skip


def test_plan_decides_as_the_round_it_replaced() -> None:
    rng = random.Random(2026)
    rounds = deliveries = 0
    for _ in range(120):
        now = BASE + timedelta(minutes=rng.randint(0, 10000))
        inp = fed_back(gen_world(rng, now), Plan(), [])
        inp = replace(inp, alerts=gen_alerts(rng, now), silence_cache=SilenceMatchCache())
        for step in (0, 31, 400, 5 * 3600):
            at = now + timedelta(seconds=step)
            expected, got = old_plan(inp, at, CAL), plan(inp, at, CAL)
            assert got == expected, (step, inp)
            rounds += 1
            deliveries += len(got.deliveries)
            # Some alerts change between rounds: resolved, acknowledged, new ones.
            alerts = [a if rng.random() > 0.2 else replace(a, firing=False, resolved_at=at) for a in inp.alerts]
            inp = fed_back(inp, got, alerts)
    assert rounds == 480 and deliveries > 1000
