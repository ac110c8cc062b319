"""The payout routes end to end: a real app in uvicorn over a real PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from ingest.simulator.payout import PayoutSimulatorSettings, report_instants
from ingest.simulator.runner import run_simulator
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres, free_port
from ioc.settings import Settings
from ioc.sources import register_source
from tests.auth_support import bearer, user_token
from tests.conftest import LiveServer, fresh_database, serve_in_thread
from tests.integration.payout_support import PAYOUT_INGEST, report, rows

_n = itertools.count()
HANOI = Scope.from_dict({"provinces": ["01"]})


def post(server: LiveServer, body: Any, key: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or server.api_key}", **kwargs.pop("headers", {})}
    with server.anonymous() as client:
        if isinstance(body, bytes):
            return client.post(PAYOUT_INGEST, content=body, headers=headers)
        return client.post(PAYOUT_INGEST, json=body, headers=headers)


def results(response: httpx.Response) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, response.text
    return [(r["status"], r.get("reason")) for r in response.json()["results"]]


def tag() -> str:
    return f"api-{next(_n)}"


def now_report(record_id: str, **changes: Any) -> dict[str, Any]:
    """A report on this month's cycle, stamped now (so the cycles route's default month holds it)."""
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    changes.setdefault("cycle", local.strftime("%Y-%m"))
    changes.setdefault("cycle_opens_on", local.replace(day=1).date().isoformat())
    changes.setdefault("deadline", local.replace(day=28).date().isoformat())
    return report(record_id, local.isoformat(), **changes)


# --------------------------------------------------------------------------- the push API


def test_a_batch_gets_a_result_per_item_and_a_resend_changes_nothing(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    batch = [
        report(f"{t}-1"),
        report(f"{t}-2", paid_cash=1),
        report(f"{t}-3", locality={"legacy_province_code": "74"}, programme="bao_tro_xa_hoi"),
    ]
    response = post(server, batch)
    assert results(response) == [("accepted", None), ("rejected", "inconsistent_totals"), ("accepted", None)]
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 1)
    assert body["results"][2]["converted_from"] == "legacy province 74 (Tỉnh Bình Dương)"
    assert body["results"][1]["record_id"] == f"{t}-2" and body["results"][1]["message"]
    assert results(post(server, batch)) == [
        ("duplicate", "already_ingested"), ("rejected", "inconsistent_totals"), ("duplicate", "already_ingested"),
    ]  # fmt: skip
    stored = rows(server.db_url, "SELECT record_id FROM payout_report WHERE record_id LIKE %s ORDER BY 1", [f"{t}-%"])
    assert stored == [(f"{t}-1",), (f"{t}-3",)]


def test_ndjson_bodies_are_taken_line_by_line(module_live_server: LiveServer) -> None:
    t = tag()
    body = orjson.dumps(report(f"{t}-1")) + b"\n{not json\n" + orjson.dumps(report(f"{t}-2")) + b"\n"
    response = post(module_live_server, body, headers={"Content-Type": "application/x-ndjson"})
    assert results(response) == [("accepted", None), ("rejected", "malformed_json"), ("accepted", None)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"record_id": "x"}', 400),  # an object, not an array
        (b"[", 400),
        (orjson.dumps([report(f"many-{i}") for i in range(501)]), 413),  # the test server takes 500 items
        (b"[" + b" " * (512 * 1024) + b"]", 413),  # and 512 KiB
    ],
    ids=["object", "broken-json", "too-many-items", "too-large"],
)
def test_whole_batch_refusals_write_nothing(module_live_server: LiveServer, body: bytes, status: int) -> None:
    before = rows(module_live_server.db_url, "SELECT count(*) FROM payout_report")
    assert post(module_live_server, body).status_code == status
    assert rows(module_live_server.db_url, "SELECT count(*) FROM payout_report") == before


def test_who_may_push(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    with server.anonymous() as client:
        assert client.post(PAYOUT_INGEST, json=[report(f"{t}-0")]).status_code == 401
    assert post(server, [report(f"{t}-1")], key="iocs_not-a-key-at-all-xxxxxxxxxxxxxxxx").status_code == 401
    # A person, even an admin, is no source; a source whose key covers dossiers only may not push payouts.
    assert post(server, [report(f"{t}-2")], key=server.admin_token).status_code == 403
    dossier_only = register_source(server.db_url, f"dossier-only-{t}", "Nguồn hồ sơ", streams=frozenset({"dossier"}))
    refused = post(server, [report(f"{t}-3")], key=dossier_only)
    assert refused.status_code == 403 and "payout" in refused.json()["detail"]
    assert rows(server.db_url, "SELECT count(*) FROM payout_report WHERE record_id LIKE %s", [f"{t}-%"]) == [(0,)]


def test_a_key_scoped_to_hanoi_cannot_write_ho_chi_minh_city(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    key = register_source(server.db_url, f"hanoi-{t}", "Sở Nội vụ Hà Nội", scope=HANOI)
    response = post(server, [report(f"{t}-hcm", locality={"province_code": "79"}), report(f"{t}-hn")], key=key)
    assert results(response) == [("rejected", "locality_out_of_scope"), ("accepted", None)]
    assert rows(server.db_url, "SELECT record_id FROM payout_report WHERE source_id = %s", [f"hanoi-{t}"]) == [
        (f"{t}-hn",)
    ]


def test_batches_per_source_are_rate_limited(pg_server: EmbeddedPostgres) -> None:
    url = fresh_database(pg_server)
    key = register_source(url, "payout-rl", "Nguồn chi trả")
    settings = Settings(database_url=url, port=free_port(), ingest_batches_per_second=0.2, ingest_batch_burst=2)
    http, thread = serve_in_thread(settings, url)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", headers=bearer(key)) as client:
            statuses = [client.post(PAYOUT_INGEST, json=[report(f"rl-{n}")]).status_code for n in range(3)]
            assert statuses == [200, 200, 429]
    finally:
        http.should_exit = True
        thread.join(timeout=15)
    assert rows(url, "SELECT record_id FROM payout_report ORDER BY 1") == [("rl-0",), ("rl-1",)]


# --------------------------------------------------------------------------- programmes


def test_programmes_are_listed_and_managed_by_admins(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    leader = user_token(server.db_url, f"leader-{t}", "leader", HANOI)
    with server.client(leader) as client:
        listed = client.get("/api/v1/payout/programmes").json()["programmes"]
        assert {"nguoi_co_cong", "bao_tro_xa_hoi", "luong_huu"} <= {p["code"] for p in listed}
        [ncc] = [p for p in listed if p["code"] == "nguoi_co_cong"]
        assert (ncc["name_vi"], ncc["cashless_target"], ncc["active"]) == ("Người có công với cách mạng", 0.7, True)
        assert client.put("/api/v1/admin/payout/programmes/tro_cap_x", json={
            "name_vi": "Trợ cấp X", "name_en": "Allowance X"}).status_code == 403  # fmt: skip
    code = f"tro_cap_{t.replace('-', '_')}"
    path = f"/api/v1/admin/payout/programmes/{code}"
    body = {"name_vi": "Trợ cấp người cao tuổi", "name_en": "Old-age allowance", "cashless_target": 0.655}
    with server.client() as admin:
        created = admin.put(path, json=body)
        assert created.status_code == 201, created.text
        assert created.json()["programme"]["cashless_target"] == 0.655
        assert results(post(server, [report(f"{t}-new", programme=code)])) == [("accepted", None)]
        retired = admin.put(path, json={**body, "active": False})
        assert (retired.status_code, retired.json()["created"]) == (200, False)
        assert admin.put("/api/v1/admin/payout/programmes/Có-Dấu", json=body).status_code == 422
        assert admin.put(path, json={**body, "cashless_target": 1.5}).status_code == 422
    assert results(post(server, [report(f"{t}-after", programme=code)])) == [("rejected", "unknown_programme")]
    audited = rows(server.db_url, "SELECT action, details->>'created' FROM audit_log WHERE target = %s ORDER BY id",
                   [f"payout_programme:{code}"])  # fmt: skip
    assert audited == [("payout.programme_set", "true"), ("payout.programme_set", "false")]


# --------------------------------------------------------------------------- cycles


@pytest.fixture(scope="module")
def cycles_pushed(module_live_server: LiveServer) -> str:
    """This month's cycles in Hà Nội (province-wide and one ward) and in Hồ Chí Minh City."""
    t = tag()
    batch = [
        now_report(f"{t}-hn"),
        now_report(f"{t}-hn-ward", locality={"commune_code": "00004"}, programme="bao_tro_xa_hoi"),
        now_report(f"{t}-hcm", locality={"province_code": "79"}),
    ]
    assert results(post(module_live_server, batch)) == [("accepted", None)] * 3
    return t


