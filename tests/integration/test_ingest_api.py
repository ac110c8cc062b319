"""The ingest API end to end: a real app in uvicorn over a real PostgreSQL.

Every item of a batch gets its own result; refused items write nothing; replays change nothing;
oversized batches and bodies are refused whole. (A dossier's life through the API — arrival
order, pauses, status — is in test_ingest_lifecycle.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.conftest import LiveServer
from tests.integration.ingest_support import (
    HCMC_WARD,
    INGEST,
    TABLES,
    dossier,
    event,
    ok,
    post_raw,
    receipt,
    scalar,
    snapshot,
    table_counts,
)

# --------------------------------------------------------------------------- the mixed batch


@dataclass(frozen=True)
class Row:
    item: Any
    status: str
    reason: str | None
    converted_from: str | None = None


def mixed_batch(now: datetime) -> list[Row]:
    t0 = now - timedelta(days=2)
    return [
        # 0 A complete receipt: accepted, and registers procedure 1.000001 and agency UBND-BD.
        Row(receipt("ev-1", "HS-A", t0, agency={"code": "UBND-BD", "name": "UBND phường Ba Đình"}), "accepted", None),
        # 1 Its resolution an hour later (no procedure needed once the dossier exists): accepted.
        Row(event("ev-2", "HS-A", "resolved", t0 + timedelta(hours=1)), "accepted", None),
        # 2 The same event_id again inside this batch: a duplicate, not a second event.
        Row(receipt("ev-1", "HS-A", t0), "duplicate", "duplicate_in_batch"),
        # 3 Commune code 99999 does not exist: rejected, and its agency/procedure are not registered.
        Row(
            receipt(
                "ev-3",
                "HS-X3",
                t0,
                locality={"commune_code": "99999"},
                agency={"code": "AG-REJ-3"},
                procedure={"code": "REJ-3", "sector": "Đất đai", "statutory_days": 5},
            ),
            "rejected",
            "unknown_locality",
        ),
        # 4 Legacy province 74 (Bình Dương, merged into TP Hồ Chí Minh on 1/7/2025): accepted as 79.
        Row(
            receipt(
                "ev-4",
                "HS-B",
                t0,
                locality={"legacy_province_code": "74"},
                procedure={"code": "1.000001"},
                channel="direct",
            ),
            "accepted",
            None,
            "legacy province 74 (Tỉnh Bình Dương)",
        ),
        # 5 Month 13, hour 25: not a time at all.
        Row(receipt("ev-5", "HS-X5", "2026-13-45T25:00:00+07:00"), "rejected", "invalid_time"),
        # 6 No UTC offset: ambiguous, so refused rather than guessed.
        Row(receipt("ev-6", "HS-X6", "2026-11-20T09:00:00"), "rejected", "invalid_time"),
        # 7 One hour ahead of the server clock, beyond the 300 s tolerance; its procedure is not registered.
        Row(
            receipt(
                "ev-7",
                "HS-X7",
                now + timedelta(hours=1),
                procedure={"code": "REJ-7", "sector": "Đất đai", "statutory_days": 5},
            ),
            "rejected",
            "future_time",
        ),
        # 8 A procedure the catalogue does not know, sent without sector and statutory_days.
        Row(receipt("ev-8", "HS-X8", t0, procedure={"code": "REJ-8"}), "rejected", "unknown_procedure"),
        # 9 A receipt without channel cannot start a dossier.
        Row(receipt("ev-9", "HS-X9", t0, channel=None, agency={"code": "AG-REJ-9"}), "rejected", "missing_field"),
        # 10 Not a JSON object.
        Row("một chuỗi", "rejected", "invalid_field"),
        # 11 An event type the lifecycle does not have.
        Row(event("ev-11", "HS-X11", "approved", t0), "rejected", "invalid_field"),
        # 12 No locality field at all.
        Row(receipt("ev-12", "HS-X12", t0, locality={}), "rejected", "missing_locality"),
        # 13 An unknown field: the schema is closed so typos are not silently dropped.
        Row({**receipt("ev-13", "HS-X13", t0), "ocurred": "x"}, "rejected", "invalid_field"),
        # 14 A minute ahead of the server clock is within tolerance (source clocks drift): accepted.
        Row(receipt("ev-14", "HS-C", now + timedelta(minutes=1), locality=HCMC_WARD), "accepted", None),
    ]


def assert_results(body: dict[str, Any], rows: list[Row], statuses: list[tuple[str, str | None]]) -> None:
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(rows)))
    for row, result, (status, reason) in zip(rows, results, statuses, strict=True):
        expected_id = row.item.get("event_id") if isinstance(row.item, dict) else None
        assert result["event_id"] == expected_id, result
        assert (result["status"], result.get("reason")) == (status, reason), result
        if reason is not None:
            assert result["message"], result
    assert body["accepted"] == sum(s == "accepted" for s, _ in statuses)
    assert body["duplicate"] == sum(s == "duplicate" for s, _ in statuses)
    assert body["rejected"] == sum(s == "rejected" for s, _ in statuses)


def test_mixed_batch_gets_exact_per_item_results_and_rejected_items_write_nothing(live_server: LiveServer) -> None:
    db = live_server.db_url
    rows = mixed_batch(datetime.now(UTC))
    assert table_counts(db) == dict.fromkeys(TABLES, 0)

    body = ok(live_server.post_events([r.item for r in rows]))
    assert_results(body, rows, [(r.status, r.reason) for r in rows])
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (4, 1, 10)
    for row, result in zip(rows, body["results"], strict=True):
        assert result.get("converted_from") == row.converted_from

    # Exactly what the four accepted items account for: three dossiers (HS-A, HS-B, HS-C), one
    # registered procedure, one agency; nothing from any refused item.
    counts = table_counts(db)
    assert {t: counts[t] for t in TABLES if t != "dossier_daily"} == {
        "event_receipt": 4, "dossier_event": 4, "dossier": 3, "procedure": 1, "agency": 1,
        "dossier_projection_queue": 0,
    }  # fmt: skip
    assert scalar(db, "SELECT array_agg(code ORDER BY code) FROM dossier") == ["HS-A", "HS-B", "HS-C"]
    assert scalar(db, "SELECT array_agg(code) FROM procedure") == ["1.000001"]
    assert scalar(db, "SELECT array_agg(code) FROM agency") == ["UBND-BD"]
    assert scalar(db, "SELECT array_agg(event_id ORDER BY event_id) FROM event_receipt") == [
        "ev-1", "ev-14", "ev-2", "ev-4",
    ]  # fmt: skip
    assert scalar(db, "SELECT count(*) FROM dossier_event WHERE dossier_code LIKE 'HS-X%'") == 0
    assert scalar(db, "SELECT sum(received)::int FROM dossier_daily") == 3
    assert scalar(db, "SELECT sum(resolved)::int FROM dossier_daily") == 1

    # The legacy code was stored as the current province.
    legacy = dossier(live_server, "HS-B")["state"]
    assert (legacy["province_code"], legacy["commune_code"], legacy["channel"]) == ("79", None, "direct")
    hs_a = dossier(live_server, "HS-A")
    assert (hs_a["state"]["status"], hs_a["state"]["outcome"]) == ("resolved", "early")
    assert [e["event_type"] for e in hs_a["events"]] == ["received", "resolved"]

    # Replaying the batch: every accepted item is now a duplicate, refusals stay the same, and
    # no table changes at all.
    before = snapshot(db)
    replay = ok(live_server.post_events([r.item for r in rows]))
    replayed = [("duplicate", "already_ingested") if r.status == "accepted" else (r.status, r.reason) for r in rows]
    assert_results(replay, rows, replayed)
    assert (replay["accepted"], replay["duplicate"], replay["rejected"]) == (0, 5, 10)
    assert snapshot(db) == before


def test_event_id_repeated_within_a_batch_is_a_duplicate(live_server: LiveServer) -> None:
    t0 = datetime.now(UTC) - timedelta(days=1)
    body = ok(live_server.post_events([
        receipt("dup-1", "HS-D1", t0),
        event("dup-1", "HS-D1", "resolved", t0 + timedelta(hours=1)),  # same id, other content: still a duplicate
        receipt("dup-2", "HS-D2", t0),
    ]))  # fmt: skip
    assert [(r["status"], r.get("reason")) for r in body["results"]] == [
        ("accepted", None), ("duplicate", "duplicate_in_batch"), ("accepted", None),
    ]  # fmt: skip
    assert dossier(live_server, "HS-D1")["state"]["status"] == "received"
    assert table_counts(live_server.db_url)["dossier_event"] == 2


def test_rejected_receipt_does_not_register_its_procedure(live_server: LiveServer) -> None:
    t0 = datetime.now(UTC) - timedelta(days=1)
    declared = {"code": "ORPHAN-1", "name": "Thủ tục mồ côi", "sector": "Đất đai", "statutory_days": 5}
    body = ok(live_server.post_events([
        receipt("orph-1", "HS-O1", t0, procedure=declared, channel=None),  # rejected: no channel
        receipt("orph-2", "HS-O2", t0, procedure={"code": "ORPHAN-1"}),  # relies on row 0's declaration
    ]))  # fmt: skip
    assert [(r["status"], r.get("reason")) for r in body["results"]] == [
        ("rejected", "missing_field"), ("rejected", "unknown_procedure"),
    ]  # fmt: skip
    assert table_counts(live_server.db_url)["procedure"] == 0


def test_time_before_year_one_in_utc_is_rejected_not_a_server_error(live_server: LiveServer) -> None:
    # Anything older than the retention period (3 years) is refused per item as too_old.
    response = live_server.post_events([receipt("y1-bad", "HS-Y1", "0001-01-01T00:00:00+07:00")])
    assert response.status_code == 200, response.text
    assert [(r["status"], r.get("reason")) for r in response.json()["results"]] == [("rejected", "too_old")]
    assert table_counts(live_server.db_url)["event_receipt"] == 0


def event_partitions(db_url: str) -> int:
    sql = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'dossier_event'::regclass"
    return int(scalar(db_url, sql))


def test_a_batch_spanning_decades_creates_only_the_partitions_it_uses(live_server: LiveServer) -> None:
    now = datetime.now(UTC)
    before = event_partitions(live_server.db_url)
    body = ok(live_server.post_events([
        receipt("old-1", "HS-OLD", now - timedelta(days=700)),  # within retention: accepted
        receipt("new-1", "HS-NEW", now - timedelta(hours=1)),
        receipt("older-1", "HS-OLDER", datetime(2000, 1, 10, tzinfo=UTC)),  # beyond retention: too_old
    ]))  # fmt: skip
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "rejected"]
    assert body["results"][2]["reason"] == "too_old"
    assert event_partitions(live_server.db_url) - before <= 2


# --------------------------------------------------------------------------- refused whole


def valid_events(n: int, prefix: str) -> list[dict[str, Any]]:
    t0 = datetime.now(UTC) - timedelta(days=1)
    return [receipt(f"{prefix}-{i}", f"{prefix}-HS-{i}", t0 + timedelta(seconds=i)) for i in range(n)]


def test_batch_at_the_item_limit_is_accepted(live_server: LiveServer) -> None:
    body = ok(live_server.post_events(valid_events(500, "max")))
    assert body["accepted"] == 500
    assert table_counts(live_server.db_url)["dossier"] == 500


def test_batch_over_the_item_limit_is_413_and_writes_nothing(live_server: LiveServer) -> None:
    response = live_server.post_events(valid_events(501, "over"))
    assert response.status_code == 413
    assert "500" in response.json()["detail"]
    assert table_counts(live_server.db_url) == dict.fromkeys(TABLES, 0)


def padded_body(size: int) -> bytes:
    """Valid events padded with JSON whitespace: only the size is wrong with this body."""
    events = orjson.dumps(valid_events(3, "big"))
    return events[:-1] + b" " * (size - len(events)) + b"]"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_byte_limit_is_413_and_writes_nothing(live_server: LiveServer, chunked: bool) -> None:
    body = padded_body(512 * 1024 + 1)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    payload: bytes | Iterator[bytes] = iter(chunks) if chunked else body  # chunked: no Content-Length
    response = post_raw(live_server, payload)
    assert response.status_code == 413
    assert table_counts(live_server.db_url) == dict.fromkeys(TABLES, 0)


def test_body_just_under_the_byte_limit_is_accepted(live_server: LiveServer) -> None:
    body = ok(post_raw(live_server, padded_body(512 * 1024)))
    assert body["accepted"] == 3


# --------------------------------------------------------------------------- body formats and keys


def test_ndjson_body_with_one_broken_line(live_server: LiveServer) -> None:
    t0 = datetime.now(UTC) - timedelta(days=1)
    lines = [
        orjson.dumps(receipt("nd-1", "HS-N1", t0)),
        b'{"event_id": "nd-2", "dossier_code": "HS-N2",',  # cut off mid-object
        b"",  # blank lines are skipped, not counted
        orjson.dumps(receipt("nd-3", "HS-N3", t0)),
    ]
    body = ok(post_raw(live_server, b"\n".join(lines) + b"\n", "application/x-ndjson"))
    assert [(r["index"], r["status"], r.get("reason")) for r in body["results"]] == [
        (0, "accepted", None), (1, "rejected", "malformed_json"), (2, "accepted", None),
    ]  # fmt: skip
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert scalar(live_server.db_url, "SELECT array_agg(code ORDER BY code) FROM dossier") == ["HS-N1", "HS-N3"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_id": "obj-1"}',  # one object, not an array of them
        b"not json",
        b"",
        b'[{"event_id": "x"',  # truncated array
    ],
)
def test_body_that_is_not_a_json_array_is_400(module_live_server: LiveServer, body: bytes) -> None:
    before = snapshot(module_live_server.db_url)
    response = post_raw(module_live_server, body)
    assert response.status_code == 400, response.text
    assert snapshot(module_live_server.db_url) == before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # no key at all
        ({"Authorization": "Bearer ioc_wrong"}, 401),  # a key no source has
        ({"Authorization": "Basic aW9jOmlvYw=="}, 401),  # another scheme is not a key
        ({"X-API-Key": "ioc_wrong"}, 401),
        ({"X-API-Key": "<the key>"}, 200),  # the alternative header works
    ],
)
def test_api_key_is_required(module_live_server: LiveServer, headers: dict[str, str], status: int) -> None:
    server = module_live_server
    headers = {k: v.replace("<the key>", server.api_key) for k, v in headers.items()}
    before = table_counts(server.db_url)["event_receipt"]
    with server.anonymous() as client:
        response = client.post(INGEST, json=valid_events(1, f"auth-{len(headers)}-{status}"), headers=headers)
    assert response.status_code == status, response.text
    assert table_counts(server.db_url)["event_receipt"] == before + (1 if status == 200 else 0)


@pytest.mark.parametrize(
    ("locality", "province", "commune", "converted_from"),
    [
        ({"legacy_province_code": "74"}, "79", None, "legacy province 74 (Tỉnh Bình Dương)"),
        ({"legacy_province_name": "Bình Dương"}, "79", None, "legacy province 74 (Tỉnh Bình Dương)"),
        # Legacy ward Phú Cường (Thủ Dầu Một, Bình Dương) became Phường Thủ Dầu Một (25747).
        (
            {"legacy_ward_code": "25747"},
            "79",
            "25747",
            "legacy ward 25747 (Phường Phú Cường, Thành phố Thủ Dầu Một, Tỉnh Bình Dương)",
        ),
        ({"province_code": "79", "legacy_province_code": "74"}, "79", None, "legacy province 74 (Tỉnh Bình Dương)"),
        ({"commune_code": "25747"}, "79", "25747", None),  # current codes need no conversion
    ],
)
def test_legacy_codes_are_converted_to_current_units(
    module_live_server: LiveServer,
    locality: dict[str, Any],
    province: str,
    commune: str | None,
    converted_from: str | None,
) -> None:
    t0 = datetime.now(UTC) - timedelta(days=1)
    code = "HS-L-" + "-".join(f"{k}={v}" for k, v in locality.items())
    body = ok(module_live_server.post_events([receipt(code, code, t0, locality=locality)]))
    expected = {"index": 0, "event_id": code, "status": "accepted"}
    if converted_from:
        expected["converted_from"] = converted_from
    assert body["results"] == [expected]
    state = dossier(module_live_server, code)["state"]
    assert (state["province_code"], state["commune_code"]) == (province, commune)
