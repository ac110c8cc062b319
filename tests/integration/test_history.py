"""Indicator history against a direct computation from raw rows, for every bucket size.

About eighty dossiers over three weeks of November 2026 in two Hà Nội communes and one of
TP Hồ Chí Minh, written through the real ingest writer; some resolved early, on time or late,
some still open. After the history job has run, each history answer must equal what one
computes in Python from the `dossier` rows themselves (receipt in the bucket of received_at,
resolution with its outcome in the bucket of resolved_at) — for hour, day, week and month
buckets, for a province and a commune, under a national, a commune and a sector scope. The job is
incremental: resolutions written after a first run show up after the next one, and a run with
nothing new changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres
from ioc.indicators.buckets import Bucket, bucket_start
from ioc.indicators.definitions import INDICATORS
from ioc.indicators.history import HistoryError, NotInScope, history
from ioc.indicators.history_job import run_history_job, snapshot_stocks
from ioc.sources import register_source
from tests.conftest import fresh_database
from tests.integration.ingest_support import event, receipt
from tests.integration.writer_support import SOURCE_ID, write_batch

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=VN)
START = datetime(2026, 11, 1, tzinfo=VN)
SECTORS = [
    {"code": "1.000001", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 1},
    {"code": "1.004227", "name": "Đăng ký đất đai", "sector": "Đất đai", "statutory_days": 3},
]
COMMUNES = ["00004", "00008", "25747"]  # Ba Đình, Ngọc Hà (Hà Nội, 01); Thủ Dầu Một (TP HCM, 79)


def _dossiers(seed: int, count: int, prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Receipts, and the resolutions of about two thirds of them (written later, separately)."""
    rng = random.Random(seed)
    receipts, resolutions = [], []
    for n in range(count):
        code = f"{prefix}-{n:03d}"
        received = START + timedelta(days=rng.randint(0, 21), hours=rng.randint(7, 16), minutes=rng.randint(0, 59))
        procedure = rng.choice(SECTORS)
        commune = rng.choice(COMMUNES)
        receipts.append(receipt(f"{code}-r", code, received, locality={"commune_code": commune}, procedure=procedure,
                                channel=rng.choice(["online", "direct", "online", "postal"]),
                                agency={"code": f"UBND-{commune}", "name": f"UBND {commune}"}))  # fmt: skip
        resolved = received + timedelta(hours=rng.randint(2, 24 * 6))
        if rng.random() < 0.7 and resolved < NOW - timedelta(hours=1):
            resolutions.append(event(f"{code}-s", code, "resolved", resolved, locality={"commune_code": commune}))
    return receipts, resolutions


RECEIPTS, RESOLUTIONS = _dossiers(4, 80, "HX")


@pytest.fixture(scope="module")
def db(pg_server: EmbeddedPostgres) -> Iterator[str]:
    url = fresh_database(pg_server)
    register_source(url, SOURCE_ID, "Nguồn thử nghiệm")
    yield url


async def _write(url: str, items: list[dict[str, Any]]) -> None:
    await write_batch(url, items, NOW)


async def _run_job(url: str, now: datetime = NOW) -> Any:
    async with await AsyncConnection.connect(url) as conn:
        return await run_history_job(conn, now)


def _raw_dossiers(url: str, scope: Scope) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT province_code, coalesce(commune_code, ''), coalesce(agency_code, ''), sector, received_at, "
            "channel, resolved_at, outcome FROM dossier"
        ).fetchall()
    return [r for r in rows if scope.allows(r[0], r[1] or None, r[2] or None, r[3])]


