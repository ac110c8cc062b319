"""People acting on alerts through the API: acknowledge, unacknowledge, comment, assign, snooze,
resolve by hand — each in the alert's columns, its history, the audit log and the live channel.

One real app over a real PostgreSQL (module_live_server); alerts are seeded as the engine writes them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from ioc.auth.scope import Scope
from ioc.live.channel import LIVE_CHANNEL
from tests.auth_support import bearer, create_user, user_token
from tests.conftest import LiveServer
from tests.integration.alerting.people_support import activity_kinds, fetch_all, fetch_one, seed_alert

HANOI, HCMC = "01", "79"


@pytest.fixture(scope="module")
def server(module_live_server: LiveServer) -> LiveServer:
    return module_live_server


@pytest.fixture(scope="module")
def operator(server: LiveServer) -> httpx.Client:
    """An operator of Hà Nội (username people-op)."""
    return server.client(user_token(server.db_url, "people-op", "operator", Scope.from_dict({"provinces": [HANOI]})))


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_acknowledge_records_columns_history_ack_row_and_audit(server: LiveServer, operator: httpx.Client) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    body = _ok(operator.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "Đã giao phòng Tư pháp"}))
    assert body["already_acknowledged"] is False and body["by"] == "people-op"
    assert body["alert"]["acknowledged_by"] == "people-op" and body["alert"]["acknowledged_at"]
    at, by = fetch_one(server.db_url, "SELECT acknowledged_at, acknowledged_by FROM alert WHERE id = %s", [alert_id])
    assert at is not None and by == "people-op"
    assert activity_kinds(server.db_url, alert_id) == ["ack"]
    assert fetch_one(server.db_url, "SELECT comment FROM alert_ack WHERE alert_id = %s", [alert_id]) == (
        "Đã giao phòng Tư pháp",
    )
    audit = fetch_all(server.db_url, "SELECT action, actor FROM audit_log WHERE target = %s", [f"alert:{alert_id}"])
    assert audit == [("alert.acknowledge", "user:people-op")]


def test_acknowledging_twice_answers_the_original_and_records_nothing(
    server: LiveServer, operator: httpx.Client
) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    first = _ok(operator.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "lần một"}))
    with server.client() as admin:
        again = _ok(admin.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "lần hai"}))
    assert again["already_acknowledged"] is True
    assert (again["acknowledged_at"], again["by"]) == (first["acknowledged_at"], "people-op")
    assert activity_kinds(server.db_url, alert_id) == ["ack"]


def test_unacknowledge_clears_and_is_idempotent(server: LiveServer, operator: httpx.Client) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    _ok(operator.post(f"/api/v1/alerts/{alert_id}/ack", json={}))
    body = _ok(operator.post(f"/api/v1/alerts/{alert_id}/unack", json={"comment": "nhầm"}))
    assert body["alert"]["acknowledged_at"] is None and body["alert"]["acknowledged_by"] is None
    _ok(operator.post(f"/api/v1/alerts/{alert_id}/unack", json={}))
    assert activity_kinds(server.db_url, alert_id) == ["ack", "unack"]


def test_comment_needs_text_and_works_on_resolved_alerts(server: LiveServer, operator: httpx.Client) -> None:
    alert_id = seed_alert(server.db_url, HANOI, state="resolved")
    assert operator.post(f"/api/v1/alerts/{alert_id}/comments", json={"comment": "   "}).status_code == 422
    body = _ok(operator.post(f"/api/v1/alerts/{alert_id}/comments", json={"comment": "Đã xử lý xong 3 hồ sơ"}))
    assert body["activity"]["kind"] == "comment" and body["activity"]["actor"] == "people-op"
    assert activity_kinds(server.db_url, alert_id) == ["comment"]


def test_assign_to_someone_whose_scope_covers_the_alert(server: LiveServer, operator: httpx.Client) -> None:
    create_user(server.db_url, "people-hn", "subscriber", Scope.from_dict({"provinces": [HANOI]}))
    create_user(server.db_url, "people-hcm", "operator", Scope.from_dict({"provinces": [HCMC]}))
    gone = create_user(server.db_url, "people-gone", "operator", Scope.from_dict({"provinces": [HANOI]}))
    with psycopg.connect(server.db_url) as conn:
        conn.execute("UPDATE app_user SET disabled_at = now() WHERE id = %s", [gone])
    alert_id = seed_alert(server.db_url, HANOI)
    for who in ("people-hcm", "people-gone", "nobody-here"):
        response = operator.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": who})
        assert response.status_code == 422, (who, response.text)
    body = _ok(operator.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "people-hn", "comment": "anh xem"}))
    assert body["alert"]["assignee"] == "people-hn"
    _ok(operator.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "people-hn"}))  # same: no new line
    body = _ok(operator.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": None}))
    assert body["alert"]["assignee"] is None
    rows = fetch_all(server.db_url, "SELECT kind, data FROM alert_activity WHERE alert_id = %s ORDER BY id", [alert_id])
    assert rows == [
        ("assign", {"assignee": "people-hn", "previous": None}),
        ("assign", {"assignee": None, "previous": "people-hn"}),
    ]


def test_snooze_is_bounded_to_the_next_seven_days(server: LiveServer, operator: httpx.Client) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    now = datetime.now(UTC)
    url = f"/api/v1/alerts/{alert_id}/snooze"
    for until in (now - timedelta(minutes=1), now + timedelta(days=7, minutes=5)):
        assert operator.post(url, json={"until": until.isoformat()}).status_code == 422
    assert operator.post(url, json={"until": "2030-01-01T08:00:00"}).status_code == 422  # no time zone
    until = now + timedelta(hours=2)
    body = _ok(operator.post(url, json={"until": until.isoformat(), "comment": "chờ hệ thống khôi phục"}))
    assert datetime.fromisoformat(body["alert"]["snoozed_until"]) == until
    body = _ok(operator.post(url, json={"until": None}))
    assert body["alert"]["snoozed_until"] is None
    _ok(operator.post(url, json={"until": None}))  # not snoozed: no new line
    assert activity_kinds(server.db_url, alert_id) == ["snooze", "snooze"]


def test_resolve_by_hand_closes_the_episode_and_notifies_live(server: LiveServer, operator: httpx.Client) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    with psycopg.connect(server.db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {LIVE_CHANNEL}")
        assert operator.post(f"/api/v1/alerts/{alert_id}/resolve", json={"comment": ""}).status_code == 422
        body = _ok(operator.post(f"/api/v1/alerts/{alert_id}/resolve", json={"comment": "Đã xử lý tại chỗ"}))
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert f'"ids":[{alert_id}]' in payloads[0]
    assert body["alert"]["state"] == "resolved" and body["alert"]["resolved_by"] == "people-op"
    row = fetch_one(
        server.db_url, "SELECT state, resolved_at IS NOT NULL, version FROM alert WHERE id = %s", [alert_id]
    )
    assert row == ("resolved", True, 2)
    transitions = fetch_all(
        server.db_url, "SELECT from_state, to_state, summary_vi FROM alert_transition WHERE alert_id = %s ORDER BY id",
        [alert_id],
    )  # fmt: skip
    assert transitions[-1] == ("firing", "resolved", "Đã xử lý tại chỗ")
    for action, payload in (("ack", {}), ("resolve", {"comment": "lần nữa"}), ("assign", {"assignee": None}),
                            ("snooze", {"until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})):  # fmt: skip
        assert operator.post(f"/api/v1/alerts/{alert_id}/{action}", json=payload).status_code == 409, action
    assert activity_kinds(server.db_url, alert_id) == ["resolve"]
    audit = fetch_all(server.db_url, "SELECT action FROM audit_log WHERE target = %s", [f"alert:{alert_id}"])
    assert audit == [("alert.resolve",)]


def test_detail_merges_transitions_and_activity_in_time_order(server: LiveServer, operator: httpx.Client) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    _ok(operator.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "đã nắm"}))
    _ok(operator.post(f"/api/v1/alerts/{alert_id}/comments", json={"comment": "đang gọi xã"}))
    _ok(operator.post(f"/api/v1/alerts/{alert_id}/resolve", json={"comment": "xong"}))
    detail = _ok(operator.get(f"/api/v1/alerts/{alert_id}"))
    kinds = [(e["kind"], e.get("to_state")) for e in detail["timeline"]]
    assert kinds == [("transition", "firing"), ("ack", None), ("comment", None), ("transition", "resolved"),
                     ("resolve", None)]  # fmt: skip
    times = [e["at"] for e in detail["timeline"]]
    assert times == sorted(times, key=datetime.fromisoformat)
    assert [h["to_state"] for h in detail["history"]] == ["firing", "resolved"]  # the transitions, as before
    assert detail["acknowledgements"][0]["comment"] == "đã nắm"


def test_scope_out_of_scope_is_403_to_act_404_to_read_and_missing_is_404(
    server: LiveServer, operator: httpx.Client
) -> None:
    outside = seed_alert(server.db_url, HCMC)
    for action, payload in (("ack", {}), ("unack", {}), ("comments", {"comment": "x"}),
                            ("assign", {"assignee": None}), ("snooze", {"until": None}),
                            ("resolve", {"comment": "x"})):  # fmt: skip
        assert operator.post(f"/api/v1/alerts/{outside}/{action}", json=payload).status_code == 403, action
        assert operator.post(f"/api/v1/alerts/999999/{action}", json=payload).status_code == 404, action
    assert operator.get(f"/api/v1/alerts/{outside}").status_code == 404
    assert activity_kinds(server.db_url, outside) == []


def test_sector_scoped_people_see_and_act_on_their_sector_only(server: LiveServer) -> None:
    mine = seed_alert(server.db_url, HANOI, sector="tu_phap")
    other = seed_alert(server.db_url, HANOI, sector="dat_dai")
    aggregate = seed_alert(server.db_url, HANOI, sector=None)
    scope = Scope.from_dict({"provinces": [HANOI], "sectors": ["tu_phap"]})
    with server.client(user_token(server.db_url, "people-sector", "operator", scope)) as client:
        listed = {a["id"] for a in _ok(client.get("/api/v1/alerts", params={"limit": 1000}))["alerts"]}
        assert mine in listed and other not in listed and aggregate not in listed
        assert all(a["sector_code"] == "tu_phap" for a in _ok(client.get("/api/v1/alerts"))["alerts"])
        _ok(client.post(f"/api/v1/alerts/{mine}/ack", json={}))
        assert client.post(f"/api/v1/alerts/{other}/ack", json={}).status_code == 403


def test_open_filter_and_wire_form_carry_people_columns(server: LiveServer, operator: httpx.Client) -> None:
    firing, resolved = seed_alert(server.db_url, HANOI), seed_alert(server.db_url, HANOI, state="resolved")
    listed = _ok(operator.get("/api/v1/alerts", params={"state": "open", "limit": 1000}))["alerts"]
    ids = {a["id"] for a in listed}
    assert firing in ids and resolved not in ids
    wire = next(a for a in listed if a["id"] == firing)
    for key in ("acknowledged_at", "acknowledged_by", "assignee", "snoozed_until", "resolved_by", "sector_code",
                "stream", "source", "flapping"):  # fmt: skip
        assert key in wire


def test_concurrent_acknowledgements_record_exactly_one(server: LiveServer) -> None:
    alert_id = seed_alert(server.db_url, HANOI)
    tokens = [user_token(server.db_url, f"people-racer-{i}", "operator", Scope.from_dict({"provinces": [HANOI]}))
              for i in range(8)]  # fmt: skip
    results: list[dict[str, Any]] = []
    start = threading.Barrier(len(tokens))

    def ack(token: str) -> None:
        with httpx.Client(base_url=server.url, headers=bearer(token), timeout=30) as client:
            start.wait()
            results.append(_ok(client.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": token[-4:]})))

    threads = [threading.Thread(target=ack, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(tokens)
    assert sum(not r["already_acknowledged"] for r in results) == 1
    assert len({(r["acknowledged_at"], r["by"]) for r in results}) == 1
    assert activity_kinds(server.db_url, alert_id) == ["ack"]
    assert fetch_one(server.db_url, "SELECT count(*) FROM alert_ack WHERE alert_id = %s", [alert_id]) == (1,)