def cycles_seen(server: LiveServer, token: str | None = None, **params: str) -> list[tuple[str, str, str]]:
    with server.client(token) as client:
        response = client.get("/api/v1/payout/cycles", params=params)
    assert response.status_code == 200, response.text
    return sorted((c["province_code"], c["commune_code"] or "-", c["programme"]) for c in response.json()["cycles"])


def test_cycles_are_filtered_to_the_callers_scope(module_live_server: LiveServer, cycles_pushed: str) -> None:
    server = module_live_server
    everything = [("01", "-", "nguoi_co_cong"), ("01", "00004", "bao_tro_xa_hoi"), ("79", "-", "nguoi_co_cong")]
    assert cycles_seen(server) == everything
    hanoi = user_token(server.db_url, f"op-{tag()}", "operator", HANOI)
    assert cycles_seen(server, hanoi) == everything[:2]
    assert cycles_seen(server, hanoi, province_code="79") == []
    ward = user_token(server.db_url, f"op-{tag()}", "operator", Scope.from_dict({"communes": ["00004"]}))
    assert cycles_seen(server, ward) == everything[1:2]  # not the province-wide report
    # Payout rows have no agency or sector: a scope narrowed to a sector sees none of them.
    narrowed = Scope.from_dict({"provinces": ["01"], "sectors": ["Hộ tịch"]})
    sector = user_token(server.db_url, f"op-{tag()}", "operator", narrowed)
    assert cycles_seen(server, sector) == []
    assert cycles_seen(server, programme="bao_tro_xa_hoi") == everything[1:2]
    assert cycles_seen(server, province_code="79") == everything[2:]


