"""TimescaleDB storage mode: the docker-compose deployment's store, exercised on a second embedded
cluster that preloads the extension.

The plain embedded default (monthly partitions) is the reference: the same batch posted to both
must give the same per-item results, the same status by province and the same dossier pages.
The extension is not in Debian's registry, so on a machine without it the module skips, loudly.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.calendar import WorkingCalendar
from ioc.db.embedded import EmbeddedPostgres, EmbeddedPostgresError, find_bin_dir, timescaledb_installed
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.localities.catalogue import load_catalogue
from tests.conftest import TEMPLATE, LiveServer, fresh_database, running_app


def _timescale_available() -> bool:
    try:
        return timescaledb_installed(find_bin_dir())
    except EmbeddedPostgresError:
        return False


if not _timescale_available():
    pytest.skip(
        "timescaledb extension not installed on this PostgreSQL (it is not in Debian's registry); "
        "the docker-compose deployment runs it",
        allow_module_level=True,
    )

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


# -- the TimescaleDB cluster and a server on it --------------------------------------------------


@pytest.fixture(scope="module")
def timescale_cluster() -> Iterator[EmbeddedPostgres]:
    """A second embedded cluster preloading timescaledb, with a migrated template database.

    Each test clones its own database from the template (as the plain fixtures do), so one test's
    events never show up in another's status totals.
    """
    # /tmp is world-traversable, so the unprivileged postgres account can reach it when we are root.
    root = Path(tempfile.mkdtemp(prefix="ioc-test-tsdb-"))
    root.chmod(0o755)
    cluster = EmbeddedPostgres(root / "data", timescale=True)
    cluster.start()
    try:
        with psycopg.connect(cluster.url_for("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        template_url = cluster.url_for(TEMPLATE)
        apply_migrations(template_url)
        sync_localities(template_url, load_catalogue())
        _close_template(cluster)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _close_template(cluster: EmbeddedPostgres) -> None:
    """TimescaleDB runs a job scheduler connected to every database that has the extension, and
    CREATE DATABASE … TEMPLATE refuses a source with other sessions. Its own hook restarts that
    scheduler, which reconnects before the copy starts; so we shut the template to connections
    (the launcher skips such databases) and end the scheduler's session ourselves."""
    with psycopg.connect(cluster.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{TEMPLATE}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        deadline = time.monotonic() + 30
        while True:
            ended = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                [TEMPLATE],
            ).fetchone()
            if ended is not None and ended[0] == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sessions on {TEMPLATE} did not end")
            time.sleep(0.1)


@pytest.fixture
def timescale_server(timescale_cluster: EmbeddedPostgres) -> Iterator[LiveServer]:
    with running_app(fresh_database(timescale_cluster)) as server:
        yield server


def _row(url: str, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.encode(), params).fetchone()
    assert row is not None
    return tuple(row)


def _scalar(url: str, sql: str, params: list[Any] | None = None) -> Any:
    return _row(url, sql, params)[0]


# -- schema in TimescaleDB mode ------------------------------------------------------------------


def test_storage_mode_is_timescaledb(timescale_server: LiveServer) -> None:
    assert _scalar(timescale_server.db_url, "SELECT ioc_storage_mode()") == "timescaledb"


def test_dossier_event_is_a_compressed_hypertable(timescale_server: LiveServer) -> None:
    row = _row(
        timescale_server.db_url,
        "SELECT compression_enabled, num_dimensions FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = 'public' AND hypertable_name = 'dossier_event'",
    )
    assert row == (True, 1)
    dimension = _row(
        timescale_server.db_url,
        "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_name = 'dossier_event'",
    )
    assert dimension == ("occurred_at", timedelta(days=7))


@pytest.mark.parametrize(
    ("proc_name", "config_key", "interval"),
    [
        ("policy_compression", "compress_after", "60 days"),
        ("policy_retention", "drop_after", "3 years"),
    ],
)
def test_policy_job_exists(timescale_server: LiveServer, proc_name: str, config_key: str, interval: str) -> None:
    configured = _scalar(
        timescale_server.db_url,
        "SELECT array_agg(config ->> %s) FROM timescaledb_information.jobs "
        "WHERE proc_name = %s AND hypertable_name = 'dossier_event'",
        [config_key, proc_name],
    )
    assert configured == [interval]


