"""Deadline policies (alerts/calendar.py, DeadlinePolicy): one table per policy option.

Four policies, 08:00–17:00 office hours:
  CLOCK    built-in: the receipt's clock time N working days later, no cut-off
  EOD      end_of_day: starts the day after receipt, ends at the close of the N-th working day
           (Bộ luật Dân sự 2015, art. 147–148)
  CLOCK_CO clock with a 16:30 receipt cut-off
  EOD_CO   end_of_day with a 16:30 receipt cut-off

2026 calendar facts used (holidays.Vietnam): Tết off Mon 16/2–Fri 20/2 (so Fri 13/2 → Mon 23/2);
Giỗ Tổ observed Mon 27/4; 30/4 Thu and 1/5 Fri; Mon 31/8 off, swapped with the worked Saturday
22/8; 1/9 Tue and 2/9 Wed National Day.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import BUILTIN_POLICY, CalendarError, DeadlinePolicy, OfficeHours, WorkingCalendar
from ingest.lifecycle import EventType, Procedure, explain_deadline, fold
from ingest.reference import policies_in_force, policy_from_row
from tests.unit.test_lifecycle import ev

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CUT = time(16, 30)
CLOCK = WorkingCalendar()
EOD = WorkingCalendar(policy=DeadlinePolicy(id="t:eod", due_instant="end_of_day"))
CLOCK_CO = WorkingCalendar(policy=DeadlinePolicy(id="t:clock-co", cut_off=CUT))
EOD_CO = WorkingCalendar(policy=DeadlinePolicy(id="t:eod-co", due_instant="end_of_day", cut_off=CUT))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


# (label, received, working days, due under CLOCK, EOD, CLOCK_CO, EOD_CO)
CASES = [
    # Tết: Friday before the break, one minute before closing.
    ("tet-16:59", at(2, 13, 16, 59), 1, at(2, 23, 16, 59), at(2, 23, 17), at(2, 23, 17), at(2, 24, 17)),
    ("tet-17:30", at(2, 13, 17, 30), 1, at(2, 23, 17), at(2, 23, 17), at(2, 23, 17), at(2, 24, 17)),
    ("tet-during", at(2, 18, 10), 1, at(2, 23, 17), at(2, 23, 17), at(2, 23, 17), at(2, 23, 17)),
    # 30/4–1/5 (Thu, Fri) then the weekend.
    ("30/4-11:45", at(4, 29, 11, 45), 2, at(5, 5, 11, 45), at(5, 5, 17), at(5, 5, 11, 45), at(5, 5, 17)),
    ("30/4-06:30", at(4, 29, 6, 30), 1, at(4, 29, 17), at(5, 4, 17), at(4, 29, 17), at(5, 4, 17)),
    ("giỗ-tổ-23:30", at(4, 24, 23, 30), 1, at(4, 28, 17), at(4, 28, 17), at(4, 28, 17), at(4, 29, 17)),
    # 2/9 with its adjacent days off (31/8 swapped, 1/9).
    ("2/9-17:30", at(8, 28, 17, 30), 1, at(9, 3, 17), at(9, 3, 17), at(9, 3, 17), at(9, 4, 17)),
    ("2/9-07:59", at(8, 28, 7, 59), 2, at(9, 3, 17), at(9, 4, 17), at(9, 3, 17), at(9, 4, 17)),
    # The swapped working Saturday 22/8/2026.
    ("sat-22/8-16:59", at(8, 21, 16, 59), 1, at(8, 22, 16, 59), at(8, 22, 17), at(8, 22, 17), at(8, 24, 17)),
    ("sat-22/8-23:30", at(8, 22, 23, 30), 1, at(8, 24, 17), at(8, 24, 17), at(8, 24, 17), at(8, 25, 17)),
    ("sat-22/8-11:45", at(8, 22, 11, 45), 1, at(8, 24, 11, 45), at(8, 24, 17), at(8, 24, 11, 45), at(8, 24, 17)),
    # Plain weekends and receipt hours on an ordinary week (Mon 9/3 – Fri 13/3).
    ("sunday", at(3, 8, 10), 3, at(3, 11, 17), at(3, 11, 17), at(3, 11, 17), at(3, 11, 17)),
    ("fri-17:30", at(3, 13, 17, 30), 1, at(3, 16, 17), at(3, 16, 17), at(3, 16, 17), at(3, 17, 17)),
    ("06:30", at(3, 10, 6, 30), 1, at(3, 10, 17), at(3, 11, 17), at(3, 10, 17), at(3, 11, 17)),
    ("07:59", at(3, 10, 7, 59), 1, at(3, 10, 17), at(3, 11, 17), at(3, 10, 17), at(3, 11, 17)),
    ("11:45", at(3, 10, 11, 45), 1, at(3, 11, 11, 45), at(3, 11, 17), at(3, 11, 11, 45), at(3, 11, 17)),
    ("16:59", at(3, 10, 16, 59), 1, at(3, 11, 16, 59), at(3, 11, 17), at(3, 11, 17), at(3, 12, 17)),
    ("17:30", at(3, 10, 17, 30), 1, at(3, 11, 17), at(3, 11, 17), at(3, 11, 17), at(3, 12, 17)),
    ("23:30", at(3, 10, 23, 30), 1, at(3, 11, 17), at(3, 11, 17), at(3, 11, 17), at(3, 12, 17)),
    # Same-day periods ("trong ngày", 0 working days): the close of the day the receipt counts on.
    ("0d-06:30", at(3, 10, 6, 30), 0, at(3, 10, 17), at(3, 10, 17), at(3, 10, 17), at(3, 10, 17)),
    ("0d-11:45", at(3, 10, 11, 45), 0, at(3, 10, 17), at(3, 10, 17), at(3, 10, 17), at(3, 10, 17)),
    ("0d-16:59", at(3, 10, 16, 59), 0, at(3, 10, 17), at(3, 10, 17), at(3, 11, 17), at(3, 11, 17)),
    ("0d-17:30", at(3, 10, 17, 30), 0, at(3, 11, 17), at(3, 11, 17), at(3, 11, 17), at(3, 11, 17)),
    ("0d-tet", at(2, 13, 17, 30), 0, at(2, 23, 17), at(2, 23, 17), at(2, 23, 17), at(2, 23, 17)),
    ("0d-sat-22/8", at(8, 22, 9), 0, at(8, 22, 17), at(8, 22, 17), at(8, 22, 17), at(8, 22, 17)),
]
POLICIES = {"clock": CLOCK, "end_of_day": EOD, "clock+cut-off": CLOCK_CO, "end_of_day+cut-off": EOD_CO}


@pytest.mark.parametrize(
    ("policy", "received", "days", "due"),
    [
        pytest.param(name, received, days, dues[i], id=f"{label}/{name}")
        for label, received, days, *dues in CASES
        for i, name in enumerate(POLICIES)
    ],
)
def test_statutory_due_by_policy(policy: str, received: datetime, days: int, due: datetime) -> None:
    assert POLICIES[policy].statutory_due(received, days) == due


# Received Tue 28/4 09:00, 3 working days; the supplement was awaited from Wed 29/4 10:00 to
# Mon 4/5 10:00: 7 h on 29/4 and 2 h on 4/5 count, 30/4, 1/5 and the weekend do not.
PAUSE = (at(4, 29, 10), at(5, 4, 10))


@pytest.mark.parametrize(
    ("policy", "due"),
    [
        ("clock", at(5, 6, 9)),  # Tue 5/5 09:00 + 9 h of working time
        ("end_of_day", at(5, 6, 17)),  # close of Tue 5/5 + 9 h, rounded up to the end of that day
        ("clock+cut-off", at(5, 6, 9)),
        ("end_of_day+cut-off", at(5, 6, 17)),
    ],
)
def test_pause_spanning_a_holiday(policy: str, due: datetime) -> None:
    calendar = POLICIES[policy]
    paused = calendar.working_seconds_between(*PAUSE)
    assert paused == 9 * 3600
    assert calendar.statutory_due(at(4, 28, 9), 3, paused) == due


def test_end_of_day_rounds_a_short_pause_up_to_a_working_day() -> None:
    assert EOD.statutory_due(at(3, 10, 9), 1, 60) == at(3, 12, 17)
    assert EOD.statutory_due(at(3, 10, 9), 0, 60) == at(3, 11, 17)
    assert CLOCK.statutory_due(at(3, 10, 9), 0, 60) == at(3, 11, 8, 1)


def test_fold_pause_over_30_4_under_each_policy() -> None:
    procedures = {"P3": Procedure("P3", "Đất đai", 3)}
    events = [
        ev(EventType.RECEIVED, at(4, 28, 9)),
        ev(EventType.SUPPLEMENT_REQUESTED, PAUSE[0]),
        ev(EventType.SUPPLEMENT_RECEIVED, PAUSE[1]),
    ]
    for name, due in (("clock", at(5, 6, 9)), ("end_of_day", at(5, 6, 17))):
        state = fold(None, events, dict.fromkeys(["01"], POLICIES[name]).__getitem__, procedures.get)
        assert state is not None
        assert (state.paused_seconds, state.statutory_due_at, state.due_at) == (9 * 3600, due, due), name


def test_explanation_reports_the_policy_used() -> None:
    procedures = {"P3": Procedure("P3", "Đất đai", 3)}
    explained = explain_deadline([ev(EventType.RECEIVED, at(3, 10, 16, 59))], lambda _: EOD_CO, procedures.get)
    assert explained is not None
    out = explained.as_dict()
    assert out["policy"]["id"] == "t:eod-co"
    assert out["policy"]["due_instant"] == "end_of_day"
    assert out["policy"]["cut_off"] == "16:30"
    # After the cut-off the receipt belongs to Wed 11/3; the period runs from Thu 12/3.
    assert explained.counting_from == at(3, 12, 8)
    assert out["statutory"]["due_at"] == at(3, 16, 17)  # Thu, Fri, Mon


def test_office_hours_come_from_the_policy() -> None:
    early = WorkingCalendar(policy=DeadlinePolicy(id="t:0730", hours=OfficeHours(time(7, 30), time(16, 30))))
    assert early.seconds_per_working_day == 9 * 3600
    assert early.statutory_due(at(3, 10, 7, 45), 1) == at(3, 11, 7, 45)
    assert early.statutory_due(at(3, 10, 16, 45), 1) == at(3, 11, 16, 30)
    assert early.statutory_due(at(3, 10, 16, 45), 0) == at(3, 11, 16, 30)


def test_builtin_policy_fast_path_matches_the_old_arithmetic() -> None:
    """The fold's fast path (built-in policy, days > 0) is exactly add_working_days then the pause."""
    rng = random.Random(12)
    start = datetime(2025, 12, 20, tzinfo=VN)
    for _ in range(2000):
        received = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
        days, paused = rng.randrange(1, 30), rng.choice((0, rng.randrange(1, 40 * 3600)))
        base = CLOCK.add_working_days(received, days)
        expected = CLOCK.add_working_seconds(base, paused) if paused else base
        assert CLOCK.statutory_due(received, days, paused) == expected


