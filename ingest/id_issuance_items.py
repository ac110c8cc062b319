"""Shape checks for one ID-issuance report (CCCD chip cards, VNeID level-2 accounts): pure, strict.

One report is one locality's figures for one day, flat, with the same names as the columns of
`id_issuance_daily` (migrations/011_id_issuance.sql):

    {"record_id": "ca-79-25747-2026-03-16", "day": "2026-03-16",
     "reported_at": "2026-03-16T18:00:00+07:00",            # optional: the time of receipt
     "locality": {"commune_code": "25747"},                  # as for dossiers, legacy codes too
     "cccd_received": 120, "cccd_issued": 95,                # the day's flows
     "l2_received": 310, "l2_approved": 280, "l2_activated": 150,
     "eligible_population": 54000, "cccd_issued_total": 52575,   # stocks, to date, day included
     "l2_activated_total": 9300, "l2_eligible_population": 27500}  # the last one optional

The day's level-2 flows need not nest (received ≥ approved ≥ activated): they are different
applicants' steps on that day. The one cross-check is that no more cards were issued to date
than people are eligible.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ingest.item_fields import (
    locality_fields,
    moment,
    no_unknown_keys,
    require_keys,
    require_object,
    text,
    whole_number,
)
from ingest.validate import InvalidItem, echo

FLOW_FIELDS = ("cccd_received", "cccd_issued", "l2_received", "l2_approved", "l2_activated")
STOCK_FIELDS = ("eligible_population", "cccd_issued_total", "l2_activated_total")
OPTIONAL_STOCK_FIELDS = ("l2_eligible_population",)
COUNT_FIELDS = (*FLOW_FIELDS, *STOCK_FIELDS, *OPTIONAL_STOCK_FIELDS)
# Above any Vietnamese locality's population (about 101 million people), and within int4.
MAX_COUNT = 1_000_000_000
# CCCD cards were first issued in 2016: an earlier day is a typo, not a report.
EARLIEST_DAY = date(2016, 1, 1)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REQUIRED = ("record_id", "day", "locality", *FLOW_FIELDS, *STOCK_FIELDS)
_KEYS = frozenset({*_REQUIRED, "reported_at", *OPTIONAL_STOCK_FIELDS})


@dataclass(frozen=True, slots=True)
class IdReportIn:
    """A well-formed report, its locality not yet resolved."""

    record_id: str
    day: date
    reported_at: datetime | None  # None: not sent (the time of receipt stands in)
    locality: tuple[str | None, ...]  # in LOCALITY_FIELDS order
    counts: tuple[int | None, ...]  # in COUNT_FIELDS order; only l2_eligible_population may be None


def record_id_of(raw: Any) -> str | None:
    """The record id to echo in a result, when the item has a usable one."""
    value = echo(raw.get("record_id") if isinstance(raw, dict) else None)
    return None if value is None else value.strip() or None


def validate_report(raw: Any) -> IdReportIn:
    """Raises InvalidItem: invalid_field, missing_field, invalid_time or inconsistent_totals."""
    item = require_object(raw)
    no_unknown_keys(item, _KEYS)
    require_keys(item, _REQUIRED)
    counts = tuple(None if item.get(name) is None else count(item[name], name) for name in COUNT_FIELDS)
    report = IdReportIn(
        record_id=text(item["record_id"], "record_id"),
        day=report_day(item["day"]),
        reported_at=None if item.get("reported_at") is None else moment(item["reported_at"], "reported_at"),
        locality=locality_fields(item["locality"]),
        counts=counts,
    )
    figures = dict(zip(COUNT_FIELDS, counts, strict=True))
    issued, eligible = figures["cccd_issued_total"], figures["eligible_population"]
    assert issued is not None and eligible is not None
    if issued > eligible:
        raise InvalidItem(
            "inconsistent_totals",
            f"cccd_issued_total ({issued}) must not exceed eligible_population ({eligible}): "
            "more cards issued to date than people eligible",
        )
    return report


def count(value: Any, where: str) -> int:
    """A whole number 0..MAX_COUNT. A spreadsheet cell arrives as 1234.0: a whole float is the
    number it is; 12.5 or true is no count."""
    if type(value) is float and math.isfinite(value) and value.is_integer():
        value = int(value)
    return whole_number(value, where, MAX_COUNT)


def report_day(value: Any) -> date:
    if isinstance(value, str) and _DAY.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if day < EARLIEST_DAY:
                raise InvalidItem("invalid_time", f"day: {value} is before {EARLIEST_DAY} (no CCCD then)")
            return day
    raise InvalidItem("invalid_time", "day: must be a date YYYY-MM-DD")
