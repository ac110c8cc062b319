"""Silences: one-off, weekly (Saturday afternoon), yearly, the Tết week; state; reminders."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts.notify.matchers import parse_matchers
from alerts.notify.silences import (
    Silence,
    SilenceError,
    active_window,
    due_reminders,
    is_silenced,
    next_window,
    parse_recurrence,
    silence_state,
)
from tests.unit.alerting.notify_support import at

HANOI = parse_matchers([{"label": "province_code", "op": "=", "value": "01"}])
LABELS = {"province_code": "01", "rule": "overdue"}


JAN_1 = at(2025, 1, 1)


def silence(recurrence: object = None, *, starts: datetime = JAN_1, ends: datetime | None = None,
            expired: datetime | None = None, reminded: datetime | None = None, sid: int = 1) -> Silence:  # fmt: skip
    return Silence(sid, HANOI, starts, ends, parse_recurrence(recurrence), "bảo trì", "user:an", expired, reminded)


SATURDAY_AFTERNOON = {"weekly": [{"days": [6], "from": "13:00", "to": "17:00"}]}
TET = {"holiday": "tet"}


@pytest.mark.parametrize(
    ("sil", "now", "window_end"),
    [
        # one-off [1/3 08:00, 1/3 12:00)
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 7, 59), None),
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 8), at(2025, 3, 1, 12)),
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 12), None),
        (
            silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12), expired=at(2025, 3, 1, 9)),
            at(2025, 3, 1, 10),
            None,
        ),
        # every Saturday 13:00–17:00: 15/3/2025 is a Saturday, 14/3 a Friday
        (silence(SATURDAY_AFTERNOON), at(2025, 3, 15, 12, 59), None),
        (silence(SATURDAY_AFTERNOON), at(2025, 3, 15, 13), at(2025, 3, 15, 17)),
        (silence(SATURDAY_AFTERNOON), at(2025, 3, 15, 16, 59), at(2025, 3, 15, 17)),
        (silence(SATURDAY_AFTERNOON), at(2025, 3, 15, 17), None),
        (silence(SATURDAY_AFTERNOON), at(2025, 3, 14, 14), None),
        (silence(SATURDAY_AFTERNOON, ends=at(2025, 3, 15, 15)), at(2025, 3, 15, 14), at(2025, 3, 15, 15)),
        (silence(SATURDAY_AFTERNOON, starts=at(2025, 3, 20)), at(2025, 3, 15, 14), None),
        # a night window wrapping midnight: Friday 22:00 → Saturday 06:00
        (silence({"weekly": [{"days": [5], "from": "22:00", "to": "06:00"}]}), at(2025, 3, 15, 5), at(2025, 3, 15, 6)),
        # the Tết week 2025: Saturday 25/1 → Sunday 2/2 (inclusive), the weekends around the days off
        (silence(TET), at(2025, 1, 24, 23, 59), None),
        (silence(TET), at(2025, 1, 25, 0), at(2025, 2, 3, 0)),
        (silence(TET), at(2025, 1, 29, 10), at(2025, 2, 3, 0)),
        (silence(TET), at(2025, 2, 3, 0), None),
        # Tết 2026: 14/2 → 22/2
        (silence(TET), at(2026, 2, 14, 9), at(2026, 2, 23, 0)),
        # yearly: 30/12 → 2/1 wraps the year end
        (silence({"yearly": [{"from": "12-30", "to": "01-02"}]}), at(2025, 12, 31, 10), at(2026, 1, 3, 0)),
        (silence({"yearly": [{"from": "12-30", "to": "01-02"}]}), at(2026, 1, 2, 23), at(2026, 1, 3, 0)),
        (silence({"yearly": [{"from": "12-30", "to": "01-02"}]}), at(2026, 1, 3, 0), None),
    ],
)
def test_window_in_force(sil: Silence, now: datetime, window_end: datetime | None) -> None:
    window = active_window(sil, now)
    assert (window.end if window else None) == window_end
    hit = is_silenced(LABELS, [sil], now)
    assert (hit is not None) is (window_end is not None)
    assert is_silenced({"province_code": "79"}, [sil], now) is None


@pytest.mark.parametrize(
    ("sil", "now", "state"),
    [
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 7), "pending"),
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 9), "active"),
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 12), "expired"),
        (silence(SATURDAY_AFTERNOON), at(2025, 3, 14, 9), "pending"),
        (silence(SATURDAY_AFTERNOON, expired=at(2025, 3, 14, 8)), at(2025, 3, 14, 9), "expired"),
        (silence(SATURDAY_AFTERNOON, ends=at(2025, 3, 16)), at(2025, 3, 15, 18), "expired"),
    ],
)
def test_state(sil: Silence, now: datetime, state: str) -> None:
    assert silence_state(sil, now) == state


def test_next_window_of_a_weekly_silence() -> None:
    w = next_window(silence(SATURDAY_AFTERNOON), at(2025, 3, 13, 9))
    assert w is not None and (w.start, w.end) == (at(2025, 3, 15, 13), at(2025, 3, 15, 17))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekly": [{"days": [0], "from": "13:00", "to": "17:00"}]}, "recurrence.weekly[0].days"),
        ({"weekly": [{"days": [6], "from": "25:00", "to": "17:00"}]}, "recurrence.weekly[0].from"),
        ({"weekly": [{"days": [6], "from": "13:00"}]}, "recurrence.weekly[0]"),
        ({"yearly": [{"from": "02-30", "to": "03-01"}]}, "recurrence.yearly[0].from"),
        ({"holiday": "christmas"}, "unknown holiday"),
        ({}, "rỗng"),
        ({"monthly": []}, "unknown keys"),
    ],
)
def test_schedule_errors(data: object, message: str) -> None:
    with pytest.raises(SilenceError) as err:
        parse_recurrence(data)
    assert message in str(err.value)


def test_one_off_needs_an_end() -> None:
    with pytest.raises(SilenceError, match="ends_at"):
        Silence(1, HANOI, at(2025, 1, 1), None)


LEAD = timedelta(minutes=30)


@pytest.mark.parametrize(
    ("sil", "now", "due"),
    [
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 11, 29), False),
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 11, 30), True),
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12), reminded=at(2025, 3, 1, 12)),
         at(2025, 3, 1, 11, 45), False),  # once per window
        (silence(starts=at(2025, 3, 1, 8), ends=at(2025, 3, 1, 12)), at(2025, 3, 1, 12), False),  # over
        # weekly: reminded for last Saturday's window, due again for this one
        (silence(SATURDAY_AFTERNOON, reminded=at(2025, 3, 8, 17)), at(2025, 3, 15, 16, 40), True),
        (silence(SATURDAY_AFTERNOON, reminded=at(2025, 3, 15, 17)), at(2025, 3, 15, 16, 40), False),
    ],
)  # fmt: skip
def test_reminders(sil: Silence, now: datetime, due: bool) -> None:
    reminders = due_reminders([sil], now, LEAD)
    assert bool(reminders) is due
