"""Import one report file: read, convert, validate it whole, and write it whole or not at all.

1. The `file_import` ledger is asked first: the same bytes already imported into this stream
   answer "already imported" with the first import's id, and nothing else happens.
2. The file is read and every row converted (pure: ingest/fileimport/rows.py).
3. In one transaction, under an advisory lock on (stream, SHA-256) so that two uploads of one
   file cannot both pass step 1: the stream's ingester validates every item (atomic=True). If
   any row failed — a cell that is no number, or an item the ingester refuses — the transaction
   is rolled back: nothing is written, and the answer lists each error with its row number and
   column. Otherwise the rows, the ledger row and the audit row commit together.

A rejected attempt is recorded in the ledger and the audit trail too (in a transaction of its
own, after the rollback), so the centre can see who sent what and why it was refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import orjson

from ingest.batch import BatchContext, BatchOutcome, BatchRejected, StreamIngester
from ingest.fileimport.mapping import StreamMapping
from ingest.fileimport.read import FileFormatError, Table, read_table
from ingest.fileimport.rows import Conversion, LayoutError, RowError, build_items, columns_for, name_table
from ioc.auth import audit
from ioc.auth.audit import Origin
from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue
from ioc.localities.resolve import LocalityError, LocalityRef, resolve

Outcome = Literal["imported", "rejected", "already_imported"]
DEFAULT_SOURCE = "file-import"  # migrations/013: a keyless source for files people import
LEDGER_ERRORS = 200  # errors kept in the ledger row of a rejected file

SELECT_IMPORTED = """
SELECT id, imported_at, row_count FROM file_import WHERE stream = %s AND sha256 = %s AND outcome = 'imported'
"""
LOCK_FILE = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7311042013))"
INSERT_LEDGER = """
INSERT INTO file_import (stream, source_id, file_name, sha256, byte_size, format, imported_by, row_count,
                         accepted, duplicate, outcome, errors, localities)
VALUES (%(stream)s, %(source)s, %(file_name)s, %(sha256)s, %(size)s, %(format)s, %(actor)s, %(rows)s,
        %(accepted)s, %(duplicate)s, %(outcome)s, %(errors)s::jsonb, %(localities)s::jsonb)
