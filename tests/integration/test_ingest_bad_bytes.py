"""Bad bytes cost one item, and a database failure never answers a bare 500.

Through the real API over a real PostgreSQL, for every stream: an item carrying text PostgreSQL
cannot store (a NUL character, a lone UTF-16 surrogate sent as a JSON escape) is refused on its
own with `invalid_field`, and the good items around it are stored. A batch whose events were
committed before the database failed is answered as stored (the projector loop applies it);
a batch the database could not take at all gets 503 with Retry-After and writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from ingest.projector import DossierProjector
from ingest.writer import DossierWriter
from tests.conftest import LiveServer
from tests.integration import id_issuance_support, payout_support
from tests.integration.ingest_support import INGEST, receipt, table_counts

pytestmark = pytest.mark.usefixtures("module_live_server")

T = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
LONE_SURROGATE = "\\ud800"  # as a JSON escape: valid JSON text, not storable UTF-8


def post_raw(server: LiveServer, path: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.post(path, content=body, headers={
            "Authorization": f"Bearer {server.api_key}", "Content-Type": content_type})  # fmt: skip


def with_surrogate(item: dict[str, Any], field: str) -> bytes:
    """The item as JSON text with a lone surrogate escape at the start of the string `field`."""
    marker = "SURROGATE-MARK"
    text = orjson.dumps(item).decode().replace(marker, LONE_SURROGATE)
    assert LONE_SURROGATE in text, field
    return text.encode()


def results_of(response: httpx.Response) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, response.text
    return [(r["status"], r.get("reason")) for r in response.json()["results"]]


def count(db_url: str, sql: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_dossier_items_with_unstorable_text_are_refused_alone(module_live_server: LiveServer) -> None:
    server = module_live_server
    nul_handler = receipt("bb-2", "BB-2", T)
    nul_handler["handler"] = {"code": "CB-1", "name": "Nguyễn\x00Văn A"}
    surrogate_agency = receipt("bb-4", "BB-4", T)
    surrogate_agency["agency"] = {"code": "UB-1", "name": "SURROGATE-MARK Ủy ban"}
    parts = [
        orjson.dumps(receipt("bb-1", "BB-1", T)), orjson.dumps(nul_handler), orjson.dumps(receipt("bb-3", "BB-3", T)),
        with_surrogate(surrogate_agency, "agency.name"), orjson.dumps(receipt("bb-5", "BB-5", T)),
    ]  # fmt: skip
    response = post_raw(server, INGEST, b"[" + b",".join(parts) + b"]")
    assert results_of(response) == [
        ("accepted", None), ("rejected", "invalid_field"), ("accepted", None), ("rejected", "invalid_field"),
        ("accepted", None),
    ]  # fmt: skip
    messages = [r.get("message", "") for r in response.json()["results"]]
    assert "handler.name" in messages[1] and "NUL" in messages[1] and "agency.name" in messages[3]
    assert count(server.db_url, "SELECT count(*) FROM dossier WHERE code LIKE 'BB-%'") == 3

    # The same as NDJSON, and an event id that cannot be echoed back is not.
    bad_id = receipt("SURROGATE-MARK", "BB-7", T)
    ndjson = b"\n".join([orjson.dumps(receipt("bb-6", "BB-6", T)), with_surrogate(bad_id, "event_id")])
    response = post_raw(server, INGEST, ndjson, "application/x-ndjson")
    assert results_of(response) == [("accepted", None), ("rejected", "invalid_field")]
    assert response.json()["results"][1]["event_id"] is None


def test_payout_and_id_records_with_unstorable_text_are_refused_alone(module_live_server: LiveServer) -> None:
    server = module_live_server
    for path, report, table in (
        (payout_support.PAYOUT_INGEST, payout_support.report, "payout_report"),
        (id_issuance_support.ID_INGEST, id_issuance_support.report, "id_issuance_report"),
    ):
        before = count(server.db_url, f"SELECT count(*) FROM {table}")
        good_1, good_2 = report("nb-1"), report("nb-3")
        nul = report("nb-\x002")
        surrogate = report("SURROGATE-MARK")
        body = b"[" + b",".join([orjson.dumps(good_1), orjson.dumps(nul), with_surrogate(surrogate, "record_id"),
                                 orjson.dumps(good_2)]) + b"]"  # fmt: skip
        response = post_raw(server, path, body)
        assert results_of(response) == [
            ("accepted", None), ("rejected", "invalid_field"), ("rejected", "invalid_field"), ("accepted", None),
        ], path  # fmt: skip
        assert count(server.db_url, f"SELECT count(*) FROM {table}") == before + 2


def test_a_batch_stored_before_the_database_failed_is_answered_as_stored(
    module_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = module_live_server

    async def fails(self: DossierProjector, conn: Any, written: Any) -> frozenset[str]:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DossierProjector, "apply", fails)
    response = server.post_events([receipt("df-1", "DF-1", T)])
    assert results_of(response) == [("accepted", None)]
    # Stored, queued for the projector loop (which applies it after its grace period).
    assert count(server.db_url, "SELECT count(*) FROM dossier_event WHERE event_id = 'df-1'") == 1
    assert count(server.db_url, "SELECT count(*) FROM dossier_projection_queue WHERE 'DF-1' = ANY(dossier_codes)") == 1


def test_a_batch_the_database_could_not_take_gets_503_with_retry_after(
    module_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = module_live_server

    async def unreachable(self: DossierWriter, *args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("connection refused")

    before = table_counts(server.db_url)
    monkeypatch.setattr(DossierWriter, "write", unreachable)
    response = server.post_events([receipt("du-1", "DU-1", T)])
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "nothing was written" in response.json()["detail"]
    monkeypatch.undo()
    assert table_counts(server.db_url) == before
