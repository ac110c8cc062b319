"""Service-quality fields in the dossier fold and its rollup contributions (pure).

Online service level and digitisation come with the receipt; the first fee payment and the latest
rating stand; each dossier counts at most once in each count, whatever order events arrive in.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from ingest.lifecycle import (
    ROLLUP_FIELDS,
    DossierEvent,
    DossierState,
    EventType,
    contributions,
    fold,
    rollup_delta,
)
from tests.unit.test_lifecycle import VN, calendar_for, key, procedure_of

R = datetime(2026, 3, 9, 9, 0, tzinfo=VN)  # Monday
PAID = datetime(2026, 3, 10, 14, 0, tzinfo=VN)
RATED = datetime(2026, 3, 11, 10, 0, tzinfo=VN)


def ev(kind: EventType, t: datetime, n: int = 0, channel: str | None = "online", **quality: Any) -> DossierEvent:
    return DossierEvent(
        occurred_at=t, dossier_code="HS-1", event_type=kind, source_id="src", event_id=f"{kind}:{n}",
        province_code="01", commune_code="00004", agency_code="AG-1",
        procedure_code="P3" if kind is EventType.RECEIVED else None, channel=channel, **quality,
    )  # fmt: skip


def folded(*events: DossierEvent) -> DossierState:
    state = fold(None, events, calendar_for, procedure_of)
    assert state is not None
    return state


def counts(state: DossierState) -> dict[date, dict[str, int]]:
    """Nonzero contributions by day, by name."""
    return {k[0]: {f: n for f, n in zip(ROLLUP_FIELDS, c, strict=True) if n} for k, c in contributions(state).items()}


RECEIPT_FULL = ev(EventType.RECEIVED, R, online_level="full", digitised=True)


def test_receipt_states_level_and_digitisation() -> None:
    state = folded(RECEIPT_FULL)
    assert (state.online_level, state.digitised) == ("full", True)
    assert counts(state) == {date(2026, 3, 9): {
        "received": 1, "received_online": 1, "received_full_online": 1, "received_level_stated": 1,
        "digitised": 1, "digitised_known": 1,
    }}  # fmt: skip


def test_partial_and_not_digitised_are_known_but_not_counted_as_yes() -> None:
    state = folded(ev(EventType.RECEIVED, R, online_level="partial", digitised=False))
    assert counts(state)[date(2026, 3, 9)] == {
        "received": 1, "received_online": 1, "received_level_stated": 1, "digitised_known": 1,
    }  # fmt: skip


def test_unstated_online_receipt_is_left_out_of_the_known_counts() -> None:
    assert counts(folded(ev(EventType.RECEIVED, R))) == {date(2026, 3, 9): {"received": 1, "received_online": 1}}


def test_payment_and_rating_count_on_their_own_days() -> None:
    state = folded(
        RECEIPT_FULL,
        ev(EventType.RESOLVED, datetime(2026, 3, 10, 9, 0, tzinfo=VN)),
        ev(EventType.FEE_PAID, PAID, payment_channel="online"),
        ev(EventType.RATED, RATED, rating="very_satisfied"),
    )
    assert (state.fee_paid_at, state.payment_channel, state.rated_at, state.rating) == (
        PAID, "online", RATED, "very_satisfied")  # fmt: skip
    by_day = counts(state)
    assert by_day[date(2026, 3, 10)] == {"resolved": 1, "resolved_early": 1, "fee_payments": 1,
                                         "fee_payments_online": 1}  # fmt: skip
    assert by_day[date(2026, 3, 11)] == {"ratings": 1, "ratings_satisfied": 1}


def test_first_payment_stands_latest_rating_stands_in_any_arrival_order() -> None:
    events = [
        RECEIPT_FULL,
        ev(EventType.FEE_PAID, PAID, 1, payment_channel="offline"),
        ev(EventType.FEE_PAID, datetime(2026, 3, 12, 8, 0, tzinfo=VN), 2, payment_channel="online"),
        ev(EventType.RATED, RATED, 1, rating="satisfied"),
        ev(EventType.RATED, datetime(2026, 3, 13, 8, 0, tzinfo=VN), 2, rating="dissatisfied"),
    ]
    results = {folded(*order) for order in itertools.permutations(events)}
    assert len(results) == 1  # the fold sorts by occurred_at: arrival order does not matter
    state = results.pop()
    assert (state.payment_channel, state.rating) == ("offline", "dissatisfied")
    # Two payment events, two ratings: still one payment and one rating for the dossier.
    by_day = counts(state)
    assert by_day[date(2026, 3, 10)] == {"fee_payments": 1}  # offline: not online
    assert by_day[date(2026, 3, 13)] == {"ratings": 1}  # dissatisfied: not satisfied
    assert date(2026, 3, 11) not in by_day and date(2026, 3, 12) not in by_day


def test_payment_and_rating_after_the_dossier_closed_still_count() -> None:
    state = folded(
        ev(EventType.RECEIVED, R, channel="direct"),
        ev(EventType.WITHDRAWN, datetime(2026, 3, 9, 11, 0, tzinfo=VN)),
        ev(EventType.RATED, RATED, rating="satisfied"),
    )
    assert counts(state)[date(2026, 3, 11)] == {"ratings": 1, "ratings_satisfied": 1}


def test_a_revised_rating_moves_the_count_not_adds_to_it() -> None:
    first = folded(RECEIPT_FULL, ev(EventType.RATED, RATED, 1, rating="dissatisfied"))
    revised = replace(first, rated_at=datetime(2026, 3, 12, 9, 0, tzinfo=VN), rating="satisfied")
    delta = rollup_delta([(first, revised)])
    assert delta == {
        key(date(2026, 3, 11)): {"ratings": -1},
        key(date(2026, 3, 12)): {"ratings": 1, "ratings_satisfied": 1},
    }


@pytest.mark.parametrize("kind", [EventType.FEE_PAID, EventType.RATED])
def test_payment_or_rating_before_the_receipt_waits_for_it(kind: EventType) -> None:
    # A fee paid online while submitting is often stamped before the official receipt.
    quality: dict[str, Any] = {"payment_channel": "online"} if kind is EventType.FEE_PAID else {"rating": "satisfied"}
    early = ev(kind, datetime(2026, 3, 9, 8, 55, tzinfo=VN), 0, **quality)
    assert fold(None, [early], calendar_for, procedure_of) is None  # nothing to hang it on yet
    state = folded(early, RECEIPT_FULL)  # the refold from history, once the receipt came
    assert (state.fee_paid_at or state.rated_at) == early.occurred_at
    assert state.received_at == R and state.last_event_at == R
    assert sum(counts(state)[date(2026, 3, 9)].get(f, 0) for f in ("fee_payments", "ratings")) == 1
