"""The dossier lifecycle as a pure fold: state = events applied in occurred_at order.

received → [supplement_requested: the clock pauses → supplement_received: it resumes] →
resolved → returned; or rejected / withdrawn. An apology letter may be recorded at any time.
The service quality of a dossier (migrations/015): the receipt may state the online service
level (`online_level`: full-process "toàn trình" or partial "một phần", online dossiers only) and
whether its components were digitised (`digitised`, số hóa); a `fee_paid` event records the fee
payment and its channel (thanh toán trực tuyến or not) and a `rated` event the citizen's rating
(đánh giá mức độ hài lòng, Decision 766). Both may come at any time, also after the dossier
closed (fees are often paid and ratings given when the result is handed back). The first payment
stands (a dossier's fee is paid once; a re-sent payment under another event id adds nothing); the
latest rating stands (a citizen may revise it). Each dossier therefore counts at most once as
paid and once as rated, whatever was re-sent or arrived out of order.
The official handling the dossier (cán bộ xử lý) is the latest one an event named while the
dossier was open, the closing event included: a later step (the result handed back at the desk,
an apology letter) does not move the responsibility for a late resolution to someone else.
Events that make no sense in the current state (a second `received`, a resume with no pause)
are kept in the event log but change nothing here: the log is the record of what sources said,
the state is what the command centre believes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from operator import add, attrgetter, neg, sub
from typing import Any
from zoneinfo import ZoneInfo

from holidays import country_holidays

from alerts.calendar import BUILTIN_POLICY as BUILTIN_DEADLINE_POLICY
from alerts.calendar import DeadlinePolicy, WorkingCalendar

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class EventType(StrEnum):
    RECEIVED = "received"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENT_RECEIVED = "supplement_received"
    RESOLVED = "resolved"
    RETURNED = "returned"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    APOLOGY_ISSUED = "apology_issued"
    # Appended after the lifecycle steps: the tie order of the existing types is unchanged.
    FEE_PAID = "fee_paid"
    RATED = "rated"
    # The source moved its appointment (gia hạn): carries the new `due_at`. Appended last, as above.
    EXTENDED = "extended"


class Channel(StrEnum):
    ONLINE = "online"
    DIRECT = "direct"
    POSTAL = "postal"


class OnlineLevel(StrEnum):
    """Decree 42/2022: dịch vụ công trực tuyến toàn trình (the whole procedure online, result
    included) or một phần (partly online). Only an online dossier has one."""

    FULL = "full"
    PARTIAL = "partial"


class PaymentChannel(StrEnum):
    ONLINE = "online"  # thanh toán trực tuyến (national or provincial portal payment platform)
    OFFLINE = "offline"  # cash or transfer at the desk


class Rating(StrEnum):
    """The real-time evaluation's levels (Decision 766): rất hài lòng, hài lòng, không hài lòng.
    The first two count as satisfied (SATISFIED_RATINGS)."""

    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    DISSATISFIED = "dissatisfied"


SATISFIED_RATINGS = frozenset({Rating.VERY_SATISFIED.value, Rating.SATISFIED.value})


# Ties on occurred_at are broken by lifecycle order so that a batch stamped to the second
# still folds the same way whatever order the source listed it in.
_TIE_ORDER = {kind: rank for rank, kind in enumerate(EventType)}


@dataclass(frozen=True, slots=True)
class DossierEvent:
    occurred_at: datetime
    dossier_code: str
    event_type: EventType
    source_id: str
    event_id: str
    province_code: str
    commune_code: str | None
    agency_code: str | None
    procedure_code: str | None
    channel: str | None
    handler_code: str | None = None
    handler_name: str | None = None
    online_level: str | None = None  # received only
    digitised: bool | None = None  # received only
    payment_channel: str | None = None  # fee_paid only
    rating: str | None = None  # rated only
    # The source's appointment (ngày hẹn trả on the citizen's slip), as given or moved by this
    # event: received, supplement_received, apology_issued and extended only.
    due_at: datetime | None = None
    # The dossier's own statutory period when the source sent one (it wins over the catalogue's
    # on a receipt: case-specific durations exist).
    statutory_days: int | None = None

    @property
    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.occurred_at, _TIE_ORDER[self.event_type], self.event_id)


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    sector: str
    statutory_days: int


@dataclass(frozen=True, slots=True)
class DossierState:
    code: str
    source_id: str
    procedure_code: str
    sector: str
    statutory_days: int
    agency_code: str | None
    province_code: str
    commune_code: str | None
    channel: str
    status: str
    received_at: datetime
    due_at: datetime | None
    paused_at: datetime | None
    paused_seconds: int
    resolved_at: datetime | None
    returned_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    late_since: datetime | None
    apology_at: datetime | None
    last_event_at: datetime
    handler_code: str | None = None
    handler_name: str | None = None
    online_level: str | None = None  # as the receipt stated it (None: not stated)
    digitised: bool | None = None  # as the receipt stated it (None: not stated)
    fee_paid_at: datetime | None = None  # the first fee payment
    payment_channel: str | None = None
    rated_at: datetime | None = None  # the latest rating
    rating: str | None = None
    # The deadline twice over (migrations/026). `due_at` above is the one every count and index
    # uses: the source's appointment when it sent one, else IOC's statutory calculation, kept
    # here beside it (NULL, like due_at, while the clock is paused). The appointment is the
    # latest one the source gave and when it gave it (a pause moves an appointment given before
    # it, not one given during it).
    statutory_due_at: datetime | None = None
    appointment_at: datetime | None = None
    appointment_set_at: datetime | None = None
    # A deadline that still counts for the outcome although the appointment was moved past it:
    # the one in force when an apology letter gave a new date (the letter admits the lateness),
    # or when any move came after it had already passed. A missed deadline stays missed.
    held_due_at: datetime | None = None

    @property
    def beyond_statutory(self) -> bool:
        """The slip promised more time than the law allows: itself a finding."""
        return (
            self.appointment_at is not None and self.statutory_due_at is not None
            and self.appointment_at > self.statutory_due_at
        )  # fmt: skip

    @property
    def outcome_due_at(self) -> datetime | None:
        """The deadline the outcome (early / on time / late) is measured against."""
        held, due = self.held_due_at, self.due_at
        return due if held is None or (due is not None and due < held) else held

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


CalendarFor = Callable[[str], WorkingCalendar]
ProcedureLookup = Callable[[str], Procedure | None]


def deadline(calendar: WorkingCalendar, received_at: datetime, days: int, paused_seconds: int) -> datetime:
    """The statutory deadline as the province's deadline policy counts it (the calendar carries
    the policy; the built-in one keeps its fast path there)."""
    return calendar.statutory_due(received_at, days, paused_seconds)


def outcome_of(resolved_at: datetime, due_at: datetime) -> str:
    if resolved_at > due_at:
        return "late"
    # Early means a day ahead of the appointment, not seconds ahead of it.
    if resolved_at.astimezone(LOCAL_TZ).date() < due_at.astimezone(LOCAL_TZ).date():
        return "early"
    return "on_time"


_STATE_FIELDS = tuple(f.name for f in fields(DossierState))
_STATE_SLOT = {name: i for i, name in enumerate(_STATE_FIELDS)}
_state_values = attrgetter(*_STATE_FIELDS)


def _with_changes(state: DossierState, changes: dict[str, Any]) -> DossierState:
    """``dataclasses.replace`` without its per-field Python loop (DossierState has no
    ``__post_init__`` and every field is an init field, so the two are equivalent). Positional:
    a changed field is put in its slot of the value list, and the constructor gets no keywords to
    match (about a fifth cheaper than building a keyword dict of the 34 fields)."""
    values = list(_state_values(state))
    for name, value in changes.items():
        values[_STATE_SLOT[name]] = value
    return DossierState(*values)


def apply_event(
    state: DossierState | None, event: DossierEvent, calendar_for: CalendarFor, procedure_of: ProcedureLookup
) -> DossierState | None:
    t = event.occurred_at
    if state is None:
        if event.event_type is not EventType.RECEIVED or event.procedure_code is None:
            return None  # nothing to hang it on until the receipt arrives
        procedure = procedure_of(event.procedure_code)
        if procedure is None:
            return None
        calendar = calendar_for(event.province_code)
        days = procedure.statutory_days if event.statutory_days is None else event.statutory_days
        statutory = deadline(calendar, t, days, 0)
        appointment = event.due_at
        return DossierState(
            code=event.dossier_code, source_id=event.source_id, procedure_code=procedure.code,
            sector=procedure.sector, statutory_days=days, agency_code=event.agency_code,
            province_code=event.province_code, commune_code=event.commune_code,
            channel=event.channel or Channel.DIRECT.value, status="received", received_at=t,
            due_at=statutory if appointment is None else appointment, paused_at=None, paused_seconds=0,
            resolved_at=None, returned_at=None, closed_at=None, outcome=None, late_since=None,
            apology_at=None, last_event_at=t, handler_code=event.handler_code, handler_name=event.handler_name,
            online_level=event.online_level, digitised=event.digitised, statutory_due_at=statutory,
            appointment_at=appointment, appointment_set_at=None if appointment is None else t,
        )  # fmt: skip
    changes = _changes(state, event, calendar_for)
    if event.handler_code is not None and state.is_open:
        changes.update(_handler(state, event))
    # One copy per event: the fold runs for every ingested event, tens of thousands a second.
    changes["last_event_at"] = max(state.last_event_at, t)
    return _with_changes(state, changes)


def _changes(state: DossierState, event: DossierEvent, calendar_for: CalendarFor) -> dict[str, Any]:
    t = event.occurred_at
    kind = event.event_type
    if kind is EventType.APOLOGY_ISSUED:
        changes = {} if state.apology_at else {"apology_at": t}
        if state.is_open:
            if event.due_at is not None:
                changes.update(_appoint(state, event.due_at, t, admits_late=True))
            elif state.paused_at is None and state.appointment_at is not None and state.due_at != state.appointment_at:
                changes["due_at"] = state.appointment_at  # the new date waiting for this letter (_appoint)
        return changes
    if kind is EventType.FEE_PAID:
        return {} if state.fee_paid_at else {"fee_paid_at": t, "payment_channel": event.payment_channel}
    if kind is EventType.RATED:
        return {"rated_at": t, "rating": event.rating}
    if kind is EventType.RETURNED:
        if state.status == "resolved":
            return {"status": "returned", "returned_at": t}
        if state.is_open:  # returned with no resolution recorded: the result was ready by then
            return {**_resolve(state, t, calendar_for), "status": "returned", "returned_at": t}
        return {}
    if not state.is_open:
        return {}
    if kind is EventType.SUPPLEMENT_REQUESTED and state.paused_at is None:
        if state.due_at is not None and t >= state.due_at:
            return {}  # asking for papers once already late does not stop the lateness
        return {"status": "supplement_requested", "paused_at": t, "due_at": None, "statutory_due_at": None}
    if kind is EventType.SUPPLEMENT_RECEIVED:
        if state.paused_at is not None:
            return _resume(state, t, calendar_for, event.due_at)
        # No pause to end (the request came once already late): the new slip still counts.
        return {} if event.due_at is None else _appoint(state, event.due_at, t)
    if kind is EventType.EXTENDED:
        return {} if event.due_at is None else _appoint(state, event.due_at, t)
    if kind is EventType.RESOLVED:
        return _resolve(state, t, calendar_for)
    if kind in (EventType.REJECTED, EventType.WITHDRAWN):
        running = _resume(state, t, calendar_for) if state.paused_at else {}
        due = _outcome_due(state, running)
        return {**running, "status": kind.value, "closed_at": t, "late_since": due if due and due < t else None}
    return {}


def _appoint(state: DossierState, new: datetime, t: datetime, *, admits_late: bool = False) -> dict[str, Any]:
    """The source gave a new appointment at `t`. It is what the citizen is now promised (overdue
    and due-soon follow it), but it does not undo a lateness: a deadline already passed, or the one
    an apology letter replaces, stays the yardstick of the outcome (`held_due_at`).

    A new date given once the deadline has passed, with no apology letter recorded, is kept as the
    appointment but does not yet take over `due_at`: every late dossier owes the citizen a letter
    and a new date, so until the letter comes the dossier stays overdue, and counted as late
    without an apology (an `apology_issued` event then puts the waiting date in force)."""
    changes: dict[str, Any] = {"appointment_at": new, "appointment_set_at": t}
    current = state.due_at
    missed = current is not None and t > current
    if current is not None and new > current and (admits_late or missed):
        held = state.held_due_at
        changes["held_due_at"] = current if held is None or current < held else held
    # While paused there is no running deadline: the appointment applies on resume.
    if state.paused_at is None and not (missed and not admits_late and state.apology_at is None):
        changes["due_at"] = new
    return changes


def _outcome_due(state: DossierState, running: dict[str, Any]) -> datetime | None:
    due: datetime | None = running.get("due_at", state.due_at)
    held: datetime | None = running.get("held_due_at", state.held_due_at)
    return due if held is None or (due is not None and due < held) else held


def _handler(state: DossierState, event: DossierEvent) -> dict[str, Any]:
    # An event may name the official by code only: the name already known for that code stays.
    same = event.handler_code == state.handler_code
    name = event.handler_name if event.handler_name is not None else (state.handler_name if same else None)
    if same and name == state.handler_name:
        return {}
    return {"handler_code": event.handler_code, "handler_name": name}


def _resume(
    state: DossierState, t: datetime, calendar_for: CalendarFor, new_appointment: datetime | None = None
) -> dict[str, Any]:
    """The clock runs again: the statutory deadline moves by the pause's working time, and so
    does an appointment (and a held deadline) given before the pause, unless the source sends a
    new appointment with the supplement."""
    paused_at = state.paused_at
    assert paused_at is not None
    calendar = calendar_for(state.province_code)
    pause = calendar.working_seconds_between(paused_at, t)
    paused = state.paused_seconds + pause
    statutory = deadline(calendar, state.received_at, state.statutory_days, paused)
    changes: dict[str, Any] = {
        "status": "received", "paused_at": None, "paused_seconds": paused, "statutory_due_at": statutory,
    }  # fmt: skip
    appointment = state.appointment_at
    if new_appointment is not None:
        appointment = new_appointment
        changes["appointment_at"], changes["appointment_set_at"] = appointment, t
    elif appointment is not None and pause and (state.appointment_set_at or paused_at) <= paused_at:
        appointment = changes["appointment_at"] = calendar.add_working_seconds(appointment, pause)
    if state.held_due_at is not None and pause:
        changes["held_due_at"] = calendar.add_working_seconds(state.held_due_at, pause)
    changes["due_at"] = statutory if appointment is None else appointment
    return changes


def _resolve(state: DossierState, t: datetime, calendar_for: CalendarFor) -> dict[str, Any]:
    running = _resume(state, t, calendar_for) if state.paused_at else {}
    due = _outcome_due(state, running)
    assert due is not None
    outcome = outcome_of(t, due)
    return {
        **running, "status": "resolved", "resolved_at": t, "closed_at": t, "outcome": outcome,
        "late_since": due if outcome == "late" else None,
    }  # fmt: skip


# A fee paid online while submitting, or a rating, may be stamped before the official receipt:
# such events wait for it instead of being dropped (other kinds need the dossier to exist).
_MAY_PRECEDE_RECEIPT = frozenset({EventType.FEE_PAID, EventType.RATED})


def at_place(event: DossierEvent, province_code: str, commune_code: str | None) -> bool:
    """Does the event place its dossier at this locality? An event may name only the province of
    a commune-level dossier (it then came from a source covering the whole province); it may not
    name another commune, nor a commune for a dossier known only at province level."""
    if event.province_code != province_code:
        return False
    return event.commune_code is None or event.commune_code == commune_code


def fold(
    state: DossierState | None,
    events: Iterable[DossierEvent],
    calendar_for: CalendarFor,
    procedure_of: ProcedureLookup,
    owner_place: tuple[str, str | None] | None = None,
) -> DossierState | None:
    """Apply events in occurred_at order. Only events placed at the dossier's locality count (its
    state's, or `owner_place` — the locality it was registered at — before it has a state): the
    log may hold events for a code stored before anyone registered it, from other localities,
    and those must never shape or re-home the dossier (ingest/ownership.py). A state begun here
    takes `owner_place` as its locality: the receipt stamped first may name only the province of
    a dossier registered in one of its communes."""
    waiting: list[DossierEvent] = []
    for event in sorted(events, key=lambda e: e.sort_key):
        place = owner_place if state is None else (state.province_code, state.commune_code)
        if place is not None and not at_place(event, *place):
            continue
        if state is None and event.event_type in _MAY_PRECEDE_RECEIPT:
            waiting.append(event)
            continue
        begun = state is None
        state = apply_event(state, event, calendar_for, procedure_of)
        if begun and state is not None and owner_place is not None and owner_place[1] != state.commune_code:
            state = _with_changes(state, {"commune_code": owner_place[1]})
        if waiting and state is not None:
            for early in waiting:
                state = apply_event(state, early, calendar_for, procedure_of)
            waiting = []
    return state


# -- rollup contributions ---------------------------------------------------------------------

# (local day, province, commune or '', agency or '', sector): the agency and sector let a scope
# such as "province X, sector Y" be answered from the rollup. migrations/009 and 015 rebuild the
# same rows from `dossier` in SQL, and ioc/indicators/history_job.py computes them per hour: a
# change here needs a matching change there.
RollupKey = tuple[date, str, str, str, str]
ROLLUP_KEY = ("day", "province_code", "commune_code", "agency_code", "sector")
ROLLUP_FIELDS = (
    "received", "received_online", "resolved", "resolved_early", "resolved_on_time", "resolved_late",
    # On the day of receipt: full-process online receipts, and online receipts that stated their
    # service level (full or partial).
    "received_full_online", "received_level_stated",
    # On the day of receipt: digitised receipts, and receipts that stated whether they were.
    "digitised", "digitised_known",
    # On the day of the (first) fee payment; on the day of the (latest) rating.
    "fee_payments", "fee_payments_online", "ratings", "ratings_satisfied",
)  # fmt: skip
_WIDTH = len(ROLLUP_FIELDS)
_OUTCOME_SLOT = {"early": 3, "on_time": 4, "late": 5}


def contributions(state: DossierState | None) -> dict[RollupKey, list[int]]:
    """What one dossier adds to the daily rollup (counts in ROLLUP_FIELDS order); the writer
    applies new minus old."""
    if state is None:
        return {}
    where = (state.province_code, state.commune_code or "", state.agency_code or "", state.sector)
    received_key = (state.received_at.astimezone(LOCAL_TZ).date(), *where)
    out = {received_key: [
        1, int(state.channel == Channel.ONLINE), 0, 0, 0, 0,
        int(state.online_level == OnlineLevel.FULL), int(state.online_level is not None),
        int(state.digitised is True), int(state.digitised is not None), 0, 0, 0, 0,
    ]}  # fmt: skip
    if state.resolved_at is not None and state.outcome is not None:
        counts = _slot(out, (state.resolved_at.astimezone(LOCAL_TZ).date(), *where))
        counts[2] += 1
        counts[_OUTCOME_SLOT[state.outcome]] += 1
    if state.fee_paid_at is not None:
        counts = _slot(out, (state.fee_paid_at.astimezone(LOCAL_TZ).date(), *where))
        counts[10] += 1
        counts[11] += int(state.payment_channel == PaymentChannel.ONLINE)
    if state.rated_at is not None:
        counts = _slot(out, (state.rated_at.astimezone(LOCAL_TZ).date(), *where))
        counts[12] += 1
        counts[13] += int(state.rating in SATISFIED_RATINGS)
    return out


def _slot(out: dict[RollupKey, list[int]], key: RollupKey) -> list[int]:
    counts = out.get(key)
    if counts is None:
        counts = out[key] = [0] * _WIDTH
    return counts


def rollup_totals(
    pairs: Iterable[tuple[DossierState | None, DossierState | None]],
) -> dict[RollupKey, list[int]]:
    """Net rollup change per key, as counts in ``ROLLUP_FIELDS`` order; keys that net to zero
    are left out. Element-wise sums run in C (``map`` with ``operator``): this runs per batch
    over every changed dossier, and a Python loop over the 14 counts cost ~8 µs per event."""
    totals: dict[RollupKey, list[int]] = {}
    for old, new in pairs:
        if old is not None:
            for key, counts in contributions(old).items():
                acc = totals.get(key)
                totals[key] = list(map(neg, counts)) if acc is None else list(map(sub, acc, counts))
        # contributions() builds fresh lists: a key seen first here may keep its list as is.
        for key, counts in contributions(new).items():
            acc = totals.get(key)
            totals[key] = counts if acc is None else list(map(add, acc, counts))
    return {key: counts for key, counts in totals.items() if any(counts)}


def rollup_delta(
    pairs: Iterable[tuple[DossierState | None, DossierState | None]],
) -> dict[RollupKey, dict[str, int]]:
    """``rollup_totals`` by field name, non-zero counts only (the readable form)."""
    return {
        key: {field: n for field, n in zip(ROLLUP_FIELDS, counts, strict=True) if n}
        for key, counts in rollup_totals(pairs).items()
    }


# -- how a deadline was reached (read time, one dossier) ---------------------------------------

# The counting rules the fold applied are the calendar's deadline policy (alerts/calendar.py,
# DeadlinePolicy): its id and version are reported with every explanation.
BUILTIN_POLICY = BUILTIN_DEADLINE_POLICY.as_dict()


_BASIS_LABEL = {
    "statutory": "Theo thời hạn luật định (IOC tính) / the statutory deadline (computed by IOC)",
    "appointment": "Theo giấy hẹn của hệ thống nguồn / the source's appointment",
    "missed_awaiting_apology": (
        "Hạn đã lỡ: ngày hẹn mới chỉ có hiệu lực khi có thư xin lỗi / the missed deadline: the new "
        "appointment takes effect once an apology letter is recorded"
    ),
}


@dataclass(frozen=True, slots=True)
class Pause:
    started_at: datetime
    ended_at: datetime | None  # None: still waiting for the supplement
    working_seconds: int


@dataclass(frozen=True, slots=True)
class AppointmentChange:
    """The source's appointment as one event gave it, or as a pause moved it (`moved_by_pause`)."""

    occurred_at: datetime
    event_type: str
    event_id: str
    due_at: datetime
    moved_by_pause: bool