def test_partition_helpers_do_nothing_in_timescaledb_mode(timescale_server: LiveServer) -> None:
    url = timescale_server.db_url
    created = _scalar(
        url, "SELECT ensure_dossier_event_partitions(%s, %s)",
        [datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)],
    )  # fmt: skip
    dropped = _scalar(url, "SELECT drop_dossier_event_partitions_before(%s)", [datetime(2100, 1, 1, tzinfo=UTC)])
    monthly = _scalar(url, "SELECT count(*) FROM pg_class WHERE relname ~ '^dossier_event_[0-9]{6}$'")
    assert (created, dropped, monthly) == (0, 0, 0)


# -- the same batch, the same answers ------------------------------------------------------------

# Anchored to today's date because the status windows and the future-time check are relative to
# the server clock; every instant below is a whole local hour a fixed number of days back.
TODAY_UTC = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
CALENDAR = WorkingCalendar()


def at(days_ago: int, local_hour: int) -> datetime:
    local_day = (TODAY_UTC - timedelta(days=days_ago)).astimezone(LOCAL_TZ).date()
    return datetime(local_day.year, local_day.month, local_day.day, local_hour, tzinfo=LOCAL_TZ)


PROCEDURES: dict[str, dict[str, Any]] = {
    "P3": {"code": "1.000003", "name": "Cấp bản sao trích lục hộ tịch", "sector": "Hộ tịch", "statutory_days": 3},
    "P10": {"code": "1.000010", "name": "Cấp giấy phép xây dựng", "sector": "Xây dựng", "statutory_days": 10},
}