def test_end_of_day_is_never_earlier_than_clock_and_always_at_closing() -> None:
    rng = random.Random(13)
    start = datetime(2026, 1, 1, tzinfo=VN)
    for _ in range(2000):
        received = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
        days = rng.randrange(0, 15)
        eod = EOD.statutory_due(received, days)
        assert eod >= CLOCK.statutory_due(received, days)
        assert eod.timetz().replace(tzinfo=None) == time(17, 0) and EOD.is_working_day(eod.date())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"due_instant": "noon"},
        {"cut_off": time(7, 0)},  # before opening
        {"cut_off": time(8, 0)},  # at opening: every receipt would move to the next day
        {"cut_off": time(17, 1)},  # after closing
        {"cut_off": time(12, 0, tzinfo=VN)},  # office hours are wall-clock times
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(CalendarError):
        DeadlinePolicy(**kwargs)  # type: ignore[arg-type]


def test_negative_inputs_are_refused() -> None:
    with pytest.raises(CalendarError):
        CLOCK.statutory_due(at(3, 10, 9), -1)
    with pytest.raises(CalendarError):
        EOD.statutory_due(at(3, 10, 9), 1, -1)
    with pytest.raises(CalendarError):
        EOD.statutory_due(datetime(2026, 3, 10, 9), 1)  # naive