@dataclass(frozen=True, slots=True)
class SkippedDay:
    day: date
    kind: str  # holiday | day_off (operator override)
    name: str | None


@dataclass(frozen=True, slots=True)
class DeadlineExplanation:
    """How a dossier's deadline was reached, replayed from its event log with the fold itself (so
    the two cannot disagree on the rules) and today's calendar."""

    state: DossierState
    counting_from: datetime
    statutory_days_source: str  # dossier (sent with the receipt) | catalogue
    catalogue_days: int | None
    pauses: tuple[Pause, ...]
    weekend_days: int
    skipped: tuple[SkippedDay, ...]
    worked_weekend_days: tuple[date, ...]
    counted_until: datetime
    appointments: tuple[AppointmentChange, ...]
    policy: DeadlinePolicy = BUILTIN_DEADLINE_POLICY

    @property
    def basis(self) -> str:
        s = self.state
        if s.appointment_at is None:
            return "statutory"
        if s.due_at is None or s.due_at == s.appointment_at:
            return "appointment"
        return "missed_awaiting_apology"  # see _appoint: a late new date waits for the letter

    def as_dict(self) -> dict[str, Any]:
        s = self.state
        due = s.outcome_due_at
        return {
            "due_at": s.due_at,
            "basis": self.basis,
            "basis_label": _BASIS_LABEL[self.basis],
            "policy": self.policy.as_dict(),
            "statutory": {
                "due_at": s.statutory_due_at,
                "start": s.received_at,
                "counting_from": self.counting_from,
                "working_days": s.statutory_days,
                "working_days_source": self.statutory_days_source,
                "catalogue_working_days": self.catalogue_days,
                "differs_from_catalogue": self.catalogue_days is not None and self.catalogue_days != s.statutory_days,
                "paused_working_seconds": s.paused_seconds,
                "pauses": [
                    {"started_at": p.started_at, "ended_at": p.ended_at, "working_seconds": p.working_seconds}
                    for p in self.pauses
                ],
                "counted_until": self.counted_until,
                "weekend_days_skipped": self.weekend_days,
                "holidays_skipped": [
                    {"day": d.day.isoformat(), "name": d.name} for d in self.skipped if d.kind == "holiday"
                ],
                "overrides_skipped": [
                    {"day": d.day.isoformat(), "kind": "day_off"} for d in self.skipped if d.kind == "day_off"
                ],
                "weekend_days_worked": [d.isoformat() for d in self.worked_weekend_days],
            },
            "appointment": None if s.appointment_at is None else {
                "due_at": s.appointment_at,
                "given_at": s.appointment_set_at,
                "beyond_statutory": s.beyond_statutory,
                "history": [
                    {"occurred_at": a.occurred_at, "event_type": a.event_type, "event_id": a.event_id,
                     "due_at": a.due_at, "moved_by_pause": a.moved_by_pause}
                    for a in self.appointments
                ],
            },
            # The deadline the outcome is measured against when it is not `due_at` (see held_due_at).
            "outcome_due_at": due,
            "held_due_at": s.held_due_at,
        }  # fmt: skip


