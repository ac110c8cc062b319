"""run_plan: the planner as a round runs it — the process's silence cache, the cyclic GC paused
only while it plans."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

import pytest

from alerts.calendar import WorkingCalendar
from alerts.notify.dispatcher import run_plan
from alerts.notify.escalation import parse_policy
from alerts.notify.matchers import parse_matchers
from alerts.notify.planner import PlannerInput
from alerts.notify.silences import Silence
from tests.unit.alerting.notify_support import at, record

CAL = WorkingCalendar()
NOW = at(2025, 3, 14, 10)
POLICY = parse_policy({"id": "p", "position": 1, "matchers": [], "repeat": 0,
                       "steps": [{"after_working_minutes": 30, "level": "commune", "roles": ["operator"],
                                  "channels": ["email"]}]})  # fmt: skip


def test_gc_is_paused_while_planning_and_enabled_after() -> None:
    seen: list[bool] = []

    class Spy(WorkingCalendar):
        def add_working_seconds(self, start: Any, seconds: int) -> Any:
            seen.append(gc.isenabled())
            return super().add_working_seconds(start, seconds)

    inp = PlannerInput([record(1, "fp1", fired_at=NOW - timedelta(minutes=7))], escalation_policies=[POLICY])
    assert gc.isenabled()
    run_plan(inp, NOW, Spy())
    assert seen == [False]  # the round ran with the collector paused
    assert gc.isenabled()


def test_gc_is_enabled_again_when_planning_fails() -> None:
    class Broken(WorkingCalendar):
        def add_working_seconds(self, start: Any, seconds: int) -> Any:
            raise RuntimeError("calendar unavailable")

    inp = PlannerInput([record(1, "fp1", fired_at=NOW - timedelta(minutes=7))], escalation_policies=[POLICY])
    with pytest.raises(RuntimeError):
        run_plan(inp, NOW, Broken())
    assert gc.isenabled()


def test_silences_decide_the_same_with_the_process_cache() -> None:
    silence = Silence(7, parse_matchers([{"label": "province_code", "op": "=", "value": "01"}]),
                      NOW - timedelta(hours=1), NOW + timedelta(hours=1))  # fmt: skip
    inp = PlannerInput([record(1, "fp1", fired_at=NOW)], silences=[silence])
    for now in (NOW, NOW + timedelta(minutes=30), NOW + timedelta(hours=2)):
        lines = [a for a in run_plan(inp, now, CAL).activities if a.kind == "silenced"]
        # Muted (one timeline line) while the silence holds, not after its end.
        assert len(lines) == (1 if now < NOW + timedelta(hours=1) else 0)
