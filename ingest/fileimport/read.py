"""Bytes of a CSV or XLSX file → rows of cells, numbered as the spreadsheet shows them.

Supported: XLSX (Office Open XML; the first worksheet, cached formula values), and CSV in UTF-8
with or without a BOM, UTF-16 with a BOM (Excel's "Unicode text" export), or Windows-1258 (the
Vietnamese ANSI code page of older Excel and Windows installations) when the bytes are not valid
UTF-8. The CSV delimiter is detected among comma, semicolon (Excel under a Vietnamese locale, where
the comma is the decimal mark) and tab. Legacy .xls is refused with a hint to save as .xlsx.

Row numbers are those a person sees in the spreadsheet: the first row is 1, a CSV record holding
a quoted line break is still one row. Text is returned in Unicode NFC, so that Windows-1258's
combining tone marks compare equal to precomposed ones. Pure: no I/O beyond the bytes given.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

Cell = str | int | float | bool | date | datetime | time | None
FileFormat = Literal["csv", "xlsx"]

MAX_ROWS = 50_000  # data rows per file: a national file of 3,321 communes × a dozen programmes fits
MAX_COLUMNS = 200
# An XLSX is a zip: refuse one that would inflate beyond this (a "zip bomb") before parsing it.
MAX_XLSX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class FileFormatError(ValueError):
    """The file cannot be read as a table at all (not CSV or XLSX, corrupt, too big)."""


@dataclass(frozen=True)
class Table:
    format: FileFormat
    rows: list[tuple[int, list[Cell]]]  # (row number as the spreadsheet shows it, cells); empty rows left out
    encoding: str | None = None  # CSV: the encoding the bytes were read in


def detect_format(data: bytes, file_name: str = "", content_type: str = "") -> FileFormat:
    """XLSX by its zip signature (whatever the name says), else CSV; legacy .xls is refused."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileFormatError(
            "tệp Excel 97–2003 (.xls) không được hỗ trợ, hãy lưu thành .xlsx hoặc CSV / "
            "legacy .xls is not supported: save the file as .xlsx or CSV"
        )
    if file_name.lower().endswith(".xlsx") or XLSX_MEDIA_TYPE in content_type:
        raise FileFormatError("tệp .xlsx bị hỏng / the .xlsx file is not a valid workbook")
    return "csv"


def read_table(data: bytes, file_name: str = "", content_type: str = "", sheet: str | None = None) -> Table:
    if not data.strip():
        raise FileFormatError("tệp rỗng / the file is empty")
    fmt = detect_format(data, file_name, content_type)
    if fmt == "xlsx":
        return Table("xlsx", _bounded(_xlsx_rows(data, sheet)))
    text, encoding = decode_csv(data)
    return Table("csv", _bounded(_csv_rows(text)), encoding)


# -- CSV -----------------------------------------------------------------------------------------


def decode_csv(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read in."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _nfc(data[3:].decode("utf-8", errors="strict"), "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _nfc(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError as exc:
            raise FileFormatError("tệp UTF-16 bị hỏng / invalid UTF-16 text") from exc
    try:
        return _nfc(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Windows-1258 maps almost every byte, so it is the last resort, not a detection.
        return _nfc(data.decode("cp1258"), "cp1258")
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            "không đọc được bảng mã của tệp (hỗ trợ UTF-8, UTF-16, Windows-1258) / "
            "unknown text encoding (UTF-8, UTF-16 and Windows-1258 are supported)"
        ) from exc


def _nfc(text: str, encoding: str) -> tuple[str, str]:
    if "\x00" in text:
        raise FileFormatError("tệp chứa ký tự NUL, không phải CSV / the file holds NUL characters: not a CSV")
    return unicodedata.normalize("NFC", text), encoding


def _delimiter(text: str) -> str:
    sample = text[:_SNIFF_BYTES]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        # One column, or too irregular to tell: count on the first line.
        first = sample.split("\n", 1)[0]
        return max(",;\t", key=first.count)


def _csv_rows(text: str) -> Iterator[tuple[int, list[Cell]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    try:
        for number, record in enumerate(reader, start=1):
            yield number, list(record)
    except csv.Error as exc:
        raise FileFormatError(f"CSV không hợp lệ / invalid CSV: {exc}") from exc


# -- XLSX ----------------------------------------------------------------------------------------


def _xlsx_rows(data: bytes, sheet: str | None) -> Iterator[tuple[int, list[Cell]]]:
    # openpyxl is imported here: only imports of XLSX files pay for it.
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FileFormatError("tệp .xlsx bị hỏng / the .xlsx file is not a valid workbook") from exc
    if inflated > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise FileFormatError("tệp .xlsx giải nén quá lớn / the .xlsx file inflates beyond the limit")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on malformed input; all mean "not a workbook"
        raise FileFormatError("tệp .xlsx bị hỏng / the .xlsx file is not a valid workbook") from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise FileFormatError(f"không có trang tính {sheet!r} / no worksheet named {sheet!r}")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, [_xlsx_cell(v) for v in values]
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError("tệp .xlsx bị hỏng / the .xlsx file is not a valid workbook") from exc
    finally:
        workbook.close()


def _xlsx_cell(value: object) -> Cell:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if value is None or isinstance(value, int | float | bool | date | datetime | time):
        return value
    return str(value)  # e.g. an error value such as "#N/A" in some openpyxl versions


# -- both ----------------------------------------------------------------------------------------


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _bounded(rows: Iterator[tuple[int, list[Cell]]]) -> list[tuple[int, list[Cell]]]:
    """Non-empty rows with trailing empty cells dropped; refuses files over the size limits."""
    out: list[tuple[int, list[Cell]]] = []
    for number, cells in rows:
        while cells and _blank(cells[-1]):
            cells.pop()
        if not cells:
            continue
        if len(cells) > MAX_COLUMNS:
            raise FileFormatError(f"dòng {number} có quá {MAX_COLUMNS} cột / row {number} has too many columns")
        out.append((number, cells))
        if len(out) > MAX_ROWS + 10:  # + a few title rows above the header
            raise FileFormatError(f"tệp có quá {MAX_ROWS} dòng / the file has over {MAX_ROWS} rows")
    return out
