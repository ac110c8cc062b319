"""A table and a stream mapping → the stream's push-API items, one per data row, or row errors.

The header row is the first row (as the spreadsheet numbers it) that names most of the mapped
columns among the first few rows, so a title above the table ("BÁO CÁO KẾT QUẢ CHI TRẢ THÁNG
10/2024") does no harm. Rows below it become items; empty rows and totals rows ("Tổng cộng", with
no locality code) are skipped. Every error names the row as the spreadsheet shows it and the
column by the header text the file uses. Record ids are derived from the file's SHA-256 and the
row number, so the same file always yields the same items. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.fileimport.headers import header_key
from ingest.fileimport.mapping import Column, StreamMapping, header_keys
from ingest.fileimport.read import Cell, Table
from ingest.fileimport.values import CellError, convert, is_blank

HEADER_SEARCH_ROWS = 10
MAX_ERRORS = 500  # a file with more errors than this is reported with the first ones
TOTAL_LABELS = frozenset({"tong cong", "tong", "cong", "tong so", "toan tinh", "toan thanh pho", "total"})
LOCALITY_CODES = ("locality.commune_code", "locality.province_code")
PAYMENT_CHANNELS = ("paid_bank", "paid_card", "paid_ewallet", "paid_cash")
# Field names as the stream ingesters quote them at the start of a message ("paid_total: must be ...").
_FIELD_NAME = re.compile(r"\b([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?)\b")
# Ingester reasons that are about a column not named in their message.
_REASON_FIELDS = {
    "unknown_locality": ("locality.",), "ambiguous_legacy_locality": ("locality.",),
    "locality_mismatch": ("locality.",), "missing_locality": ("locality.",),
    "locality_out_of_scope": ("locality.",), "unknown_programme": ("programme",),
}  # fmt: skip


@dataclass(frozen=True)
class RowError:
    row: int | None  # as the spreadsheet numbers it; None for the file as a whole
    columns: tuple[str, ...]  # header texts as the file has them (or the expected header, if missing)
    reason: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": ", ".join(self.columns) or None, "reason": self.reason,
                "message": self.message}  # fmt: skip

    def __str__(self) -> str:
        where = f"dòng {self.row} / row {self.row}" if self.row else "tệp / file"
        if self.columns:
            where += f", cột / column «{', '.join(self.columns)}»"
        return f"{where}: {self.message}"


class LayoutError(ValueError):
    """The file's columns do not fit the stream (a required column missing, one header twice)."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class Layout:
    header_row: int
    positions: dict[str, tuple[int, str]]  # field → (cell index, header text in the file)
    ignored: list[str]  # headers no column uses

    def header_of(self, field_path: str) -> str | None:
        hit = self.positions.get(field_path)
        return hit[1] if hit else None


@dataclass(frozen=True)
class ItemRow:
    row: int
    item: dict[str, Any]


