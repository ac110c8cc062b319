"""The source's appointment (ngày hẹn trả) in the lifecycle fold: pure, explicit datetimes.

Office hours are 08:00–17:00 Asia/Ho_Chi_Minh. The reference dossier is received Monday 9/3/2026
09:00 with a 3-working-day procedure: statutorily due Thursday 12/3/2026 09:00 (STATUTORY). The
source's appointment, when it sends one, is the deadline in force (`due_at`); the statutory one
is kept beside it, and the outcome is measured against the appointment unless the appointment
was moved past a deadline already missed or replaced by an apology letter's new date.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import CalendarOverrides, WorkingCalendar
from ingest.lifecycle import (
    BUILTIN_POLICY,
    DossierEvent,
    DossierState,
    EventType,
    Procedure,
    contributions,
    explain_deadline,
    fold,
)
from ingest.validate import InvalidItem, validate_event

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
PROCEDURES = {"P3": Procedure("P3", "Đất đai", 3)}

RECEIVED = EventType.RECEIVED
SUP_REQ = EventType.SUPPLEMENT_REQUESTED
SUP_GOT = EventType.SUPPLEMENT_RECEIVED
RESOLVED = EventType.RESOLVED
REJECTED = EventType.REJECTED
APOLOGY = EventType.APOLOGY_ISSUED
EXTENDED = EventType.EXTENDED


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=VN)


R = at(9, 9)  # Monday
STATUTORY = at(12, 9)  # Thursday, 3 working days later


def ev(kind: EventType, t: datetime, due: datetime | None = None, days: int | None = None) -> DossierEvent:
    return DossierEvent(
        occurred_at=t, dossier_code="HS-A", event_type=kind, source_id="src", event_id=f"{kind}:{t.isoformat()}",
        province_code="01", commune_code="00004", agency_code="AG-1", procedure_code="P3", channel="direct",
        due_at=due, statutory_days=days,
    )  # fmt: skip


def folded(*events: DossierEvent) -> DossierState:
    state = fold(None, events, lambda _p: CAL, PROCEDURES.get)
    assert state is not None
    return state


@dataclass(frozen=True)
class Case:
    name: str
    events: tuple[DossierEvent, ...]
    due_at: datetime | None  # in force (the appointment when one came)
    statutory_due_at: datetime | None
    appointment_at: datetime | None
    beyond_statutory: bool
    outcome: str | None = None
    late_since: datetime | None = None


CASES = [
    Case("no appointment: the statutory deadline is in force",
         (ev(RECEIVED, R), ev(RESOLVED, at(12, 10))), STATUTORY, STATUTORY, None, False, "late", STATUTORY),
    Case("appointment at receipt, later than statutory: resolved between the two is on time",
         (ev(RECEIVED, R, at(13, 17)), ev(RESOLVED, at(13, 10))), at(13, 17), STATUTORY, at(13, 17), True, "on_time"),
    Case("appointment at receipt, later than statutory: past it is late",
         (ev(RECEIVED, R, at(13, 17)), ev(RESOLVED, at(16, 8, 30))), at(13, 17), STATUTORY, at(13, 17), True,
         "late", at(13, 17)),
    Case("appointment earlier than statutory: it binds, resolved before the statutory deadline is late",
         (ev(RECEIVED, R, at(11, 17)), ev(RESOLVED, at(12, 8, 30))), at(11, 17), STATUTORY, at(11, 17), False,
         "late", at(11, 17)),
    Case("appointment earlier than statutory, resolved a day ahead of it: early",
         (ev(RECEIVED, R, at(11, 17)), ev(RESOLVED, at(10, 16))), at(11, 17), STATUTORY, at(11, 17), False, "early"),
    Case("a pause moves the appointment given before it by the pause's working time (9 h)",
         (ev(RECEIVED, R, at(12, 17)), ev(SUP_REQ, at(10, 9)), ev(SUP_GOT, at(11, 9))),
         at(13, 17), at(13, 9), at(13, 17), True),
    Case("a supplement brings a new slip: that appointment replaces the shifted one",
         (ev(RECEIVED, R, at(12, 17)), ev(SUP_REQ, at(10, 9)), ev(SUP_GOT, at(11, 9), at(17, 17)),
          ev(RESOLVED, at(17, 9))),
         at(17, 17), at(13, 9), at(17, 17), True, "on_time"),
    Case("while paused nothing is due; the appointment waits for the resume",
         (ev(RECEIVED, R, at(12, 17)), ev(SUP_REQ, at(10, 9))), None, None, at(12, 17), False),
    Case("an extension given during a pause is not moved by that pause",
         (ev(RECEIVED, R), ev(SUP_REQ, at(10, 9)), ev(EXTENDED, at(10, 15), at(18, 17)), ev(SUP_GOT, at(11, 9))),
         at(18, 17), at(13, 9), at(18, 17), True),
    Case("an extension before the deadline moves it: resolved before the new date is on time",
         (ev(RECEIVED, R, at(12, 17)), ev(EXTENDED, at(11, 10), at(16, 17)), ev(RESOLVED, at(16, 9))),
         at(16, 17), STATUTORY, at(16, 17), True, "on_time"),
    Case("an extension once already late, with no apology: the new date waits, the dossier stays overdue",
         (ev(RECEIVED, R, at(12, 17)), ev(EXTENDED, at(13, 10), at(17, 17))),
         at(12, 17), STATUTORY, at(17, 17), True),
    Case("... and resolved before the new date it is still late",
         (ev(RECEIVED, R, at(12, 17)), ev(EXTENDED, at(13, 10), at(17, 17)), ev(RESOLVED, at(16, 9))),
         at(12, 17), STATUTORY, at(17, 17), True, "late", at(12, 17)),
    Case("... the apology letter puts the waiting date in force (the lateness stays)",
         (ev(RECEIVED, R, at(12, 17)), ev(EXTENDED, at(13, 10), at(17, 17)), ev(APOLOGY, at(16, 9)),
          ev(RESOLVED, at(17, 9))),
         at(17, 17), STATUTORY, at(17, 17), True, "late", at(12, 17)),
    Case("an apology recorded before the late extension lets it apply at once",
         (ev(RECEIVED, R, at(12, 17)), ev(APOLOGY, at(12, 16)), ev(EXTENDED, at(13, 10), at(17, 17))),
         at(17, 17), STATUTORY, at(17, 17), True),
    Case("a late new slip with a supplement (no pause to end) waits for the letter too",
         (ev(RECEIVED, R), ev(SUP_GOT, at(12, 10), at(16, 17))),
         STATUTORY, STATUTORY, at(16, 17), True),
    Case("an earlier extension (a shorter promise) binds from then on",
         (ev(RECEIVED, R, at(13, 17)), ev(EXTENDED, at(10, 10), at(11, 17)), ev(RESOLVED, at(12, 8))),
         at(11, 17), STATUTORY, at(11, 17), False, "late", at(11, 17)),
    Case("an apology's new date is what the citizen is now promised, but the dossier is late",
         (ev(RECEIVED, R), ev(APOLOGY, at(12, 10), at(16, 17)), ev(RESOLVED, at(13, 10))),
         at(16, 17), STATUTORY, at(16, 17), True, "late", STATUTORY),
    Case("an apology given before the deadline: resolved by the old deadline is still on time",
         (ev(RECEIVED, R, at(12, 17)), ev(APOLOGY, at(11, 10), at(16, 17)), ev(RESOLVED, at(12, 16))),
         at(16, 17), STATUTORY, at(16, 17), True, "on_time"),
    Case("an apology given before the deadline: resolved after the old deadline is late",
         (ev(RECEIVED, R, at(12, 17)), ev(APOLOGY, at(11, 10), at(16, 17)), ev(RESOLVED, at(13, 9))),
         at(16, 17), STATUTORY, at(16, 17), True, "late", at(12, 17)),
    Case("an apology after the resolution changes no deadline",
         (ev(RECEIVED, R), ev(RESOLVED, at(13, 9)), ev(APOLOGY, at(13, 10), at(20, 17))),
         STATUTORY, STATUTORY, None, False, "late", STATUTORY),
    Case("the dossier's own statutory period (5 days) wins over the catalogue's (3)",
         (ev(RECEIVED, R, days=5), ev(RESOLVED, at(16, 8))), at(16, 9), at(16, 9), None, False, "on_time"),
    Case("a shorter own period (1 day) likewise",
         (ev(RECEIVED, R, days=1), ev(RESOLVED, at(11, 8))), at(10, 9), at(10, 9), None, False, "late", at(10, 9)),
    Case("own period and an appointment beyond it",
         (ev(RECEIVED, R, at(17, 17), days=5),), at(17, 17), at(16, 9), at(17, 17), True),
    Case("a rejection past the appointment records the appointment it missed",
         (ev(RECEIVED, R, at(13, 17)), ev(REJECTED, at(16, 9))), at(13, 17), STATUTORY, at(13, 17), True,
         None, at(13, 17)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_appointment_fold(case: Case) -> None:
    state = folded(*case.events)
    assert state.due_at == case.due_at
    assert state.statutory_due_at == case.statutory_due_at
    assert state.appointment_at == case.appointment_at
    assert state.beyond_statutory is case.beyond_statutory
    assert state.outcome == case.outcome
    assert state.late_since == case.late_since


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_appointment_fold_ignores_arrival_order(case: Case) -> None:
    expected = folded(*case.events)
    rng = random.Random(case.name)
    for _ in range(5):
        shuffled = list(case.events)
        rng.shuffle(shuffled)
        assert folded(*shuffled) == expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_appointment_fold_is_the_same_event_by_event(case: Case) -> None:
    """The projector continues from a stored state when new events are newer: same result."""
    state: DossierState | None = None
    for event in sorted(case.events, key=lambda e: e.sort_key):
        state = fold(state, [event], lambda _p: CAL, PROCEDURES.get)
    assert state == folded(*case.events)


def test_statutory_days_on_the_catalogue_is_kept_as_is() -> None:
    assert folded(ev(RECEIVED, R, days=3)).statutory_days == 3
    assert folded(ev(RECEIVED, R)).statutory_days == 3
    assert folded(ev(RECEIVED, R, days=5)).statutory_days == 5


def test_rollup_outcome_follows_the_appointment() -> None:
    # Resolved after the statutory deadline but before the appointment: counted on time.
    state = folded(ev(RECEIVED, R, at(13, 17)), ev(RESOLVED, at(13, 10)))
    (day, *_), counts = max(contributions(state).items())
    assert day == at(13).date()
    assert counts[2:6] == [1, 0, 1, 0]  # resolved, early, on time, late


def test_an_extension_for_a_closed_dossier_changes_nothing() -> None:
    closed = folded(ev(RECEIVED, R, at(12, 17)), ev(RESOLVED, at(12, 10)))
    later = folded(ev(RECEIVED, R, at(12, 17)), ev(RESOLVED, at(12, 10)), ev(EXTENDED, at(12, 11), at(20, 17)))
    assert later.due_at == closed.due_at and later.appointment_at == closed.appointment_at
    assert later.outcome == "on_time"


# --------------------------------------------------------------------------- the native format

RAW: dict[str, object] = {
    "event_id": "e-1", "dossier_code": "H01-0001", "event_type": "received",
    "occurred_at": "2026-11-20T09:00:00+07:00", "procedure": {"code": "1.001193"},
    "locality": {"commune_code": "00097"}, "channel": "direct",
}  # fmt: skip


@pytest.mark.parametrize("kind", ["received", "supplement_received", "apology_issued", "extended"])
def test_due_at_is_read_on_the_events_that_give_an_appointment(kind: str) -> None:
    item = validate_event({**RAW, "event_type": kind, "due_at": "2026-11-25T17:00:00+07:00"})
    assert item.due_at == datetime(2026, 11, 25, 17, 0, tzinfo=VN)
    assert item.event_type == EventType(kind)


@pytest.mark.parametrize(
    ("changes", "reason", "names"),
    [
        ({"event_type": "resolved", "due_at": "2026-11-25T17:00:00+07:00"}, "inconsistent_field", "due_at"),
        ({"event_type": "extended"}, "missing_field", "due_at"),
        ({"event_type": "extended", "due_at": None}, "missing_field", "due_at"),
        ({"due_at": "2026-11-25T17:00:00"}, "invalid_time", "due_at"),  # no offset
        ({"due_at": "25/11/2026"}, "invalid_time", "due_at"),
        ({"due_at": 20261125}, "invalid_time", "due_at"),
        ({"due_at": "2026-11-20T08:59:59+07:00"}, "inconsistent_field", "earlier"),
        ({"due_at": "2030-11-20T09:00:00+07:00"}, "invalid_time", "due_at"),
    ],
)
def test_bad_appointments_are_refused_with_a_reason(changes: dict[str, object], reason: str, names: str) -> None:
    with pytest.raises(InvalidItem) as caught:
        validate_event({**RAW, **changes})
    assert caught.value.reason == reason
    assert names in str(caught.value)


def test_no_due_at_is_none_and_a_null_one_too() -> None:
    assert validate_event(RAW).due_at is None
    assert validate_event({**RAW, "due_at": None}).due_at is None


# --------------------------------------------------------------------------- the explanation


def test_explanation_names_the_holidays_overrides_and_pauses_it_skipped() -> None:
    # Received Friday 24/4/2026 09:00, 5 working days: Giỗ Tổ Hùng Vương falls on Sunday 26/4 and is
    # observed Monday 27/4, 30/4 and 1/5 are national days off, and an operator declared Tuesday
    # 28/4 a provincial day off.
    calendar = WorkingCalendar(CalendarOverrides(days_off=frozenset({date(2026, 4, 28)})))
    received = datetime(2026, 4, 24, 9, tzinfo=VN)

    def e(kind: EventType, t: datetime, due: datetime | None = None) -> DossierEvent:
        return DossierEvent(
            occurred_at=t, dossier_code="HS-X", event_type=kind, source_id="src", event_id=f"x:{kind}:{t}",
            province_code="01", commune_code=None, agency_code=None, procedure_code="P3", channel="direct",
            due_at=due, statutory_days=5 if kind is RECEIVED else None,
        )  # fmt: skip

    events = [
        e(RECEIVED, received),
        e(SUP_REQ, datetime(2026, 4, 29, 9, tzinfo=VN)),
        e(SUP_GOT, datetime(2026, 4, 29, 13, tzinfo=VN)),  # 4 working hours paused
        e(EXTENDED, datetime(2026, 4, 29, 14, tzinfo=VN), datetime(2026, 5, 15, 17, tzinfo=VN)),
    ]
    explained = explain_deadline(events, lambda _p: calendar, PROCEDURES.get, ("01", None))
    assert explained is not None
    state = explained.state
    assert state == fold(None, events, lambda _p: calendar, PROCEDURES.get)
    # Working days: 24/4 (from 09:00), 29/4, 4/5, 5/5, 6/5, 7/5 until 09:00, then 4 paused hours.
    assert state.statutory_due_at == datetime(2026, 5, 7, 13, tzinfo=VN)
    out = explained.as_dict()
    assert out["basis"] == "appointment" and out["due_at"] == datetime(2026, 5, 15, 17, tzinfo=VN)
    assert out["policy"] == BUILTIN_POLICY
    st = out["statutory"]
    assert (st["working_days"], st["working_days_source"], st["catalogue_working_days"]) == (5, "dossier", 3)
    assert st["differs_from_catalogue"] is True
    paused_from, paused_to = datetime(2026, 4, 29, 9, tzinfo=VN), datetime(2026, 4, 29, 13, tzinfo=VN)
    assert st["pauses"] == [{"started_at": paused_from, "ended_at": paused_to, "working_seconds": 4 * 3600}]
    assert [h["day"] for h in st["holidays_skipped"]] == ["2026-04-26", "2026-04-27", "2026-04-30", "2026-05-01"]
    assert all(h["name"] for h in st["holidays_skipped"])
    assert st["overrides_skipped"] == [{"day": "2026-04-28", "kind": "day_off"}]
    assert st["weekend_days_skipped"] == 3  # 25/4 and 2–3/5 (Sunday 26/4 is named as the holiday)
    assert out["appointment"]["history"] == [{
        "occurred_at": datetime(2026, 4, 29, 14, tzinfo=VN), "event_type": "extended",
        "event_id": events[3].event_id, "due_at": datetime(2026, 5, 15, 17, tzinfo=VN), "moved_by_pause": False,
    }]  # fmt: skip
    assert out["appointment"]["beyond_statutory"] is True


def test_explanation_records_an_appointment_moved_by_a_pause() -> None:
    events = (ev(RECEIVED, R, at(12, 17)), ev(SUP_REQ, at(10, 9)), ev(SUP_GOT, at(11, 9)))
    explained = explain_deadline(events, lambda _p: CAL, PROCEDURES.get)
    assert explained is not None
    history = [(a.event_type, a.due_at, a.moved_by_pause) for a in explained.appointments]
    assert history == [("received", at(12, 17), False), ("supplement_received", at(13, 17), True)]
    assert explained.pauses[0].working_seconds == 9 * 3600


def test_no_explanation_without_a_receipt() -> None:
    assert explain_deadline([ev(RESOLVED, R)], lambda _p: CAL, PROCEDURES.get) is None


def test_explanation_says_when_a_late_new_date_waits_for_the_letter() -> None:
    events = [ev(RECEIVED, R, at(12, 17)), ev(EXTENDED, at(13, 10), at(17, 17))]
    explained = explain_deadline(events, lambda _p: CAL, PROCEDURES.get)
    assert explained is not None
    out = explained.as_dict()
    assert out["basis"] == "missed_awaiting_apology" and "thư xin lỗi" in out["basis_label"]
    assert out["due_at"] == at(12, 17) and out["appointment"]["due_at"] == at(17, 17)
    released = explain_deadline([*events, ev(APOLOGY, at(13, 11))], lambda _p: CAL, PROCEDURES.get)
    assert released is not None and released.basis == "appointment"
