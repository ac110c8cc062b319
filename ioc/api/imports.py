"""Report files departments send (CSV, XLSX), uploaded at the command centre; and the list of imports.

POST /api/v1/imports/{stream} takes the file as multipart/form-data (field `file`, optionally
`mapping` with a mapping file's JSON or YAML), as a raw body (text/csv,
application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, application/octet-stream), or as
JSON {"file_name", "content_base64", "mapping"}. The file is imported whole or not at all
(ingest/fileimport/service.py); the answer is 200 with `outcome` imported, rejected (with row
errors naming the row as the spreadsheet numbers it and the column by its header) or
already_imported (the same bytes were imported before; nothing changes). Rows for localities
outside the uploader's scope are row errors (`locality_out_of_scope`), so such a file is rejected.

The connector admin routes (ioc/api/connectors.py) ride on this router, so the app includes one.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from ingest.batch import BatchContext
from ingest.fileimport.mapping import MappingError, apply_overrides, default_mapping, parse_mapping_text
from ingest.fileimport.read import XLSX_MEDIA_TYPE
from ingest.fileimport.service import DEFAULT_SOURCE, Upload, Uploader, import_file
from ingest.streams import STREAM_INGESTERS
from ioc.api.connectors import connectors_router
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.api.ingest import read_capped_body
from ioc.api.params import Identifier
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.scope import scope_filter_sql
from ioc.sources import source_by_id

Importer = Annotated[Principal, guard(Policy(Action.IMPORT_FILE, "items"))]
ImportReader = Annotated[Principal, guard(Policy(Action.IMPORT_FILE, "list"))]
StreamName = Literal["payout", "id_issuance"]
FileName = Annotated[str, Query(max_length=255, pattern=r"^[^\x00-\x1f\x7f/\\]*$")]
RAW_TYPES = frozenset({"text/csv", "text/plain", XLSX_MEDIA_TYPE, "application/octet-stream",
                       "application/vnd.ms-excel"})  # Windows labels .csv files as the latter  # fmt: skip

_BINARY = {"type": "string", "format": "binary"}
IMPORT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": _BINARY, "mapping": {"type": "string", "maxLength": 65536}}}},
    "text/csv": {"schema": _BINARY},  # bytes: the encoding is detected (UTF-8, UTF-16, Windows-1258)
    XLSX_MEDIA_TYPE: {"schema": _BINARY},
    "application/octet-stream": {"schema": _BINARY},
    "application/json": {"schema": {"type": "object", "required": ["content_base64"], "properties": {
        "file_name": {"type": "string", "maxLength": 255},
        "content_base64": {"type": "string"},
        "mapping": {"type": "object"}}}},
}}}  # fmt: skip
IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "thân yêu cầu không đọc được / unreadable request body"},
    404: {"description": "luồng chưa có bộ nhập / no importer for this stream"},
    413: {"description": "tệp quá lớn / file too large"},
    415: {"description": "kiểu nội dung không hỗ trợ / unsupported content type"},
    422: {"description": "tệp ánh xạ hoặc nguồn không hợp lệ / invalid mapping or source"},
}

SELECT_IMPORTS = f"""
SELECT id, stream, source_id, file_name, sha256, byte_size, format, imported_by, imported_at, row_count, accepted,
       duplicate, outcome, jsonb_array_length(errors), errors
FROM file_import f
WHERE (%(stream)s::text IS NULL OR stream = %(stream)s)
  AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
  AND (%(scope_national)s AND %(scope_agencies)s::text[] IS NULL AND %(scope_sectors)s::text[] IS NULL
       OR imported_by = %(me)s
       OR (jsonb_array_length(localities) > 0 AND NOT EXISTS (
             SELECT 1 FROM jsonb_array_elements(f.localities) AS l
             WHERE NOT {scope_filter_sql(province="(l->>0)", commune="(l->>1)", agency=None, sector=None)})))
ORDER BY id DESC
LIMIT %(limit)s
"""
IMPORT_FIELDS = ("id", "stream", "source_id", "file_name", "sha256", "byte_size", "format", "imported_by",
                 "imported_at", "row_count", "accepted", "duplicate", "outcome", "error_count", "errors")  # fmt: skip
LISTED_ERRORS = 20


async def _file_from_request(request: Request, limit: int, name: str) -> tuple[Upload, dict[str, Any] | None]:
    """The uploaded file and the mapping overrides sent with it, whatever the body's form."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in RAW_TYPES | {"multipart/form-data", "application/json"}:
        raise HTTPException(415, f"kiểu nội dung không hỗ trợ / unsupported content type {media or '(none)'}")
    body = await read_capped_body(request, limit)
    if media in RAW_TYPES:
        return Upload(body, name, media), None
    if media == "application/json":
        return _json_upload(body, name)
    return _multipart_upload(body, content_type, name)


