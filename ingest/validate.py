"""Shape checks for one incoming dossier event: pure, strict, and cheap.

Written by hand rather than as a pydantic model because it runs for every ingested event (tens
of thousands a second) and a nested model cost ~10 µs per item against ~2 µs here; the rules are
few and fixed, and each refusal names the field and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from ingest.lifecycle import Channel, EventType, OnlineLevel, PaymentChannel, Rating
from ioc.localities.resolve import LocalityRef

MAX_CODE = 128
MAX_NAME = 300
MAX_STATUTORY_DAYS = 365
# An appointment (ngày hẹn trả) further out than this from its event is a typo, not a promise:
# the longest statutory period (365 working days) fits well inside it.
MAX_APPOINTMENT_AHEAD = timedelta(days=3 * 366)
UNSTORABLE = (
    "chứa ký tự NUL hoặc ký tự UTF-16 đơn lẻ, không lưu được / contains a NUL character or a lone UTF-16 "
    "surrogate, which cannot be stored"
)

LOCALITY_FIELDS = tuple(f.name for f in fields(LocalityRef))
_LOCALITY_KEYS = frozenset(LOCALITY_FIELDS)
_LOCALITY_SLOT = {name: i for i, name in enumerate(LOCALITY_FIELDS)}
_EVENT_KEYS = frozenset(
    {"event_id", "dossier_code", "event_type", "occurred_at", "locality", "procedure", "agency", "channel",
     "handler", "applicant", "online_level", "digitised", "payment_channel", "rating", "due_at"}
)  # fmt: skip
_REQUIRED = ("event_id", "dossier_code", "event_type", "occurred_at", "locality")
_PROCEDURE_KEYS = frozenset({"code", "name", "sector", "statutory_days"})
_AGENCY_KEYS = frozenset({"code", "name"})
_HANDLER_KEYS = frozenset({"code", "name"})
_EVENT_TYPES = {kind.value: kind for kind in EventType}
_CHANNELS = {channel.value: channel for channel in Channel}
_ONLINE_LEVELS = {level.value: level for level in OnlineLevel}
_PAYMENT_CHANNELS = {channel.value: channel for channel in PaymentChannel}
_RATINGS = {rating.value: rating for rating in Rating}
# The service-quality fields and the one event type each belongs to (ingest/lifecycle.py).
_FIELD_EVENT = {
    "online_level": EventType.RECEIVED, "digitised": EventType.RECEIVED,
    "payment_channel": EventType.FEE_PAID, "rating": EventType.RATED,
}  # fmt: skip


def storable(value: str) -> bool:
    """Can PostgreSQL store this text (and can a JSON answer echo it)? A NUL character cannot be
    stored in a text column, and a lone UTF-16 surrogate (which JSON's \\uD800 escapes can carry)
    is not UTF-8. Either would fail the whole batch's transaction, so an item carrying one is
    refused on its own. ASCII text, by far the most common, is checked in C only."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def echo(value: Any, limit: int = MAX_CODE) -> str | None:
    """An item's id as a result may echo it: only text that is short and storable."""
    if not isinstance(value, str) or len(value) > limit or not storable(value):
        return None
    return value


class InvalidItem(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProcedureIn:
    code: str
    name: str | None
    sector: str | None
    statutory_days: int | None


@dataclass(frozen=True, slots=True)
class AgencyIn:
    code: str
    name: str | None


@dataclass(frozen=True, slots=True)
class HandlerIn:
    """The official handling the dossier (cán bộ xử lý), for the monthly list of late officials."""

    code: str
    name: str | None


@dataclass(frozen=True, slots=True)
class EventIn:
    event_id: str
    dossier_code: str
    event_type: EventType
    occurred_at: datetime
    locality: tuple[str | None, ...]  # in LOCALITY_FIELDS order
    procedure: ProcedureIn | None
    agency: AgencyIn | None
    channel: Channel | None
    handler: HandlerIn | None = None
    online_level: OnlineLevel | None = None
    digitised: bool | None = None
    payment_channel: PaymentChannel | None = None
    rating: Rating | None = None
    due_at: datetime | None = None  # the source's appointment (see _APPOINTING)


# The events that may carry the source's appointment (`due_at`): the slip given at receipt, the
# new slip after a supplement, the new date an apology letter gives, and an extension (gia hạn),
# which is nothing but a new date and so requires one.
_APPOINTING = frozenset(
    {EventType.RECEIVED, EventType.SUPPLEMENT_RECEIVED, EventType.APOLOGY_ISSUED, EventType.EXTENDED}
)


def validate_event(raw: Any) -> EventIn:
    if not isinstance(raw, dict):
        raise InvalidItem("invalid_field", "each event must be a JSON object")
    _no_unknown_keys(raw, _EVENT_KEYS, "")
    # Source systems often send the applicant (name, ID number, phone). No indicator needs them,
    # so in the spirit of Decree 13/2023 (personal-data protection) they are accepted and dropped
    # here: nothing about the applicant reaches the database, the logs or a screen.
    if raw.get("applicant") is not None and not isinstance(raw["applicant"], dict):
        raise InvalidItem("invalid_field", "applicant: must be an object (it is not stored)")
    for key in _REQUIRED:
        if raw.get(key) is None:
            raise InvalidItem("missing_field" if key != "occurred_at" else "invalid_time", f"{key}: required")
    event_type = _EVENT_TYPES.get(raw["event_type"]) if isinstance(raw["event_type"], str) else None
    if event_type is None:
        raise InvalidItem("invalid_field", f"event_type: must be one of {', '.join(_EVENT_TYPES)}")
    channel = None
    if raw.get("channel") is not None:
        channel = _CHANNELS.get(raw["channel"]) if isinstance(raw["channel"], str) else None
        if channel is None:
            raise InvalidItem("invalid_field", f"channel: must be one of {', '.join(_CHANNELS)}")
    needs_quality = event_type in _REQUIRED_QUALITY or not _QUALITY_KEYS.isdisjoint(raw)
    quality = _quality(raw, event_type, channel) if needs_quality else _NO_QUALITY
    occurred_at = _moment(raw["occurred_at"])
    due_at = None
    if raw.get("due_at") is not None or event_type is EventType.EXTENDED:
        due_at = _appointment(raw.get("due_at"), event_type, occurred_at)
    return EventIn(
        event_id=_text(raw["event_id"], "event_id", MAX_CODE),
        dossier_code=_text(raw["dossier_code"], "dossier_code", MAX_CODE),
        event_type=event_type,
        occurred_at=occurred_at,
        locality=_locality(raw["locality"]),
        procedure=_procedure(raw.get("procedure")),
        agency=_agency(raw.get("agency")),
        channel=channel,
        handler=_handler(raw.get("handler")),
        online_level=quality[0],
        digitised=quality[1],
        payment_channel=quality[2],
        rating=quality[3],
        due_at=due_at,
    )


def _appointment(value: Any, event_type: EventType, occurred_at: datetime) -> datetime:
    if event_type not in _APPOINTING:
        kinds = ", ".join(f"'{kind.value}'" for kind in EventType if kind in _APPOINTING)
        raise InvalidItem("inconsistent_field", f"due_at: only allowed on {kinds} events")
    if value is None:
        raise InvalidItem("missing_field", f"due_at: required on a '{event_type.value}' event")
    due_at = _moment(value, "due_at")
    if due_at < occurred_at:
        raise InvalidItem("inconsistent_field", "due_at: an appointment cannot be earlier than the event giving it")
    if due_at - occurred_at > MAX_APPOINTMENT_AHEAD:
        raise InvalidItem("invalid_time", f"due_at: more than {MAX_APPOINTMENT_AHEAD.days} days after occurred_at")
    return due_at


_QUALITY_KEYS = frozenset(_FIELD_EVENT)
# A payment without its channel, a rating without its level, would count nothing: refused.
_REQUIRED_QUALITY = {EventType.FEE_PAID: "payment_channel", EventType.RATED: "rating"}
_Quality = tuple[OnlineLevel | None, bool | None, PaymentChannel | None, Rating | None]
_NO_QUALITY: _Quality = (None, None, None, None)


def _quality(raw: dict[str, Any], event_type: EventType, channel: Channel | None) -> _Quality:
    """The optional service-quality fields: each only on its own event type, with its own values.
    A field sent as null counts as not sent. Checked only when one is present (most events carry
    none), so senders that never send them pay nothing."""
    for name, kind in _FIELD_EVENT.items():
        if raw.get(name) is not None and event_type is not kind:
            raise InvalidItem("inconsistent_field", f"{name}: only allowed on a '{kind.value}' event")
    required = _REQUIRED_QUALITY.get(event_type)
    if required is not None and raw.get(required) is None:
        raise InvalidItem("missing_field", f"{required}: required on a '{event_type.value}' event")
    level = raw.get("online_level")
    online_level = None
    if level is not None:
        online_level = _ONLINE_LEVELS.get(level) if isinstance(level, str) else None
        if online_level is None:
            raise InvalidItem("invalid_field", f"online_level: must be one of {', '.join(_ONLINE_LEVELS)}")
        if channel is not Channel.ONLINE:
            raise InvalidItem(
                "inconsistent_field", "online_level: only an online dossier (channel 'online') has a service level"
            )
    digitised = raw.get("digitised")
    if digitised is not None and type(digitised) is not bool:
        raise InvalidItem("invalid_field", "digitised: must be true or false")
    paid = raw.get("payment_channel")
    payment_channel = None
    if paid is not None:
        payment_channel = _PAYMENT_CHANNELS.get(paid) if isinstance(paid, str) else None
        if payment_channel is None:
            raise InvalidItem("invalid_field", f"payment_channel: must be one of {', '.join(_PAYMENT_CHANNELS)}")
    given = raw.get("rating")
    rating = None
    if given is not None:
        rating = _RATINGS.get(given) if isinstance(given, str) else None
        if rating is None:
            raise InvalidItem("invalid_field", f"rating: must be one of {', '.join(_RATINGS)}")
    return online_level, digitised, payment_channel, rating


def _no_unknown_keys(value: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    if not allowed.issuperset(value):
        unknown = sorted(k if storable(k) else ascii(k) for k in set(value) - allowed)
        raise InvalidItem("invalid_field", f"{where}{', '.join(unknown)}: unknown field")


def _text(value: Any, where: str, limit: int) -> str:
    if isinstance(value, str):
        text = value.strip()
        if 0 < len(text) <= limit:
            if not storable(text):
                raise InvalidItem("invalid_field", f"{where}: {UNSTORABLE}")
            return text
    raise InvalidItem("invalid_field", f"{where}: must be a non-empty string of at most {limit} characters")


def _optional_text(value: Any, where: str, limit: int) -> str | None:
    return None if value is None else _text(value, where, limit)


def _moment(value: Any, where: str = "occurred_at") -> datetime:
    if not isinstance(value, str):
        raise InvalidItem("invalid_time", f"{where}: must be an ISO 8601 date-time string with a UTC offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidItem("invalid_time", f"{where}: {value!r} is not an ISO 8601 date-time ({exc})") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidItem("invalid_time", f"{where}: {value!r} has no UTC offset (e.g. +07:00 or Z)")
    return moment


def _locality(value: Any) -> tuple[str | None, ...]:
    if not isinstance(value, dict):
        raise InvalidItem("invalid_field", "locality: must be an object")
    _no_unknown_keys(value, _LOCALITY_KEYS, "locality.")
    # Sources send one or two of the ten fields: look only at those.
    slots: list[str | None] = [None] * len(LOCALITY_FIELDS)
    for name, given in value.items():
        limit = MAX_CODE if name.endswith("_code") else MAX_NAME
        slots[_LOCALITY_SLOT[name]] = _optional_text(given, f"locality.{name}", limit)
    return tuple(slots)


def _procedure(value: Any) -> ProcedureIn | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidItem("invalid_field", "procedure: must be an object")
    _no_unknown_keys(value, _PROCEDURE_KEYS, "procedure.")
    days = value.get("statutory_days")
    # `type(...) is int`: JSON true is a bool, an int subclass, and no number of days.
    if days is not None and not (type(days) is int and 0 <= days <= MAX_STATUTORY_DAYS):
        raise InvalidItem("invalid_field", f"procedure.statutory_days: must be a whole number 0..{MAX_STATUTORY_DAYS}")
    return ProcedureIn(
        code=_text(value.get("code"), "procedure.code", MAX_CODE),
        name=_optional_text(value.get("name"), "procedure.name", MAX_NAME),
        sector=_optional_text(value.get("sector"), "procedure.sector", MAX_NAME),
        statutory_days=days,
    )


def _agency(value: Any) -> AgencyIn | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidItem("invalid_field", "agency: must be an object")
    _no_unknown_keys(value, _AGENCY_KEYS, "agency.")
    return AgencyIn(
        code=_text(value.get("code"), "agency.code", MAX_CODE),
        name=_optional_text(value.get("name"), "agency.name", MAX_NAME),
    )


def _handler(value: Any) -> HandlerIn | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidItem("invalid_field", "handler: must be an object")
    _no_unknown_keys(value, _HANDLER_KEYS, "handler.")
    return HandlerIn(
        code=_text(value.get("code"), "handler.code", MAX_CODE),
        name=_optional_text(value.get("name"), "handler.name", MAX_NAME),
    )
