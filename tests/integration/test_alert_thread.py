"""The alert role inside an API process (the embedded default) runs off the serving event loop.

A planning round that does not return (standing in for a slow one over thousands of alerts) must
not keep the process from answering: the request is answered while the round is still running.
Had the round run on the serving loop, the request could not be answered until it returned, and
the client's timeout would fail the test. No wall-clock figure is asserted: only the order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from alerts.service import AlertService
from ioc.db.embedded import EmbeddedPostgres
from ioc.db.pool import Conn
from tests.conftest import fresh_database, running_app, wait_until


class StuckPlanner:
    """Replaces one planning round with one that waits, blocking its thread, until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.loop_thread: str | None = None

    async def plan(self, _conn: Conn, _now: datetime) -> None:
        if self.entered.is_set():
            return  # only the first round is stuck
        self.loop_thread = threading.current_thread().name
        self.entered.set()
        self.release.wait(timeout=120)  # blocks the loop this runs on, as a CPU-bound pass would
        self.finished.set()


@pytest.fixture
def stuck(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckPlanner]:
    planner = StuckPlanner()
    monkeypatch.setattr(AlertService, "_plan", planner.plan)
    yield planner
    planner.release.set()


def test_a_stuck_planning_round_does_not_keep_the_api_from_answering(
    pg_server: EmbeddedPostgres, stuck: StuckPlanner
) -> None:
    with running_app(fresh_database(pg_server), run_alerts=True, notify_interval_seconds=0.2) as server:
        wait_until(stuck.entered.is_set, timeout=30)
        with httpx.Client(base_url=server.url, timeout=20) as client:
            health = client.get("/healthz")
            ready = client.get("/readyz")
            status = client.get("/api/v1/status/provinces", headers={"Authorization": f"Bearer {server.admin_token}"})
        assert (health.status_code, ready.status_code, status.status_code) == (200, 200, 200)
        assert not stuck.finished.is_set()  # answered while the round was still stuck
        assert stuck.loop_thread == "ioc-alerts"
        stuck.release.set()
        wait_until(stuck.finished.is_set, timeout=30)


def test_both_event_loops_report_their_lag(live_alerts_url: str) -> None:
    def lag_series() -> set[str]:
        text = httpx.get(f"{live_alerts_url}/metrics", timeout=10).text
        return {loop for loop in ("api", "alerts") if f'ioc_event_loop_lag_seconds_count{{loop="{loop}"}}' in text}

    wait_until(lambda: lag_series() == {"api", "alerts"}, timeout=30)


@pytest.fixture
def live_alerts_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    with running_app(fresh_database(pg_server), run_alerts=True) as server:
        yield server.url
