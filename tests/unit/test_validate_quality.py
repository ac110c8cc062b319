"""The optional service-quality fields of a dossier event: accepted where they belong, each wrong
shape refused with its reason and its field named."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.lifecycle import EventType, OnlineLevel, PaymentChannel, Rating
from ingest.validate import InvalidItem, validate_event
from tests.unit.test_validate import GOOD, with_

PAYMENT = {**{k: v for k, v in GOOD.items() if k not in ("procedure", "channel")}, "event_type": "fee_paid",
           "payment_channel": "online"}  # fmt: skip
RATING = {**{k: v for k, v in GOOD.items() if k not in ("procedure", "channel")}, "event_type": "rated",
          "rating": "satisfied"}  # fmt: skip


def test_existing_senders_are_unaffected() -> None:
    item = validate_event(GOOD)
    assert (item.online_level, item.digitised, item.payment_channel, item.rating) == (None, None, None, None)


def test_receipt_with_level_and_digitisation() -> None:
    item = validate_event(with_(online_level="full", digitised=True))
    assert item.online_level is OnlineLevel.FULL and item.digitised is True
    item = validate_event(with_(channel="direct", digitised=False))
    assert item.online_level is None and item.digitised is False


def test_payment_and_rating_events() -> None:
    paid = validate_event(PAYMENT)
    assert paid.event_type is EventType.FEE_PAID and paid.payment_channel is PaymentChannel.ONLINE
    rated = validate_event({**RATING, "rating": "very_satisfied"})
    assert rated.event_type is EventType.RATED and rated.rating is Rating.VERY_SATISFIED


def test_null_counts_as_not_sent() -> None:
    item = validate_event(with_(online_level=None, digitised=None, payment_channel=None, rating=None))
    assert (item.online_level, item.digitised) == (None, None)


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        # a value outside the field's vocabulary, or of the wrong type
        (with_(online_level="level4"), "invalid_field", "online_level"),
        (with_(online_level=1), "invalid_field", "online_level"),
        (with_(digitised="yes"), "invalid_field", "digitised"),
        (with_(digitised=1), "invalid_field", "digitised"),  # 1 is no boolean here
        ({**PAYMENT, "payment_channel": "cash"}, "invalid_field", "payment_channel"),
        ({**PAYMENT, "payment_channel": True}, "invalid_field", "payment_channel"),
        ({**RATING, "rating": 5}, "invalid_field", "rating"),
        ({**RATING, "rating": "neutral"}, "invalid_field", "rating"),
        # a field on an event it does not belong to
        (with_(channel="direct", online_level="full"), "inconsistent_field", "online_level"),
        (with_(channel="postal", online_level="partial"), "inconsistent_field", "online_level"),
        (with_(payment_channel="online"), "inconsistent_field", "payment_channel"),
        (with_(rating="satisfied"), "inconsistent_field", "rating"),
        ({**PAYMENT, "online_level": "full"}, "inconsistent_field", "online_level"),
        ({**RATING, "digitised": True}, "inconsistent_field", "digitised"),
        ({**PAYMENT, "rating": "satisfied"}, "inconsistent_field", "rating"),
        ({**with_(event_type="resolved"), "digitised": True}, "inconsistent_field", "digitised"),
        # an event without the one field that gives it meaning
        ({k: v for k, v in PAYMENT.items() if k != "payment_channel"}, "missing_field", "payment_channel"),
        ({**RATING, "rating": None}, "missing_field", "rating"),
    ],
)
def test_refusals_name_reason_and_field(raw: dict[str, Any], reason: str, field: str) -> None:
    with pytest.raises(InvalidItem) as refused:
        validate_event(raw)
    assert refused.value.reason == reason
    assert str(refused.value).startswith(f"{field}:")
