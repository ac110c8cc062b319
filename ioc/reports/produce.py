"""One report for one province and month, from the database to bytes: used by the API and the schedule."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from ioc.auth.scope import Scope
from ioc.db.pool import Conn
from ioc.reports.briefing import briefing
from ioc.reports.indicator_source import IndicatorSource
from ioc.reports.late_list import late_list
from ioc.reports.layout import Document, briefing_document, late_list_document
from ioc.reports.months import window
from ioc.reports.render_pdf import MEDIA_TYPE as PDF_MEDIA_TYPE
from ioc.reports.render_pdf import render_pdf
from ioc.reports.render_xlsx import MEDIA_TYPE as XLSX_MEDIA_TYPE
from ioc.reports.render_xlsx import render_xlsx

ReportKind = Literal["late_list", "briefing"]
ReportFormat = Literal["xlsx", "pdf"]
KINDS: tuple[ReportKind, ...] = ("late_list", "briefing")
FORMATS: tuple[ReportFormat, ...] = ("xlsx", "pdf")
MEDIA_TYPES: dict[str, str] = {"xlsx": XLSX_MEDIA_TYPE, "pdf": PDF_MEDIA_TYPE}

SELECT_PROVINCE = "SELECT name FROM locality WHERE code = %s AND level = 'province'"


class UnknownProvince(LookupError):
    pass


@dataclass(frozen=True)
class RenderedReport:
    content: bytes
    media_type: str
    filename: str


async def build_document(
    conn: Conn,
    kind: ReportKind,
    scope: Scope,
    *,
    province_code: str,
    month: date,
    now: datetime,
    indicators: IndicatorSource,
) -> Document:
    """The report's content as a Document, counted over `scope` (the schedule passes the whole country)."""
    cur = await conn.execute(SELECT_PROVINCE, [province_code])
    row = await cur.fetchone()
    if row is None:
        raise UnknownProvince(province_code)
    name = str(row[0])
    month_window = window(month, now)
    if kind == "late_list":
        listed = await late_list(conn, scope, province_code=province_code, province_name=name, window=month_window,
                                 generated_at=now)  # fmt: skip
        return late_list_document(listed)
    briefed = await briefing(conn, scope, indicators, province_code=province_code, province_name=name,
                             month_window=month_window, generated_at=now)  # fmt: skip
    return briefing_document(briefed)


def render(doc: Document, fmt: ReportFormat, font_dir: Path) -> RenderedReport:
    """CPU-bound (pure Python): callers on the event loop run it in a thread (`render_in_thread`)."""
    content = render_pdf(doc, font_dir) if fmt == "pdf" else render_xlsx(doc)
    return RenderedReport(content, MEDIA_TYPES[fmt], f"{doc.file_stem}.{fmt}")


async def render_in_thread(doc: Document, fmt: ReportFormat, font_dir: Path) -> RenderedReport:
    return await asyncio.to_thread(render, doc, fmt, font_dir)
