"""The dossier lifecycle fold and its rollup contributions: pure, explicit datetimes.

Office hours are 08:00–17:00 Asia/Ho_Chi_Minh, so one working day is 9 h of working time. The
reference dossier is received Monday 9/3/2026 09:00 with a 3-working-day procedure: due Thursday
12/3/2026 09:00.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import WorkingCalendar
from ingest.lifecycle import (
    DossierEvent,
    DossierState,
    EventType,
    Procedure,
    RollupKey,
    apply_event,
    contributions,
    fold,
    rollup_delta,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = 3600
CAL = WorkingCalendar()
PROCEDURES = {p.code: p for p in (Procedure("P0", "Tư pháp", 0), Procedure("P1", "Hộ tịch", 1),
                                  Procedure("P3", "Đất đai", 3))}  # fmt: skip

R = datetime(2026, 3, 9, 9, 0, tzinfo=VN)  # Monday
DUE = datetime(2026, 3, 12, 9, 0, tzinfo=VN)  # Thursday, 3 working days later

RECEIVED = EventType.RECEIVED
SUP_REQ = EventType.SUPPLEMENT_REQUESTED
SUP_GOT = EventType.SUPPLEMENT_RECEIVED
RESOLVED = EventType.RESOLVED
RETURNED = EventType.RETURNED
REJECTED = EventType.REJECTED
WITHDRAWN = EventType.WITHDRAWN
APOLOGY = EventType.APOLOGY_ISSUED


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=VN)


def calendar_for(_province: str) -> WorkingCalendar:
    return CAL


def procedure_of(code: str) -> Procedure | None:
    return PROCEDURES.get(code)


def ev(
    kind: EventType,
    t: datetime,
    *,
    code: str = "HS-1",
    procedure: str | None = "P3",
    channel: str | None = "online",
    commune: str | None = "00004",
) -> DossierEvent:
    return DossierEvent(
        occurred_at=t, dossier_code=code, event_type=kind, source_id="src", event_id=f"{code}:{kind}:{t.isoformat()}",
        province_code="01", commune_code=commune, agency_code="AG-1", procedure_code=procedure, channel=channel,
    )  # fmt: skip


def run(*events: DossierEvent) -> DossierState | None:
    return fold(None, events, calendar_for, procedure_of)


def folded(*events: DossierEvent) -> DossierState:
    state = run(*events)
    assert state is not None
    return state


# --------------------------------------------------------------------------- receipt and deadline


@pytest.mark.parametrize(
    ("received_at", "procedure", "due_at"),
    [
        (R, "P3", DUE),  # same clock time, 3 working days later
        (at(3, 9, 7, 0), "P3", at(3, 11, 17, 0)),  # before opening: counting starts at 08:00
        (at(3, 13, 18, 0), "P1", at(3, 16, 17, 0)),  # Friday after closing: due Monday 17:00
        (at(3, 13, 16, 0), "P1", at(3, 16, 16, 0)),  # Friday 16:00 + 9 h of working time
        (at(4, 24, 9, 0), "P3", at(5, 4, 9, 0)),  # skips Giỗ Tổ (27/4), 30/4, 1/5 and the weekend
        # A same-day procedure ("trong ngày") is due at the close of the day of receipt (it used to
        # be due the instant it was received, i.e. late at once: issue #12, item 4).
        (R, "P0", at(3, 9, 17, 0)),
    ],
)
def test_receipt_sets_due_at_n_working_days_later(received_at: datetime, procedure: str, due_at: datetime) -> None:
    state = folded(ev(RECEIVED, received_at, procedure=procedure))
    assert state.status == "received"
    assert state.received_at == received_at
    assert state.due_at == due_at
    assert (state.paused_at, state.paused_seconds, state.closed_at, state.outcome) == (None, 0, None, None)
    assert state.statutory_days == PROCEDURES[procedure].statutory_days
    assert state.sector == PROCEDURES[procedure].sector
    assert state.is_open


def test_receipt_copies_event_fields() -> None:
    state = folded(ev(RECEIVED, R, channel=None, commune=None))
    assert (state.code, state.source_id, state.province_code, state.commune_code) == ("HS-1", "src", "01", None)
    assert (state.agency_code, state.procedure_code, state.channel) == ("AG-1", "P3", "direct")
    assert state.last_event_at == R


@pytest.mark.parametrize(
    ("resolved_at", "outcome", "late_since"),
    [
        (at(3, 11, 10, 0), "early", None),  # a day ahead of the appointment
        (at(3, 9, 15, 0), "early", None),  # the same day it was received
        (at(3, 12, 0, 30), "on_time", None),  # on the due date, before opening
        (at(3, 12, 8, 30), "on_time", None),  # on the due date, before the due time
        (DUE, "on_time", None),  # exactly at the deadline
        (at(3, 12, 9, 0, 1), "late", DUE),  # one second past it
        (at(3, 13, 10, 0), "late", DUE),  # the next day
    ],
)
def test_resolution_outcome(resolved_at: datetime, outcome: str, late_since: datetime | None) -> None:
    state = folded(ev(RECEIVED, R), ev(RESOLVED, resolved_at))
    assert state.status == "resolved"
    assert state.resolved_at == state.closed_at == resolved_at
    assert state.outcome == outcome
    assert state.late_since == late_since
    assert state.due_at == DUE
    assert not state.is_open


# --------------------------------------------------------------------------- supplement pauses


def test_supplement_request_pauses_the_clock() -> None:
    state = folded(ev(RECEIVED, R), ev(SUP_REQ, at(3, 10, 9, 0)))
    assert state.status == "supplement_requested"
    assert state.paused_at == at(3, 10, 9, 0)
    assert state.due_at is None  # no deadline applies while the clock is stopped
    assert state.is_open


@pytest.mark.parametrize(
    ("events", "paused_seconds", "due_at"),
    [
        # Tue 09:00 → Thu 09:00 = 8 h + 9 h + 1 h of working time: due moves from Thu 09:00 to Mon 09:00.
        ([(SUP_REQ, at(3, 10, 9, 0)), (SUP_GOT, at(3, 12, 9, 0))], 18 * HOUR, at(3, 16, 9, 0)),
        # Two pauses add up: 3 h on Tuesday, then Wed 14:00–17:00 (Thu 08:00 is the opening).
        (
            [
                (SUP_REQ, at(3, 10, 9, 0)),
                (SUP_GOT, at(3, 10, 12, 0)),
                (SUP_REQ, at(3, 11, 14, 0)),
                (SUP_GOT, at(3, 12, 8, 0)),
            ],
            6 * HOUR,
            at(3, 12, 15, 0),
        ),
        # A pause entirely outside office hours costs nothing.
        ([(SUP_REQ, at(3, 10, 18, 0)), (SUP_GOT, at(3, 11, 7, 30))], 0, DUE),
        # A resume with no pause open changes nothing.
        ([(SUP_GOT, at(3, 10, 9, 0))], 0, DUE),
        # A second request while paused keeps the first pause start.
        (
            [(SUP_REQ, at(3, 10, 9, 0)), (SUP_REQ, at(3, 11, 9, 0)), (SUP_GOT, at(3, 12, 9, 0))],
            18 * HOUR,
            at(3, 16, 9, 0),
        ),
    ],
)
def test_supplement_pause_extends_due_at(
    events: list[tuple[EventType, datetime]], paused_seconds: int, due_at: datetime
) -> None:
    state = folded(ev(RECEIVED, R), *(ev(kind, t) for kind, t in events))
    assert state.status == "received"
    assert state.paused_at is None
    assert state.paused_seconds == paused_seconds
    assert state.due_at == due_at


def test_pause_spanning_the_30_4_and_1_5_holidays_counts_only_working_time() -> None:
    # Received Fri 24/4/2026 09:00, 3 days: due Mon 4/5 09:00 (27/4, 30/4, 1/5 and weekends are off).
    received = at(4, 24, 9, 0)
    assert folded(ev(RECEIVED, received)).due_at == at(5, 4, 9, 0)
    # Paused Wed 29/4 16:00 → Mon 4/5 10:00: 1 h on Wednesday + 2 h on Monday, nothing in between.
    state = folded(ev(RECEIVED, received), ev(SUP_REQ, at(4, 29, 16, 0)), ev(SUP_GOT, at(5, 4, 10, 0)))
    assert state.paused_seconds == 3 * HOUR
    assert state.due_at == at(5, 4, 12, 0)
    assert state.due_at == CAL.due_at(received, 3, [(at(4, 29, 16, 0), at(5, 4, 10, 0))])
    resolved = folded(
        ev(RECEIVED, received), ev(SUP_REQ, at(4, 29, 16, 0)), ev(SUP_GOT, at(5, 4, 10, 0)), ev(RESOLVED, at(5, 4, 11))
    )
    assert resolved.outcome == "on_time"  # late without the pause (due 09:00), on time with it


def test_pause_makes_a_would_be_late_resolution_early() -> None:
    events = [ev(RECEIVED, R), ev(SUP_REQ, at(3, 10, 9, 0)), ev(SUP_GOT, at(3, 12, 9, 0)), ev(RESOLVED, at(3, 13, 10))]
    assert folded(events[0], events[3]).outcome == "late"
    state = folded(*events)
    assert (state.due_at, state.outcome, state.late_since) == (at(3, 16, 9, 0), "early", None)


def test_resolution_while_paused_closes_the_pause() -> None:
    state = folded(ev(RECEIVED, R), ev(SUP_REQ, at(3, 10, 9, 0)), ev(RESOLVED, at(3, 11, 9, 0)))
    assert (state.status, state.paused_at, state.paused_seconds) == ("resolved", None, 9 * HOUR)
    assert state.due_at == at(3, 13, 9, 0)
    assert state.outcome == "early"


@pytest.mark.parametrize("requested_at", [DUE, at(3, 12, 10, 0), at(3, 13, 8, 0)])
def test_supplement_requested_after_the_deadline_does_not_stop_lateness(requested_at: datetime) -> None:
    state = folded(ev(RECEIVED, R), ev(SUP_REQ, requested_at))
    assert (state.status, state.paused_at, state.due_at) == ("received", None, DUE)
    state = folded(ev(RECEIVED, R), ev(SUP_REQ, requested_at), ev(SUP_GOT, at(3, 13, 9)), ev(RESOLVED, at(3, 13, 10)))
    assert (state.outcome, state.late_since, state.paused_seconds) == ("late", DUE, 0)


# --------------------------------------------------------------------------- closing without resolution


@pytest.mark.parametrize(
    ("kind", "closed_at", "late_since"),
    [
        (REJECTED, at(3, 10, 10, 0), None),
        (WITHDRAWN, at(3, 10, 10, 0), None),
        (REJECTED, at(3, 13, 10, 0), DUE),  # closed after the deadline: it was late
        (WITHDRAWN, at(3, 13, 10, 0), DUE),
    ],
)
def test_rejected_and_withdrawn_close_the_dossier(
    kind: EventType, closed_at: datetime, late_since: datetime | None
) -> None:
    state = folded(ev(RECEIVED, R), ev(kind, closed_at))
    assert state.status == kind.value
    assert state.closed_at == closed_at
    assert (state.outcome, state.resolved_at) == (None, None)
    assert state.late_since == late_since
    assert not state.is_open
    # A closed dossier ignores later lifecycle events.
    after = folded(ev(RECEIVED, R), ev(kind, closed_at), ev(RESOLVED, at(3, 20, 9)), ev(SUP_REQ, at(3, 20, 10)))
    assert replace(after, last_event_at=state.last_event_at) == state
    assert after.last_event_at == at(3, 20, 10)


def test_withdrawn_while_paused_ends_the_pause() -> None:
    state = folded(ev(RECEIVED, R), ev(SUP_REQ, at(3, 10, 9, 0)), ev(WITHDRAWN, at(3, 11, 10, 0)))
    assert (state.status, state.paused_at) == ("withdrawn", None)
    assert state.paused_seconds == 10 * HOUR  # Tue 09:00–17:00 + Wed 08:00–10:00
    assert state.closed_at == at(3, 11, 10, 0)


# --------------------------------------------------------------------------- apology and return


@pytest.mark.parametrize(
    ("events", "apology_at"),
    [
        ([ev(RESOLVED, at(3, 13, 10)), ev(APOLOGY, at(3, 16, 9))], at(3, 16, 9)),  # after a late resolution
        ([ev(APOLOGY, at(3, 12, 10))], at(3, 12, 10)),  # while still open and overdue
        ([ev(APOLOGY, at(3, 12, 10)), ev(APOLOGY, at(3, 13, 10))], at(3, 12, 10)),  # the first letter counts
        ([ev(REJECTED, at(3, 13, 10)), ev(APOLOGY, at(3, 16, 9))], at(3, 16, 9)),  # even once closed
    ],
)
def test_apology_recorded(events: list[DossierEvent], apology_at: datetime) -> None:
    state = folded(ev(RECEIVED, R), *events)
    assert state.apology_at == apology_at


def test_returned_without_resolved_counts_as_resolved_then_returned() -> None:
    state = folded(ev(RECEIVED, R), ev(RETURNED, at(3, 11, 10)))
    assert state.status == "returned"
    assert state.resolved_at == state.returned_at == state.closed_at == at(3, 11, 10)
    assert state.outcome == "early"


def test_returned_after_resolved_keeps_the_resolution() -> None:
    state = folded(ev(RECEIVED, R), ev(RESOLVED, at(3, 12, 16)), ev(RETURNED, at(3, 16, 9)))
    assert (state.status, state.resolved_at, state.returned_at) == ("returned", at(3, 12, 16), at(3, 16, 9))
    assert (state.outcome, state.late_since) == ("late", DUE)


def test_returned_after_rejection_changes_nothing() -> None:
    rejected = folded(ev(RECEIVED, R), ev(REJECTED, at(3, 10, 9)))
    state = folded(ev(RECEIVED, R), ev(REJECTED, at(3, 10, 9)), ev(RETURNED, at(3, 11, 9)))
    assert replace(state, last_event_at=rejected.last_event_at) == rejected


def test_second_receipt_changes_nothing_but_last_event_at() -> None:
    first = folded(ev(RECEIVED, R))
    state = folded(ev(RECEIVED, R), ev(RECEIVED, at(3, 10, 9), procedure="P1"))
    assert replace(state, last_event_at=R) == first


# --------------------------------------------------------------------------- order independence

HISTORY = [
    ev(RECEIVED, R),
    ev(SUP_REQ, at(3, 10, 9)),
    ev(SUP_GOT, at(3, 12, 9)),
    ev(RESOLVED, at(3, 13, 10)),
    ev(APOLOGY, at(3, 13, 11)),
    ev(RETURNED, at(3, 16, 9)),
]


def test_history_folds_to_the_expected_final_state() -> None:
    state = folded(*HISTORY)
    assert (state.status, state.due_at, state.outcome) == ("returned", at(3, 16, 9), "early")
    assert (state.paused_seconds, state.apology_at, state.last_event_at) == (18 * HOUR, at(3, 13, 11), at(3, 16, 9))


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_events_fold_to_the_same_state_as_sorted(seed: int) -> None:
    shuffled = HISTORY[:]
    random.Random(seed).shuffle(shuffled)
    assert run(*shuffled) == run(*HISTORY)


def test_every_permutation_of_a_short_history_folds_the_same() -> None:
    events = HISTORY[:5]
    expected = run(*events)
    assert expected is not None
    for permutation in itertools.permutations(events):
        assert run(*permutation) == expected


def test_same_instant_events_fold_in_lifecycle_order() -> None:
    # Sources stamp to the second: a receipt and its resolution may share an instant.
    state = folded(ev(RESOLVED, R), ev(RECEIVED, R))
    assert (state.status, state.outcome) == ("resolved", "early")


def test_events_before_the_receipt_wait_for_it() -> None:
    early = [ev(SUP_REQ, at(3, 10, 9)), ev(SUP_GOT, at(3, 12, 9)), ev(RESOLVED, at(3, 13, 10))]
    for event in early:
        assert apply_event(None, event, calendar_for, procedure_of) is None
    assert run(*early) is None
    # Once the receipt arrives, folding the whole stored history places them after it.
    assert run(*early, ev(RECEIVED, R)) == run(ev(RECEIVED, R), *early)
    assert folded(*early, ev(RECEIVED, R)).outcome == "early"


@pytest.mark.parametrize(
    "receipt",
    [
        ev(RECEIVED, R, procedure="NO-SUCH"),  # procedure not in the catalogue
        ev(RECEIVED, R, procedure=None),  # no procedure at all
    ],
)
def test_receipt_without_a_known_procedure_starts_nothing(receipt: DossierEvent) -> None:
    assert run(receipt) is None


def test_fold_continues_from_a_given_state() -> None:
    start = folded(ev(RECEIVED, R))
    assert fold(start, [ev(RESOLVED, at(3, 11, 10))], calendar_for, procedure_of) == run(
        ev(RECEIVED, R), ev(RESOLVED, at(3, 11, 10))
    )


# --------------------------------------------------------------------------- rollup contributions


def nonzero(delta: dict[RollupKey, dict[str, int]]) -> dict[RollupKey, dict[str, int]]:
    return {key: {f: n for f, n in counts.items() if n} for key, counts in delta.items()}


RECEIVED_ONLY = folded(ev(RECEIVED, R))
RECEIVED_DIRECT = folded(ev(RECEIVED, R, code="HS-2", channel="direct"))
RESOLVED_EARLY = folded(ev(RECEIVED, R), ev(RESOLVED, at(3, 11, 10)))
RESOLVED_SAME_DAY = folded(ev(RECEIVED, R), ev(RESOLVED, at(3, 9, 15)))
RESOLVED_LATE = folded(ev(RECEIVED, R), ev(RESOLVED, at(3, 13, 10)))
RESOLVED_ON_TIME_13 = replace(RESOLVED_LATE, outcome="on_time", late_since=None)  # e.g. after a late pause
NO_COMMUNE = folded(ev(RECEIVED, R, code="HS-3", commune=None))
MOVED = replace(RECEIVED_ONLY, commune_code="00008")


NO_AGENCY = replace(RECEIVED_DIRECT, agency_code=None)
OTHER_AGENCY = replace(RECEIVED_ONLY, agency_code="AG-2")
OTHER_SECTOR = replace(RECEIVED_ONLY, sector="Hộ tịch")


def key(day: date, commune: str = "00004", agency: str = "AG-1", sector: str = "Đất đai") -> RollupKey:
    return (day, "01", commune, agency, sector)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # A new dossier adds a receipt (and an online receipt when it came online).
        ([(None, RECEIVED_ONLY)], {key(date(2026, 3, 9)): {"received": 1, "received_online": 1}}),
        ([(None, RECEIVED_DIRECT)], {key(date(2026, 3, 9)): {"received": 1}}),
        # Dossiers known only at province level roll up under commune ''.
        ([(None, NO_COMMUNE)], {key(date(2026, 3, 9), ""): {"received": 1, "received_online": 1}}),
        # Resolution adds to the resolution day; the receipt, already counted, nets out.
        ([(RECEIVED_ONLY, RESOLVED_EARLY)], {key(date(2026, 3, 11)): {"resolved": 1, "resolved_early": 1}}),
        # Received and resolved in the same batch on the same day.
        (
            [(None, RESOLVED_SAME_DAY)],
            {key(date(2026, 3, 9)): {"received": 1, "received_online": 1, "resolved": 1, "resolved_early": 1}},
        ),
        # A re-fold moves a resolution to another day and outcome: old is subtracted, new added.
        (
            [(RESOLVED_LATE, RESOLVED_EARLY)],
            {
                key(date(2026, 3, 13)): {"resolved": -1, "resolved_late": -1},
                key(date(2026, 3, 11)): {"resolved": 1, "resolved_early": 1},
            },
        ),
        # Same day, other outcome: only the outcome columns move.
        (
            [(RESOLVED_LATE, RESOLVED_ON_TIME_13)],
            {key(date(2026, 3, 13)): {"resolved_late": -1, "resolved_on_time": 1}},
        ),
        # A dossier whose commune changed moves its receipt.
        (
            [(RECEIVED_ONLY, MOVED)],
            {
                key(date(2026, 3, 9)): {"received": -1, "received_online": -1},
                key(date(2026, 3, 9), "00008"): {"received": 1, "received_online": 1},
            },
        ),
        # A dossier that no longer exists takes its counts back.
        (
            [(RESOLVED_LATE, None)],
            {
                key(date(2026, 3, 9)): {"received": -1, "received_online": -1},
                key(date(2026, 3, 13)): {"resolved": -1, "resolved_late": -1},
            },
        ),
        # Dossiers without an agency roll up under agency ''.
        ([(None, NO_AGENCY)], {key(date(2026, 3, 9), agency=""): {"received": 1}}),
        # Agency and sector are dimensions of the rollup: same day and commune, separate rows.
        (
            [(None, RECEIVED_ONLY), (None, OTHER_AGENCY), (None, OTHER_SECTOR)],
            {
                key(date(2026, 3, 9)): {"received": 1, "received_online": 1},
                key(date(2026, 3, 9), agency="AG-2"): {"received": 1, "received_online": 1},
                key(date(2026, 3, 9), sector="Hộ tịch"): {"received": 1, "received_online": 1},
            },
        ),
        # A dossier whose agency changed on a refold moves its receipt to the new agency.
        (
            [(RECEIVED_ONLY, OTHER_AGENCY)],
            {
                key(date(2026, 3, 9)): {"received": -1, "received_online": -1},
                key(date(2026, 3, 9), agency="AG-2"): {"received": 1, "received_online": 1},
            },
        ),
        # Several pairs add up.
        (
            [(None, RECEIVED_ONLY), (None, RECEIVED_DIRECT)],
            {key(date(2026, 3, 9)): {"received": 2, "received_online": 1}},
        ),
        # No change, no delta.
        ([(RESOLVED_LATE, RESOLVED_LATE)], {}),
        ([(RECEIVED_ONLY, replace(RECEIVED_ONLY, last_event_at=at(3, 10)))], {}),
        ([(None, None)], {}),
        ([], {}),
    ],
)
def test_rollup_delta(
    pairs: list[tuple[DossierState | None, DossierState | None]], expected: dict[RollupKey, dict[str, int]]
) -> None:
    assert nonzero(rollup_delta(pairs)) == expected


@pytest.mark.parametrize(
    ("received_at", "day"),
    [
        (datetime(2026, 3, 9, 16, 30, tzinfo=UTC), date(2026, 3, 9)),  # 23:30 local
        (datetime(2026, 3, 9, 17, 30, tzinfo=UTC), date(2026, 3, 10)),  # 00:30 local the next day
    ],
)
def test_rollup_days_are_local_days(received_at: datetime, day: date) -> None:
    state = folded(ev(RECEIVED, received_at))
    # counts in ROLLUP_FIELDS order: received, received_online, resolved, early, on time, late, then
    # the quality counts (an online receipt that stated no level nor digitisation: all 0)
    assert contributions(state) == {key(day): [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}


def test_contributions_of_nothing_is_empty() -> None:
    assert contributions(None) == {}


# --------------------------------------------------------------------------- handler (cán bộ xử lý)


def handled(kind: EventType, t: datetime, code: str | None, name: str | None = None) -> DossierEvent:
    return replace(ev(kind, t), handler_code=code, handler_name=name)


def test_the_receipt_names_the_first_handler() -> None:
    state = folded(handled(RECEIVED, R, "CB-1", "Nguyễn Văn An"))
    assert (state.handler_code, state.handler_name) == ("CB-1", "Nguyễn Văn An")
    assert folded(ev(RECEIVED, R)).handler_code is None


def test_the_latest_handler_named_while_open_is_kept() -> None:
    state = folded(
        handled(RECEIVED, R, "CB-1", "Nguyễn Văn An"),
        ev(SUP_REQ, at(3, 10, 9)),  # names nobody: the handler stays
        handled(SUP_GOT, at(3, 11, 9), "CB-2", "Trần Thị Bình"),
        handled(RESOLVED, at(3, 16, 10), "CB-3", "Lê Văn Cường"),  # the closing event counts
        handled(RETURNED, at(3, 17, 9), "CB-9", "Phạm Thị Dung"),  # after closing: not responsible
        handled(APOLOGY, at(3, 17, 10), "CB-8", "Hoàng Văn Em"),
    )
    assert (state.outcome, state.handler_code, state.handler_name) == ("late", "CB-3", "Lê Văn Cường")


def test_a_handler_named_by_code_only_keeps_the_name_known_for_that_code() -> None:
    same = folded(handled(RECEIVED, R, "CB-1", "Nguyễn Văn An"), handled(SUP_REQ, at(3, 10, 9), "CB-1"))
    assert (same.handler_code, same.handler_name) == ("CB-1", "Nguyễn Văn An")
    other = folded(handled(RECEIVED, R, "CB-1", "Nguyễn Văn An"), handled(SUP_REQ, at(3, 10, 9), "CB-2"))
    assert (other.handler_code, other.handler_name) == ("CB-2", None)
    renamed = folded(
        handled(RECEIVED, R, "CB-1", "Nguyen Van An"), handled(SUP_REQ, at(3, 10, 9), "CB-1", "Nguyễn Văn An")
    )
    assert renamed.handler_name == "Nguyễn Văn An"


def test_handler_is_the_latest_by_occurred_at_whatever_the_arrival_order() -> None:
    events = [
        handled(RECEIVED, R, "CB-1"),
        handled(SUP_REQ, at(3, 10, 9), "CB-2"),
        handled(RESOLVED, at(3, 11, 9), "CB-3"),
    ]
    for permutation in itertools.permutations(events):
        assert folded(*permutation).handler_code == "CB-3"
    # Continuing from a stored state gives the same answer as the whole history.
    start = folded(events[0])
    assert fold(start, events[1:], calendar_for, procedure_of) == folded(*events)


def test_a_handler_change_alone_does_not_move_the_rollup() -> None:
    before = folded(handled(RECEIVED, R, "CB-1"))
    after = folded(handled(RECEIVED, R, "CB-1"), handled(SUP_REQ, at(3, 10, 9), "CB-2"))
    assert (before.handler_code, after.handler_code) == ("CB-1", "CB-2")
    assert rollup_delta([(before, after)]) == {}
