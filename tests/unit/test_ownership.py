"""Dossier ownership, pure (ingest/ownership.py and the fold's place filter): tables of cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import WorkingCalendar
from ingest.lifecycle import DossierEvent, EventType, Procedure, at_place, fold
from ingest.ownership import OUT_OF_SCOPE_MESSAGE, Owner, check_ownership, registrations
from ioc.auth.scope import Scope

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T = datetime(2026, 3, 9, 9, 0, tzinfo=VN)
PROCEDURE = Procedure("P3", "Đất đai", 3)


def ev(
    kind: EventType, province: str, commune: str | None, *, hours: int = 0, code: str = "HS-1", source: str = "s"
) -> DossierEvent:
    return DossierEvent(
        occurred_at=T + timedelta(hours=hours), dossier_code=code, event_type=kind, source_id=source,
        event_id=f"{code}-{kind}-{hours}-{province}-{commune}", province_code=province, commune_code=commune,
        agency_code=None, procedure_code="P3" if kind is EventType.RECEIVED else None,
        channel="direct" if kind is EventType.RECEIVED else None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("event_place", "dossier_place", "expected"),
    [
        (("01", "00004"), ("01", "00004"), True),
        (("01", None), ("01", "00004"), True),  # the province only: a province-wide source
        (("01", "00008"), ("01", "00004"), False),  # another commune
        (("01", "00004"), ("01", None), False),  # a commune for a province-level dossier
        (("79", "25747"), ("01", "00004"), False),
        (("79", None), ("01", None), False),
        (("01", None), ("01", None), True),
    ],
)
def test_an_event_is_at_the_dossiers_place(
    event_place: tuple[str, str | None], dossier_place: tuple[str, str | None], expected: bool
) -> None:
    assert at_place(ev(EventType.RESOLVED, *event_place), *dossier_place) is expected


def test_a_batch_registers_each_code_at_its_earliest_receipt() -> None:
    batch = [
        ev(EventType.RESOLVED, "79", None, hours=-5, code="A"),  # not a receipt: registers nothing
        ev(EventType.RECEIVED, "01", "00004", hours=2, code="A"),
        ev(EventType.RECEIVED, "79", "25747", hours=1, code="A", source="other"),
        ev(EventType.RATED, "01", None, code="B"),
    ]
    assert registrations(batch) == {"A": Owner("A", "other", "79", "25747")}


HANOI = Scope(provinces=frozenset({"01"}))
WARD = Scope(communes=frozenset({"00004"}))
OWNERS = {"A": Owner("A", "first", "01", "00004"), "P": Owner("P", "first", "01", None)}


@pytest.mark.parametrize(
    ("scope", "event", "reason"),
    [
        (HANOI, ev(EventType.RESOLVED, "01", "00004", code="A"), None),
        (HANOI, ev(EventType.RESOLVED, "01", None, code="A"), None),
        (WARD, ev(EventType.RESOLVED, "01", "00004", code="A"), None),
        (None, ev(EventType.RESOLVED, "79", "25747", code="A"), "locality_mismatch"),
        (HANOI, ev(EventType.RECEIVED, "01", "00008", code="A", hours=-48), "locality_mismatch"),
        (Scope(provinces=frozenset({"79"})), ev(EventType.RESOLVED, "79", "25747", code="A"), "dossier_out_of_scope"),
        # Scope is checked before place: an outsider is never told where the dossier is.
        (Scope(provinces=frozenset({"79"})), ev(EventType.RESOLVED, "01", "00004", code="A"), "dossier_out_of_scope"),
        (WARD, ev(EventType.RESOLVED, "01", "00004", code="P"), "dossier_out_of_scope"),  # province-level dossier
        (HANOI, ev(EventType.RESOLVED, "01", "00004", code="P"), "locality_mismatch"),
        (Scope(provinces=frozenset({"79"})), ev(EventType.RESOLVED, "79", None, code="NEW"), None),  # unregistered
    ],
)
def test_each_event_is_checked_against_its_dossiers_owner(
    scope: Scope | None, event: DossierEvent, reason: str | None
) -> None:
    in_scope = None if scope is None else scope.allows_locality
    kept, refused = check_ownership([(7, event, None)], OWNERS, in_scope)
    if reason is None:
        assert kept == [(7, event, None)] and refused == []
    else:
        assert kept == [] and [(r.index, r.reason) for r in refused] == [(7, reason)]
    if reason == "dossier_out_of_scope":
        assert refused[0].message == OUT_OF_SCOPE_MESSAGE  # one wording, whatever the dossier


def run(events: list[DossierEvent], place: tuple[str, str | None] | None) -> tuple[str, str | None, str] | None:
    state = fold(None, events, lambda _p: WorkingCalendar(), lambda _c: PROCEDURE, place)
    return None if state is None else (state.province_code, state.commune_code, state.status)


def test_the_fold_keeps_only_events_placed_at_the_registered_locality() -> None:
    rogue_earlier_receipt = ev(EventType.RECEIVED, "79", "25747", hours=-24, source="rogue")
    rogue_resolution = ev(EventType.RESOLVED, "79", "25747", hours=3, source="rogue")
    own_receipt = ev(EventType.RECEIVED, "01", "00004")
    events = [rogue_earlier_receipt, own_receipt, rogue_resolution]
    assert run(events, ("01", "00004")) == ("01", "00004", "received")
    # Without a registration the earliest receipt would win: the attack the registry prevents.
    assert run(events, None) == ("79", "25747", "resolved")


def test_a_state_takes_its_registered_commune_when_the_first_receipt_named_only_the_province() -> None:
    events = [ev(EventType.RECEIVED, "01", None, hours=-2), ev(EventType.WITHDRAWN, "01", "00004", hours=5)]
    assert run(events, ("01", "00004")) == ("01", "00004", "withdrawn")
