"""A Document as a PDF (reportlab), A4 landscape, with DejaVu Sans embedded for the diacritics.

Numbers print the Vietnamese way ('1.234', '91,5%'). Table headers repeat on every page; each
page carries its number.
"""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ioc.reports.fonts import register_fonts
from ioc.reports.layout import Cell, Document
from ioc.reports.layout import Table as DocTable

MEDIA_TYPE = "application/pdf"
PAGE = landscape(A4)
MARGIN = 14 * mm


class _Styles:
    def __init__(self, regular: str, bold: str) -> None:
        self.regular, self.bold = regular, bold
        self.title = ParagraphStyle("title", fontName=bold, fontSize=14, leading=18, alignment=TA_CENTER)
        self.subtitle = ParagraphStyle("subtitle", fontName=regular, fontSize=10, leading=13, alignment=TA_CENTER,
                                       textColor=colors.HexColor("#555555"))  # fmt: skip
        self.line = ParagraphStyle("line", fontName=regular, fontSize=10, leading=13)
        self.heading = ParagraphStyle("heading", fontName=bold, fontSize=11.5, leading=15, spaceBefore=8,
                                      spaceAfter=4)  # fmt: skip
        self.header = ParagraphStyle("header", fontName=bold, fontSize=8.5, leading=10.5, alignment=TA_CENTER)
        self.cell = ParagraphStyle("cell", fontName=regular, fontSize=8.5, leading=10.5)
        self.number = ParagraphStyle("number", parent=self.cell, alignment=TA_RIGHT)
        self.total = ParagraphStyle("total", parent=self.cell, fontName=bold)
        self.total_number = ParagraphStyle("total_number", parent=self.number, fontName=bold)
        self.note = ParagraphStyle("note", fontName=regular, fontSize=8, leading=10,
                                   textColor=colors.HexColor("#555555"))  # fmt: skip


def _markup(text: str) -> str:
    return "<br/>".join(escape(part) for part in text.split("\n"))


def render_pdf(doc: Document, font_dir: Path) -> bytes:
    regular, bold = register_fonts(font_dir)
    styles = _Styles(regular, bold)
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN,
        title=doc.title_vi, author="IOC — Trung tâm giám sát, điều hành thông minh", subject=doc.title_en,
        creator="IOC",
    )  # fmt: skip
    story: list[Flowable] = [
        Paragraph(_markup(doc.title_vi), styles.title),
        Paragraph(_markup(doc.title_en), styles.subtitle),
        Spacer(1, 4 * mm),
        *(Paragraph(_markup(line), styles.line) for line in doc.lines),
    ]
    for table in doc.tables:
        story.append(Paragraph(_markup(table.title), styles.heading))
        story.append(_table(table, styles, template.width))
    story.append(Spacer(1, 4 * mm))
    story.extend(Paragraph(_markup(note), styles.note) for note in doc.notes)

    def footer(canvas: Canvas, _template: object) -> None:
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.drawRightString(PAGE[0] - MARGIN, 8 * mm, f"Trang {canvas.getPageNumber()}")
        canvas.drawString(MARGIN, 8 * mm, doc.title_vi[:90])
        canvas.restoreState()

    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _table(table: DocTable, styles: _Styles, width: float) -> Flowable:
    if not table.rows and table.total is None:
        return Paragraph(_markup(table.empty_text), styles.line)
    header = [
        Paragraph(f"{escape(c.title_vi)}<br/><font name='{styles.regular}' size='7'>{escape(c.title_en)}</font>",
                  styles.header)
        for c in table.columns
    ]  # fmt: skip
    body = [[_cell(c, styles, total=False) for c in cells] for cells in table.rows]
    if not table.rows:
        body.append([Paragraph(_markup(table.empty_text), styles.cell)] + [""] * (len(table.columns) - 1))
    if table.total is not None:
        body.append([_cell(c, styles, total=True) for c in table.total])
    total_width = sum(c.width for c in table.columns)
    flowable = Table([header, *body], colWidths=[width * c.width / total_width for c in table.columns], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DCE6F1")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if not table.rows:
        style.append(("SPAN", (0, 1), (-1, 1)))
    if table.total is not None:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#F2F2F2")))
    flowable.setStyle(TableStyle(style))
    return flowable


def _cell(cell: Cell, styles: _Styles, *, total: bool) -> Paragraph:
    numeric = cell.kind != "text"
    style = (styles.total_number if numeric else styles.total) if total else (styles.number if numeric else styles.cell)
    return Paragraph(_markup(cell.text), style)
