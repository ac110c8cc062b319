"""A Document as an XLSX workbook (openpyxl): one sheet, the title block, then each table.

Numbers are stored as numbers with a number format (a share as 0.915 shown as 91.5%), so the
sheet can be summed and sorted; a missing value is the text "—".
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ioc.reports.formatting import MISSING, XLSX_FORMATS
from ioc.reports.layout import Cell, Document, Table

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLE = "Báo cáo"
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", start_color="DCE6F1")
_WRAP = Alignment(wrap_text=True, vertical="top")
_WRAP_RIGHT = Alignment(wrap_text=True, vertical="top", horizontal="right")


def render_xlsx(doc: Document) -> bytes:
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.title = SHEET_TITLE
    book.properties.title = doc.title_vi
    book.properties.creator = "IOC — Trung tâm giám sát, điều hành thông minh"
    width = max(len(t.columns) for t in doc.tables) if doc.tables else 1
    _set_widths(sheet, doc)

    row = 1
    row = _merged_line(sheet, row, width, doc.title_vi, Font(bold=True, size=14))
    row = _merged_line(sheet, row, width, doc.title_en, Font(italic=True, color="555555"))
    for line in doc.lines:
        row = _merged_line(sheet, row, width, line, Font())
    row += 1
    for table in doc.tables:
        row = _table(sheet, row, table) + 1
    for note in doc.notes:
        row = _merged_line(sheet, row, width, note, Font(italic=True, size=9, color="555555"))

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _set_widths(sheet: Worksheet, doc: Document) -> None:
    widths: dict[int, float] = {}
    for table in doc.tables:
        for i, column in enumerate(table.columns, 1):
            widths[i] = max(widths.get(i, 0.0), column.width * 9)
    for i, w in widths.items():
        sheet.column_dimensions[get_column_letter(i)].width = w


def _merged_line(sheet: Worksheet, row: int, width: int, text: str, font: Font) -> int:
    cell = sheet.cell(row=row, column=1, value=text)
    cell.font = font
    cell.alignment = Alignment(wrap_text=False, vertical="top")
    if width > 1:
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    return row + 1


def _table(sheet: Worksheet, row: int, table: Table) -> int:
    sheet.cell(row=row, column=1, value=table.title).font = Font(bold=True, size=12)
    row += 1
    for i, column in enumerate(table.columns, 1):
        vi = sheet.cell(row=row, column=i, value=column.title_vi)
        vi.font, vi.fill, vi.border, vi.alignment = Font(bold=True), _HEADER_FILL, _BOX, _WRAP
        en = sheet.cell(row=row + 1, column=i, value=column.title_en)
        en.font, en.fill, en.border, en.alignment = Font(italic=True, size=9, color="555555"), _HEADER_FILL, _BOX, _WRAP
    row += 2
    if not table.rows:
        sheet.cell(row=row, column=1, value=table.empty_text).font = Font(italic=True)
        row += 1
    for cells in table.rows:
        _row(sheet, row, cells, bold=False)
        row += 1
    if table.total is not None:
        _row(sheet, row, table.total, bold=True)
        row += 1
    return row


def _row(sheet: Worksheet, row: int, cells: tuple[Cell, ...], *, bold: bool) -> None:
    for i, cell in enumerate(cells, 1):
        numeric = cell.kind != "text"
        value = cell.value if cell.value is not None else MISSING
        target = sheet.cell(row=row, column=i, value=value)
        target.border = _BOX
        target.alignment = _WRAP_RIGHT if numeric else _WRAP
        if bold:
            target.font = Font(bold=True)
        if numeric and cell.value is not None and cell.kind in XLSX_FORMATS:
            target.number_format = XLSX_FORMATS[cell.kind]