def _direct(url: str, scope: Scope, place: str, bucket: Bucket, code: str) -> dict[datetime, float | None]:
    """The indicator per bucket computed here from the dossier rows."""
    counts: dict[datetime, dict[str, int]] = {}
    for province, commune, _agency, _sector, received_at, channel, resolved_at, outcome in _raw_dossiers(url, scope):
        if place not in (province, commune):
            continue
        c = counts.setdefault(bucket_start(received_at, bucket), dict.fromkeys(("r", "o", "s", "t"), 0))
        c["r"] += 1
        c["o"] += channel == "online"
        if resolved_at is not None and outcome is not None:
            c = counts.setdefault(bucket_start(resolved_at, bucket), dict.fromkeys(("r", "o", "s", "t"), 0))
            c["s"] += 1
            c["t"] += outcome in ("early", "on_time")
    out: dict[datetime, float | None] = {}
    for b, c in counts.items():
        if code == "on_time_rate":
            out[b] = c["t"] / c["s"] if c["s"] else None
        else:
            out[b] = c["o"] / c["r"] if c["r"] else None
    return out


async def _history(url: str, scope: Scope, code: str, place: str, bucket: Bucket) -> dict[datetime, float | None]:
    end = NOW if bucket == "hour" else datetime(2026, 12, 1, tzinfo=VN)
    async with await AsyncConnection.connect(url) as conn:
        series = await history(conn, scope, code, place, START, end, bucket, now=NOW)
    return dict(series)


def _assert_equal(got: dict[datetime, float | None], expected: dict[datetime, float | None]) -> None:
    for b, value in got.items():
        want = expected.get(b)
        assert (value is None) == (want is None), (b, value, want)
        if value is not None:
            assert value == pytest.approx(want), (b, value, want)
    assert set(expected) - set(got) <= {b for b in expected if b >= NOW}, "a bucket with data is missing"


SCOPES = {
    "national": Scope.everything(),
    "one commune": Scope(communes=frozenset({"00004"})),
    "province, one sector": Scope(provinces=frozenset({"01"}), sectors=frozenset({"Đất đai"})),
}


@pytest.fixture(scope="module")
def written(db: str) -> str:
    import asyncio

    asyncio.run(_write(db, RECEIPTS))
    asyncio.run(_run_job(db))
    asyncio.run(_write(db, RESOLUTIONS))  # after a first run: the next run must pick them up
    run = asyncio.run(_run_job(db))
    assert run.ran and run.dossiers == len(RESOLUTIONS)
    return db


@pytest.mark.parametrize("bucket", ["hour", "day", "week", "month"])
@pytest.mark.parametrize("code", ["on_time_rate", "online_submission_share"])
@pytest.mark.parametrize("scope_name", list(SCOPES))
@pytest.mark.parametrize("place", ["01", "00004"])
async def test_history_equals_direct_computation(written: str, bucket: Bucket, code: str, scope_name: str,
                                                 place: str) -> None:  # fmt: skip
    scope = SCOPES[scope_name]
    got = await _history(written, scope, code, place, bucket)
    _assert_equal(got, _direct(written, scope, place, bucket, code))
    assert any(v is not None for v in got.values())


async def test_a_run_with_nothing_new_changes_nothing(written: str) -> None:
    with psycopg.connect(written) as conn:
        before = conn.execute("SELECT * FROM dossier_daily_province ORDER BY 1, 2").fetchall()
    run = await _run_job(written)
    assert run.ran and run.dossiers == 0
    with psycopg.connect(written) as conn:
        assert conn.execute("SELECT * FROM dossier_daily_province ORDER BY 1, 2").fetchall() == before


async def test_rollups_agree_with_the_exact_daily_rollup(written: str) -> None:
    """Summed by local day and province, the job's rollups equal the writer's dossier_daily."""
    with psycopg.connect(written) as conn:
        exact = conn.execute(
            "SELECT province_code, day, sum(received), sum(received_online), sum(resolved), sum(resolved_early),"
            " sum(resolved_on_time), sum(resolved_late) FROM dossier_daily GROUP BY 1, 2 HAVING sum(received) > 0"
            " OR sum(resolved) > 0 ORDER BY 1, 2"
        ).fetchall()
        for table, day in (("dossier_daily_province", "day_start"), ("dossier_daily_commune", "day_start"),
                           ("dossier_hourly", "hour_start")):  # fmt: skip
            rolled = conn.execute(
                f"SELECT province_code, ({day} AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, sum(received),"
                f" sum(received_online), sum(resolved), sum(resolved_early), sum(resolved_on_time), sum(resolved_late)"
                f" FROM {table} GROUP BY 1, 2 HAVING sum(received) > 0 OR sum(resolved) > 0 ORDER BY 1, 2"
            ).fetchall()
            assert rolled == exact, table


