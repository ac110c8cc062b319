"""The portal's sync format through the API: session login, the envelope, the bare-array and
query-string variants, and dossiers pushed as repeated state syncs reaching the same state as the
same history sent as native events."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.conftest import LiveServer
from tests.integration.ingest_support import dossier, event, ok, receipt, scalar
from tests.unit.dvcqg_payloads import VN, envelope, progress, td_dossier

UNITS = {"units": [
    {"key": "UBND phường Ba Đình", "commune_code": "00004", "agency_code": "UBND-00004",
     "agency_name": "UBND phường Ba Đình"},
    {"key": "H26", "province_code": "01"},
]}  # fmt: skip
COMPARED = ("status", "received_at", "due_at", "resolved_at", "returned_at", "closed_at", "outcome", "late_since",
            "paused_at", "paused_working_seconds", "channel", "procedure_code", "commune_code")  # fmt: skip


def second(t: datetime) -> datetime:
    """The portal's dates have whole seconds: native twins use the same instants."""
    return t.astimezone(VN).replace(microsecond=0)


def now_s() -> datetime:
    return second(datetime.now(UTC))


def tick() -> datetime:
    """The next whole second, once the clock has reached it: a step stamped with it comes strictly
    after everything already sent (the portal's dates have no finer resolution)."""
    start = now_s()
    while now_s() <= start:
        time.sleep(0.01)
    return now_s()


@pytest.fixture(scope="module")
def server(module_live_server: LiveServer) -> Iterator[LiveServer]:
    with module_live_server.client() as admin:
        ok(admin.put("/api/v1/admin/dvcqg/units/test-source", json=UNITS))
    # The procedure enters the catalogue with its statutory time (the portal format has none).
    ok(module_live_server.post_events([receipt("seed-1", "SEED-1", datetime.now(UTC) - timedelta(days=1))]))
    yield module_live_server


@pytest.fixture(scope="module")
def session(server: LiveServer) -> str:
    with server.anonymous() as c:
        body = ok(c.post("/api/v1/dvcqg/login", json={"username": "test-source", "password": server.api_key}))
    assert body["error_code"] == 0 and body["session"].startswith("dvcqg_")
    return str(body["session"])


def push(server: LiveServer, body: Any, *, path: str = "/api/v1/dvcqg", **kw: Any) -> dict[str, Any]:
    with server.anonymous() as c:
        response = c.post(path, json=body, **kw)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def state(server: LiveServer, code: str) -> dict[str, Any]:
    picked = {k: v for k, v in dossier(server, code)["state"].items() if k in COMPARED}
    assert len(picked) == len(COMPARED), sorted(dossier(server, code)["state"])
    return {k: datetime.fromisoformat(v) if k.endswith("_at") and isinstance(v, str) else v for k, v in picked.items()}


def native(server: LiveServer, events: list[dict[str, Any]]) -> None:
    body = ok(server.post_events(events))
    assert body["rejected"] == 0, body


# -- login -------------------------------------------------------------------------------------


def test_a_wrong_password_gets_the_portal_reply_and_no_session(server: LiveServer) -> None:
    with server.anonymous() as c:
        wrong = c.post("/api/v1/dvcqg/login", json={"username": "test-source", "password": "nope"})
        other = c.post("/api/v1/dvcqg/login", json={"username": "someone-else", "password": server.api_key})
    for response in (wrong, other):
        assert response.status_code == 401 and response.json()["error_code"] == -2
        assert "session" not in response.json()
    with server.anonymous() as c:
        metrics = c.get("/metrics").text
    assert 'ioc_dvcqg_logins_total{outcome="refused"}' in metrics


def test_a_sync_without_a_valid_session_is_refused_whole(server: LiveServer) -> None:
    body = envelope("DongBoHoSoMC", [td_dossier("NOSESSION-1", "2", now_s() - timedelta(days=1))],
                    session="dvcqg_forged")  # fmt: skip
    with server.anonymous() as c:
        response = c.post("/api/v1/dvcqg", json=body)
    assert response.status_code == 401 and response.json()["error_code"] == -2


# -- the same history, two ways --------------------------------------------------------------------