def _json_upload(body: bytes, name: str) -> tuple[Upload, dict[str, Any] | None]:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, "không phải JSON / not JSON") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("content_base64"), str):
        raise HTTPException(400, 'cần {"content_base64": "..."} / content_base64 is required')
    try:
        data = base64.b64decode(envelope["content_base64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(400, "content_base64 không phải base64 / is not base64") from exc
    file_name = envelope.get("file_name")
    mapping = envelope.get("mapping")
    if mapping is not None and not isinstance(mapping, dict):
        raise HTTPException(422, "mapping: một đối tượng / must be an object")
    return Upload(data, file_name[:255] if isinstance(file_name, str) else name), mapping


def _multipart_upload(body: bytes, content_type: str, name: str) -> tuple[Upload, dict[str, Any] | None]:
    # The standard library's MIME parser reads form-data well enough for one file and one text
    # field, and adds no dependency; a body it cannot split is a 400.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise HTTPException(400, "multipart/form-data không hợp lệ / malformed multipart body")
    upload: Upload | None = None
    mapping: dict[str, Any] | None = None
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if field == "file" and upload is None:
            part_name = part.get_filename() or name
            upload = Upload(payload, str(part_name)[:255], part.get_content_type())
        elif field == "mapping" and payload.strip():
            try:
                mapping = parse_mapping_text(payload.decode("utf-8"))
            except (MappingError, UnicodeDecodeError) as exc:
                raise HTTPException(422, f"mapping: {exc}") from exc
    if upload is None:
        raise HTTPException(400, "thiếu trường «file» / the form has no «file» field")
    return upload, mapping


async def checked_source(request: Request, source_id: str, stream: str) -> str:
    async with app_state(request).pool.connection() as conn:
        source = await source_by_id(conn, source_id)
    if source is None or source.revoked_at is not None:
        raise HTTPException(422, f"source: không có nguồn {source_id!r} / no such source")
    if stream not in source.streams:
        raise HTTPException(422, f"source: nguồn {source_id!r} không gồm luồng {stream} / does not cover {stream}")
    return source_id


def imports_router() -> APIRouter:
    router = APIRouter(tags=["imports"])

    @router.post("/api/v1/imports/{stream}", responses=IMPORT_RESPONSES, openapi_extra=IMPORT_BODY)
    async def import_report_file(
        request: Request,
        stream: Annotated[StreamName, Path()],
        principal: Importer,
        source: Annotated[Identifier | None, Query()] = None,
        file_name: FileName = "",
    ) -> Response:
        """Import a department's report file into a stream: all rows or none."""
        state = app_state(request)
        ingester = STREAM_INGESTERS.get(stream)
        if ingester is None:
            raise HTTPException(404, f"luồng {stream} chưa nhận tệp / no importer for stream {stream}")
        upload, overrides = await _file_from_request(request, state.settings.max_body_bytes, file_name)
        try:
            mapping = default_mapping(stream)
            if overrides:
                mapping = apply_overrides(mapping, overrides)
        except MappingError as exc:
            raise HTTPException(422, f"mapping: {exc}") from exc
        source_id = await checked_source(request, source, stream) if source else DEFAULT_SOURCE
        scope = principal.scope
        ctx = BatchContext(
            source_id=source_id, now=datetime.now(UTC), catalogue=state.catalogue,
            in_scope=None if scope.unrestricted else lambda p, c: scope.allows(p, c),
            future_tolerance_seconds=state.settings.future_tolerance_seconds,
        )  # fmt: skip
        uploader = Uploader(principal.subject, principal.role.value, client_origin(request))
        async with state.pool.connection() as conn:
            report = await import_file(conn, upload, ingester=ingester, mapping=mapping, ctx=ctx, uploader=uploader)
        return Response(orjson.dumps(report.as_dict()), media_type="application/json")

    @router.get("/api/v1/imports")
    async def list_imports(
        request: Request,
        principal: ImportReader,
        stream: StreamName | None = None,
        outcome: Literal["imported", "rejected"] | None = None,
        before_id: Annotated[int | None, Query(ge=1, le=9_223_372_036_854_775_807)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Recent file imports, newest first: those whose every row lies in the caller's scope,
        and the caller's own."""
        params = {"stream": stream, "outcome": outcome, "before_id": before_id, "limit": limit,
                  "me": principal.subject, **principal.scope.sql_params()}  # fmt: skip
        async with app_state(request).pool.connection() as conn:
            cur = await conn.execute(SELECT_IMPORTS, params)
            rows: list[Any] = await cur.fetchall()
        imports = []
        for row in rows:
            item = dict(zip(IMPORT_FIELDS, row, strict=True))
            item["imported_at"] = item["imported_at"].isoformat()
            item["errors"] = item["errors"][:LISTED_ERRORS]
            imports.append(item)
        return {"imports": imports}

    router.include_router(connectors_router())
    return router
