"""Grouping with Alertmanager's timing, per receiver and group (table ``notification_group``).

A receiver ('cp:<contact point>' or 'sub:<subscription id>') sees the alerts routed to it, grouped
by the route's ``group_by`` labels. For each group, at ``now``:

* first notification once ``group_wait`` has passed since the group appeared;
* later, when the set changed — a new firing alert, an announced alert resolved, or an announced
  alert unmuted (its silence ended) — once ``group_interval`` has passed since the last one;
* otherwise a repeat once ``repeat_interval`` has passed, while an unacknowledged alert fires
  (acknowledged alerts are not repeated; their resolution is still announced).

Alerts are deduplicated by fingerprint. Muted alerts (silenced, inhibited, snoozed, flapping) are
left out. An announced alert that is muted stays in ``firing_sent`` and is remembered in ``muted``:
when its silence ends it is announced again if still firing, or as resolved if it cleared meanwhile
(a resolved alert still under a silence waits for the silence to end). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.delivery.model import AlertStatus, NotificationAlert

__all__ = ["GroupDecision", "GroupState", "GroupTiming", "MemberAlert", "decide_group", "group_key_of"]


@dataclass(frozen=True)
class GroupTiming:
    group_wait: timedelta = timedelta(seconds=1)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)


@dataclass(frozen=True)
class GroupState:
    """A ``notification_group`` row."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    first_seen_at: datetime
    last_sent_at: datetime | None
    firing_sent: frozenset[str] = frozenset()
    resolved_sent: frozenset[str] = frozenset()
    muted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MemberAlert:
    """An alert of the group as the planner sees it at ``now``."""

    alert: NotificationAlert
    silenced: bool = False  # under a silence, or inhibited: defers also its resolution
    muted: bool = False  # silenced, inhibited, snoozed or flapping: not announced while so
    acknowledged: bool = False

    @property
    def fingerprint(self) -> str:
        return self.alert.fingerprint

    @property
    def firing(self) -> bool:
        return self.alert.status is AlertStatus.FIRING


@dataclass(frozen=True)
class GroupDecision:
    """What to do with one group: ``send`` (firing and resolved alerts to announce) and the new row.

    ``state`` None means: delete the row (nothing left to remember).
    """

    send: bool
    firing: tuple[NotificationAlert, ...]
    resolved: tuple[NotificationAlert, ...]
    state: GroupState | None
    revision: str  # the state this notification moves on from: stable across re-planning
    repeat: bool = False


def group_key_of(route_id: str, group_by: Sequence[str], labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The group an alert falls in under a route, and the group's labels."""
    group_labels = {k: labels.get(k, "") for k in sorted(set(group_by))}
    canonical = json.dumps(group_labels, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return f"{route_id}:{canonical}", group_labels


def _dedup(members: Sequence[MemberAlert]) -> list[MemberAlert]:
    """One member per fingerprint: a firing episode wins over a resolved one, then the latest."""
    best: dict[str, MemberAlert] = {}
    for m in members:
        fp = m.alert.fingerprint
        cur = best.get(fp)
        if cur is None or (m.firing, m.alert.id) > (cur.firing, cur.alert.id):
            best[fp] = m
    return [best[fp] for fp in sorted(best)]


def decide_group(
    receiver: str,
    group_key: str,
    group_labels: Mapping[str, str],
    members: Sequence[MemberAlert],
    state: GroupState | None,
    timing: GroupTiming,
    now: datetime,
    *,
    distinct_sorted: bool = False,
) -> GroupDecision:
    """``distinct_sorted``: the caller vouches that ``members`` have distinct fingerprints and come
    in fingerprint order (the planner knows it once per round), so the dedup is skipped."""
    alerts = list(members) if distinct_sorted else _dedup(members)
    sent = state.firing_sent if state else frozenset()
    was_muted = state.muted if state else frozenset()
    # One pass (the planner calls this for every group every round): the firing alerts to
    # announce; announced alerts that cleared, unless a silence still covers them (then: at the
    # silence's end); announced alerts muted now.
    firing: list[MemberAlert] = []
    resolved: list[MemberAlert] = []
    muted_set: set[str] = set()
    known: set[str] = set()
    for m in alerts:
        fp = m.alert.fingerprint
        known.add(fp)
        if m.alert.status is AlertStatus.FIRING:
            if not m.muted:
                firing.append(m)
            elif fp in sent:
                muted_set.add(fp)
        elif fp in sent and not m.silenced:
            resolved.append(m)
    firing_fps = frozenset(m.alert.fingerprint for m in firing)
    resolved_fps = frozenset(m.alert.fingerprint for m in resolved)
    muted_now = frozenset(muted_set)
    # Announced fingerprints that no longer exist anywhere (resolved long ago): forget them.
    still_sent = (sent & known) - resolved_fps if sent else frozenset()

    if state is None:
        if not firing:
            return GroupDecision(False, (), (), None, "")
        state = GroupState(receiver, group_key, dict(group_labels), now, None)
    revision = state.last_sent_at.isoformat() if state.last_sent_at else "first"

    if state.last_sent_at is None:
        due = bool(firing) and now >= state.first_seen_at + timing.group_wait
        changed = due
        repeat = False
    else:
        unmuted = firing_fps & was_muted
        changed = bool(firing_fps - sent) or bool(resolved_fps) or bool(unmuted)
        due_change = changed and now >= state.last_sent_at + timing.group_interval
        unacked = any(not m.acknowledged for m in firing)
        repeat = not changed and unacked and now >= state.last_sent_at + timing.repeat_interval
        due = due_change or repeat

    if not due:
        if not firing and not still_sent and state.last_sent_at is not None and not resolved:
            return GroupDecision(False, (), (), None, revision)  # all announced alerts are gone
        if not firing and state.last_sent_at is None:
            return GroupDecision(False, (), (), None, revision)  # nothing to wait for any more
        kept = GroupState(
            receiver, group_key, state.group_labels, state.first_seen_at, state.last_sent_at,
            still_sent | resolved_fps, state.resolved_sent, muted_now,
        )  # fmt: skip
        return GroupDecision(False, (), (), kept, revision)

    new_sent = firing_fps | muted_now
    if not new_sent:
        new_state = None  # everything announced has resolved: the group is done
    else:
        new_state = GroupState(
            receiver, group_key, state.group_labels, state.first_seen_at, now, new_sent, resolved_fps, muted_now
        )
    return GroupDecision(
        True, tuple(m.alert for m in firing), tuple(m.alert for m in resolved), new_state, revision, repeat
    )
