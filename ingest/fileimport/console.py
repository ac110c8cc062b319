"""`ioc import STREAM FILE`: the same import as the upload route, from the command line.

The console is trusted like an admin (national scope); the audit trail names the operating-system
account (`cli:<user>`). Rows are printed with their errors the way the upload route answers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from psycopg import AsyncConnection

from ingest.batch import BatchContext
from ingest.fileimport.mapping import MappingError, apply_overrides, default_mapping, parse_mapping_text
from ingest.fileimport.read import MAX_ROWS
from ingest.fileimport.service import DEFAULT_SOURCE, ImportReport, Upload, Uploader, import_file
from ingest.streams import STREAM_INGESTERS
from ioc.auth.bootstrap import cli_actor
from ioc.localities.catalogue import load_catalogue
from ioc.sources import source_by_id

MAX_FILE_BYTES = 256 * 1024 * 1024  # far above any report with MAX_ROWS rows


class ConsoleError(Exception):
    """A request the console refuses before reading the file (unknown stream or source, bad mapping)."""


def import_from_console(
    url: str, stream: str, path: Path, *, source_id: str | None = None, mapping_path: Path | None = None,
    future_tolerance_seconds: int = 300,
) -> ImportReport:  # fmt: skip
    ingester = STREAM_INGESTERS.get(stream)
    if ingester is None:
        raise ConsoleError(f"không có luồng {stream!r} / no stream {stream!r} (known: {', '.join(STREAM_INGESTERS)})")
    try:
        mapping = default_mapping(stream)
        if mapping_path is not None:
            mapping = apply_overrides(mapping, parse_mapping_text(mapping_path.read_text(encoding="utf-8")))
    except (MappingError, OSError, UnicodeDecodeError) as exc:
        raise ConsoleError(f"tệp ánh xạ / mapping file: {exc}") from exc
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConsoleError(f"tệp quá lớn / file larger than {MAX_FILE_BYTES} bytes (at most {MAX_ROWS} rows)")
    upload = Upload(path.read_bytes(), path.name)

    async def run() -> ImportReport:
        async with await AsyncConnection.connect(url) as conn:
            await conn.execute("SET TIME ZONE 'UTC'")
            source = await source_by_id(conn, source_id or DEFAULT_SOURCE)
            await conn.commit()
            if source is None or source.revoked_at is not None or stream not in source.streams:
                raise ConsoleError(f"nguồn / source {source_id!r}: does not exist, is revoked or lacks {stream}")
            ctx = BatchContext(source.id, datetime.now(UTC), load_catalogue(), None, future_tolerance_seconds)
            return await import_file(conn, upload, ingester=ingester, mapping=mapping, ctx=ctx,
                                     uploader=Uploader(cli_actor(), "admin"))  # fmt: skip

    return asyncio.run(run())


def describe(report: ImportReport, *, limit: int = 50) -> str:
    """The report as lines for a terminal: the outcome, then each error by row and column."""
    lines = [f"[{report.outcome}] #{report.import_id} {report.stream}: {report.message}"]
    if report.skipped_rows:
        lines.append(f"  bỏ qua dòng tổng / totals rows skipped: {', '.join(map(str, report.skipped_rows))}")
    if report.ignored_columns:
        lines.append(f"  cột không dùng / columns not used: {', '.join(report.ignored_columns)}")
    lines.extend(f"  {error}" for error in report.errors[:limit])
    if len(report.errors) > limit:
        lines.append(f"  … {len(report.errors) - limit} lỗi nữa / more errors")
    return "\n".join(lines)