RETURNING id
"""
SELECT_PROGRAMME_NAMES = "SELECT code, name_vi, name_en FROM payout_programme"


@dataclass(frozen=True)
class Upload:
    data: bytes
    file_name: str = ""
    content_type: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Uploader:
    actor: str  # "user:<name>", "cli:<os user>"
    role: str | None
    origin: Origin | None = None


@dataclass
class ImportReport:
    outcome: Outcome
    import_id: int
    stream: str
    sha256: str
    format: str = ""
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    errors: list[RowError] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # one per data row
    skipped_rows: list[int] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    first_imported_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id, "outcome": self.outcome, "message": self.message, "stream": self.stream,
            "sha256": self.sha256, "format": self.format, "rows": self.rows, "accepted": self.accepted,
            "duplicate": self.duplicate, "rejected": len(self.errors),
            "errors": [e.as_dict() for e in self.errors], "results": self.results,
            "skipped_rows": self.skipped_rows, "ignored_columns": self.ignored_columns,
            "first_imported_at": self.first_imported_at.isoformat() if self.first_imported_at else None,
        }  # fmt: skip

    @property
    def message(self) -> str:
        if self.outcome == "imported":
            return f"Đã nhập {self.rows} dòng / imported {self.rows} rows"
        if self.outcome == "already_imported":
            return (f"Tệp này đã được nhập (lần nhập #{self.import_id}), không ghi gì thêm / "
                    f"this file was already imported (import #{self.import_id}); nothing was written")  # fmt: skip
        return (f"Tệp bị từ chối, không ghi dòng nào: {len(self.errors)} lỗi / "
                f"file rejected, nothing was written: {len(self.errors)} error(s)")  # fmt: skip


@dataclass(frozen=True)
class FirstImport:
    id: int
    imported_at: datetime
    rows: int


class _RollBack(Exception):
    """Leaves the validation transaction without writing."""


async def import_file(
    conn: Conn,
    upload: Upload,
    *,
    ingester: StreamIngester,
    mapping: StreamMapping,
    ctx: BatchContext,
    uploader: Uploader,
) -> ImportReport:
    """Import `upload` into `ingester`'s stream. `conn` must be idle (not inside a transaction):
    each step runs in a transaction of its own."""
    stream, sha256 = ingester.stream, upload.sha256
    async with conn.transaction():
        first = await _already_imported(conn, stream, sha256)
        lookups = await _lookups(conn, stream)
    if first is not None:
        return await _answer_already(conn, first, stream, sha256, upload, uploader)
    table: Table | None = None
    try:
        table = read_table(upload.data, upload.file_name, upload.content_type, mapping.sheet)
        conversion = build_items(table, mapping, sha256=sha256, now=ctx.now, lookups=lookups)
    except FileFormatError as exc:
        return await _reject(conn, upload, stream, ctx, uploader, "", [RowError(None, (), "unreadable_file", str(exc))])
    except LayoutError as exc:
        return await _reject(conn, upload, stream, ctx, uploader, table.format if table else "", exc.errors)
    if not conversion.items and not conversion.errors:
        error = RowError(None, (), "no_rows", "tệp không có dòng dữ liệu / the file has no data rows")
        return await _reject(conn, upload, stream, ctx, uploader, table.format, [error], conversion)

    items = [r.item for r in conversion.items]
    outcome: BatchOutcome | None = None
    report: ImportReport | None = None
    try:
        async with conn.transaction():
            await conn.execute(LOCK_FILE, [f"file_import:{stream}:{sha256}"])
            first = await _already_imported(conn, stream, sha256)
            if first is not None:
                raise _RollBack
            try:
                outcome = await ingester.ingest(conn, items, ctx, atomic=True)
            except BatchRejected as exc:
                outcome = exc.outcome
                raise _RollBack from exc
            if conversion.errors:
                raise _RollBack
            report = _report("imported", 0, stream, sha256, table, conversion, outcome)
            report.import_id = await _ledger(conn, upload, stream, ctx, uploader, report, conversion)
            await _audit(conn, uploader, report, upload)
    except _RollBack:
        pass
    if report is not None:
        return report
    if first is not None:
        return await _answer_already(conn, first, stream, sha256, upload, uploader)
    errors = list(conversion.errors)
    if outcome is not None:
        errors.extend(_ingest_errors(outcome, conversion))
    errors.sort(key=lambda e: e.row or 0)
    return await _reject(conn, upload, stream, ctx, uploader, table.format, errors, conversion, outcome)


# -- steps ---------------------------------------------------------------------------------------


async def _already_imported(conn: Conn, stream: str, sha256: str) -> FirstImport | None:
    cur = await conn.execute(SELECT_IMPORTED, [stream, sha256])
    row: Any = await cur.fetchone()
    return FirstImport(int(row[0]), row[1], int(row[2])) if row else None


async def _lookups(conn: Conn, stream: str) -> dict[str, dict[str, str]]:
    if stream != "payout":
        return {}
    cur = await conn.execute(SELECT_PROGRAMME_NAMES)
    rows: list[Any] = await cur.fetchall()
    return {"programme": name_table([tuple(str(v) for v in row) for row in rows])}


def _report(
    outcome: Outcome, import_id: int, stream: str, sha256: str, table: Table | None,
    conversion: Conversion | None, batch: BatchOutcome | None,
) -> ImportReport:  # fmt: skip
    report = ImportReport(outcome, import_id, stream, sha256, table.format if table else "")
    if conversion is None:
        return report
    report.rows = len(conversion.items) + len({e.row for e in conversion.errors if e.row})
    report.skipped_rows = conversion.skipped
    report.ignored_columns = conversion.layout.ignored
    if batch is not None:
        report.results = [_row_result(r, conversion, rolled_back=outcome != "imported") for r in batch.results]
        report.accepted = 0 if outcome != "imported" else batch.count("accepted")
        report.duplicate = batch.count("duplicate")
    unreadable: dict[int, RowError] = {}
    for error in conversion.errors:
        if error.row is not None:
            unreadable.setdefault(error.row, error)
    report.results.extend(
        {"row": e.row, "status": "rejected", "reason": e.reason, "message": e.message, "column": ", ".join(e.columns)}
        for e in unreadable.values()
    )
    report.results.sort(key=lambda r: int(r["row"]))
    return report


def _row_result(result: dict[str, Any], conversion: Conversion, *, rolled_back: bool) -> dict[str, Any]:
    """An ingester result as the uploader reads it: by row, and "valid" (not "accepted") for a
    good row of a rejected file, since nothing of that file was written."""
    row = conversion.items[result["index"]].row
    out = {"row": row, **{k: v for k, v in result.items() if k != "index"}}
    if rolled_back and out["status"] == "accepted":
        out["status"] = "valid"
    if out["status"] == "rejected":
        out["column"] = ", ".join(columns_for(result, conversion.layout)) or None
    return out


def _ingest_errors(batch: BatchOutcome, conversion: Conversion) -> list[RowError]:
    return [
        RowError(conversion.items[r["index"]].row, columns_for(r, conversion.layout), str(r.get("reason", "")),
                 str(r.get("message", "")))
        for r in batch.results if r["status"] == "rejected"
    ]  # fmt: skip


def _localities(conversion: Conversion | None, catalogue: LocalityCatalogue) -> list[list[str]]:
    """The (province, commune or '') pairs a file's rows name, for scope-filtered listing."""
    pairs: set[tuple[str, str]] = set()
    known = {f.name for f in fields(LocalityRef)}
    for item_row in conversion.items if conversion else ():
        place = item_row.item.get("locality")
        if not isinstance(place, dict):
            continue
        try:
            found = resolve(LocalityRef(**{k: str(v) for k, v in place.items() if k in known}), catalogue)
        except LocalityError:
            continue  # such a row is refused; it names no place to list the file under
        pairs.add((found.province_code, found.commune_code or ""))
    return [list(p) for p in sorted(pairs)]


