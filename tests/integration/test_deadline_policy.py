"""The deadline policy through the API: versions per province with a national default, the open
dossiers of the provinces a change governs refolded by the projector loop, the change audited,
and the dossier explanation naming the policy version it counted by."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, VN, dossier, event, ok, receipt

ONE_DAY = {"code": "1.000894", "name": "Chứng thực bản sao", "sector": "Chứng thực", "statutory_days": 1}
# Tuesday 10/3/2026 11:45, one working day.
RECEIVED = datetime(2026, 3, 10, 11, 45, tzinfo=VN)
CLOCK_DUE = datetime(2026, 3, 11, 11, 45, tzinfo=VN)  # the same time the next working day
END_OF_DAY_DUE = datetime(2026, 3, 11, 17, 0, tzinfo=VN)  # the close of the next working day


def due_at(server: LiveServer, code: str) -> datetime:
    return datetime.fromisoformat(dossier(server, code)["state"]["due_at"]).astimezone(VN)


def wait_for_due(server: LiveServer, code: str, expected: datetime) -> None:
    """The projector loop refolds the queued dossiers in the background: poll (bounded)."""
    seen = due_at(server, code)
    for _ in range(150):
        if seen == expected:
            return
        time.sleep(0.2)
        seen = due_at(server, code)
    assert seen == expected, f"{code}: due {seen}, expected {expected}"


def queued(server: LiveServer) -> int:
    with psycopg.connect(server.db_url) as conn:
        row = conn.execute("SELECT count(*) FROM dossier_projection_queue WHERE source_id = 'deadline-policy'")
        return int(row.fetchone()[0])  # type: ignore[index]


def audit_details(server: LiveServer) -> list[tuple[str, dict[str, Any]]]:
    with psycopg.connect(server.db_url) as conn:
        rows = conn.execute(
            "SELECT target, details FROM audit_log WHERE action = 'calendar.policy_set' ORDER BY id"
        ).fetchall()
    return [(str(target), dict(details)) for target, details in rows]


def test_a_policy_change_refolds_the_open_dossiers_it_governs(live_server: LiveServer) -> None:
    ok(live_server.post_events([
        receipt("p-1", "HS-P1", RECEIVED, procedure=ONE_DAY, locality=HANOI_WARD),
        receipt("p-2", "HS-P2", RECEIVED, procedure=ONE_DAY, locality=HANOI_WARD),
        event("p-3", "HS-P2", "resolved", RECEIVED + timedelta(hours=1), locality=HANOI_WARD),
        receipt("p-4", "HS-P4", RECEIVED, procedure=ONE_DAY, locality=HCMC_WARD),
    ]))  # fmt: skip
    for code in ("HS-P1", "HS-P2", "HS-P4"):
        assert due_at(live_server, code) == CLOCK_DUE
    before = dossier(live_server, "HS-P1")["deadline"]["policy"]
    assert (before["id"], before["version"]) == ("builtin:vn-office-days", 1)

    with live_server.client() as client:
        national = client.get("/api/v1/calendar/policy").json()
        assert (national["in_force"]["id"], national["inherited"], national["versions"]) == (
            "builtin:vn-office-days", True, [],
        )  # fmt: skip
        # Hà Nội counts to the end of the last working day.
        r = client.put("/api/v1/calendar/policy/01", json={"due_instant": "end_of_day", "note": "BLDS điều 147"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["version"], body["refold_queued"]) == (1, {"dossiers": 1, "batches": 1})
        assert (body["in_force"]["id"], body["in_force"]["due_instant"], body["inherited"]) == (
            "db:deadline-policy:01", "end_of_day", False,
        )  # fmt: skip

    wait_for_due(live_server, "HS-P1", END_OF_DAY_DUE)
    explained = dossier(live_server, "HS-P1")["deadline"]
    assert (explained["policy"]["id"], explained["policy"]["version"]) == ("db:deadline-policy:01", 1)
    assert explained["recomputed_differs"] is False
    assert due_at(live_server, "HS-P2") == CLOCK_DUE  # closed: its outcome was measured already
    assert due_at(live_server, "HS-P4") == CLOCK_DUE  # Hồ Chí Minh City is not governed by it

    with live_server.client() as client:
        # The national default, with a cut-off at 11:00: Hồ Chí Minh City follows it, Hà Nội
        # keeps its own policy. HS-P4 (received 11:45) now counts from Wednesday 08:00.
        r = client.put("/api/v1/calendar/policy", json={"cut_off": "11:00"})
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["refold_queued"]["dossiers"]) == (1, 1)
        hcm = client.get("/api/v1/calendar/policy/79").json()
        assert (hcm["in_force"]["id"], hcm["in_force"]["cut_off"], hcm["inherited"]) == (
            "db:deadline-policy:national", "11:00", True,
        )  # fmt: skip
        # A second Hà Nội version, two sessions (07:30–11:30, 13:30–17:00): versions count up and
        # the history is kept, newest first.
        sessions = {"office_open": "07:30", "break_start": "11:30", "break_end": "13:30", "due_instant": "clock"}
        r = client.put("/api/v1/calendar/policy/01", json=sessions)
        assert r.status_code == 200 and r.json()["version"] == 2
        versions = client.get("/api/v1/calendar/policy/01").json()["versions"]
        assert [(v["version"], v["due_instant"], v["break_start"]) for v in versions] == [
            (2, "clock", "11:30"), (1, "end_of_day", None),
        ]  # fmt: skip

    wait_for_due(live_server, "HS-P4", END_OF_DAY_DUE)  # Wednesday 08:00 + 9 h of working time
    # Received in the break: counted from 13:30, 7 h 30 min of sessions → Wednesday 11:30.
    wait_for_due(live_server, "HS-P1", datetime(2026, 3, 11, 11, 30, tzinfo=VN))
    assert queued(live_server) == 0

    audited = audit_details(live_server)
    assert [(target, d["version"], d["refold_queued"]["dossiers"]) for target, d in audited] == [
        ("01", 1, 1), ("national", 1, 1), ("01", 2, 1),
    ]  # fmt: skip
    assert audited[0][1]["previous"]["id"] == "builtin:vn-office-days"
    assert audited[2][1]["previous"]["id"] == "db:deadline-policy:01"


def test_invalid_policies_are_refused(live_server: LiveServer) -> None:
    tomorrow = (datetime.now(VN) + timedelta(days=1)).date().isoformat()
    with live_server.client() as client:
        for path, body in (
            ("/api/v1/calendar/policy", {"cut_off": "07:00"}),  # before opening
            ("/api/v1/calendar/policy", {"office_open": "17:00", "office_close": "08:00"}),
            ("/api/v1/calendar/policy", {"due_instant": "noon"}),
            ("/api/v1/calendar/policy", {"break_start": "11:30"}),  # a break needs its end
            ("/api/v1/calendar/policy", {"break_start": "07:00", "break_end": "09:00"}),  # before opening
            ("/api/v1/calendar/policy", {"effective_from": tomorrow}),
            ("/api/v1/calendar/policy/99", {}),  # no such province
            ("/api/v1/calendar/policy/00004", {}),  # a commune, not a province
        ):
            r = client.put(path, json=body)
            assert r.status_code == 422, (path, body, r.text)
        assert client.get("/api/v1/calendar/policy").json()["versions"] == []
        assert client.get("/api/v1/calendar/policy/99").status_code == 404
    assert audit_details(live_server) == []
