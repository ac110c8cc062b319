"""Field checks shared by the stream ingesters (payout, ID issuance): pure, strict, one reason each.

The dossier validator (ingest/validate.py) has its own tuned copies of some of these; the streams
here carry a few hundred records a batch, not tens of thousands a second, so plain functions do.
Each refusal raises `InvalidItem` with the field's name and what was expected, never the value
of a field that might hold personal data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from ingest.validate import LOCALITY_FIELDS, MAX_CODE, MAX_NAME, UNSTORABLE, InvalidItem, storable
from ioc.localities.catalogue import LocalityCatalogue
from ioc.localities.resolve import LocalityError, LocalityRef, Resolved, resolve

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_LOCALITY_KEYS = frozenset(LOCALITY_FIELDS)
_LOCALITY_SLOT = {name: i for i, name in enumerate(LOCALITY_FIELDS)}
# Years a report may name: wide enough for any real cycle, narrow enough that a typo is caught.
MIN_YEAR, MAX_YEAR = 2000, 2100


def require_object(raw: Any, what: str = "each item") -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidItem("invalid_field", f"{what} must be a JSON object")
    return raw


def no_unknown_keys(value: dict[str, Any], allowed: Iterable[str], where: str = "") -> None:
    unknown = sorted(k if storable(k) else ascii(k) for k in set(value) - set(allowed))
    if unknown:
        raise InvalidItem("invalid_field", f"{where}{', '.join(unknown)}: unknown field")


def require_keys(value: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if value.get(key) is None:
            raise InvalidItem("missing_field", f"{key}: required")


def text(value: Any, where: str, limit: int = MAX_CODE) -> str:
    if isinstance(value, str):
        stripped = value.strip()
        if 0 < len(stripped) <= limit:
            if not storable(stripped):
                raise InvalidItem("invalid_field", f"{where}: {UNSTORABLE}")
            return stripped
    raise InvalidItem("invalid_field", f"{where}: must be a non-empty string of at most {limit} characters")


def whole_number(value: Any, where: str, maximum: int) -> int:
    # `type(...) is int`: JSON true is a bool, an int subclass, and no count of anything.
    if type(value) is int and 0 <= value <= maximum:
        return value
    raise InvalidItem("invalid_field", f"{where}: must be a whole number from 0 to {maximum}")


def iso_date(value: Any, where: str) -> date:
    if isinstance(value, str) and _DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if MIN_YEAR <= day.year <= MAX_YEAR:
                return day
    raise InvalidItem("invalid_field", f"{where}: must be a date YYYY-MM-DD between {MIN_YEAR} and {MAX_YEAR}")


def month(value: Any, where: str) -> date:
    """ "2024-10" → 2024-10-01, the first day of the month."""
    match = _MONTH.match(value) if isinstance(value, str) else None
    if match:
        year, number = int(match.group(1)), int(match.group(2))
        if MIN_YEAR <= year <= MAX_YEAR and 1 <= number <= 12:
            return date(year, number, 1)
    raise InvalidItem("invalid_field", f"{where}: must be a month YYYY-MM between {MIN_YEAR} and {MAX_YEAR}")


def moment(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidItem("invalid_time", f"{where}: must be an ISO 8601 date-time string with a UTC offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidItem("invalid_time", f"{where}: not an ISO 8601 date-time ({exc})") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidItem("invalid_time", f"{where}: has no UTC offset (e.g. +07:00 or Z)")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidItem("invalid_time", f"{where}: must lie between {MIN_YEAR} and {MAX_YEAR}")
    return parsed


def locality_fields(value: Any) -> tuple[str | None, ...]:
    """The `locality` object of an item, as the dossier events take it: current or legacy codes
    or names, in `LOCALITY_FIELDS` order, for `LocalityResolver`."""
    if not isinstance(value, dict):
        raise InvalidItem("invalid_field" if value is not None else "missing_field", "locality: must be an object")
    no_unknown_keys(value, _LOCALITY_KEYS, "locality.")
    slots: list[str | None] = [None] * len(LOCALITY_FIELDS)
    for name, given in value.items():
        if given is not None:
            slots[_LOCALITY_SLOT[name]] = text(
                given, f"locality.{name}", MAX_CODE if name.endswith("_code") else MAX_NAME
            )
    return tuple(slots)


class LocalityResolver:
    """`ioc.localities.resolve` with a per-batch cache: a batch names the same places again and again."""

    def __init__(self, catalogue: LocalityCatalogue) -> None:
        self._catalogue = catalogue
        self._cache: dict[tuple[str | None, ...], Resolved | LocalityError] = {}

    def __call__(self, fields: tuple[str | None, ...]) -> Resolved:
        """The current units; raises InvalidItem with the resolver's reason (unknown_locality, ...)."""
        hit = self._cache.get(fields)
        if hit is None:
            try:
                hit = resolve(LocalityRef(*fields), self._catalogue)
            except LocalityError as exc:
                hit = exc
            self._cache[fields] = hit
        if isinstance(hit, LocalityError):
            raise InvalidItem(hit.code, str(hit))
        return hit