def test_repeated_syncs_2_5_4_9_10_reach_the_native_state(server: LiveServer, session: str) -> None:
    t0 = now_s() - timedelta(days=3)
    due, moved = t0 + timedelta(days=14), t0 + timedelta(days=20)
    native(server, [{**receipt("n1-rcv", "N-1", t0, agency={"code": "UBND-00004"}), "due_at": due.isoformat()}])

    def sync(status: str, **dates: Any) -> dict[str, Any]:
        updating = status != "2"
        return push(server, envelope("DongBoHoSoMC", [td_dossier("P-1", status, t0, **dates)], session=session,
                                     updating=updating))  # fmt: skip

    def step(status: str, at: datetime) -> dict[str, Any]:
        return push(server, envelope("CapNhatTienDoHoSoMC", [progress("P-1", status, at)], session=session))

    first = sync("2", due=due)
    assert (first["error_code"], first["results"][0]["status"]) == (0, "accepted")
    assert "thành công" in first["message"]
    t5 = tick()
    sync("5", due=due)
    step("5", t5)  # OpenCPS sends the progress item after the state; its time is the step's own
    native(server, [event("n1-req", "N-1", "supplement_requested", t5)])
    resend = sync("5", due=due)
    assert resend["results"][0]["status"] == "duplicate", resend  # a resend of the same state: nothing new
    t4 = tick()
    step("4", t4)
    sync("4", due=moved)  # the one-stop system recomputed the appointment after the supplement
    native(server, [{**event("n1-got", "N-1", "supplement_received", t4), "due_at": moved.isoformat()}])
    t9 = tick()
    sync("9", due=moved, finished=t9)
    native(server, [event("n1-res", "N-1", "resolved", t9)])
    t10 = tick()
    last = sync("10", due=moved, finished=t9, returned=t10)
    native(server, [event("n1-ret", "N-1", "returned", t10)])
    assert [e["event_type"] for e in last["results"][0]["events"]] == ["received", "resolved", "returned"]
    assert [e["status"] for e in last["results"][0]["events"]] == ["duplicate", "duplicate", "accepted"]
    portal, twin = state(server, "P-1"), state(server, "N-1")
    assert portal == twin
    assert portal["status"] == "returned" and portal["due_at"] == moved


def test_an_overdue_dossier_is_overdue_both_ways(server: LiveServer, session: str) -> None:
    t0 = now_s() - timedelta(days=30)
    native(server, [receipt("n2-rcv", "N-2", t0, agency={"code": "UBND-00004"}),
                    event("n2-step", "N-2", "supplement_received", t0 + timedelta(days=1))])  # fmt: skip
    body = push(server, envelope("DongBoHoSoMC", [td_dossier("P-2", "4", t0)], session=session))
    assert body["results"][0]["status"] == "accepted", body
    push(server, envelope("CapNhatTienDoHoSoMC", [progress("P-2", "4", t0 + timedelta(days=1))], session=session))
    assert state(server, "P-2") == state(server, "N-2")
    with server.client() as c:
        overdue = {d["code"]: d for d in ok(c.get("/api/v1/dossiers", params={"status": "overdue"}))["dossiers"]}
    assert {"P-2", "N-2"} <= set(overdue)
    assert overdue["P-2"]["due_at"] == overdue["N-2"]["due_at"]
    # The progress step's official is the dossier's handler (the monthly list of late officials).
    assert scalar(server.db_url, "SELECT handler_name FROM dossier WHERE code = 'P-2'") == "Trần Thị B"


# -- progress before and after its dossier ----------------------------------------------------------


def test_a_progress_item_before_its_dossier_waits_for_it(server: LiveServer, session: str) -> None:
    t0 = now_s() - timedelta(days=2)
    t5 = t0 + timedelta(hours=3)
    early = push(server, envelope("CapNhatTienDoHoSoMC", [progress("P-3", "5", t5)], session=session,
                                  unit="000.00.00.H26"))  # fmt: skip
    assert early["results"][0]["status"] == "accepted"
    push(server, envelope("DongBoHoSoMC", [td_dossier("P-3", "5", t0)], session=session))
    paused = state(server, "P-3")
    assert paused["status"] == "supplement_requested" and paused["paused_at"] == t5  # the step's time, not arrival
    # The state said "paused" when it arrived: the restart comes after that.
    after = push(server, envelope("CapNhatTienDoHoSoMC", [progress("P-3", "4", tick())],
                                  session=session, unit=""))  # fmt: skip
    assert after["results"][0]["status"] == "accepted"  # placed by the registered dossier, no unit needed
    assert state(server, "P-3")["status"] == "received"


# -- variants and refusals ----------------------------------------------------------------------------


def test_the_bare_array_and_the_query_string_variant(server: LiveServer) -> None:
    key = {"Authorization": f"Bearer {server.api_key}"}
    t0 = now_s() - timedelta(days=1)
    bare = push(server, [td_dossier("P-4", "2", t0)], path="/api/v1/dvcqg/DongBoHoSoMC", headers=key)
    assert bare["results"][0]["status"] == "accepted"
    lost = td_dossier("P-5", "2", t0, agency="Trung tâm PVHCC")
    refused = push(server, [lost], path="/api/v1/dvcqg/DongBoHoSoMC", headers=key)
    assert (refused["error_code"], refused["results"][0]["reason"]) == (1, "unknown_unit")
    placed = push(server, [lost], path="/api/v1/dvcqg/DongBoHoSoMC", headers=key,
                  params={"MaDinhDanhDV": "000.00.01.H26", "isUpdating": "False"})  # fmt: skip
    assert placed["error_code"] == 0 and dossier(server, "P-5")["state"]["province_code"] == "01"