def test_a_cycle_row_carries_the_reported_numbers(module_live_server: LiveServer, cycles_pushed: str) -> None:
    with module_live_server.client() as client:
        answer = client.get("/api/v1/payout/cycles", params={"province_code": "79"}).json()
    [row] = answer["cycles"]
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert answer["cycle"] == row["cycle"] == local.strftime("%Y-%m")
    assert {k: row[k] for k in ("beneficiaries_due", "paid_total", "paid_cash", "paid_cashless", "failed",
                                "failures", "amount_due_vnd", "amount_paid_vnd")} == {
        "beneficiaries_due": 1000, "paid_total": 900, "paid_cash": 250, "paid_cashless": 650, "failed": 3,
        "failures": {"wrong_account": 2, "deceased": 1}, "amount_due_vnd": 2_200_000_000,
        "amount_paid_vnd": 1_980_000_000,
    }  # fmt: skip
    with module_live_server.client() as client:
        assert client.get("/api/v1/payout/cycles", params={"cycle": "2024-13"}).status_code == 422
        assert client.get("/api/v1/payout/cycles", params={"cycle": "2019-01"}).json()["cycles"] == []


# --------------------------------------------------------------------------- the simulator


async def test_the_simulator_posts_payout_reports_beside_dossiers(live_server: LiveServer) -> None:
    """The demo's simulator, with payouts on: same key, the payout route, every report accepted."""
    payout = PayoutSimulatorSettings(backfill=timedelta(hours=30), time_scale=200_000)
    await run_simulator(live_server.url, live_server.api_key, rate_per_second=5, duration=2.0, tick_seconds=0.2,
                        backfill=timedelta(hours=1), payout=payout)  # fmt: skip
    [(reports,)] = rows(live_server.db_url, "SELECT count(*) FROM payout_report")
    # Every report accepted: one per province and programme at each office hour of the 30 simulated
    # hours (an hour may tick over while the test runs).
    office_hours = len(report_instants(datetime.now(UTC) - timedelta(hours=30), datetime.now(UTC)))
    assert reports % 102 == 0 and abs(reports // 102 - office_hours) <= 1
    assert rows(live_server.db_url, "SELECT count(DISTINCT (province_code, programme_code)) FROM payout_cycle") == [
        (102,)
    ]
    assert rows(live_server.db_url, "SELECT count(*) FROM dossier") != [(0,)]
