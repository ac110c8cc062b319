"""Shape checks of one incoming event: each malformed shape gets its reason and names its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ingest.lifecycle import Channel, EventType
from ingest.validate import LOCALITY_FIELDS, InvalidItem, validate_event

GOOD: dict[str, Any] = {
    "event_id": "e-1",
    "dossier_code": "H01-0001",
    "event_type": "received",
    "occurred_at": "2026-11-20T09:00:00+07:00",
    "procedure": {"code": "1.001193", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 3},
    "agency": {"code": "UBND-00097", "name": "UBND Phường Hồng Hà"},
    "locality": {"commune_code": "00097"},
    "channel": "online",
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def test_a_well_formed_event_is_read_in_full() -> None:
    item = validate_event(GOOD)
    assert item.event_type is EventType.RECEIVED and item.channel is Channel.ONLINE
    assert item.occurred_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert item.procedure is not None and item.procedure.statutory_days == 3
    assert item.agency is not None and item.agency.name == "UBND Phường Hồng Hà"
    assert dict(zip(LOCALITY_FIELDS, item.locality, strict=True))["commune_code"] == "00097"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:00:00+07:00", datetime(2026, 11, 20, 9, tzinfo=timezone(timedelta(hours=7)))),
        ("2026-11-20T02:00:00Z", datetime(2026, 11, 20, 2, tzinfo=UTC)),
        ("2026-11-20T02:00:00.250+00:00", datetime(2026, 11, 20, 2, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_times_with_an_offset_are_accepted(value: str, expected: datetime) -> None:
    assert validate_event(with_(occurred_at=value)).occurred_at == expected


def test_codes_are_trimmed() -> None:
    assert validate_event(with_(event_id="  e-2 ")).event_id == "e-2"


@pytest.mark.parametrize(
    ("raw", "reason", "names"),
    [
        # not an object at all
        ("một chuỗi", "invalid_field", "JSON object"),
        (["a"], "invalid_field", "JSON object"),
        # a field the API does not know (a typo must not pass silently)
        (with_(ocurred_at="x"), "invalid_field", "ocurred_at"),
        (with_(locality={"commune_code": "00097", "ward": "x"}), "invalid_field", "locality.ward"),
        (with_(procedure={"code": "P", "days": 3}), "invalid_field", "procedure.days"),
        (with_(agency={"code": "A", "title": "x"}), "invalid_field", "agency.title"),
        # required fields
        (without("event_id"), "missing_field", "event_id"),
        (without("dossier_code"), "missing_field", "dossier_code"),
        (without("event_type"), "missing_field", "event_type"),
        (without("locality"), "missing_field", "locality"),
        (without("occurred_at"), "invalid_time", "occurred_at"),
        # wrong types and sizes
        (with_(event_id=""), "invalid_field", "event_id"),
        (with_(event_id="   "), "invalid_field", "event_id"),
        (with_(event_id=12), "invalid_field", "event_id"),
        (with_(dossier_code="x" * 129), "invalid_field", "dossier_code"),
        (with_(event_type="approved"), "invalid_field", "event_type"),
        (with_(channel="fax"), "invalid_field", "channel"),
        (with_(locality="00097"), "invalid_field", "locality"),
        (with_(locality={"commune_code": 97}), "invalid_field", "locality.commune_code"),
        (with_(procedure="1.001193"), "invalid_field", "procedure"),
        (with_(procedure={"name": "x"}), "invalid_field", "procedure.code"),
        (with_(procedure={"code": "P", "statutory_days": -1}), "invalid_field", "statutory_days"),
        (with_(procedure={"code": "P", "statutory_days": 366}), "invalid_field", "statutory_days"),
        (with_(procedure={"code": "P", "statutory_days": 2.5}), "invalid_field", "statutory_days"),
        (with_(procedure={"code": "P", "statutory_days": True}), "invalid_field", "statutory_days"),
        (with_(agency={"name": "x"}), "invalid_field", "agency.code"),
        # times: malformed, without an offset, not a string
        (with_(occurred_at="2026-13-45T25:00:00+07:00"), "invalid_time", "occurred_at"),
        (with_(occurred_at="20/11/2026 09:00"), "invalid_time", "occurred_at"),
        (with_(occurred_at="2026-11-20T09:00:00"), "invalid_time", "no UTC offset"),
        (with_(occurred_at="2026-11-20"), "invalid_time", "no UTC offset"),
        (with_(occurred_at=1763600000), "invalid_time", "occurred_at"),
    ],
)
def test_malformed_events_are_refused_with_a_reason(raw: Any, reason: str, names: str) -> None:
    with pytest.raises(InvalidItem) as refused:
        validate_event(raw)
    assert refused.value.reason == reason
    assert names in str(refused.value)


# --------------------------------------------------------------------------- handler (cán bộ xử lý)


def test_the_handling_official_is_optional_and_read_when_given() -> None:
    assert validate_event(GOOD).handler is None
    assert validate_event(with_(handler=None)).handler is None
    item = validate_event(with_(handler={"code": " CB-012 ", "name": "Nguyễn Thị Lan"}))
    assert item.handler is not None
    assert (item.handler.code, item.handler.name) == ("CB-012", "Nguyễn Thị Lan")
    named_by_code = validate_event(with_(handler={"code": "CB-012"})).handler
    assert named_by_code is not None and named_by_code.name is None


@pytest.mark.parametrize(
    ("handler", "names"),
    [
        ("CB-012", "handler: must be an object"),
        (["CB-012"], "handler: must be an object"),
        ({"name": "Nguyễn Thị Lan"}, "handler.code"),
        ({"code": ""}, "handler.code"),
        ({"code": 12}, "handler.code"),
        ({"code": "x" * 129}, "handler.code"),
        ({"code": "CB-012", "name": "x" * 301}, "handler.name"),
        ({"code": "CB-012", "name": 7}, "handler.name"),
        ({"code": "CB-012", "title": "Chuyên viên"}, "handler.title"),
    ],
)
def test_a_malformed_handler_is_refused_and_named(handler: Any, names: str) -> None:
    with pytest.raises(InvalidItem) as refused:
        validate_event(with_(handler=handler))
    assert refused.value.reason == "invalid_field"
    assert names in str(refused.value)
