"""``overdue``: overdue dossiers with severity escalating by working days late, and pre-due warnings.

One rule of this kind may do both jobs of the former ``overdue`` and ``due_soon`` rules:

* overdue series — per agency (per commune without one), the open dossiers past their due time; the
  severity is the last step whose ``days_late`` the *oldest* overdue dossier of the series has
  reached, in working days (``WorkingCalendar.working_seconds_between(due_at, now)`` over the
  working-day length). A series whose oldest dossier has not reached the first step raises nothing.
* pre-due series — per agency, open dossiers due within ``pre_due_working_days`` working days,
  with ``pre_due_severity``, only where there are at least ``pre_due_min_count`` of them: dossiers
  due soon are information (the map and tables count them), an alert only where an agency's
  backlog is unusual (with the rule's ``for``, unusual for a while). When the rule also has overdue
  steps, pre-due series carry the label ``phase=due_soon`` so the two series of one place stay
  apart; a rule with pre-due warnings only (the default ``due_soon`` rule) carries no phase label,
  like the former rule.

The groups come merged to the agency (``alerts.rules.by_agency``); a series carries its sectors and
their counts in ``details.sectors``, and the ``sector`` label only when there is one sector.

The texts are those of ``alerts.rules.overdue_signals`` / ``due_soon_signals``, which this reuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from alerts.model import Signal
from alerts.rulebook.decorate import relabel
from alerts.rulebook.spec import OverdueParams
from alerts.rules import DueSoonGroup, DueSoonRule, OverdueGroup, OverdueRule, due_soon_signals, overdue_signals

__all__ = ["WorkingClock", "overdue_kind_signals", "working_days_late"]


class WorkingClock(Protocol):
    @property
    def seconds_per_working_day(self) -> int: ...

    def working_seconds_between(self, start: datetime, end: datetime) -> int: ...


def working_days_late(due_at: datetime, now: datetime, calendar: WorkingClock) -> int:
    """Whole working days between the due time and now (0 on the day it fell due)."""
    if due_at >= now:
        return 0
    return calendar.working_seconds_between(due_at, now) // calendar.seconds_per_working_day


def overdue_kind_signals(
    rule_id: str,
    p: OverdueParams,
    overdue: Iterable[OverdueGroup],
    due_soon: Iterable[DueSoonGroup],
    now: datetime,
    calendar: WorkingClock,
) -> list[Signal]:
    signals: list[Signal] = []
    if p.steps:
        for g in overdue:
            late = working_days_late(g.oldest_due_at, now, calendar)
            reached = [s for s in p.steps if s.days_late <= late]
            if not reached:
                continue
            for s in overdue_signals(OverdueRule(rule_id, reached[-1].severity), [g]):
                signals.append(replace(s, details={**s.details, "working_days_late": late}))
    if p.pre_due_working_days > 0:
        rule = DueSoonRule(rule_id, p.pre_due_severity, p.pre_due_working_days)
        unusual = (g for g in due_soon if g.due_soon_count >= p.pre_due_min_count)
        for s in due_soon_signals(rule, unusual):
            signals.append(relabel(s, {"phase": "due_soon"}) if p.steps else s)
    return signals
