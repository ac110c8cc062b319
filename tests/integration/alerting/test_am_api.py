"""POST /api/v2/alerts as Prometheus posts it: firing, resend, resolved, bad items, scope, expiry.

The real app over a real database; the router is included here too when ioc/app.py does not
include it yet, so these tests run before and after the wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from alerts.interop.store import expire_external_alerts
from ioc.api.alertmanager import alertmanager_router
from ioc.api.guard import iter_routes
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.live.channel import LIVE_CHANNEL
from ioc.settings import Settings
from ioc.sources import register_source
from tests.auth_support import bearer, user_token
from tests.conftest import fresh_database

PATH = "/api/v2/alerts"


@dataclass
class AmServer:
    url: str
    db: str
    national_key: str
    hanoi_key: str

    def post(self, body: Any, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.national_key}", "User-Agent": "Prometheus/2.42.0"}
        with httpx.Client(base_url=self.url, timeout=30) as client:
            if isinstance(body, bytes):
                return client.post(PATH, content=body, headers={**headers, "Content-Type": "application/json"})
            return client.post(PATH, json=body, headers=headers, **kwargs)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()


@contextlib.contextmanager
def am_server(url: str) -> Iterator[AmServer]:
    from ioc.app import create_app

    national = register_source(url, "prometheus", "Prometheus quốc gia")
    hanoi = register_source(url, "prometheus-hn", "Prometheus Hà Nội", scope=Scope.from_dict({"provinces": ["01"]}))
    settings = Settings(database_url=url, port=free_port())
    app = create_app(settings, url)
    if not any(entry.path == PATH for entry in iter_routes(app)):
        app.include_router(alertmanager_router())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "server did not start"
        threading.Event().wait(0.05)
    try:
        yield AmServer(f"http://127.0.0.1:{settings.port}", url, national, hanoi)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def am(pg_server: EmbeddedPostgres) -> Iterator[AmServer]:
    with am_server(fresh_database(pg_server)) as server:
        yield server


def prom_alert(name: str, *, ends_in: float = 60, started_ago: float = 30, **labels: str) -> dict[str, Any]:
    """What Prometheus' notifier sends for one firing alert (endsAt = now + 4 × resend delay)."""
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "severity": "critical", "province_code": "01", "job": "node", **labels},
        "annotations": {"summary": f"{name} firing", "summary_vi": f"{name} đang cháy"},
        "startsAt": (now - timedelta(seconds=started_ago)).isoformat(),
        "endsAt": (now + timedelta(seconds=ends_in)).isoformat(),
        "generatorURL": "http://prometheus.local:9090/graph?g0.expr=up",
    }


ALERT_COLS = "id, state, source, rule_id, severity, province_code, stream, ends_at, version, resolved_at"


def test_firing_resend_and_resolved(am: AmServer) -> None:
    first = prom_alert("DiskFull", instance="db1")
    with psycopg.connect(am.db, autocommit=True) as listener:
        listener.execute(f"LISTEN {LIVE_CHANNEL}")
        response = am.post([first])
        assert response.status_code == 200, response.text
        [result] = response.json()["results"]
        assert (result["status"], result["outcome"]) == ("accepted", "created")
        notes = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    alert_id = result["alert_id"]
    assert f'"ids":[{alert_id}]' in notes[0]
    [row] = am.rows(f"SELECT {ALERT_COLS}, labels, fingerprint, summary_vi FROM alert WHERE id = %s", [alert_id])
    assert row[1:7] == ("firing", "alertmanager", "am:DiskFull", "critical", "01", "external")
    assert row[10]["rule"] == "am:DiskFull" and row[10]["instance"] == "db1"
    assert row[11] == result["fingerprint"] and row[12] == "DiskFull đang cháy"
    assert am.rows("SELECT from_state, to_state FROM alert_transition WHERE alert_id = %s", [alert_id]) == [
        (None, "firing")
    ]

    # Prometheus resends every minute with endsAt further ahead: only ends_at moves.
    resend = {**first, "endsAt": (datetime.now(UTC) + timedelta(minutes=4)).isoformat()}
    [result] = am.post([resend]).json()["results"]
    assert (result["outcome"], result["alert_id"]) == ("refreshed", alert_id)
    [again] = am.rows(f"SELECT {ALERT_COLS} FROM alert WHERE id = %s", [alert_id])
    assert again[7] > row[7] and again[8] == row[8]

    # A changed annotation is an update (new version), still no transition.
    changed = {**resend, "annotations": {"summary": "DiskFull at 99%"}}
    assert am.post([changed]).json()["results"][0]["outcome"] == "updated"
    assert am.rows("SELECT version, summary_vi FROM alert WHERE id = %s", [alert_id]) == [
        (row[8] + 1, "DiskFull at 99%")
    ]

    # Resolved: endsAt in the past (the moment it cleared).
    cleared = datetime.now(UTC) - timedelta(seconds=5)
    [result] = am.post([{**changed, "endsAt": cleared.isoformat()}]).json()["results"]
    assert (result["outcome"], result["alert_id"]) == ("resolved", alert_id)
    [done] = am.rows(f"SELECT {ALERT_COLS} FROM alert WHERE id = %s", [alert_id])
    assert done[1] == "resolved" and abs((done[9] - cleared).total_seconds()) < 0.001
    assert am.rows("SELECT from_state, to_state FROM alert_transition WHERE alert_id = %s ORDER BY id",
                   [alert_id]) == [(None, "firing"), ("firing", "resolved")]  # fmt: skip
    # Prometheus keeps resending "resolved" for 15 minutes: nothing more happens.
    assert am.post([{**changed, "endsAt": cleared.isoformat()}]).json()["results"][0]["outcome"] == "unchanged"

    # The next breach of the same series is a new episode.
    [result] = am.post([prom_alert("DiskFull", instance="db1", started_ago=1)]).json()["results"]
    assert result["outcome"] == "created" and result["alert_id"] != alert_id