async def _ledger(
    conn: Conn, upload: Upload, stream: str, ctx: BatchContext, uploader: Uploader, report: ImportReport,
    conversion: Conversion | None,
) -> int:  # fmt: skip
    cur = await conn.execute(INSERT_LEDGER, {
        "stream": stream, "source": ctx.source_id, "file_name": upload.file_name[:255], "sha256": report.sha256,
        "size": len(upload.data), "format": report.format, "actor": uploader.actor, "rows": report.rows,
        "accepted": report.accepted, "duplicate": report.duplicate,
        "outcome": "imported" if report.outcome == "imported" else "rejected",
        "errors": orjson.dumps([e.as_dict() for e in report.errors[:LEDGER_ERRORS]]).decode(),
        "localities": orjson.dumps(_localities(conversion, ctx.catalogue)).decode(),
    })  # fmt: skip
    row: Any = await cur.fetchone()
    return int(row[0])


async def _audit(conn: Conn, uploader: Uploader, report: ImportReport, upload: Upload) -> None:
    await audit.record(
        conn, actor=uploader.actor, actor_role=uploader.role, action="import.file",
        target=f"file_import:{report.import_id}", outcome="ok" if report.outcome != "rejected" else "failed",
        origin=uploader.origin,
        details={"stream": report.stream, "outcome": report.outcome, "sha256": report.sha256,
                 "file_name": upload.file_name[:255], "rows": report.rows, "errors": len(report.errors)},
    )  # fmt: skip


async def _reject(
    conn: Conn, upload: Upload, stream: str, ctx: BatchContext, uploader: Uploader, fmt: str,
    errors: Sequence[RowError], conversion: Conversion | None = None, batch: BatchOutcome | None = None,
) -> ImportReport:  # fmt: skip
    report = _report("rejected", 0, stream, upload.sha256, None, conversion, batch)
    report.format = fmt
    report.errors = list(errors)
    async with conn.transaction():
        report.import_id = await _ledger(conn, upload, stream, ctx, uploader, report, conversion)
        await _audit(conn, uploader, report, upload)
    return report


async def _answer_already(
    conn: Conn, first: FirstImport, stream: str, sha256: str, upload: Upload, uploader: Uploader
) -> ImportReport:
    # The first import's figures: this one writes nothing (accepted 0), the rows are the same.
    report = ImportReport("already_imported", first.id, stream, sha256, rows=first.rows,
                          first_imported_at=first.imported_at)  # fmt: skip
    async with conn.transaction():
        await _audit(conn, uploader, report, upload)
    return report