def event(
    event_id: str, dossier: str, kind: str, when: datetime, locality: dict[str, str],
    procedure: str | None = None, channel: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    item: dict[str, Any] = {
        "event_id": event_id, "dossier_code": dossier, "event_type": kind,
        "occurred_at": when.isoformat(), "locality": locality,
    }  # fmt: skip
    if procedure is not None:
        item["procedure"] = PROCEDURES[procedure]
    if channel is not None:
        item["channel"] = channel
    return item


HN_BA_DINH = {"commune_code": "00004"}
HN_NGOC_HA = {"commune_code": "00008"}
HCM_A = {"commune_code": "25747"}
HCM_B = {"commune_code": "25750"}
DN_A = {"commune_code": "20194"}
DN_PROVINCE_ONLY = {"province_code": "48"}

HN2_RECEIVED = at(20, 9)
# Resolved exactly at the statutory deadline: on time, not early and not late.
HN2_DUE = CALENDAR.add_working_days(HN2_RECEIVED, 3)

BATCH: list[dict[str, Any]] = [
    # Hà Nội: early, on time, late with an apology.
    event("e01", "HN-1", "received", at(27, 9), HN_BA_DINH, "P3", "online"),
    event("e02", "HN-1", "resolved", at(27, 15), HN_BA_DINH),
    event("e03", "HN-2", "received", HN2_RECEIVED, HN_NGOC_HA, "P3", "direct"),
    event("e04", "HN-2", "resolved", HN2_DUE, HN_NGOC_HA),
    event("e05", "HN-3", "received", at(25, 9), HN_BA_DINH, "P3", "postal"),
    event("e06", "HN-3", "apology_issued", at(6, 10), HN_BA_DINH),
    event("e07", "HN-3", "resolved", at(5, 10), HN_BA_DINH),
    # Hồ Chí Minh: a supplement pause, an open overdue dossier with and without an apology.
    event("e08", "HCM-1", "received", at(18, 8), HCM_A, "P10", "online"),
    event("e09", "HCM-1", "supplement_requested", at(17, 10), HCM_A),
    event("e10", "HCM-1", "supplement_received", at(12, 10), HCM_A),
    event("e11", "HCM-1", "resolved", at(3, 14), HCM_A),
    event("e12", "HCM-2", "received", at(14, 9), HCM_B, "P3", "direct"),
    event("e13", "HCM-3", "received", at(12, 9), HCM_A, "P3", "online"),
    event("e14", "HCM-3", "apology_issued", at(2, 9), HCM_A),
    # Đà Nẵng: open and in time, rejected, events listed out of order, an orphan with no receipt.
    event("e15", "DN-1", "received", at(4, 9), DN_A, "P10", "online"),
    event("e16", "DN-2", "received", at(9, 10), DN_PROVINCE_ONLY, "P3", "direct"),
    event("e17", "DN-2", "rejected", at(8, 10), DN_PROVINCE_ONLY),
    event("e18", "DN-3", "supplement_received", at(1, 9), DN_A),
    event("e19", "DN-3", "supplement_requested", at(5, 9), DN_A),
    event("e20", "DN-3", "received", at(6, 9), DN_A, "P10", "direct"),
    event("e21", "DN-ORPHAN", "resolved", at(3, 11), DN_A),
    # Refusals and a duplicate: their results must match too.
    event("e22", "XX-1", "received", at(3, 9), {"commune_code": "99999"}, "P3", "online"),
    event("e23", "XX-2", "received", at(3, 9), DN_A, "P3"),
    event("e01", "HN-1", "received", at(27, 9), HN_BA_DINH, "P3", "online"),
]
DOSSIER_CODES = ["HN-1", "HN-2", "HN-3", "HCM-1", "HCM-2", "HCM-3", "DN-1", "DN-2", "DN-3", "DN-ORPHAN"]


def _get(server: LiveServer, path: str) -> dict[str, Any]:
    with server.client() as c:
        response = c.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body.pop("generated_at", None)
    for e in body.get("events", []):
        e.pop("ingested_at", None)
    return body


def _post(server: LiveServer, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = server.post_events(events)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_same_batch_gives_same_results(live_server: LiveServer, timescale_server: LiveServer) -> None:
    plain, timescale = _post(live_server, BATCH), _post(timescale_server, BATCH)
    assert timescale == plain
    assert (plain["accepted"], plain["duplicate"], plain["rejected"]) == (21, 1, 2)
    again_plain, again_timescale = _post(live_server, BATCH), _post(timescale_server, BATCH)
    assert again_timescale == again_plain
    assert again_plain["accepted"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/status/provinces?window=30d",
        "/api/v1/status/provinces?window=7d",
        "/api/v1/status/provinces/79/communes?window=30d",
        *[f"/api/v1/dossiers/{code}" for code in DOSSIER_CODES],
    ],
)
def test_same_queries_give_same_answers(live_server: LiveServer, timescale_server: LiveServer, path: str) -> None:
    _post(live_server, BATCH)
    _post(timescale_server, BATCH)
    assert _get(timescale_server, path) == _get(live_server, path)


def test_batch_covers_every_outcome(live_server: LiveServer) -> None:
    """Guards the comparison above: it only means something if the batch exercises the cases."""
    _post(live_server, BATCH)
    outcomes = {code: (_get(live_server, f"/api/v1/dossiers/{code}")["state"] or {}).get("outcome")
                for code in ("HN-1", "HN-2", "HN-3")}  # fmt: skip
    assert outcomes == {"HN-1": "early", "HN-2": "on_time", "HN-3": "late"}
    provinces = {p["code"]: p for p in _get(live_server, "/api/v1/status/provinces?window=30d")["provinces"]}
    assert [provinces[c]["received"] for c in ("01", "79", "48")] == [3, 3, 3]
    assert provinces["79"]["overdue"] == 2
    assert provinces["79"]["late_without_apology"] == 1


# -- writing into compressed chunks -------------------------------------------------------------

LATE_LOCALITY = HCM_A
BEFORE_COMPRESSION = [
    event("c1", "HCM-LATE", "received", at(20, 9), LATE_LOCALITY, "P10", "online"),
    event("c2", "HCM-LATE", "supplement_requested", at(18, 9), LATE_LOCALITY),
    event("c3", "HCM-LATE", "resolved", at(2, 10), LATE_LOCALITY),
]
# Arrives after the chunks are compressed and lands inside one of them, before the resolution.
LATE_ARRIVAL = [event("c4", "HCM-LATE", "supplement_received", at(15, 9), LATE_LOCALITY)]


def _compress_all_chunks(url: str) -> list[bool]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('dossier_event') c")
        rows = conn.execute(
            "SELECT is_compressed FROM timescaledb_information.chunks WHERE hypertable_name = 'dossier_event'"
        ).fetchall()
    return [bool(r[0]) for r in rows]


def test_out_of_order_event_into_compressed_chunk_refolds(
    live_server: LiveServer, timescale_server: LiveServer
) -> None:
    for server in (live_server, timescale_server):
        assert _post(server, BEFORE_COMPRESSION)["accepted"] == 3
    before = _get(timescale_server, "/api/v1/dossiers/HCM-LATE")["state"]
    # Resolved while paused: the pause runs until the resolution.
    assert before["paused_working_seconds"] == CALENDAR.working_seconds_between(at(18, 9), at(2, 10))

    compressed = _compress_all_chunks(timescale_server.db_url)
    assert compressed and all(compressed)

    for server in (live_server, timescale_server):
        assert _post(server, LATE_ARRIVAL)["accepted"] == 1
    after = _get(timescale_server, "/api/v1/dossiers/HCM-LATE")
    assert after == _get(live_server, "/api/v1/dossiers/HCM-LATE")
    assert [e["event_id"] for e in after["events"]] == ["c1", "c2", "c4", "c3"]
    state = after["state"]
    assert state["status"] == "resolved"
    assert state["paused_at"] is None
    assert state["paused_working_seconds"] == CALENDAR.working_seconds_between(at(18, 9), at(15, 9))
    status_path = "/api/v1/status/provinces?window=30d"
    assert _get(timescale_server, status_path) == _get(live_server, status_path)


# -- reading one dossier's history from compressed chunks ----------------------------------------

# The writer reads a dossier's whole history (no time bound) for every new or out-of-order
# dossier in a batch, and the dossier page does the same; on compressed chunks that read should
# open only the compressed batches (up to 1000 rows each) that can hold that dossier.
HISTORY_LOOKUP = "SELECT occurred_at, event_type FROM dossier_event WHERE dossier_code = ANY(%s)"
FILL_ONE_PROVINCE = """
INSERT INTO dossier_event (occurred_at, dossier_code, event_type, source_id, event_id, ingested_at,
                           province_code, commune_code, agency_code, procedure_code, channel)
SELECT %(start)s + (d * 60 + k * 86400) * interval '1 second', 'BULK-' || d, 'received', 'bulk',
       'bulk-' || d || '-' || k, now(), '79', '25747', NULL, '1.000003', 'online'
FROM generate_series(1, 5000) d, generate_series(0, 3) k
"""


def _compressed_batches_read(url: str, codes: list[str]) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {HISTORY_LOOKUP}".encode(), [codes]).fetchone()
    assert row is not None

    def walk(node: dict[str, Any]) -> int:
        own = node["Actual Rows"] * node["Actual Loops"] if "compress_hyper" in node.get("Relation Name", "") else 0
        return int(own) + sum(walk(child) for child in node.get("Plans", []))

    return walk(row[0][0]["Plan"])


def test_history_lookup_reads_few_compressed_batches(timescale_server: LiveServer) -> None:
    # A dossier's history lookup must skip compressed batches that cannot hold it (the bloom
    # filter on dossier_code in migration 003); without it every batch of the province is read.
    url = timescale_server.db_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FILL_ONE_PROVINCE, {"start": at(40, 8)})
    assert _compress_all_chunks(url)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM dossier_event WHERE dossier_code = 'BULK-2500'").fetchone()
    assert row == (4,)
    # 20,000 events of one province make 21 batches; one dossier's 4 events sit in a few of them
    # (a bloom filter adds the odd false positive), so reading a third of them is already too many.
    assert _compressed_batches_read(url, ["BULK-2500"]) <= 7
