"""Matrix examples for file imports and the connector admin routes."""

from __future__ import annotations

import base64
from typing import Any

from tests.access.matrix_support import Call, Example, World, mentions, next_id
from tests.integration.import_support import PAYOUT_HEADERS, csv_bytes, payout_row

HANOI_COMMUNE, HCMC_COMMUNE = ("00004", "Phường Ba Đình"), ("25747", "Phường Thủ Dầu Một")


def import_file(w: World, variant: str) -> Call:
    """A one-row payout report for the in- or out-of-scope province; new bytes every call."""
    code, name = HANOI_COMMUNE if variant == "in" else HCMC_COMMUNE
    data = csv_bytes(PAYOUT_HEADERS, [payout_row(code, name, due=2000 + next_id())])
    return Call("/api/v1/imports/payout", json={"file_name": "bao-cao.csv", "content_base64": base64.b64encode(data)
                                                .decode()})  # fmt: skip


def ledger_rows(w: World, variant: str) -> Call:
    """Imports by someone else for each province, made once: a scoped reader sees only the first."""
    if "imports" not in w.cache:
        for marker, province in (("MX-IN-IMPORT", "01"), ("MX-OUT-IMPORT", "79")):
            w.sql("INSERT INTO file_import (stream, source_id, file_name, sha256, byte_size, imported_by, outcome,"
                  " localities) VALUES ('payout', 'file-import', %s, %s, 10, 'user:someone-else', 'imported',"
                  " jsonb_build_array(jsonb_build_array(%s::text, ''))) RETURNING id",
                  [marker, f"{next_id():064x}", province])  # fmt: skip
        w.cache["imports"] = True
    return Call("/api/v1/imports")


def victim_connector(w: World) -> str:
    connector_id = f"victim-{next_id()}"
    w.sql("INSERT INTO connector (id, stream, source_id, base_url) VALUES (%s, 'payout', 'test-source',"
          " 'http://127.0.0.1:9/records') RETURNING id", [connector_id])  # fmt: skip
    return f"/api/v1/admin/connectors/{connector_id}"


def connector_body(w: World, variant: str) -> dict[str, Any]:
    return {"stream": "payout", "source_id": "test-source", "base_url": "http://127.0.0.1:9/records"}


# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/api/v1/imports/{stream}"): Example(import_file),
    ("GET", "/api/v1/imports"): Example(ledger_rows, leaked=lambda w, body: mentions(body, "MX-OUT-IMPORT")),
    ("GET", "/api/v1/admin/connectors"): Example(lambda w, v: Call("/api/v1/admin/connectors")),
    ("GET", "/api/v1/admin/connectors/{connector_id}"): Example(lambda w, v: Call(victim_connector(w))),
    ("PUT", "/api/v1/admin/connectors/{connector_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/connectors/new-{next_id()}", json=connector_body(w, v))
    ),
    ("DELETE", "/api/v1/admin/connectors/{connector_id}"): Example(lambda w, v: Call(victim_connector(w))),
}
# fmt: on