async def test_stock_history_is_the_last_snapshot_of_each_bucket(db: str, written: str) -> None:
    """Snapshots at three instants; each equals the count computed from the dossier rows then."""
    instants = [datetime(2026, 11, 23, 9, 30, tzinfo=VN), datetime(2026, 11, 23, 9, 50, tzinfo=VN),
                datetime(2026, 11, 24, 15, 10, tzinfo=VN)]  # fmt: skip
    expected: dict[datetime, int] = {}
    for t in instants:
        with psycopg.connect(written) as conn:
            row = conn.execute(
                "SELECT count(*) FROM dossier WHERE closed_at IS NULL AND due_at < %s AND province_code = '01'", [t]
            ).fetchone()
        assert row is not None
        expected[t] = int(row[0])
        async with await AsyncConnection.connect(written) as conn:
            await snapshot_stocks(conn, t)
    async with await AsyncConnection.connect(written) as conn:
        hours = dict(await history(conn, Scope.everything(), "overdue_count", "01",
                                   datetime(2026, 11, 23, 9, tzinfo=VN), datetime(2026, 11, 23, 12, tzinfo=VN),
                                   "hour", now=NOW))  # fmt: skip
        days = dict(await history(conn, Scope.everything(), "overdue_count", "01", datetime(2026, 11, 22, tzinfo=VN),
                                  datetime(2026, 11, 25, tzinfo=VN), "day", now=NOW))  # fmt: skip
    # 09:00–10:00 holds two snapshots: the later (09:50) one stands for the hour; no snapshot at 10 or 11.
    assert hours == {
        datetime(2026, 11, 23, 9, tzinfo=VN): expected[instants[1]],
        datetime(2026, 11, 23, 10, tzinfo=VN): None,
        datetime(2026, 11, 23, 11, tzinfo=VN): None,
    }
    assert days == {datetime(2026, 11, 22, tzinfo=VN): None, datetime(2026, 11, 23, tzinfo=VN): expected[instants[1]],
                    datetime(2026, 11, 24, tzinfo=VN): expected[instants[2]]}  # fmt: skip
    assert expected[instants[1]] > 0


async def test_refusals(written: str) -> None:
    async with await AsyncConnection.connect(written) as conn:
        with pytest.raises(NotInScope):
            await history(conn, Scope(provinces=frozenset({"01"})), "on_time_rate", "79", START, NOW, "day", now=NOW)
        with pytest.raises(NotInScope):
            await history(conn, Scope(provinces=frozenset({"01"})), "on_time_rate", "25747", START, NOW, "day",
                          now=NOW)  # fmt: skip
        with pytest.raises(HistoryError):
            await history(conn, Scope.everything(), "no_such_indicator", "01", START, NOW, "day", now=NOW)
        with pytest.raises(HistoryError):
            await history(conn, Scope.everything(), "on_time_rate", "01", START, START + timedelta(days=200), "hour",
                          now=NOW)  # fmt: skip
        with pytest.raises(HistoryError):
            await history(conn, Scope.everything(), "on_time_rate", "01", NOW, START, "day", now=NOW)


async def test_future_buckets_have_no_value(written: str) -> None:
    async with await AsyncConnection.connect(written) as conn:
        series = await history(conn, Scope.everything(), "on_time_rate", "01", datetime(2026, 11, 24, tzinfo=VN),
                               datetime(2026, 11, 28, tzinfo=VN), "day", now=NOW)  # fmt: skip
    assert [v is None for _, v in series][2:] == [True, True]  # 26 and 27 November


def test_every_dossier_flow_indicator_has_history(written: str) -> None:
    assert {c for c, i in INDICATORS.items() if i.stream == "dossier" and i.temporal == "flow"} >= {
        "on_time_rate",
        "online_submission_share",
    }
    assert UTC  # the module compares aware datetimes throughout