def test_bad_items_are_rejected_one_by_one(am: AmServer) -> None:
    good = prom_alert("GoodOne")
    body = [
        good,
        {"labels": {"severity": "critical"}},
        {"labels": {"alertname": "X", "bad-name": "1"}},
        {**prom_alert("Future"), "startsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        {"labels": {"alertname": "X", "province_code": "99"}},
        42,
    ]
    response = am.post(body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["accepted"], data["rejected"]) == (1, 5)
    assert [(r["status"], r.get("reason"), r.get("http_status")) for r in data["results"]] == [
        ("accepted", None, None),
        ("rejected", "missing_alertname", 422),
        ("rejected", "invalid_label_name", 400),
        ("rejected", "starts_in_future", 422),
        ("rejected", "unknown_locality", 422),
        ("rejected", "not_an_object", 400),
    ]
    assert am.rows("SELECT count(*) FROM alert WHERE rule_id = 'am:GoodOne'") == [(1,)]


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b'{"labels": {"alertname": "NotAnArray"}}', 400),
    (b"[" + b",".join([b'{"labels": {"alertname": "Many"}}'] * 1001) + b"]", 413),
])  # fmt: skip
def test_malformed_or_oversized_bodies_write_nothing(am: AmServer, body: bytes, status: int) -> None:
    before = am.rows("SELECT count(*) FROM alert")
    response = am.post(body)
    assert response.status_code == status, response.text
    assert am.rows("SELECT count(*) FROM alert") == before


def test_the_key_scope_limits_localities(am: AmServer) -> None:
    body = [
        prom_alert("ScopeIn"),
        prom_alert("ScopeOut", province_code="79"),
        {"labels": {"alertname": "ScopeNone"}},
        {"labels": {"alertname": "ScopeCommune", "commune_code": "00004"}},
    ]
    results = am.post(body, key=am.hanoi_key).json()["results"]
    assert [(r["status"], r.get("reason")) for r in results] == [
        ("accepted", None), ("rejected", "locality_out_of_scope"), ("rejected", "locality_out_of_scope"),
        ("accepted", None),
    ]  # fmt: skip
    assert results[1]["http_status"] == 403
    # The national key may post alerts that name no locality.
    assert am.post([{"labels": {"alertname": "ScopeNone"}}]).json()["accepted"] == 1


def test_only_source_keys_may_post(am: AmServer) -> None:
    with httpx.Client(base_url=am.url, timeout=30) as client:
        assert client.post(PATH, json=[prom_alert("Anon")]).status_code == 401
        admin = user_token(am.db, "am-admin", "admin")
        assert client.post(PATH, json=[prom_alert("Admin")], headers=bearer(admin)).status_code == 403
        assert client.get("/api/v2/status").status_code == 401
        status = client.get("/api/v2/status", headers=bearer(am.national_key))
    assert status.status_code == 200 and status.json()["cluster"]["status"] == "ready"


def test_an_ha_pair_posting_at_once_makes_one_alert(am: AmServer) -> None:
    alert = prom_alert("HaPair")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: am.post([alert]).json()["results"][0]["outcome"], range(8)))
    assert sorted(outcomes) == ["created"] + ["refreshed"] * 7
    assert am.rows("SELECT count(*) FROM alert WHERE rule_id = 'am:HaPair'") == [(1,)]


def test_a_hand_resolved_episode_is_not_reopened_by_resends(am: AmServer) -> None:
    alert = prom_alert("HandResolved")
    alert_id = am.post([alert]).json()["results"][0]["alert_id"]
    with psycopg.connect(am.db) as conn:
        conn.execute("UPDATE alert SET state = 'resolved', resolved_at = now(), resolved_by = 'op' WHERE id = %s",
                     [alert_id])  # fmt: skip
    assert am.post([alert]).json()["results"][0]["outcome"] == "unchanged"
    # A new episode (a later startsAt) opens a new alert.
    assert am.post([prom_alert("HandResolved", started_ago=0)]).json()["results"][0]["outcome"] == "created"


def test_alerts_nobody_resends_expire(am: AmServer) -> None:
    alert_id = am.post([prom_alert("Expiring", ends_in=2)]).json()["results"][0]["alert_id"]
    kept_id = am.post([prom_alert("Kept", ends_in=600)]).json()["results"][0]["alert_id"]

    async def expire(at: datetime) -> int:
        async with await psycopg.AsyncConnection.connect(am.db) as conn:
            return await expire_external_alerts(conn, at)

    assert asyncio.run(expire(datetime.now(UTC))) == 0
    assert asyncio.run(expire(datetime.now(UTC) + timedelta(seconds=30))) >= 1
    states = dict(am.rows("SELECT id, state FROM alert WHERE id = ANY(%s)", [[alert_id, kept_id]]))
    assert states == {alert_id: "resolved", kept_id: "firing"}
    assert am.rows("SELECT from_state, to_state FROM alert_transition WHERE alert_id = %s ORDER BY id",
                   [alert_id]) == [(None, "firing"), ("firing", "resolved")]  # fmt: skip
    [(resolved_at, ends_at)] = am.rows("SELECT resolved_at, ends_at FROM alert WHERE id = %s", [alert_id])
    assert resolved_at == ends_at
