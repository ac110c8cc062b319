"""Calendar days, months and decimals in the Vietnamese and English forms alert summaries use.

The stream rules (payouts, ID issuance) reason in whole local days — a cycle's deadline, a
target's due date — where the dossier rules reason in instants; these helpers keep their wording
consistent with ``alerts.rules``' formatting (dates ``31/10/2026``, decimal comma, no rounding up).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from alerts.rules import DISPLAY_TZ, RuleInputError, format_date_en

__all__ = [
    "format_day_en",
    "format_day_vi",
    "format_decimal_en",
    "format_decimal_vi",
    "format_month_en",
    "format_month_vi",
    "local_day",
    "start_of_day",
]

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_day(now: datetime) -> date:
    """The calendar day ``now`` falls on in Vietnam."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise RuleInputError(f"Thời điểm phải có múi giờ / datetime must be timezone-aware: {now!r}")
    return now.astimezone(DISPLAY_TZ).date()


def start_of_day(d: date) -> datetime:
    """Local midnight at the start of ``d``."""
    return datetime.combine(d, time(0), DISPLAY_TZ)


def format_day_vi(d: date) -> str:
    """``31/10/2026``."""
    return f"{d:%d/%m/%Y}"


def format_day_en(d: date) -> str:
    """``31 Oct 2026``."""
    return format_date_en(datetime.combine(d, time(12), DISPLAY_TZ))


def format_month_vi(d: date) -> str:
    """The cycle of October 2026 is ``10/2026``."""
    return f"{d:%m/%Y}"


def format_month_en(d: date) -> str:
    return f"{_MONTHS_EN[d.month - 1]} {d.year}"


def _decimal_digits(x: Fraction) -> str:
    # Truncated like the percentages: "2,9 of 3 days" must not read "3 of 3".
    value = (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    text = f"{value:f}"
    return text[:-2] if text.endswith(".0") else text


def format_decimal_vi(x: Fraction) -> str:
    """``2,5`` for 5/2: one decimal at most, truncated, decimal comma."""
    return _decimal_digits(x).replace(".", ",")


def format_decimal_en(x: Fraction) -> str:
    return _decimal_digits(x)
