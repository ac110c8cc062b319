"""One cell → the value a push-API item field holds, the way Vietnamese spreadsheets write it.

Whole numbers may carry thousands separators in either convention ("1.234.567" under the
Vietnamese locale, "1,234,567" under the English one): a separator followed by exactly three
digits is a thousands separator, anything else is not a whole number. Dates are day-first
("31/10/2024", "31-10-2024", "31.10.2024") or ISO; a payout cycle is a month ("10/2024",
"T10/2024", "Tháng 10/2024", "tháng 10 năm 2024", "2024-10"). Codes lose their leading zeros when a
spreadsheet takes them for numbers ("4" for commune "00004"); they are padded back to their width.
Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from ingest.fileimport.headers import header_key
from ingest.fileimport.read import Cell

Kind = Literal["text", "code", "int", "date", "month", "moment"]
KINDS: tuple[Kind, ...] = ("text", "code", "int", "date", "month", "moment")
VN = ZoneInfo("Asia/Ho_Chi_Minh")
# A report dated with a day only speaks for that day's close of business (offices close at 17:00).
CLOSE_OF_BUSINESS = time(17, 0)
MAX_TEXT = 500
MAX_INT = 9_223_372_036_854_775_807  # int8: the widest column a count or an amount goes into

_GROUPED = re.compile(r"^-?\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*$")
_PLAIN = re.compile(r"^-?\d+$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")
_DAY_FIRST_TIME = re.compile(r"^(\d{1,2}[/.-]\d{1,2}[/.-]\d{4})[ T]+(\d{1,2})[:h](\d{2})(?::(\d{2}))?$")
# Month patterns apply to the header_key form of the cell: lower case, separators turned to spaces.
_MONTH_YEAR = re.compile(r"^(?:thang |t ?)?(\d{1,2}) (?:nam )?(\d{4})$")
_YEAR_MONTH = re.compile(r"^(\d{4}) (\d{1,2})$")


class CellError(ValueError):
    """A cell that does not hold what its column should; the message is bilingual."""


def is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def convert(cell: Cell, kind: Kind, width: int | None = None, now: datetime | None = None) -> str | int | None:
    """The item value of a cell; None for an empty cell. Raises CellError.

    `now` (aware) bounds a "moment" given as a day only: today's report is not dated in the future.
    """
    if is_blank(cell):
        return None
    if kind == "moment":
        return to_moment(cell, now).isoformat()
    if kind == "int":
        return to_int(cell)
    if kind == "date":
        return to_date(cell).isoformat()
    if kind == "month":
        month = to_month(cell)
        return f"{month.year:04d}-{month.month:02d}"
    if kind == "code":
        return to_code(cell, width)
    return to_text(cell)


def to_text(cell: Cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, datetime | date):
        cell = cell.isoformat()
    text = " ".join(str(cell).split())
    if len(text) > MAX_TEXT:
        raise CellError(f"ô dài quá {MAX_TEXT} ký tự / longer than {MAX_TEXT} characters")
    return text


def to_code(cell: Cell, width: int | None) -> str:
    text = to_text(cell)
    if width and text.isdigit() and len(text) < width:
        text = text.zfill(width)
    return text


def to_int(cell: Cell) -> int:
    if isinstance(cell, bool):
        raise CellError("không phải số nguyên / not a whole number")
    if isinstance(cell, int):
        value = cell
    elif isinstance(cell, float):
        if not cell.is_integer():
            raise CellError(f"không phải số nguyên / not a whole number: {cell:g}")
        value = int(cell)
    elif isinstance(cell, str):
        text = cell.strip().replace("\u00a0", "").replace(" ", "")
        if _PLAIN.match(text):
            value = int(text)
        elif _GROUPED.match(text):
            value = int(text.replace(".", "").replace(",", ""))
        else:
            raise CellError(f"không phải số nguyên / not a whole number: {_shown(cell)}")
    else:
        raise CellError("không phải số nguyên / not a whole number")
    if abs(value) > MAX_INT:
        raise CellError("số quá lớn / number too large")
    return value


def to_date(cell: Cell) -> date:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = str(cell).strip()
    try:
        if match := _DAY_FIRST.match(text):
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        if match := _ISO_DAY.match(text):
            year, month, day = (int(g) for g in match.groups())
            return date(year, month, day)
    except ValueError as exc:
        raise CellError(f"ngày không tồn tại / no such date: {_shown(cell)}") from exc
    raise CellError(f"không phải ngày (dd/mm/yyyy) / not a date (dd/mm/yyyy): {_shown(cell)}")


def to_month(cell: Cell) -> date:
    """The first day of the month a cell names."""
    if isinstance(cell, datetime | date):
        return date(cell.year, cell.month, 1)
    key = header_key(cell)  # "Tháng 10/2024" → "thang 10 2024", "T10/2024" → "t10 2024", "2024-10" → "2024 10"
    month = year = 0
    if match := _MONTH_YEAR.match(key):
        month, year = int(match.group(1)), int(match.group(2))
    elif match := _YEAR_MONTH.match(key):
        year, month = int(match.group(1)), int(match.group(2))
    else:
        try:
            return to_date(cell).replace(day=1)
        except CellError:
            pass
    if 1 <= month <= 12:
        return date(year, month, 1)
    raise CellError(f"không phải tháng (mm/yyyy) / not a month (mm/yyyy): {_shown(cell)}")


def to_moment(cell: Cell, now: datetime | None = None) -> datetime:
    """A point in time, Vietnamese time unless the cell says otherwise.

    A day alone means its close of business, or `now` if that is earlier (a report sent at noon).
    """
    if isinstance(cell, datetime):
        return cell if cell.tzinfo else cell.replace(tzinfo=VN)
    text = str(cell).strip()
    if match := _DAY_FIRST_TIME.match(text):
        day = to_date(match.group(1))
        try:
            clock = time(int(match.group(2)), int(match.group(3)), int(match.group(4) or 0))
        except ValueError as exc:
            raise CellError(f"giờ không hợp lệ / invalid time of day: {_shown(cell)}") from exc
        return datetime.combine(day, clock, VN)
    if isinstance(cell, str) and "T" in text:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN)
    day = to_date(cell)
    moment = datetime.combine(day, CLOSE_OF_BUSINESS, VN)
    return min(moment, now) if now is not None and day == now.astimezone(VN).date() else moment


def _shown(cell: Cell) -> str:
    """A cell as quoted in an error message: short, on one line."""
    text = " ".join(str(cell).split())
    return repr(text if len(text) <= 40 else text[:39] + "…")