def test_builtin_policy_describes_itself() -> None:
    out = BUILTIN_POLICY.as_dict()
    assert (out["id"], out["version"], out["due_instant"], out["cut_off"]) == (
        "builtin:vn-office-days",
        1,
        "clock",
        None,
    )
    assert BUILTIN_POLICY.effective_from is None  # the built-in has no start date


def row(province: str, version: int, effective: date, due_instant: str = "clock") -> tuple[object, ...]:
    return (province, version, effective, time(7, 30), time(17, 0), time(16, 0), due_instant, None, None)


def test_policy_rows_become_policies() -> None:
    policy = policy_from_row(row("01", 3, date(2026, 5, 1), "end_of_day"))
    assert (policy.id, policy.version, policy.province_code, policy.source) == (
        "db:deadline-policy:01",
        3,
        "01",
        "database",
    )
    assert (policy.hours, policy.cut_off, policy.due_instant) == (OfficeHours(time(7, 30)), time(16), "end_of_day")
    assert policy_from_row(row("", 1, date(2026, 1, 1))).id == "db:deadline-policy:national"
    with_break = policy_from_row((*row("48", 1, date(2026, 1, 1))[:7], time(11, 30), time(13, 30)))
    assert with_break.hours == OfficeHours(time(7, 30), time(17), time(11, 30), time(13, 30))
    assert (with_break.as_dict()["break_start"], with_break.as_dict()["break_end"]) == ("11:30", "13:30")


def test_the_highest_version_in_force_wins_per_province() -> None:
    today = date(2026, 6, 1)
    policies = [policy_from_row(r) for r in (
        row("", 1, date(2026, 1, 1)), row("", 2, date(2026, 5, 1), "end_of_day"),
        row("01", 1, date(2026, 2, 1)), row("01", 2, date(2026, 7, 1), "end_of_day"),  # not yet in force
        row("79", 1, date(2026, 6, 1)),  # in force from today
    )]  # fmt: skip
    chosen = policies_in_force(policies, today)
    assert {p: (c.version, c.due_instant) for p, c in chosen.items()} == {
        "": (2, "end_of_day"), "01": (1, "clock"), "79": (1, "clock"),
    }  # fmt: skip
    assert policies_in_force(policies, date(2025, 12, 31)) == {}
