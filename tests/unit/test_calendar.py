"""Working-day calendar: deadlines across Tết, 30/4–1/5, weekends, overrides and pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import CalendarError, CalendarOverrides, OfficeHours, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = 3600
DAY = 9 * HOUR  # 08:00–17:00


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN)


CAL = WorkingCalendar()


# --------------------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 13), True),  # Friday before Tết
        (date(2026, 2, 16), False),  # Giao thừa
        (date(2026, 2, 17), False),  # Mùng một
        (date(2026, 2, 20), False),  # Mùng bốn
        (date(2026, 2, 21), False),  # Saturday
        (date(2026, 2, 23), True),  # back to work
        (date(2026, 4, 27), False),  # Giỗ Tổ Hùng Vương (observed; 26/4 is a Sunday)
        (date(2026, 4, 30), False),
        (date(2026, 5, 1), False),
        (date(2026, 5, 4), True),
        (date(2026, 9, 2), False),
        (date(2026, 3, 7), False),  # ordinary Saturday
        (date(2026, 3, 8), False),  # ordinary Sunday
        (date(2026, 3, 9), True),  # ordinary Monday
        # Swapped days exposed by holidays.Vietnam(...).weekend_workdays.
        (date(2025, 4, 26), True),  # Saturday worked in exchange for ...
        (date(2025, 5, 2), False),  # ... this Friday off
        (date(2026, 8, 22), True),  # Saturday worked in exchange for ...
        (date(2026, 8, 31), False),  # ... this Monday off
        (date(2019, 1, 5), True),  # Saturday worked for 31/12/2018, recorded under a neighbour year
        (date(2018, 12, 31), False),
    ],
)
def test_is_working_day_national_calendar(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


@pytest.mark.parametrize(
    ("overrides", "day", "working"),
    [
        (CalendarOverrides(days_off=frozenset({date(2026, 3, 9)})), date(2026, 3, 9), False),
        (CalendarOverrides(working_days=frozenset({date(2026, 3, 7)})), date(2026, 3, 7), True),
        # A working-day override beats a public holiday and a day-off override on the same date.
        (CalendarOverrides(working_days=frozenset({date(2026, 2, 17)})), date(2026, 2, 17), True),
        (
            CalendarOverrides(days_off=frozenset({date(2026, 3, 7)}), working_days=frozenset({date(2026, 3, 7)})),
            date(2026, 3, 7),
            True,
        ),
        # A day-off override can cancel a package-swapped working Saturday.
        (CalendarOverrides(days_off=frozenset({date(2025, 4, 26)})), date(2025, 4, 26), False),
    ],
)
def test_is_working_day_overrides(overrides: CalendarOverrides, day: date, working: bool) -> None:
    assert WorkingCalendar(overrides).is_working_day(day) is working


# --------------------------------------------------------------------------- due_at without pauses


@pytest.mark.parametrize(
    ("received", "days", "expected"),
    [
        # Tết 2026 (16–20/2): Fri 7h, Mon 23 9h, Tue 24 9h, Wed 25 2h.
        (at(2026, 2, 13, 10), 3, at(2026, 2, 25, 10)),
        # 30/4–1/5 2026 (Thu, Fri): Wed 29 3h, Mon 4 9h, Tue 5 6h.
        (at(2026, 4, 29, 14), 2, at(2026, 5, 5, 14)),
        # Hùng Kings observed Mon 27/4 and 30/4–1/5 in one span.
        (at(2026, 4, 24, 9), 5, at(2026, 5, 6, 9)),
        # Receipt on a weekend starts at Monday's opening.
        (at(2026, 3, 7, 10), 1, at(2026, 3, 9, 17)),
        (at(2026, 3, 8, 23, 59), 2, at(2026, 3, 10, 17)),
        # Receipt after closing time (Friday 18:00) -> Monday 17:00.
        (at(2026, 3, 6, 18), 1, at(2026, 3, 9, 17)),
        # Receipt exactly at closing time counts from the next opening.
        (at(2026, 3, 9, 17), 1, at(2026, 3, 10, 17)),
        # Receipt before opening counts from that day's opening; lands at close, not next open.
        (at(2026, 3, 10, 6, 30), 1, at(2026, 3, 10, 17)),
        (at(2026, 3, 9, 8), 1, at(2026, 3, 9, 17)),
        (at(2026, 3, 9, 12), 1, at(2026, 3, 10, 12)),
        (at(2026, 3, 9, 12), 0, at(2026, 3, 9, 12)),
        (at(2026, 3, 7, 12), 0, at(2026, 3, 9, 8)),
        # Year boundary: 1/1/2026 is a Thursday holiday.
        (at(2025, 12, 31, 15), 1, at(2026, 1, 2, 15)),
        # Swapped 2025: Sat 26/4 worked, Fri 2/5 off.
        (at(2025, 4, 25, 10), 1, at(2025, 4, 26, 10)),
        (at(2025, 4, 29, 10), 2, at(2025, 5, 6, 10)),
        # A long procedure: 30 working days from Monday 2/3/2026 (no holidays until 27/4).
        (at(2026, 3, 2, 8), 30, at(2026, 4, 10, 17)),
    ],
)
def test_due_at_without_pauses(received: datetime, days: int, expected: datetime) -> None:
    assert CAL.due_at(received, days) == expected


PROVINCIAL_DAY_OFF = CalendarOverrides(days_off=frozenset({date(2026, 3, 9)}))
WORKING_SATURDAY = CalendarOverrides(working_days=frozenset({date(2026, 3, 7)}))


@pytest.mark.parametrize(
    ("overrides", "received", "days", "expected"),
    [
        # Provincial day off on Monday 9/3/2026.
        (PROVINCIAL_DAY_OFF, at(2026, 3, 6, 10), 1, at(2026, 3, 10, 10)),
        # Swapped working Saturday 7/3/2026.
        (WORKING_SATURDAY, at(2026, 3, 6, 10), 1, at(2026, 3, 7, 10)),
        (WORKING_SATURDAY, at(2026, 3, 6, 18), 1, at(2026, 3, 7, 17)),
    ],
)
def test_due_at_with_overrides(overrides: CalendarOverrides, received: datetime, days: int, expected: datetime) -> None:
    assert WorkingCalendar(overrides).due_at(received, days) == expected


def test_result_is_aware_in_calendar_zone_and_accepts_any_zone() -> None:
    received_utc = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
    due = CAL.due_at(received_utc, 3)
    assert due == at(2026, 2, 25, 10)
    assert due is not None and due.tzinfo == VN


def test_custom_office_hours() -> None:
    cal = WorkingCalendar(hours=OfficeHours(open=time(7, 30), close=time(16, 30)))
    assert cal.seconds_per_working_day == 9 * HOUR
    assert cal.due_at(at(2026, 3, 6, 16, 45), 1) == at(2026, 3, 9, 16, 30)
    short = WorkingCalendar(hours=OfficeHours(open=time(8), close=time(12)))
    assert short.add_working_days(at(2026, 3, 9, 10), 1) == at(2026, 3, 10, 10)


@pytest.mark.parametrize(
    ("open_", "close"),
    [(time(17), time(8)), (time(8), time(8)), (time(8, tzinfo=UTC), time(17))],
)
def test_invalid_office_hours(open_: time, close: time) -> None:
    with pytest.raises(ValueError):
        OfficeHours(open=open_, close=close)


# --------------------------------------------------------------------------- due_at with pauses

RECEIVED_MON = at(2026, 3, 2, 8)  # 5 working days -> Fri 6/3 17:00 without pauses


@pytest.mark.parametrize(
    ("received", "days", "pauses", "expected"),
    [
        # Paused from Wed 29/4 12:00 to Mon 4/5 12:00 across 30/4–1/5 and a weekend: only the
        # 5h of Wednesday afternoon and 4h of Monday morning are added (= 1 working day).
        (at(2026, 4, 20, 8), 10, [], at(2026, 5, 6, 17)),
        (at(2026, 4, 20, 8), 10, [(at(2026, 4, 29, 12), at(2026, 5, 4, 12))], at(2026, 5, 7, 17)),
        # Overlapping pauses 10–12 and 11–14 on Tue 3/3 merge into 4h, in either order.
        (
            RECEIVED_MON,
            5,
            [(at(2026, 3, 3, 10), at(2026, 3, 3, 12)), (at(2026, 3, 3, 11), at(2026, 3, 3, 14))],
            at(2026, 3, 9, 12),
        ),
        (
            RECEIVED_MON,
            5,
            [(at(2026, 3, 3, 11), at(2026, 3, 3, 14)), (at(2026, 3, 3, 10), at(2026, 3, 3, 12))],
            at(2026, 3, 9, 12),
        ),
        # A pause nested in another and a duplicate count once.
        (
            RECEIVED_MON,
            5,
            [
                (at(2026, 3, 3, 8), at(2026, 3, 3, 17)),
                (at(2026, 3, 3, 9), at(2026, 3, 3, 10)),
                (at(2026, 3, 3, 8), at(2026, 3, 3, 17)),
            ],
            at(2026, 3, 9, 17),
        ),
        # Two disjoint pauses add up: 2h + 3h.
        (
            RECEIVED_MON,
            5,
            [(at(2026, 3, 4, 15), at(2026, 3, 4, 17)), (at(2026, 3, 2, 9), at(2026, 3, 2, 12))],
            at(2026, 3, 9, 13),
        ),
        # A pause entirely outside office hours costs nothing.
        (RECEIVED_MON, 5, [(at(2026, 3, 3, 18), at(2026, 3, 4, 7))], at(2026, 3, 6, 17)),
        # The part of a pause before receipt is ignored.
        (RECEIVED_MON, 5, [(at(2026, 2, 27, 8), at(2026, 3, 2, 10))], at(2026, 3, 9, 10)),
        # A pause after the deadline cannot move it (the dossier was already late).
        (RECEIVED_MON, 5, [(at(2026, 3, 9, 9), at(2026, 3, 10, 9))], at(2026, 3, 6, 17)),
        (RECEIVED_MON, 5, [(at(2026, 3, 6, 17), at(2026, 3, 10, 9))], at(2026, 3, 6, 17)),
        # Open pause that started before the deadline: the clock is stopped.
        (RECEIVED_MON, 5, [(at(2026, 3, 3, 10), None)], None),
        (RECEIVED_MON, 5, [(at(2026, 3, 3, 10), at(2026, 3, 3, 11)), (at(2026, 3, 4, 10), None)], None),
        # An open pause overlapping an earlier closed one.
        (RECEIVED_MON, 5, [(at(2026, 3, 4, 10), None), (at(2026, 3, 3, 10), at(2026, 3, 5, 11))], None),
        # An open pause opened after the deadline leaves the deadline in force.
        (RECEIVED_MON, 5, [(at(2026, 3, 9, 9), None)], at(2026, 3, 6, 17)),
    ],
)
def test_due_at_with_pauses(
    received: datetime,
    days: int,
    pauses: list[tuple[datetime, datetime | None]],
    expected: datetime | None,
) -> None:
    assert CAL.due_at(received, days, pauses) == expected


def test_pause_across_holiday_costs_only_paused_working_time() -> None:
    assert CAL.working_seconds_between(at(2026, 4, 29, 12), at(2026, 5, 4, 12)) == DAY


def test_reversed_pause_is_rejected() -> None:
    with pytest.raises(ValueError):
        CAL.due_at(RECEIVED_MON, 5, [(at(2026, 3, 3, 12), at(2026, 3, 3, 10))])


# --------------------------------------------------------------------------- input validation

NAIVE = datetime(2026, 3, 9, 10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.next_working_instant(NAIVE),
        lambda: CAL.working_seconds_between(NAIVE, at(2026, 3, 10)),
        lambda: CAL.working_seconds_between(at(2026, 3, 8), NAIVE),
        lambda: CAL.add_working_seconds(NAIVE, 10),
        lambda: CAL.subtract_working_seconds(NAIVE, 10),
        lambda: CAL.add_working_days(NAIVE, 1),
        lambda: CAL.due_at(NAIVE, 1),
        lambda: CAL.due_at(at(2026, 3, 9), 1, [(NAIVE, None)]),
        lambda: CAL.due_at(at(2026, 3, 9), 1, [(at(2026, 3, 9), NAIVE)]),
        lambda: CAL.add_working_seconds(at(2026, 3, 9), -1),
        lambda: CAL.subtract_working_seconds(at(2026, 3, 9), -1),
        lambda: CAL.add_working_days(at(2026, 3, 9), -1),
        lambda: CAL.due_at(at(2026, 3, 9), -1),
    ],
)
def test_invalid_input_raises_value_error(call: object) -> None:
    assert callable(call)
    with pytest.raises(CalendarError):
        call()
    assert issubclass(CalendarError, ValueError)


# --------------------------------------------------------------------------- instants and spans


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (at(2026, 3, 9, 10), at(2026, 3, 9, 10)),
        (at(2026, 3, 9, 8), at(2026, 3, 9, 8)),
        (at(2026, 3, 9, 7, 59), at(2026, 3, 9, 8)),
        (at(2026, 3, 6, 17), at(2026, 3, 9, 8)),  # closing time is not a working instant
        (at(2026, 2, 13, 17, 30), at(2026, 2, 23, 8)),  # over Tết
        (at(2026, 4, 29, 23), at(2026, 5, 4, 8)),  # over 30/4–1/5
    ],
)
def test_next_working_instant(t: datetime, expected: datetime) -> None:
    assert CAL.next_working_instant(t) == expected


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (at(2026, 3, 6, 15), at(2026, 3, 9, 10), 4 * HOUR),  # across a weekend
        (at(2026, 3, 6, 8), at(2026, 3, 13, 17), 6 * DAY),  # Fri..Fri
        (at(2026, 3, 7, 9), at(2026, 3, 8, 16), 0),  # inside one weekend
        (at(2026, 3, 9, 10), at(2026, 3, 9, 12, 30), 2 * HOUR + 30 * 60),  # same day
        (at(2026, 3, 9, 6), at(2026, 3, 9, 20), DAY),  # whole day from outside its hours
        (at(2026, 3, 9, 12), at(2026, 3, 9, 11), 0),  # end before start
        (at(2026, 3, 9, 12), at(2026, 3, 9, 12), 0),
        (at(2026, 2, 13, 16), at(2026, 2, 23, 9), 2 * HOUR),  # across Tết
        (at(2025, 12, 31, 8), at(2026, 1, 2, 17), 2 * DAY),  # across the year end and 1/1
    ],
)
def test_working_seconds_between(start: datetime, end: datetime, seconds: int) -> None:
    assert CAL.working_seconds_between(start, end) == seconds


def test_working_seconds_over_a_whole_year_match_the_day_by_day_count() -> None:
    # 2026: 261 weekdays minus 13 weekday days off (1/1, Tết 16–20/2, 27/4, 30/4, 1/5, 31/8,
    # 1–2/9, 24/11) plus the swapped working Saturday 22/8.
    day_by_day = sum(CAL.is_working_day(date(2026, 1, 1) + timedelta(days=i)) for i in range(365))
    assert day_by_day == 261 - 13 + 1
    assert CAL.working_seconds_between(at(2026, 1, 1), at(2027, 1, 1)) == day_by_day * DAY


@pytest.mark.parametrize(
    ("end", "seconds", "expected"),
    [
        (at(2026, 3, 9, 12), DAY, at(2026, 3, 6, 12)),  # back over a weekend
        (at(2026, 3, 9, 8), DAY, at(2026, 3, 6, 8)),  # opening time counts back from Friday's close
        (at(2026, 3, 9, 17), DAY, at(2026, 3, 9, 8)),  # lands on an opening: stays there
        (at(2026, 3, 8, 12), HOUR, at(2026, 3, 6, 16)),  # end on a weekend
        (at(2026, 2, 24, 10), 2 * DAY, at(2026, 2, 13, 10)),  # back over Tết
        (at(2026, 5, 4, 9), 2 * HOUR, at(2026, 4, 29, 16)),  # back over 30/4–1/5
        (at(2026, 3, 9, 20), 0, at(2026, 3, 9, 17)),
    ],
)
def test_subtract_working_seconds(end: datetime, seconds: int, expected: datetime) -> None:
    assert CAL.subtract_working_seconds(end, seconds) == expected


STARTS = [
    at(2026, 2, 13, 10),  # before Tết
    at(2026, 2, 14, 9),  # weekend before Tết
    at(2026, 4, 24, 16, 59),  # before Hùng Kings and 30/4
    at(2026, 4, 29, 17),  # exactly at close before 30/4
    at(2026, 3, 9, 8),  # exactly at opening
    at(2025, 4, 25, 12, 15),  # before a swapped working Saturday
    at(2025, 12, 24, 19),  # evening, crossing the year end
]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("days", range(26))
def test_add_working_days_measures_back_exactly(start: datetime, days: int) -> None:
    due = CAL.add_working_days(start, days)
    clamped = CAL.next_working_instant(start)
    assert CAL.working_seconds_between(clamped, due) == days * CAL.seconds_per_working_day
    # Also from the unclamped start: time outside office hours never counts.
    assert CAL.working_seconds_between(start, due) == days * CAL.seconds_per_working_day
    if days > 0:
        assert CAL.subtract_working_seconds(due, days * DAY) == clamped


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("seconds", [1, 59 * 60, HOUR, DAY - 1, DAY, DAY + 1, 7 * DAY + 3 * HOUR])
def test_subtract_is_inverse_of_add(start: datetime, seconds: int) -> None:
    due = CAL.add_working_seconds(start, seconds)
    assert CAL.subtract_working_seconds(due, seconds) == CAL.next_working_instant(start)
    back = CAL.subtract_working_seconds(start, seconds)
    assert CAL.working_seconds_between(back, start) == seconds
    assert CAL.add_working_seconds(back, seconds) == CAL.subtract_working_seconds(start, 0)