def test_an_out_of_scope_unit_is_refused_per_item(server: LiveServer) -> None:
    from ioc.auth.scope import Scope
    from ioc.sources import register_source

    key = register_source(server.db_url, "dvcqg-hcm", "Một cửa TP HCM", scope=Scope.from_dict({"provinces": ["79"]}))
    with server.client() as admin:
        ok(admin.put("/api/v1/admin/dvcqg/units/dvcqg-hcm", json=UNITS))
    with server.anonymous() as c:
        login = ok(c.post("/api/v1/dvcqg/login", json={"username": "dvcqg-hcm", "password": key}))
    body = push(server, envelope("DongBoHoSoMC", [td_dossier("P-6", "2", now_s() - timedelta(days=1))],
                                 session=login["session"]))  # fmt: skip
    assert (body["error_code"], body["results"][0]["reason"]) == (1, "locality_out_of_scope")


def test_the_unit_table_rejects_unknown_places(server: LiveServer) -> None:
    with server.client() as admin:
        bad = admin.put("/api/v1/admin/dvcqg/units/test-source", json={"units": [{"key": "X", "commune_code": "0"}]})
        listed = ok(admin.get("/api/v1/admin/dvcqg/units/test-source"))
    assert bad.status_code == 422
    assert {u["key"] for u in listed["units"]} == {"UBND phường Ba Đình", "H26"}  # unchanged
    # The accepted change is in the audit trail, in the transaction that made it.
    assert scalar(server.db_url, "SELECT count(*) FROM audit_log WHERE action = 'source.dvcqg_units'") >= 1


def test_a_revoked_key_ends_its_sessions(server: LiveServer) -> None:
    from ioc.sources import register_source

    key = register_source(server.db_url, "dvcqg-revoke", "Một cửa thử")
    with server.anonymous() as c:
        login = ok(c.post("/api/v1/dvcqg/login", json={"username": "dvcqg-revoke", "password": key}))
        register_source(server.db_url, "dvcqg-revoke", "Một cửa thử")  # a new key; the old one is revoked
        response = c.post("/api/v1/dvcqg", json=envelope("DongBoHoSoMC", [], session=login["session"]))
    assert response.status_code == 401


def test_the_td_systems_whole_history_through_the_gateway_urls(server: LiveServer) -> None:
    """TD pushes bare arrays: the dossier (with 5/6/8 rewritten to 9, no NgayKetThucXuLy), then its
    not-yet-synced steps in time order, its made-up steps by "Cán bộ một cửa" among them."""
    key = {"Authorization": f"Bearer {server.api_key}"}
    t0 = now_s() - timedelta(days=4)
    asked, answered, asked_again = t0 + timedelta(hours=1), t0 + timedelta(days=1), now_s() - timedelta(minutes=5)

    def made_up(action: str, status: str, at: datetime) -> dict[str, Any]:
        return {**progress("P-7", status, at, official="Cán bộ một cửa"), "NoiDungXuLy": action}

    native(server, [receipt("n7-rcv", "N-7", t0, agency={"code": "UBND-00004"}),
                    event("n7-req", "N-7", "supplement_requested", asked),
                    {**event("n7-got", "N-7", "supplement_received", answered),
                     "handler": {"code": "Lê Văn C", "name": "Lê Văn C"}}])  # fmt: skip
    dossier_url, steps_url = "/api/v1/dvcqg/DongBoHoSoMC", "/api/v1/dvcqg/CapNhatTienDoHoSoMC"
    assert push(server, [td_dossier("P-7", "4", t0)], path=dossier_url, headers=key)["error_code"] == 0
    history = [made_up("Tiếp nhận hồ sơ", "2", t0), progress("P-7", "5", asked, official="Lê Văn C"),
               progress("P-7", "4", answered, official="Lê Văn C")]  # fmt: skip
    body = push(server, history, path=steps_url, headers=key)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    assert state(server, "P-7") == state(server, "N-7")

    # Paused again: TD reports the dossier as 9 without a result date, and the step says why.
    native(server, [event("n7-req2", "N-7", "supplement_requested", asked_again)])
    push(server, [td_dossier("P-7", "9", t0)], path=dossier_url, headers=key)
    push(server, [progress("P-7", "5", asked_again, official="Lê Văn C"),
                  made_up("Kết thúc xử lý hồ sơ", "9", t0)], path=steps_url, headers=key)  # fmt: skip
    paused = state(server, "P-7")
    assert paused == state(server, "N-7") and paused["status"] == "supplement_requested"


def test_an_expired_session_is_refused(server: LiveServer) -> None:
    with server.anonymous() as c:
        login = ok(c.post("/api/v1/dvcqg/login", json={"username": "test-source", "password": server.api_key}))
    own = hashlib.sha256(login["session"].encode()).hexdigest()
    with psycopg.connect(server.db_url) as conn:  # this session only: the module's stays valid
        conn.execute("UPDATE dvcqg_session SET expires_at = now() - interval '1 second' WHERE session_sha256 = %s",
                     [own])  # fmt: skip
    with server.anonymous() as c:
        response = c.post("/api/v1/dvcqg", json=envelope("DongBoHoSoMC", [], session=login["session"]))
    assert response.status_code == 401 and response.json()["error_code"] == -2