def explain_deadline(
    events: Iterable[DossierEvent],
    calendar_for: CalendarFor,
    procedure_of: ProcedureLookup,
    owner_place: tuple[str, str | None] | None = None,
) -> DeadlineExplanation | None:
    """Replay the fold event by event, noting each pause and each appointment change, then walk
    the calendar days the statutory count spanned. None when the events make no dossier."""
    state: DossierState | None = None
    receipt: DossierEvent | None = None
    pauses: list[Pause] = []
    appointments: list[AppointmentChange] = []
    for event in sorted(events, key=lambda e: e.sort_key):
        before = state
        state = fold(state, [event], calendar_for, procedure_of, owner_place)
        if state is None or state is before:
            continue
        if before is None:
            receipt = event
        elif before.paused_at is not None and state.paused_at is None:
            pauses.append(Pause(before.paused_at, event.occurred_at, state.paused_seconds - before.paused_seconds))
        if state.appointment_at != (before.appointment_at if before else None) and state.appointment_at is not None:
            moved = event.due_at is None or event.due_at != state.appointment_at
            appointments.append(AppointmentChange(
                event.occurred_at, event.event_type.value, event.event_id, state.appointment_at, moved,
            ))  # fmt: skip
    if state is None or receipt is None:
        return None
    if state.paused_at is not None:
        pauses.append(Pause(state.paused_at, None, 0))
    calendar = calendar_for(state.province_code)
    counting_from = calendar.counting_from(state.received_at)
    counted_until = state.statutory_due_at or deadline(
        calendar, state.received_at, state.statutory_days, state.paused_seconds
    )
    weekend_days, skipped, worked = _days_skipped(calendar, counting_from, counted_until)
    catalogue = procedure_of(state.procedure_code)
    return DeadlineExplanation(
        state=state, counting_from=counting_from,
        statutory_days_source="catalogue" if receipt.statutory_days is None else "dossier",
        catalogue_days=None if catalogue is None else catalogue.statutory_days, pauses=tuple(pauses),
        weekend_days=weekend_days, skipped=tuple(skipped), worked_weekend_days=tuple(worked),
        counted_until=counted_until, appointments=tuple(appointments), policy=calendar.policy,
    )  # fmt: skip


def _days_skipped(
    calendar: WorkingCalendar, start: datetime, end: datetime
) -> tuple[int, list[SkippedDay], list[date]]:
    """The days off between the two instants (local dates), told apart: plain weekend days (a
    count), national holidays (named), operator days off; and the weekend days worked instead."""
    first = start.astimezone(calendar.tz).date()
    last = end.astimezone(calendar.tz).date()
    names = country_holidays("VN", years=range(first.year, last.year + 1))
    weekend = 0
    skipped: list[SkippedDay] = []
    worked: list[date] = []
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        day = date.fromordinal(ordinal)
        is_weekend = day.weekday() >= 5
        if calendar.is_working_day(day):
            if is_weekend:
                worked.append(day)
        elif day in calendar.overrides.days_off and day not in names:
            skipped.append(SkippedDay(day, "day_off", None))
        elif day in names:
            skipped.append(SkippedDay(day, "holiday", str(names.get(day))))
        else:
            weekend += 1
    return weekend, skipped, worked
