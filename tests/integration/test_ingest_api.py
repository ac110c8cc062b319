"""The ingest API end to end: a real app in uvicorn over a real PostgreSQL.

Every item of a batch gets its own result; refused items write nothing; replays change nothing;
oversized batches and bodies are refused whole; the dossier state and the status rollups follow
the events whatever order they arrive in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest
from psycopg import AsyncConnection

from alerts.calendar import WorkingCalendar
from ingest.lifecycle import DossierEvent, EventType, Procedure, fold
from ingest.parse import parse_batch
from ingest.reference import CalendarStore, ProcedureCache
from ingest.writer import DossierWriter
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from tests.conftest import LiveServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
INGEST = "/api/v1/ingest/dossier-events"
TABLES = ("event_receipt", "dossier_event", "dossier", "procedure", "agency", "dossier_daily")

# A procedure the batch registers by declaring its sector and statutory time.
KHAI_SINH = {"code": "1.000001", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 10}
HANOI_WARD = {"commune_code": "00004"}  # Phường Ba Đình, Hà Nội (01)
HCMC_WARD = {"commune_code": "25747"}  # Phường Thủ Dầu Một, TP Hồ Chí Minh (79)


def iso(t: datetime) -> str:
    return t.isoformat()


def event(
    event_id: str,
    dossier: str,
    kind: str,
    occurred_at: datetime | str,
    *,
    locality: dict[str, Any] | None = None,
    procedure: dict[str, Any] | None = None,
    channel: str | None = "online",
    agency: dict[str, Any] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": event_id,
        "dossier_code": dossier,
        "event_type": kind,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else iso(occurred_at),
        "locality": HANOI_WARD if locality is None else locality,
    }
    if procedure is not None:
        item["procedure"] = procedure
    if channel is not None and kind == "received":
        item["channel"] = channel
    if agency is not None:
        item["agency"] = agency
    return item


def receipt(event_id: str, dossier: str, t: datetime | str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("procedure", KHAI_SINH)
    return event(event_id, dossier, "received", t, **kw)


# --------------------------------------------------------------------------- database probes


def table_counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]


def snapshot(db_url: str) -> dict[str, Any]:
    """Everything ingest writes, minus bookkeeping timestamps that a no-op must not need to keep."""
    with psycopg.connect(db_url) as conn:
        return {
            "counts": table_counts(db_url),
            "dossiers": conn.execute(
                "SELECT code, status, province_code, commune_code, due_at, outcome, last_event_at "
                "FROM dossier ORDER BY code"
            ).fetchall(),
            "daily": conn.execute("SELECT * FROM dossier_daily ORDER BY 1, 2, 3").fetchall(),
            "events": conn.execute("SELECT event_id, occurred_at FROM dossier_event ORDER BY 1").fetchall(),
        }


def scalar(db_url: str, sql: str, params: list[Any] | None = None) -> Any:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def post_raw(
    server: LiveServer, body: bytes | Iterator[bytes], content_type: str = "application/json", key: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if key != "":
        headers["Authorization"] = f"Bearer {key or server.api_key}"
    with server.client() as client:
        return client.post(INGEST, content=body, headers=headers)


def dossier(server: LiveServer, code: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(f"/api/v1/dossiers/{code}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


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
    with server.client() as client:
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


# --------------------------------------------------------------------------- lifecycle through the API

STATE_FIELDS = ("status", "received_at", "due_at", "resolved_at", "closed_at", "outcome", "late_since",
                "paused_at", "paused_working_seconds", "apology_at")  # fmt: skip


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    picked = {f: v for f, v in state.items() if f in STATE_FIELDS}
    return {f: datetime.fromisoformat(v) if f.endswith("_at") and v else v for f, v in picked.items()}


def lifecycle(prefix: str, dossier_code: str, t0: datetime) -> list[dict[str, Any]]:
    return [
        receipt(f"{prefix}-rcv", dossier_code, t0),
        event(f"{prefix}-req", dossier_code, "supplement_requested", t0 + timedelta(hours=1)),
        event(f"{prefix}-got", dossier_code, "supplement_received", t0 + timedelta(days=1)),
        event(f"{prefix}-res", dossier_code, "resolved", t0 + timedelta(days=2)),
        event(f"{prefix}-apo", dossier_code, "apology_issued", t0 + timedelta(days=2, hours=1)),
    ]


@pytest.mark.parametrize(
    "arrival",
    [
        [[3], [0]],  # resolved before received, in two batches
        [[3, 1], [0], [4, 2]],  # resolution, then the pause's start, then the receipt, then the rest
        [[0], [3], [1, 2]],  # receipt, resolution, and the pause arriving after the resolution
        [[4, 3, 2, 1, 0]],  # one batch listed backwards
    ],
)
def test_out_of_order_arrival_reaches_the_in_order_state(live_server: LiveServer, arrival: list[list[int]]) -> None:
    t0 = datetime.now(UTC) - timedelta(days=6)
    events_in_order = lifecycle("io", "HS-IN", t0)
    for item in events_in_order:
        assert ok(live_server.post_events([item]))["accepted"] == 1
    shuffled = lifecycle("oo", "HS-OUT", t0)
    sent: set[int] = set()
    for batch in arrival:
        assert ok(live_server.post_events([shuffled[i] for i in batch]))["accepted"] == len(batch)
        sent |= set(batch)
        if 0 not in sent:
            # Events kept before their receipt: visible in the history, no state yet.
            before = dossier(live_server, "HS-OUT")
            assert before["state"] is None
            assert len(before["events"]) == len(sent)
    used = sent
    expected = dossier(live_server, "HS-IN")["state"] if used == set(range(5)) else None
    if expected is None:  # compare with the in-order fold of the same subset
        partial = [events_in_order[i] | {"event_id": f"sub-{i}", "dossier_code": "HS-SUB"} for i in sorted(used)]
        for item in partial:
            ok(live_server.post_events([item]))
        expected = dossier(live_server, "HS-SUB")["state"]
    actual = dossier(live_server, "HS-OUT")["state"]
    assert comparable(actual) == comparable(expected)
    assert actual["status"] == "resolved"
    # The rollup counts each dossier once, whatever order its events came in.
    daily = scalar(live_server.db_url, "SELECT array[sum(received), sum(resolved)]::int[] FROM dossier_daily")
    assert daily == [3 if used != set(range(5)) else 2] * 2


def test_supplement_pause_extends_due_at_by_the_working_time_paused(live_server: LiveServer) -> None:
    # Fixed past dates so the working-day arithmetic is exact: received Mon 9/3/2026 09:00 for a
    # 3-working-day procedure (due Thu 12/3 09:00); paused Tue 10/3 09:00 → Thu 12/3 09:00, i.e.
    # 8 h + 9 h + 1 h = 18 h of working time, so due Mon 16/3 09:00; resolved Fri 13/3 10:00.
    def vn(day: int, hour: int) -> datetime:
        return datetime(2026, 3, day, hour, tzinfo=VN)

    three_days = {"code": "2.000003", "name": "Cấp phép", "sector": "Xây dựng", "statutory_days": 3}

    def events(prefix: str, dossier_code: str, paused: bool) -> list[dict[str, Any]]:
        items = [receipt(f"{prefix}-0", dossier_code, vn(9, 9), procedure=three_days)]
        if paused:
            items += [event(f"{prefix}-1", dossier_code, "supplement_requested", vn(10, 9)),
                      event(f"{prefix}-2", dossier_code, "supplement_received", vn(12, 9))]  # fmt: skip
        return [*items, event(f"{prefix}-3", dossier_code, "resolved", vn(13, 10))]

    ok(live_server.post_events(events("paused-batch", "HS-P1", paused=True)))
    for item in events("paused-one", "HS-P2", paused=True):  # one event per batch: the incremental path
        ok(live_server.post_events([item]))
    ok(live_server.post_events(events("plain", "HS-P3", paused=False)))

    for code in ("HS-P1", "HS-P2"):
        state = dossier(live_server, code)["state"]
        assert datetime.fromisoformat(state["due_at"]) == vn(16, 9)
        assert state["paused_working_seconds"] == 18 * 3600
        assert (state["status"], state["outcome"], state["paused_at"]) == ("resolved", "early", None)
    plain = dossier(live_server, "HS-P3")["state"]
    assert datetime.fromisoformat(plain["due_at"]) == vn(12, 9)
    assert (plain["outcome"], datetime.fromisoformat(plain["late_since"])) == ("late", vn(12, 9))


def test_dossier_mid_pause_has_no_due_at(live_server: LiveServer) -> None:
    t0 = datetime.now(UTC) - timedelta(days=3)
    ok(live_server.post_events(lifecycle("mid", "HS-M", t0)[:2]))
    state = dossier(live_server, "HS-M")["state"]
    assert (state["status"], state["due_at"]) == ("supplement_requested", None)
    assert datetime.fromisoformat(state["paused_at"]) == t0 + timedelta(hours=1)


def test_unknown_dossier_is_404(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.get("/api/v1/dossiers/NO-SUCH").status_code == 404


# --------------------------------------------------------------------------- status endpoints


def expected_on_time(received_at: datetime, resolved_at: datetime, days: int) -> int:
    """On time or early by the pure fold (tested on its own), so this test is about the rollup."""
    procedure = Procedure("p", "s", days)
    events = [
        DossierEvent(received_at, "x", EventType.RECEIVED, "s", "1", "79", None, None, "p", "online"),
        DossierEvent(resolved_at, "x", EventType.RESOLVED, "s", "2", "79", None, None, None, None),
    ]
    state = fold(None, events, lambda _: WorkingCalendar(), {"p": procedure}.get)
    assert state is not None
    return int(state.outcome in ("early", "on_time"))


def test_status_by_province_and_commune(live_server: LiveServer) -> None:
    now = datetime.now(UTC)
    same_day = {"code": "3.000000", "name": "Chứng thực", "sector": "Chứng thực", "statutory_days": 0}
    hn_open, hn_old = now - timedelta(days=2), now - timedelta(days=20)
    hcm_received, hcm_resolved = now - timedelta(days=3), now - timedelta(hours=1)
    ok(live_server.post_events([
        receipt("s-1", "HN-1", hn_open),
        event("s-2", "HN-1", "resolved", hn_open + timedelta(hours=1)),  # early: counts as on time
        receipt("s-3", "HN-2", hn_open),  # stays open
        receipt("s-4", "HN-3", hn_open),
        event("s-5", "HN-3", "rejected", hn_open + timedelta(hours=2)),  # closed, never resolved
        receipt("s-6", "HN-OLD", hn_old),  # outside 7 days, inside 30; still open
        receipt("s-7", "HCM-1", hcm_received, locality=HCMC_WARD, procedure=same_day),
        event("s-8", "HCM-1", "resolved", hcm_resolved, locality=HCMC_WARD),
    ]))  # fmt: skip
    hcm_on_time = expected_on_time(hcm_received, hcm_resolved, 0)

    with live_server.client() as client:
        week = client.get("/api/v1/status/provinces", params={"window": "7d"}).json()
        month = client.get("/api/v1/status/provinces", params={"window": "30d"}).json()
        communes = client.get("/api/v1/status/provinces/01/communes", params={"window": "7d"})
        unknown = client.get("/api/v1/status/provinces/99/communes")
        commune_as_province = client.get("/api/v1/status/provinces/00004/communes")

    assert week["window"] == "7d"
    by_code = {p["code"]: p for p in week["provinces"]}
    assert len(by_code) == 34
    fields = ("received", "resolved", "resolved_on_time", "open", "on_time_rate")
    assert tuple(by_code["01"][f] for f in fields) == (3, 1, 1, 2, 1.0)
    assert tuple(by_code["79"][f] for f in fields) == (1, 1, hcm_on_time, 0, float(hcm_on_time))
    assert tuple(by_code["48"][f] for f in fields) == (0, 0, 0, 0, None)  # Đà Nẵng: nothing sent
    assert {p["code"]: p["received"] for p in month["provinces"]}["01"] == 4

    assert communes.status_code == 200
    rows = {c["code"]: c for c in communes.json()["communes"]}
    assert set(rows) == {c.code for c in load_catalogue().communes_of("01")}
    assert tuple(rows["00004"][f] for f in fields) == (3, 1, 1, 2, 1.0)
    assert rows["00008"]["received"] == 0
    assert unknown.status_code == 404
    assert commune_as_province.status_code == 404


# --------------------------------------------------------------------------- sources and concurrent writers


def test_event_ids_are_per_source(live_server: LiveServer) -> None:
    other_key = register_source(live_server.db_url, "other-source", "Nguồn khác")
    t0 = datetime.now(UTC) - timedelta(days=1)
    assert ok(live_server.post_events([receipt("shared-1", "HS-S1", t0)]))["accepted"] == 1
    # The same event id from another source is that source's own event, not a duplicate.
    other = ok(live_server.post_events([receipt("shared-1", "HS-S2", t0)], key=other_key))
    assert (other["accepted"], other["duplicate"]) == (1, 0)
    assert table_counts(live_server.db_url)["event_receipt"] == 2


async def write_in_transaction(conn: AsyncConnection[Any], items: list[dict[str, Any]], now: datetime) -> None:
    """Run the real writer for one batch exactly as the route does, leaving the transaction open;
    like the route, it knows only the procedures the batch names."""
    procedures, calendars = ProcedureCache(), CalendarStore()
    named = {item["procedure"]["code"] for item in items if isinstance(item.get("procedure"), dict)}
    await procedures.prefetch(conn, named)
    await calendars.refresh_if_stale(conn)
    await conn.commit()
    batch = parse_batch(
        items, source_id="test-source", now=now, future_tolerance=timedelta(seconds=300),
        max_age=timedelta(days=1095), catalogue=load_catalogue(), procedure_of=procedures.get,
    )  # fmt: skip
    writer = DossierWriter(procedures, calendars)
    await writer.ensure_partitions(conn, [e for _, e, _ in batch.accepted])
    outcome = await writer.write(conn, "test-source", batch, now)
    assert outcome.accepted == len(items)


async def some_backend_waits_on_a_lock(db_url: str, task: asyncio.Task[None]) -> None:
    async with await AsyncConnection.connect(db_url, autocommit=True) as probe:
        for _ in range(250):
            cur = await probe.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            row = await cur.fetchone()
            if (row and row[0]) or task.done():
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the second writer neither finished nor waited on a lock")


async def test_concurrent_batches_for_a_new_dossier_keep_both_events(live_server: LiveServer) -> None:
    url = live_server.db_url
    now = datetime.now(UTC)
    t0 = now - timedelta(days=1)
    first = await AsyncConnection.connect(url)
    second = await AsyncConnection.connect(url)
    try:
        await write_in_transaction(first, [receipt("cc-1", "HS-CC", t0)], now)

        async def resolution() -> None:
            await write_in_transaction(second, [event("cc-2", "HS-CC", "resolved", t0 + timedelta(hours=1))], now)
            await second.commit()

        task = asyncio.create_task(resolution())
        await some_backend_waits_on_a_lock(url, task)  # the second batch is as far as it can get
        await first.commit()
        await asyncio.wait_for(task, timeout=10)
    finally:
        await first.close()
        await second.close()
    state = dossier(live_server, "HS-CC")
    assert len(state["events"]) == 2
    assert state["state"]["status"] == "resolved"
    assert scalar(url, "SELECT sum(resolved)::int FROM dossier_daily") == 1


async def test_a_fresh_process_refolds_history_whose_procedure_it_never_saw(live_server: LiveServer) -> None:
    # The receipt was written by one process; another, with empty caches, receives an event older
    # than the dossier's last one and must refold the whole history: it has to look up the
    # receipt's procedure itself, or the state would be lost and the rollup decremented.
    url = live_server.db_url
    now = datetime.now(UTC)
    t0 = now - timedelta(days=3)
    ok(live_server.post_events([
        receipt("rf-1", "HS-RF", t0),
        event("rf-3", "HS-RF", "resolved", t0 + timedelta(hours=5)),
    ]))  # fmt: skip
    before = dossier(live_server, "HS-RF")["state"]
    async with await AsyncConnection.connect(url) as conn:
        await write_in_transaction(conn, [event("rf-2", "HS-RF", "apology_issued", t0 + timedelta(hours=1))], now)
        await conn.commit()
    after = dossier(live_server, "HS-RF")["state"]
    assert after is not None
    assert {k: v for k, v in after.items() if k != "apology_at"} == {
        k: v for k, v in before.items() if k != "apology_at"
    }
    assert after["apology_at"] is not None
    assert scalar(url, "SELECT sum(received)::int FROM dossier_daily") == 1
    assert scalar(url, "SELECT sum(resolved)::int FROM dossier_daily") == 1


def test_events_before_the_receipt_wait_as_orphans_and_are_adopted(live_server: LiveServer) -> None:
    url = live_server.db_url
    t0 = datetime.now(UTC) - timedelta(days=2)
    ok(live_server.post_events([event("or-2", "HS-OR", "resolved", t0 + timedelta(hours=2))]))
    assert scalar(url, "SELECT count(*)::int FROM dossier_orphan") == 1
    assert dossier(live_server, "HS-OR")["state"] is None
    ok(live_server.post_events([receipt("or-1", "HS-OR", t0)]))
    assert scalar(url, "SELECT count(*)::int FROM dossier_orphan") == 0
    assert dossier(live_server, "HS-OR")["state"]["status"] == "resolved"
