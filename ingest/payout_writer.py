"""Writing accepted payout reports: four set-based statements per batch, whatever its size.

1. The reports go into payout_report, whose key (source_id, record_id) is the idempotency
   ledger: ON CONFLICT DO NOTHING, and RETURNING tells which ones are new.
2. payout_cycle takes each cycle's latest new report, unless it already holds a later one.
3. payout_cycle_daily does the same per local day of reported_at.
4. The feed's freshness, and a NOTIFY (delivered at commit) naming the provinces touched.

"Later" orders by (reported_at, source_id, record_id), so the state a set of reports leaves does
not depend on the order they arrive in, and an old report that comes late changes no current
state (it is still kept, and still updates the day it belongs to if it is that day's latest).
Rows are written in key order, so concurrent batches take row locks in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import orjson
from psycopg.types.json import Jsonb

from ioc.db.pool import Conn
from ioc.live.channel import NOTIFY_LIVE

if TYPE_CHECKING:
    from ingest.payout import PayoutRecord

KEY = ("province_code", "cycle_month", "programme_code", "commune_code")
# What a report says about its cycle: stored alike in payout_cycle and payout_cycle_daily.
STATE = (
    "cycle_opens_on", "deadline", "beneficiaries_due", "paid_total", "paid_bank", "paid_card", "paid_ewallet",
    "paid_cash", "failed", "failure_reasons", "amount_due_vnd", "amount_paid_vnd", "reported_at", "source_id",
    "record_id",
)  # fmt: skip
# The report's own columns, with the array type each is sent as.
REPORT_FIELDS: tuple[tuple[str, str], ...] = (
    ("record_id", "text"), ("province_code", "text"), ("commune_code", "text"), ("programme_code", "text"),
    ("cycle_month", "date"), ("cycle_opens_on", "date"), ("deadline", "date"), ("reported_at", "timestamptz"),
    ("beneficiaries_due", "int4"), ("paid_total", "int4"), ("paid_bank", "int4"), ("paid_card", "int4"),
    ("paid_ewallet", "int4"), ("paid_cash", "int4"), ("failed", "int4"), ("failure_reasons", "jsonb"),
    ("amount_due_vnd", "int8"), ("amount_paid_vnd", "int8"),
)  # fmt: skip
_NAMES = [name for name, _ in REPORT_FIELDS]
INSERT_REPORTS = f"""
INSERT INTO payout_report (source_id, ingested_at, {", ".join(_NAMES)})
SELECT %(source)s, %(now)s, r.* FROM unnest({", ".join(f"%({n})s::{t}[]" for n, t in REPORT_FIELDS)})
    AS r({", ".join(_NAMES)})
ORDER BY r.record_id
ON CONFLICT (source_id, record_id) DO NOTHING
RETURNING record_id
"""
_NEWER = (
    "(EXCLUDED.reported_at, EXCLUDED.source_id, EXCLUDED.record_id) > "
    "({table}.reported_at, {table}.source_id, {table}.record_id)"
)
_LATEST_FIRST = "reported_at DESC, source_id DESC, record_id DESC"
UPSERT_CYCLES = f"""
INSERT INTO payout_cycle ({", ".join(KEY)}, {", ".join(STATE)})
SELECT DISTINCT ON ({", ".join(KEY)}) {", ".join(KEY)}, {", ".join(STATE)}
FROM payout_report
WHERE source_id = %(source)s AND record_id = ANY(%(fresh)s::text[])
ORDER BY {", ".join(KEY)}, {_LATEST_FIRST}
ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET
    {", ".join(f"{n} = EXCLUDED.{n}" for n in STATE)}, updated_at = now()
WHERE {_NEWER.format(table="payout_cycle")}
"""
UPSERT_DAILY = f"""
INSERT INTO payout_cycle_daily ({", ".join(KEY)}, day, {", ".join(STATE)})
SELECT DISTINCT ON ({", ".join(KEY)}, day) {", ".join(KEY)}, day, {", ".join(STATE)}
FROM (
    SELECT *, (reported_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day
    FROM payout_report
    WHERE source_id = %(source)s AND record_id = ANY(%(fresh)s::text[])
) fresh
ORDER BY {", ".join(KEY)}, day, {_LATEST_FIRST}
ON CONFLICT ({", ".join(KEY)}, day) DO UPDATE SET
    {", ".join(f"{n} = EXCLUDED.{n}" for n in STATE)}
WHERE {_NEWER.format(table="payout_cycle_daily")}
"""
UPSERT_FRESHNESS = """
INSERT INTO feed_freshness (source_id, stream, last_event_at, last_ingest_at)
VALUES (%s, 'payout', %s, now())
ON CONFLICT (source_id, stream) DO UPDATE SET
    last_event_at = GREATEST(feed_freshness.last_event_at, EXCLUDED.last_event_at),
    last_ingest_at = now()
"""


async def write_payout_records(conn: Conn, source_id: str, records: Sequence[PayoutRecord], now: datetime) -> set[str]:
    """Store `records` (distinct record ids) in the caller's transaction; return the ids that
    were new. Records this source already sent are left alone."""
    if not records:
        return set()
    params: dict[str, object] = {"source": source_id, "now": now}
    for name, _ in REPORT_FIELDS:
        params[name] = [getattr(r, name) for r in records]
    params["failure_reasons"] = [Jsonb(r.failure_reasons) for r in records]
    cur = await conn.execute(INSERT_REPORTS, params)
    fresh = {str(row[0]) for row in await cur.fetchall()}
    if not fresh:
        return fresh
    keys = {"source": source_id, "fresh": sorted(fresh)}
    await conn.execute(UPSERT_CYCLES, keys)
    await conn.execute(UPSERT_DAILY, keys)
    stored = [r for r in records if r.record_id in fresh]
    await conn.execute(UPSERT_FRESHNESS, [source_id, max(r.reported_at for r in stored)])
    provinces = sorted({r.province_code for r in stored})
    await conn.execute(NOTIFY_LIVE, [orjson.dumps({"stream": "payout", "provinces": provinces}).decode()])
    return fresh