@dataclass
class Conversion:
    layout: Layout
    items: list[ItemRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # totals rows


# -- headers -------------------------------------------------------------------------------------


def find_layout(table: Table, mapping: StreamMapping) -> Layout:
    by_key: dict[str, Column] = {header_key(h): c for c in mapping.columns for h in c.headers}
    best: tuple[int, int, list[Cell]] | None = None
    for number, cells in table.rows[:HEADER_SEARCH_ROWS]:
        hits = sum(1 for cell in cells if any(k in by_key for k in header_keys(cell)))
        if hits >= 2 and (best is None or hits > best[0]):
            best = (hits, number, cells)
    if best is None:
        expected = ", ".join(f"«{c.header}»" for c in mapping.columns if c.required)
        raise LayoutError([RowError(None, (), "no_header_row",
                                    "không tìm thấy dòng tiêu đề cột / no header row found; "
                                    f"expected columns such as {expected}")])  # fmt: skip
    _, header_row, cells = best
    positions: dict[str, tuple[int, str]] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    for index, cell in enumerate(cells):
        if is_blank(cell):
            continue
        text = " ".join(str(cell).split())
        column = next((by_key[k] for k in header_keys(cell) if k in by_key), None)
        if column is None:
            ignored.append(text)
        elif column.field in positions:
            errors.append(RowError(header_row, (positions[column.field][1], text), "duplicate_column",
                                   "hai cột cùng một nội dung / two columns hold the same field"))  # fmt: skip
        else:
            positions[column.field] = (index, text)
    for column in mapping.columns:
        if column.required and column.field not in positions:
            errors.append(RowError(header_row, (column.header,), "missing_column",
                                   f"thiếu cột «{column.header}» / missing column «{column.header}»"))  # fmt: skip
    groups = {c.group for c in mapping.columns if c.group}
    for group in sorted(groups):
        members = [c for c in mapping.columns if c.group == group]
        if not any(c.field in positions or c.field in mapping.constants for c in members):
            names = " / ".join(c.header for c in members)
            errors.append(RowError(header_row, (names,), "missing_column",
                                   f"cần một trong các cột «{names}» / one of these columns is needed"))  # fmt: skip
    if errors:
        raise LayoutError(errors)
    return Layout(header_row, positions, ignored)


# -- rows ----------------------------------------------------------------------------------------


def record_id(sha256: str, row: int) -> str:
    """The same file gives the same ids; another file (other bytes) gives others."""
    return f"file:{sha256[:32]}:{row}"


def build_items(
    table: Table,
    mapping: StreamMapping,
    *,
    sha256: str,
    now: datetime,
    lookups: Mapping[str, Mapping[str, str]] | None = None,
) -> Conversion:
    """Every data row as an item, or its cell errors. Raises LayoutError for the file as a whole."""
    layout = find_layout(table, mapping)
    out = Conversion(layout)
    columns = [(c, layout.positions[c.field]) for c in mapping.columns if c.field in layout.positions]
    for number, cells in table.rows:
        if number <= layout.header_row:
            continue
        if _is_total(cells, layout):
            out.skipped.append(number)
            continue
        item: dict[str, Any] = {"record_id": record_id(sha256, number)}
        for field_path, value in mapping.constants.items():
            if value is not None:
                _put(item, field_path, value)
        failed_cells = False
        for column, (index, header) in columns:
            cell = cells[index] if index < len(cells) else None
            try:
                value = convert(cell, column.kind, column.width, now)
            except CellError as exc:
                failed_cells = True
                if len(out.errors) < MAX_ERRORS:
                    out.errors.append(RowError(number, (header,), "invalid_cell", str(exc)))
                continue
            if value is not None and column.lookup and lookups and column.lookup in lookups:
                value = resolve_name(str(value), lookups[column.lookup])
            if value is not None:
                _put(item, column.field, value)
        if not failed_cells:
            _complete(mapping.stream, item, layout, now)
            out.items.append(ItemRow(number, item))
    return out


def _is_total(cells: list[Cell], layout: Layout) -> bool:
    """A "Tổng cộng" row: a totals label somewhere, and no locality code (a label may sit in the
    code column itself, merged across the first cells)."""
    for field_path in LOCALITY_CODES:
        hit = layout.positions.get(field_path)
        if hit and hit[0] < len(cells) and any(ch.isdigit() for ch in str(cells[hit[0]] or "")):
            return False
    return any(isinstance(c, str) and header_key(c) in TOTAL_LABELS for c in cells)


def _put(item: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = item
    for name in parents:
        target = target.setdefault(name, {})
    target[leaf] = value


def _complete(stream: str, item: dict[str, Any], layout: Layout, now: datetime) -> None:
    """What a report leaves implicit, filled in the way the department means it."""
    if stream != "payout":
        return
    if "paid_total" not in layout.positions and all(isinstance(item.get(c), int) for c in PAYMENT_CHANNELS):
        item["paid_total"] = sum(item[c] for c in PAYMENT_CHANNELS)
    by_reason = any(f.startswith("failures.") for f in layout.positions)
    if by_reason and "failed" not in layout.positions:
        item["failed"] = sum(v for v in item.get("failures", {}).values() if isinstance(v, int))
    elif not by_reason and isinstance(item.get("failed"), int):
        # Without a breakdown by reason, the failures are booked under "other" (Lý do khác).
        item["failures"] = {"other": item["failed"]} if item["failed"] else {}
    item.setdefault("reported_at", now.isoformat())  # no report date: as of its arrival


def resolve_name(value: str, table: Mapping[str, str]) -> str:
    """A code or a name (or a distinctive part of one) → the code; else the value unchanged."""
    key = header_key(value)
    if key in table:
        return table[key]
    if len(key) >= 6:
        hits = {code for name, code in table.items() if key in name}
        if len(hits) == 1:
            return hits.pop()
    return value


def name_table(entries: Sequence[tuple[str, ...]]) -> dict[str, str]:
    """(code, name, other name, ...) rows → a lookup from every header_key form to the code."""
    out: dict[str, str] = {}
    for code, *names in entries:
        for name in (code, *names):
            if name:
                out.setdefault(header_key(name), code)
    return out


# -- errors from the ingester --------------------------------------------------------------------


def columns_for(result: Mapping[str, Any], layout: Layout) -> tuple[str, ...]:
    """The file's headers behind an ingester's refusal: the fields its message names, else the
    fields its reason is about."""
    message = str(result.get("message", ""))
    named: list[str] = []
    for match in _FIELD_NAME.finditer(message.split(" / ")[0] if " / " in message else message):
        header = _header_for(match.group(1), layout)
        if header and header not in named:
            named.append(header)
    if not named:
        for prefix in _REASON_FIELDS.get(str(result.get("reason")), ()):
            for field_path, (_, header) in sorted(layout.positions.items(), key=lambda kv: kv[1][0]):
                if field_path.startswith(prefix) and header not in named:
                    named.append(header)
    return tuple(named)


def _header_for(name: str, layout: Layout) -> str | None:
    if name in layout.positions:
        return layout.positions[name][1]
    if name == "failures":  # "the counts in failures must add up to failed"
        hits = [h for f, (_, h) in layout.positions.items() if f.startswith("failures.")]
        return ", ".join(hits) if hits else None
    return None
