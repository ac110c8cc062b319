"""Shared helpers of the ingest API tests: event builders and database probes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from ingest.lifecycle import ROLLUP_FIELDS
from tests.conftest import LiveServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
INGEST = "/api/v1/ingest/dossier-events"
# Everything a dossier batch writes; an applied batch leaves no projection-queue row.
TABLES = (
    "event_receipt", "dossier_event", "dossier", "procedure", "agency", "dossier_daily", "dossier_projection_queue",
)  # fmt: skip

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


DAILY_SUMS = ", ".join(f"sum({f})::int" for f in ROLLUP_FIELDS)


def table_counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]


def snapshot(db_url: str) -> dict[str, Any]:
    """Everything ingest writes, minus bookkeeping timestamps that a no-op must not need to keep."""
    with psycopg.connect(db_url) as conn:
        return {
            # The rollup by what it says per key: how many rows say it changes when pending delta
            # rows are merged (ingest/rollup_compaction.py), which may happen at any moment.
            "counts": {t: n for t, n in table_counts(db_url).items() if t != "dossier_daily"},
            "dossiers": conn.execute(
                "SELECT code, status, province_code, commune_code, due_at, outcome, last_event_at "
                "FROM dossier ORDER BY code"
            ).fetchall(),
            "daily": conn.execute(
                f"SELECT day, province_code, commune_code, agency_code, sector, {DAILY_SUMS} FROM dossier_daily "
                "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
            ).fetchall(),
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
