"""Office sessions with a break (07:30–11:30 and 13:30–17:00, 7.5 h a working day): the working-
time arithmetic against a minute-by-minute count, the round trips, and statutory deadlines.

2026 calendar facts as in test_deadline_policy.py (Tết off 16–20/2; 30/4, 1/5; the worked
Saturday 22/8; 31/8, 1/9, 2/9 off)."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import CalendarError, DeadlinePolicy, OfficeHours, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
HOURS = OfficeHours(time(7, 30), time(17, 0), time(11, 30), time(13, 30))
CLOCK = WorkingCalendar(policy=DeadlinePolicy(id="t:sessions", hours=HOURS))
EOD = WorkingCalendar(policy=DeadlinePolicy(id="t:sessions-eod", hours=HOURS, due_instant="end_of_day"))
DAY = 7 * 3600 + 30 * 60


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


def minute_count(calendar: WorkingCalendar, start: datetime, end: datetime) -> int:
    """The oracle: working seconds in [start, end), minute by minute (inputs on whole minutes)."""
    total, t = 0, start.astimezone(VN)
    end = end.astimezone(VN)
    while t < end:
        clock = t.time().replace(tzinfo=None)
        in_session = time(7, 30) <= clock < time(11, 30) or time(13, 30) <= clock < time(17, 0)
        if in_session and calendar.is_working_day(t.date()):
            total += 60
        t += timedelta(minutes=1)
    return total


def test_a_working_day_is_the_two_sessions() -> None:
    assert CLOCK.seconds_per_working_day == DAY
    assert CLOCK.working_seconds_between(at(3, 10, 0), at(3, 11, 0)) == DAY


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (at(3, 10, 6, 30), at(3, 10, 7, 30)),
        (at(3, 10, 11, 29), at(3, 10, 11, 29)),
        (at(3, 10, 11, 30), at(3, 10, 13, 30)),  # the break is not working time
        (at(3, 10, 11, 45), at(3, 10, 13, 30)),
        (at(3, 10, 13, 30), at(3, 10, 13, 30)),
        (at(3, 10, 17, 0), at(3, 11, 7, 30)),
        (at(2, 13, 16, 59), at(2, 13, 16, 59)),
        (at(2, 13, 17, 30), at(2, 23, 7, 30)),  # Tết
    ],
)
def test_next_working_instant(t: datetime, expected: datetime) -> None:
    assert CLOCK.next_working_instant(t) == expected


@pytest.mark.parametrize(
    ("received", "days", "clock_due", "eod_due"),
    [
        (at(3, 10, 6, 30), 1, at(3, 10, 17), at(3, 11, 17)),  # a whole day from the opening
        (at(3, 10, 7, 59), 1, at(3, 11, 7, 59), at(3, 11, 17)),
        (at(3, 10, 11, 45), 1, at(3, 11, 11, 30), at(3, 11, 17)),  # received in the break: from 13:30
        (at(3, 10, 11, 0), 1, at(3, 11, 11, 0), at(3, 11, 17)),
        (at(3, 10, 16, 59), 1, at(3, 11, 16, 59), at(3, 11, 17)),
        (at(3, 10, 17, 30), 1, at(3, 11, 17, 0), at(3, 11, 17)),
        (at(3, 10, 23, 30), 1, at(3, 11, 17, 0), at(3, 11, 17)),
        (at(2, 13, 11, 45), 1, at(2, 23, 11, 30), at(2, 23, 17)),  # Tết
        (at(4, 29, 11, 45), 2, at(5, 5, 11, 30), at(5, 5, 17)),  # 30/4–1/5
        (at(8, 28, 10, 0), 1, at(9, 3, 10, 0), at(9, 3, 17)),  # 2/9 and the days off beside it
        (at(8, 21, 14, 0), 1, at(8, 22, 14, 0), at(8, 22, 17)),  # the worked Saturday 22/8
        (at(3, 10, 11, 45), 0, at(3, 10, 17), at(3, 10, 17)),  # same-day
    ],
)
# A period reaching the break's start ends there (11:30), the same working time as 13:30.
def test_statutory_due_with_a_break(received: datetime, days: int, clock_due: datetime, eod_due: datetime) -> None:
    assert CLOCK.statutory_due(received, days) == clock_due
    assert EOD.statutory_due(received, days) == eod_due


def test_half_a_day_from_the_morning_lands_after_the_break() -> None:
    # 3 h 45 min from 10:00: 1 h 30 min in the morning, 2 h 15 min from 13:30.
    assert CLOCK.add_working_seconds(at(3, 10, 10), DAY // 2) == at(3, 10, 15, 45)
    # Exactly the morning's remainder: the deadline stays at the break's start.
    assert CLOCK.add_working_seconds(at(3, 10, 10), 90 * 60) == at(3, 10, 11, 30)
    # Counting back to exactly the break: the afternoon's first instant.
    assert CLOCK.subtract_working_seconds(at(3, 10, 15), 90 * 60) == at(3, 10, 13, 30)


def test_pause_over_the_break_and_a_holiday() -> None:
    # Paused Wed 29/4 11:00 → Mon 4/5 14:00: on 29/4 30 min of morning and the 3 h 30 min
    # afternoon; on 4/5 the 4 h morning and 30 min of afternoon; 30/4, 1/5 and the weekend none.
    paused = CLOCK.working_seconds_between(at(4, 29, 11), at(5, 4, 14))
    assert paused == (30 + 210) * 60 + (240 + 30) * 60
    assert paused == minute_count(CLOCK, at(4, 29, 11), at(5, 4, 14))


def test_arithmetic_matches_the_minute_count() -> None:
    rng = random.Random(22)
    base = at(1, 1, 0)
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 360))
        end = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 12))
        seconds = CLOCK.working_seconds_between(start, end)
        assert seconds == minute_count(CLOCK, start, end), (start, end)


def test_add_and_subtract_round_trip() -> None:
    rng = random.Random(23)
    base = at(1, 1, 0)
    for _ in range(2000):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 360))
        seconds = rng.choice((1, 60, 3600, DAY - 1, DAY, DAY + 1, rng.randrange(1, 20 * DAY)))
        due = CLOCK.add_working_seconds(start, seconds)
        assert CLOCK.working_seconds_between(start, due) == seconds
        assert CLOCK.working_seconds_between(start, due - timedelta(seconds=1)) == seconds - 1
        assert CLOCK.subtract_working_seconds(due, seconds) == CLOCK.next_working_instant(start)
        back = CLOCK.subtract_working_seconds(start, seconds)
        assert CLOCK.working_seconds_between(back, start) == seconds
        assert CLOCK.add_working_seconds(back, seconds) == CLOCK.subtract_working_seconds(start, 0)
        local = due.astimezone(VN).time().replace(tzinfo=None)
        assert not (time(11, 30) < local < time(13, 30)), due  # never inside the break


@pytest.mark.parametrize(
    ("break_start", "break_end"),
    [
        (time(11, 30), None),
        (time(7, 30), time(8, 0)),  # starts at opening
        (time(16, 0), time(17, 0)),  # ends at closing
        (time(13, 30), time(11, 30)),  # reversed
    ],
)
def test_invalid_breaks(break_start: time | None, break_end: time | None) -> None:
    with pytest.raises(CalendarError):
        OfficeHours(time(7, 30), time(17, 0), break_start, break_end)
