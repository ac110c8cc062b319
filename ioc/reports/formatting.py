"""Numbers as Vietnamese documents print them: '1.234.567', '91,5%', '+2,5 điểm %'. Pure.

Vietnamese uses a dot between thousands and a comma before decimals. The PDF prints these texts;
the XLSX stores the numbers themselves with a number format, so that a spreadsheet can add them.
"""

from __future__ import annotations

from typing import Literal

# How a value reads: a plain count, a share (0–1), an amount in đồng, a pace per day, a change of
# a share in percentage points, a change of a count, or text.
Kind = Literal["text", "count", "ratio", "vnd", "per_day", "points", "delta", "delta_vnd", "delta_per_day"]
MISSING = "—"


def _grouped(value: float, decimals: int) -> str:
    text = f"{abs(value):,.{decimals}f}"  # '1,234,567.8'
    text = text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
    return ("-" if value < 0 and text.strip("0,.") else "") + text


def number_vi(value: float, decimals: int = 0) -> str:
    """1234567.8 → '1.234.568' (decimals=0) or '1.234.567,8' (decimals=1)."""
    return _grouped(value, decimals)


def _signed(value: float, decimals: int) -> str:
    text = _grouped(value, decimals)
    return text if text.startswith("-") or not value or not text.strip("0,.") else "+" + text


def format_value(value: str | int | float | None, kind: Kind) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str) or kind == "text":
        return str(value)
    if kind == "count":
        return number_vi(value)
    if kind == "ratio":
        return number_vi(value * 100, 1) + "%"
    if kind == "vnd":
        return number_vi(value) + " đ"
    if kind == "per_day":
        return number_vi(value, 1) + "/ngày"
    if kind == "points":
        return _signed(value, 1) + " điểm %"
    if kind == "delta":
        return _signed(value, 0)
    if kind == "delta_vnd":
        return _signed(value, 0) + " đ"
    if kind == "delta_per_day":
        return _signed(value, 1) + "/ngày"
    raise ValueError(f"unknown kind {kind!r}")


# Spreadsheet number formats for the same kinds (the cell holds the number itself).
XLSX_FORMATS: dict[Kind, str] = {
    "count": "#,##0",
    "ratio": "0.0%",
    "vnd": '#,##0" đ"',
    "per_day": "#,##0.0",
    "points": '+0.0" điểm %";-0.0" điểm %";0.0" điểm %"',
    "delta": "+#,##0;-#,##0;0",
    "delta_vnd": '+#,##0" đ";-#,##0" đ";0" đ"',
    "delta_per_day": "+#,##0.0;-#,##0.0;0.0",
}
