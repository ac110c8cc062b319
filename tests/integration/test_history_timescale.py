"""History in TimescaleDB mode (continuous aggregates over the job's delta hypertable) gives the
same answers as plain PostgreSQL (rollup tables the job upserts), for every bucket size.

The same dossiers are written to a plain database and to one on a cluster preloading
timescaledb; the history job runs on both, twice (receipts, then resolutions), and every history
answer must match. Skipped, with its reason, where the extension is not installed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import psycopg
import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres
from ioc.indicators.buckets import Bucket
from ioc.indicators.history import history
from ioc.sources import register_source
from tests.conftest import fresh_database
from tests.integration.test_history import NOW, RECEIPTS, RESOLUTIONS, START, VN, _run_job, _write
from tests.integration.test_timescale import timescale_cluster  # noqa: F401  (a fixture; skips without the extension)
from tests.integration.writer_support import SOURCE_ID


def _prepare(url: str) -> str:
    register_source(url, SOURCE_ID, "Nguồn thử nghiệm")
    asyncio.run(_write(url, RECEIPTS))
    asyncio.run(_run_job(url))
    asyncio.run(_write(url, RESOLUTIONS))
    asyncio.run(_run_job(url))
    return url


@pytest.fixture(scope="module")
def both(pg_server: EmbeddedPostgres, timescale_cluster: EmbeddedPostgres) -> tuple[str, str]:  # noqa: F811
    return _prepare(fresh_database(pg_server)), _prepare(fresh_database(timescale_cluster))


def test_timescale_database_uses_continuous_aggregates(both: tuple[str, str]) -> None:
    _, timescale = both
    with psycopg.connect(timescale) as conn:
        views = {r[0] for r in conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates")}  # fmt: skip
    assert views == {"dossier_hourly", "dossier_daily_commune", "dossier_daily_province"}


@pytest.mark.parametrize("bucket", ["hour", "day", "week", "month"])
@pytest.mark.parametrize("place", ["01", "00004", "79"])
@pytest.mark.parametrize("code", ["on_time_rate", "online_submission_share"])
async def test_same_history_in_both_modes(both: tuple[str, str], bucket: Bucket, place: str, code: str) -> None:
    end = NOW if bucket == "hour" else datetime(2026, 12, 1, tzinfo=VN)
    answers = []
    for url in both:
        for scope in (Scope.everything(), Scope(provinces=frozenset({"01", "79"}), sectors=frozenset({"Hộ tịch"}))):
            async with await AsyncConnection.connect(url) as conn:
                answers.append(await history(conn, scope, code, place, START, end, bucket, now=NOW))
    plain_national, plain_sector, ts_national, ts_sector = answers
    assert plain_national == ts_national
    assert plain_sector == ts_sector
    assert any(v is not None for _, v in plain_national)
