"""The dossier writer's two stages (ingest/writer.py, ingest/projector.py): what a source gets back
with each `ack`, what the projector loop does with a batch nobody applied, that a batch applied
twice counts once, how receipts tell new events from known ones, and the rollup's compaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection

from ingest.projector import DossierProjector
from ingest.reference import CalendarStore, ProcedureCache
from ingest.rollup_compaction import COMPACTION_LOCK_KEY, TRY_LOCK, compact_rollup
from ioc.sources import register_source
from tests.conftest import LiveServer, wait_until
from tests.integration.ingest_support import INGEST, dossier, event, ok, receipt, scalar, snapshot
from tests.integration.writer_support import SOURCE_ID, project, store_batch, write_batch

QUEUED = "SELECT count(*)::int FROM dossier_projection_queue"
PENDING = "SELECT count(*)::int FROM dossier_daily WHERE pending"


def _state(db_url: str, code: str) -> tuple[Any, ...] | None:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT status, received_at, due_at, paused_seconds, resolved_at, outcome, last_event_at "
            "FROM dossier WHERE code = %s",
            [code],
        ).fetchone()


def _paused_then_resolved(prefix: str, code: str, t0: datetime) -> list[dict[str, Any]]:
    # A pause and a resume: applied twice, the paused time (and so the deadline) would double.
    return [
        receipt(f"{prefix}-1", code, t0),
        event(f"{prefix}-2", code, "supplement_requested", t0 + timedelta(hours=2)),
        event(f"{prefix}-3", code, "supplement_received", t0 + timedelta(days=1, hours=2)),
        event(f"{prefix}-4", code, "resolved", t0 + timedelta(days=2)),
    ]


# --------------------------------------------------------------------------- ack over HTTP


def test_default_ack_answers_once_the_batch_is_applied(live_server: LiveServer) -> None:
    t0 = datetime.now(UTC) - timedelta(days=3)
    body = ok(live_server.post_events([receipt("ap-1", "HS-AP", t0)]))
    assert body["accepted"] == 1
    # No waiting: the state, the rollup and the (empty) queue are as they will stay.
    assert dossier(live_server, "HS-AP")["state"]["status"] == "received"
    assert scalar(live_server.db_url, "SELECT sum(received)::int FROM dossier_daily") == 1
    assert scalar(live_server.db_url, QUEUED) == 0


def test_ack_stored_answers_once_stored_and_the_projector_loop_applies_the_batch(live_server: LiveServer) -> None:
    db = live_server.db_url
    t0 = datetime.now(UTC) - timedelta(days=3)
    with live_server.client() as client:
        response = client.post(
            INGEST, params={"ack": "stored"}, json=_paused_then_resolved("st", "HS-ST", t0),
            headers={"Authorization": f"Bearer {live_server.api_key}"},
        )  # fmt: skip
        bad = client.post(
            INGEST, params={"ack": "later"}, json=[receipt("st-9", "HS-ST9", t0)],
            headers={"Authorization": f"Bearer {live_server.api_key}"},
        )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["accepted"] == 4
    assert bad.status_code == 422  # an unknown ack is refused before anything is written
    assert scalar(db, "SELECT count(*)::int FROM event_receipt WHERE event_id = 'st-9'") == 0

    # The loop is woken by the writer's notification: no need to wait for its 5-second round.
    wait_until(lambda: scalar(db, QUEUED) == 0 and _state(db, "HS-ST") is not None, timeout=4)
    state = dossier(live_server, "HS-ST")["state"]
    assert (state["status"], state["outcome"]) == ("resolved", "early")
    assert scalar(db, "SELECT sum(resolved)::int FROM dossier_daily") == 1
    with live_server.anonymous() as anonymous:
        metrics = anonymous.get("/metrics").text
    assert "ioc_ingest_dossier_batches_caught_up_total 1.0" in metrics


# --------------------------------------------------------------------------- batches nobody applied


async def test_a_batch_left_between_the_stages_is_refolded_from_the_log(db_url: str) -> None:
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    now = datetime.now(UTC)
    t0 = now - timedelta(days=5)
    await store_batch(db_url, _paused_then_resolved("lf", "HS-LF", t0), now)  # then the process died
    assert _state(db_url, "HS-LF") is None
    assert scalar(db_url, QUEUED) == 1

    projector = DossierProjector(ProcedureCache(), CalendarStore())
    async with await AsyncConnection.connect(db_url) as conn:
        # Still within the grace a live request has to apply its own batch: left alone.
        assert await projector.catch_up(conn, grace=timedelta(seconds=30)) == 0
        assert await projector.catch_up(conn, grace=timedelta(0)) == 1
        assert await projector.catch_up(conn, grace=timedelta(0)) == 0  # nothing left

    # The same as a batch applied by its own request.
    register_source(db_url, "peer", "Nguồn đối chiếu")
    await _applied_elsewhere(db_url, t0, now)
    left, applied = _state(db_url, "HS-LF"), _state(db_url, "HS-LF-PEER")
    assert left is not None and left == applied
    assert left[0] == "resolved" and left[3] > 0  # the pause counted, once
    assert scalar(db_url, QUEUED) == 0
    assert scalar(db_url, "SELECT sum(received)::int FROM dossier_daily") == 2
    assert scalar(db_url, "SELECT sum(resolved)::int FROM dossier_daily") == 2


async def _applied_elsewhere(db_url: str, t0: datetime, now: datetime) -> None:
    outcome = await store_batch(db_url, _paused_then_resolved("pe", "HS-LF-PEER", t0), now)
    async with await AsyncConnection.connect(db_url) as conn:
        await project(conn, outcome)


async def test_a_batch_applied_twice_counts_once(db_url: str) -> None:
    # A catch-up (another process's loop, after the grace) refolds the dossier from the log, this
    # batch's events included, before the batch's own request applies them: the request must see
    # that its events are in the state already and refold, not add them again.
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    now = datetime.now(UTC)
    t0 = now - timedelta(days=5)
    # Still open after the resume: a second application would pause and resume it again.
    outcome = await store_batch(db_url, _paused_then_resolved("tw", "HS-TW", t0)[:3], now)
    projector = DossierProjector(ProcedureCache(), CalendarStore())
    async with await AsyncConnection.connect(db_url) as conn:
        assert await projector.catch_up(conn, grace=timedelta(0)) == 1
    once = _state(db_url, "HS-TW")
    assert once is not None and once[0] == "received" and once[3] > 0
    daily_once = snapshot(db_url)["daily"]
    async with await AsyncConnection.connect(db_url) as conn:
        await project(conn, outcome)  # the request, late
    assert _state(db_url, "HS-TW") == once
    assert snapshot(db_url)["daily"] == daily_once
    assert scalar(db_url, QUEUED) == 0


async def test_two_loops_never_apply_the_same_batch(db_url: str) -> None:
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    now = datetime.now(UTC)
    t0 = now - timedelta(days=4)
    for i in range(6):
        await store_batch(db_url, [receipt(f"lp-{i}", f"HS-LP-{i % 3}", t0 + timedelta(minutes=i))], now)

    async def loop() -> int:
        async with await AsyncConnection.connect(db_url) as conn:
            return await DossierProjector(ProcedureCache(), CalendarStore()).catch_up(conn, grace=timedelta(0))

    done = await asyncio.gather(loop(), loop())
    assert sum(done) == 6  # each batch once, whichever loop took it
    assert scalar(db_url, QUEUED) == 0
    assert scalar(db_url, "SELECT count(*)::int FROM dossier") == 3
    assert scalar(db_url, "SELECT sum(received)::int FROM dossier_daily") == 3


# --------------------------------------------------------------------------- receipts


async def test_receipts_tell_new_events_from_known_ones_in_a_partly_replayed_batch(live_server: LiveServer) -> None:
    # The COPY fast path fails on the known id; the fallback must still accept the new ones.
    t0 = datetime.now(UTC) - timedelta(days=2)
    first = ok(live_server.post_events([receipt("rc-1", "HS-RC1", t0), receipt("rc-2", "HS-RC2", t0)]))
    assert first["accepted"] == 2
    second = ok(
        live_server.post_events([
            receipt("rc-2", "HS-RC2", t0),
            receipt("rc-3", "HS-RC3", t0),
            event("rc-4", "HS-RC1", "resolved", t0 + timedelta(hours=3)),
        ])
    )  # fmt: skip
    assert [(r["event_id"], r["status"]) for r in second["results"]] == [
        ("rc-2", "duplicate"), ("rc-3", "accepted"), ("rc-4", "accepted"),
    ]  # fmt: skip
    db = live_server.db_url
    assert scalar(db, "SELECT count(*)::int FROM event_receipt") == 4
    assert scalar(db, "SELECT count(*)::int FROM dossier_event") == 4
    assert scalar(db, "SELECT sum(received)::int FROM dossier_daily") == 3
    assert scalar(db, "SELECT sum(resolved)::int FROM dossier_daily") == 1


# --------------------------------------------------------------------------- rollup compaction


async def test_compaction_merges_pending_rows_into_one_row_per_key_and_changes_no_answer(db_url: str) -> None:
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    now = datetime.now(UTC)
    t0 = (now - timedelta(days=3)).replace(hour=2)  # 09:00 in Hà Nội: every receipt on one local day
    # Four batches into the same key (day, commune, agency, sector), and a resolution that takes
    # one back out of the "open" picture: pending rows of +1s that must merge into one row.
    for i in range(4):
        await write_batch(db_url, [receipt(f"cp-{i}", f"HS-CP-{i}", t0 + timedelta(minutes=i))], now)
    await write_batch(db_url, [event("cp-9", "HS-CP-0", "resolved", t0 + timedelta(hours=1))], now)
    before = snapshot(db_url)["daily"]
    assert scalar(db_url, PENDING) >= 5

    async with await AsyncConnection.connect(db_url) as conn:
        assert await compact_rollup(conn)
    assert scalar(db_url, PENDING) == 0
    assert snapshot(db_url)["daily"] == before
    assert scalar(db_url, "SELECT count(*)::int FROM dossier_daily") == len(before)

    # Later changes merge into the merged rows; a second run with nothing pending changes nothing.
    await write_batch(db_url, [receipt("cp-5", "HS-CP-5", t0 + timedelta(minutes=30))], now)
    async with await AsyncConnection.connect(db_url) as conn:
        assert await compact_rollup(conn)
        assert await compact_rollup(conn)
    after = snapshot(db_url)["daily"]
    assert scalar(db_url, "SELECT count(*)::int FROM dossier_daily") == len(after) == len(before)
    assert sum(row[5] for row in after) == sum(row[5] for row in before) + 1


async def test_only_one_compaction_runs_at_a_time(db_url: str) -> None:
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    now = datetime.now(UTC)
    await write_batch(db_url, [receipt("ol-1", "HS-OL", now - timedelta(days=1))], now)
    async with await AsyncConnection.connect(db_url) as holder, await AsyncConnection.connect(db_url) as conn:
        await holder.execute(TRY_LOCK, [COMPACTION_LOCK_KEY])  # another process is compacting
        assert not await compact_rollup(conn)
        assert scalar(db_url, PENDING) == 1
        await holder.rollback()
        assert await compact_rollup(conn)
    assert scalar(db_url, PENDING) == 0


class _FailsOn(DossierProjector):
    """A projector whose fold fails for one dossier, as a bug or bad stored data would make it."""

    def __init__(self, code: str) -> None:
        super().__init__(ProcedureCache(), CalendarStore())
        self._code = code

    async def _project(
        self, conn: Any, by_dossier: dict[str, list[Any]], *, refold_all: bool,
        owner_places: dict[str, tuple[str, str | None]] | None = None,
    ) -> set[str]:
        if self._code in by_dossier:
            raise RuntimeError("cannot fold")
        return await super()._project(conn, by_dossier, refold_all=refold_all, owner_places=owner_places)


async def test_a_batch_that_cannot_be_applied_does_not_hold_up_the_next(db_url: str) -> None:
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    now = datetime.now(UTC)
    t0 = now - timedelta(days=2)
    await store_batch(db_url, [receipt("po-1", "HS-POISON", t0)], now)
    await store_batch(db_url, [receipt("po-2", "HS-NEXT", t0)], now)
    async with await AsyncConnection.connect(db_url) as conn:
        assert await _FailsOn("HS-POISON").catch_up(conn, grace=timedelta(0)) == 1
    assert _state(db_url, "HS-NEXT") is not None
    assert _state(db_url, "HS-POISON") is None
    assert scalar(db_url, QUEUED) == 1  # kept, nothing half-written: its transaction rolled back
    async with await AsyncConnection.connect(db_url) as conn:  # once fixed, it is applied
        assert await DossierProjector(ProcedureCache(), CalendarStore()).catch_up(conn, grace=timedelta(0)) == 1
    assert _state(db_url, "HS-POISON") is not None
    assert scalar(db_url, QUEUED) == 0
