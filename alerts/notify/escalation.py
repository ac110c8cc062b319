"""Escalation chains along the administrative hierarchy, timed in working minutes.

A policy (``escalation_policy``, first matching by ``position``) is a list of steps: after
``after_working_minutes`` of working time (alerts.calendar.WorkingCalendar: office hours on
Vietnamese working days, holidays skipped) since the alert fired — or since the previous step —
the step notifies the people of its ``roles`` whose scope covers the alert at its ``level``:

* ``commune``: a scope that grants the alert's commune itself;
* ``province``: a scope that grants the alert's province;
* ``national``: a national scope.

After the last step the chain starts again, ``repeat`` times. It stops for good as soon as the
alert is acknowledged or resolved (``alert_escalation.stopped_at``/``stop_reason``). A muted alert
(silenced, inhibited, snoozed) is not escalated while muted. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from alerts.calendar import WorkingCalendar
from alerts.notify.matchers import Matcher, MatcherError, matches_all, parse_matchers
from alerts.notify.routing import Person

__all__ = [
    "EscalationDecision",
    "EscalationPolicy",
    "EscalationState",
    "EscalationStep",
    "decide_escalation",
    "parse_steps",
    "policy_for",
    "step_recipients",
]

Level = Literal["commune", "province", "national"]
LEVELS: tuple[Level, ...] = ("commune", "province", "national")
STEP_ROLES = frozenset({"admin", "leader", "operator", "subscriber"})
STEP_CHANNELS = frozenset({"email", "telegram", "zalo", "webpush"})


@dataclass(frozen=True)
class EscalationStep:
    after_working_minutes: int
    level: Level
    roles: frozenset[str]
    channels: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"after_working_minutes": self.after_working_minutes, "level": self.level,
                "roles": sorted(self.roles), "channels": list(self.channels)}  # fmt: skip


@dataclass(frozen=True)
class EscalationPolicy:
    id: str
    position: int
    matchers: tuple[Matcher, ...]
    steps: tuple[EscalationStep, ...]
    repeat: int = 0


@dataclass(frozen=True)
class EscalationState:
    """An ``alert_escalation`` row."""

    alert_id: int
    policy_id: str
    step: int
    round: int
    notified_at: datetime
    stopped_at: datetime | None = None
    stop_reason: str | None = None


@dataclass(frozen=True)
class EscalationAlert:
    id: int
    labels: Mapping[str, str]
    fired_at: datetime
    firing: bool  # False: resolved
    acknowledged: bool
    muted: bool


@dataclass(frozen=True)
class EscalationDecision:
    """``step`` set: notify that step now; ``state``: the row to write (None: leave as is)."""

    state: EscalationState | None
    step: EscalationStep | None = None


def parse_steps(data: Any, where: str = "steps") -> tuple[EscalationStep, ...]:
    if not isinstance(data, list) or not data or len(data) > 20:
        raise MatcherError(f"{where}: cần 1–20 bước / needs 1 to 20 steps")
    out = []
    for i, item in enumerate(data):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise MatcherError(f"{here}: phải là đối tượng / must be an object")
        unknown = set(item) - {"after_working_minutes", "level", "roles", "channels"}
        if unknown:
            raise MatcherError(f"{here}: khóa không hợp lệ / unknown keys {sorted(unknown)}")
        minutes = item.get("after_working_minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 100_000:
            raise MatcherError(f"{here}.after_working_minutes: số phút 0–100000 / minutes 0..100000")
        level = item.get("level")
        if level not in LEVELS:
            raise MatcherError(f"{here}.level: một trong {', '.join(LEVELS)} / one of {', '.join(LEVELS)}")
        roles = item.get("roles")
        if not isinstance(roles, list) or not roles or not set(roles) <= STEP_ROLES:
            raise MatcherError(f"{here}.roles: vai trò trong {sorted(STEP_ROLES)} / roles from {sorted(STEP_ROLES)}")
        channels = item.get("channels", ["email", "webpush"])
        if not isinstance(channels, list) or not channels or not set(channels) <= STEP_CHANNELS:
            raise MatcherError(f"{here}.channels: kênh trong {sorted(STEP_CHANNELS)} / from {sorted(STEP_CHANNELS)}")
        out.append(EscalationStep(minutes, level, frozenset(roles), tuple(dict.fromkeys(channels))))
    return tuple(out)


def parse_policy(data: Mapping[str, Any], where: str = "escalation_policy") -> EscalationPolicy:
    repeat = data.get("repeat", 0)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 0 <= repeat <= 100:
        raise MatcherError(f"{where}.repeat: 0–100")
    position = data.get("position", 0)
    if not isinstance(position, int) or isinstance(position, bool) or not -1_000_000 <= position <= 1_000_000:
        raise MatcherError(f"{where}.position: số nguyên / an integer")
    return EscalationPolicy(
        id=str(data.get("id", "")), position=position,
        matchers=parse_matchers(data.get("matchers", []), f"{where}.matchers"),
        steps=parse_steps(data.get("steps"), f"{where}.steps"), repeat=repeat,
    )  # fmt: skip


def policy_for(policies: Sequence[EscalationPolicy], labels: Mapping[str, str]) -> EscalationPolicy | None:
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        if matches_all(policy.matchers, labels):
            return policy
    return None


def covers_at_level(person: Person, level: Level, labels: Mapping[str, str]) -> bool:
    province, commune = labels.get("province_code"), labels.get("commune_code")
    scope = person.scope
    if not scope.allows(province, commune, labels.get("agency_code"), labels.get("sector")):
        return False
    if level == "national":
        return scope.national
    if level == "province":
        return not scope.national and province is not None and province in scope.provinces
    return not scope.national and bool(commune) and commune in scope.communes


def step_recipients(step: EscalationStep, people: Sequence[Person], labels: Mapping[str, str]) -> list[Person]:
    return [p for p in people
            if p.enabled and p.role in step.roles and covers_at_level(p, step.level, labels)]  # fmt: skip


@lru_cache(maxsize=8192)
def _due(calendar: WorkingCalendar, since: datetime, minutes: int) -> datetime:
    # Memoised: every alert escalated in one round shares its ``notified_at``, and the planner asks
    # for each of them every second (the calendar is immutable, so its identity is a sound key).
    # A step with no delay goes out at once, even at night: only *waiting* is counted in working
    # time (a Friday-evening breach still reaches its first responder on Friday evening).
    if minutes == 0:
        return since
    return calendar.add_working_seconds(since, minutes * 60)


def decide_escalation(
    alert: EscalationAlert,
    state: EscalationState | None,
    policies: Sequence[EscalationPolicy],
    calendar: WorkingCalendar,
    now: datetime,
) -> EscalationDecision:
    if state is not None and state.stopped_at is not None:
        return EscalationDecision(None)
    if state is not None and (alert.acknowledged or not alert.firing):
        reason = "acknowledged" if alert.acknowledged else "resolved"
        return EscalationDecision(replace(state, stopped_at=now, stop_reason=reason))
    if not alert.firing or alert.acknowledged or alert.muted:
        return EscalationDecision(None)
    if state is None:
        policy = policy_for(policies, alert.labels)
        if policy is None:
            return EscalationDecision(None)
        step = policy.steps[0]
        if now < _due(calendar, alert.fired_at, step.after_working_minutes):
            return EscalationDecision(None)
        return EscalationDecision(EscalationState(alert.id, policy.id, 0, 0, now), step)
    policy = next((p for p in policies if p.id == state.policy_id), None)
    if policy is None:
        return EscalationDecision(replace(state, stopped_at=now, stop_reason="policy_removed"))
    next_step, next_round = state.step + 1, state.round
    if next_step >= len(policy.steps):
        if state.round >= policy.repeat:
            return EscalationDecision(replace(state, stopped_at=now, stop_reason="exhausted"))
        next_step, next_round = 0, state.round + 1
    step = policy.steps[next_step]
    if now < _due(calendar, state.notified_at, step.after_working_minutes):
        return EscalationDecision(None)
    return EscalationDecision(EscalationState(alert.id, policy.id, next_step, next_round, now), step)
