"""The ID-issuance routes end to end: a real app in uvicorn over a real PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import orjson

from ingest.id_issuance import VN
from ingest.simulator.id_issuance import (
    IdIssuanceSimulator,
    backfill_id_issuance,
    binh_duong_communes,
    demo_settings,
    put_targets,
)
from ioc.auth.scope import Scope
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from tests.auth_support import bearer, user_token
from tests.conftest import LiveServer
from tests.integration.id_issuance_support import HANOI_WARD, ID_INGEST, report, rows

_n = itertools.count()
HANOI = Scope.from_dict({"provinces": ["01"]})
BA_DINH = Scope.from_dict({"communes": ["00004"]})
TARGETS = "/api/v1/id/targets"
DAILY = "/api/v1/id/daily"


def tag() -> str:
    return f"id-api-{next(_n)}"


def post(server: LiveServer, body: Any, key: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or server.api_key}", **kwargs.pop("headers", {})}
    with server.anonymous() as client:
        if isinstance(body, bytes):
            return client.post(ID_INGEST, content=body, headers=headers)
        return client.post(ID_INGEST, json=body, headers=headers)


def results(response: httpx.Response) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, response.text
    return [(r["status"], r.get("reason")) for r in response.json()["results"]]


def target(province: str = "01", commune: str = "", metric: str = "vneid_l2_activated", value: float = 1_200_000,
           **extra: Any) -> dict[str, Any]:  # fmt: skip
    body = {"province_code": province, "commune_code": commune, "metric": metric, "target_value": value,
            "start_date": "2026-03-16", "deadline": "2026-06-20", "note": "Chỉ tiêu định danh mức 2"}  # fmt: skip
    return {**body, **extra}


# --------------------------------------------------------------------------- the push API


def test_a_batch_gets_a_result_per_item_and_a_resend_changes_nothing(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    batch = [report(f"{t}-1"), report(f"{t}-2", cccd_issued_total=10**6), report(f"{t}-1"),
             report(f"{t}-3", locality={"legacy_ward_code": "25747"}, day="2026-03-15",
                    reported_at="2026-03-15T18:00:00+07:00")]  # fmt: skip
    response = post(server, batch)
    assert results(response) == [
        ("accepted", None), ("rejected", "inconsistent_totals"), ("duplicate", "duplicate_in_batch"),
        ("accepted", None),
    ]  # fmt: skip
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, 1)
    assert "Bình Dương" in body["results"][3]["converted_from"]
    assert results(post(server, batch)) == [
        ("duplicate", "already_ingested"), ("rejected", "inconsistent_totals"), ("duplicate", "duplicate_in_batch"),
        ("duplicate", "already_ingested"),
    ]  # fmt: skip
    assert rows(server.db_url, "SELECT count(*) FROM id_issuance_report WHERE record_id LIKE %s", [f"{t}-%"]) == [(2,)]


def test_ndjson_bodies_are_taken_line_by_line(module_live_server: LiveServer) -> None:
    t = tag()
    body = orjson.dumps(report(f"{t}-1")) + b"\n{not json\n" + orjson.dumps(report(f"{t}-2", locality=HANOI_WARD))
    response = post(module_live_server, body, headers={"Content-Type": "application/x-ndjson"})
    assert results(response) == [("accepted", None), ("rejected", "malformed_json"), ("accepted", None)]


def test_whole_batch_refusals_write_nothing(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    assert post(server, b'{"record_id": "x"}', headers={"Content-Type": "application/json"}).status_code == 400
    too_many = [report(f"{t}-{i}") for i in range(server.settings.max_batch_items + 1)]
    assert post(server, too_many).status_code == 413
    assert rows(server.db_url, "SELECT count(*) FROM id_issuance_report WHERE record_id LIKE %s", [f"{t}-%"]) == [(0,)]


def test_who_may_push(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    with server.client() as admin:  # a person, even an admin, is no source
        assert admin.post(ID_INGEST, json=[report(f"{t}-1")]).status_code == 403
    assert server.anonymous().post(ID_INGEST, json=[report(f"{t}-1")]).status_code == 401
    dossier_only = register_source(server.db_url, f"dossier-only-{t}", "Nguồn hồ sơ", streams=frozenset({"dossier"}))
    response = post(server, [report(f"{t}-1")], key=dossier_only)
    assert response.status_code == 403 and "id_issuance" in response.text


def test_a_key_scoped_to_hanoi_cannot_write_ho_chi_minh_city(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    key = register_source(server.db_url, f"ca-hanoi-{t}", "Công an Hà Nội", scope=HANOI)
    response = post(server, [report(f"{t}-hcm"), report(f"{t}-hn", locality=HANOI_WARD)], key=key)
    assert results(response) == [("rejected", "locality_out_of_scope"), ("accepted", None)]
    written = rows(server.db_url, "SELECT record_id FROM id_issuance_report WHERE source_id = %s", [f"ca-hanoi-{t}"])
    assert written == [(f"{t}-hn",)]


# --------------------------------------------------------------------------- daily figures


def test_daily_rows_are_filtered_to_the_callers_scope(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    day, at = "2026-02-01", "2026-02-01T18:00:00+07:00"
    assert results(post(server, [
        report(f"{t}-hcm", day=day, reported_at=at),
        report(f"{t}-ward", day=day, reported_at=at, locality=HANOI_WARD),
        report(f"{t}-hn", day=day, reported_at=at, locality={"province_code": "01"}),
    ])) == [("accepted", None)] * 3  # fmt: skip
    window = {"from": day, "to": day}

    def seen(token: str | None = None, **params: str) -> list[tuple[str, str]]:
        with server.client(token) as client:
            response = client.get(DAILY, params={**window, **params})
        assert response.status_code == 200, response.text
        return [(r["province_code"], r["commune_code"]) for r in response.json()["rows"]]

    assert seen() == [("01", ""), ("01", "00004"), ("79", "25747")]
    assert seen(province_code="79") == [("79", "25747")]
    assert seen(commune_code="") == [("01", "")]  # province-wide reports only
    leader = user_token(server.db_url, f"leader-{t}", "leader", HANOI)
    assert seen(leader) == [("01", ""), ("01", "00004")]
    assert seen(leader, province_code="79") == []
    # A commune's operator sees the commune's report, not the province-wide one (it covers others).
    ward = user_token(server.db_url, f"op-{t}", "operator", BA_DINH)
    assert seen(ward) == [("01", "00004")]
    # Rows carry no agency or sector: a scope narrowed to a sector sees none of them.
    narrowed = Scope.from_dict({"provinces": ["01"], "sectors": ["Hộ tịch"]})
    assert seen(user_token(server.db_url, f"sector-{t}", "operator", narrowed)) == []
    with server.client() as client:
        [row] = client.get(DAILY, params={**window, "commune_code": "25747"}).json()["rows"]
        assert row["cccd_issued_total"] == 52_575 and row["day"] == day
        assert client.get(DAILY, params={"from": "2026-03-01", "to": "2026-02-01"}).status_code == 422
        assert client.get(DAILY, params={"from": "2024-01-01", "to": "2026-02-01"}).status_code == 422
        page = client.get(DAILY, params={**window, "limit": 2}).json()
        assert len(page["rows"]) == 2 and page["truncated"] is True


# --------------------------------------------------------------------------- targets


def test_a_leader_sets_targets_in_scope_only(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    leader = user_token(server.db_url, f"leader-{t}", "leader", HANOI)
    with server.client(leader) as client:
        response = client.put(TARGETS, json=target("01", value=4_000_000))
        assert response.status_code == 200, response.text
        assert response.json()["target"] | {"set_at": None} == {
            "province_code": "01", "commune_code": "", "metric": "vneid_l2_activated", "target_value": 4_000_000.0,
            "start_date": "2026-03-16", "deadline": "2026-06-20", "note": "Chỉ tiêu định danh mức 2",
            "set_by": f"user:leader-{t}", "set_at": None,
        }  # fmt: skip
        assert client.put(TARGETS, json=target("01", "00004", "cccd_coverage", 1.0)).status_code == 200
        # Hồ Chí Minh City is not theirs, nor is its commune Thủ Dầu Một.
        refused = client.put(TARGETS, json=target("79", value=1_200_000))
        assert refused.status_code == 403 and "ngoài phạm vi" in refused.text
        assert client.put(TARGETS, json=target("79", "25747", "cccd_coverage", 1.0)).status_code == 403
        assert client.delete(f"{TARGETS}/79/cccd_coverage").status_code == 403
        # Their list holds their own province's targets only.
        listed = client.get(TARGETS).json()["targets"]
    assert {(x["province_code"], x["commune_code"], x["metric"]) for x in listed} == {
        ("01", "", "vneid_l2_activated"), ("01", "00004", "cccd_coverage"),
    }  # fmt: skip
    with server.client() as admin:
        assert admin.put(TARGETS, json=target("79", value=1_200_000)).status_code == 200
        everything = admin.get(TARGETS, params={"metric": "vneid_l2_activated"}).json()["targets"]
    assert {x["province_code"] for x in everything} >= {"01", "79"}
    assert rows(server.db_url, "SELECT count(*) FROM id_target WHERE province_code = '79' AND commune_code = ''") == [
        (1,)
    ]
    # A commune's leader may set the commune's target, not the province's.
    ward_leader = user_token(server.db_url, f"ward-leader-{t}", "leader", BA_DINH)
    with server.client(ward_leader) as client:
        assert client.put(TARGETS, json=target("01", "00004", "vneid_l2_activated", 20_000)).status_code == 200
        assert client.put(TARGETS, json=target("01", "", "cccd_coverage", 1.0)).status_code == 403
    # Operators read targets but set none.
    operator = user_token(server.db_url, f"op-{t}", "operator", HANOI)
    with server.client(operator) as client:
        assert client.put(TARGETS, json=target("01")).status_code == 403
        assert client.get(TARGETS).status_code == 200


def test_targets_are_audited_and_deleted(module_live_server: LiveServer) -> None:
    server, t = module_live_server, tag()
    leader = user_token(server.db_url, f"leader-{t}", "leader", HANOI)
    with server.client(leader) as client:
        assert client.put(TARGETS, json=target("01", "00004", "cccd_coverage", 0.98)).status_code == 200
        assert client.put(TARGETS, json=target("01", "00004", "cccd_coverage", 1.0)).status_code == 200
        assert client.delete(f"{TARGETS}/01/cccd_coverage", params={"commune_code": "00004"}).status_code == 200
        assert client.delete(f"{TARGETS}/01/cccd_coverage", params={"commune_code": "00004"}).status_code == 404
    trail = rows(server.db_url, "SELECT action, target, outcome, details->>'target_value' FROM audit_log"
                                " WHERE actor = %s ORDER BY id", [f"user:leader-{t}"])  # fmt: skip
    assert trail == [
        ("id_target.set", "01/00004/cccd_coverage", "ok", "0.98"),
        ("id_target.set", "01/00004/cccd_coverage", "ok", "1.0"),
        ("id_target.delete", "01/00004/cccd_coverage", "ok", None),
    ]


def test_target_values_are_checked(module_live_server: LiveServer) -> None:
    with module_live_server.client() as admin:
        for body in (
            target("01", metric="cccd_coverage", value=1.5),  # a share is at most 1
            target("01", value=1_200_000.5),  # a number of accounts is whole
            target("01", "25747"),  # Thủ Dầu Một is not in Hà Nội
            target("01", "99999"),
            target("99"),
            target("01", start_date="2026-07-01"),  # starts after its deadline
        ):
            response = admin.put(TARGETS, json=body)
            assert response.status_code == 422, (body, response.text)
        assert admin.put(TARGETS, json=target("01", metric="cccd_count")).status_code == 422
        assert admin.put(TARGETS, json={**target("01"), "deadline": None}).status_code == 422


# --------------------------------------------------------------------------- the simulator


async def test_the_simulator_posts_through_the_api(live_server: LiveServer) -> None:
    """Two simulated days (a report per commune) and the default targets, all accepted."""
    today = datetime.now(VN).date()
    simulator = IdIssuanceSimulator(demo_settings(today, backfill_days=2, run_tag="t"), load_catalogue())
    async with httpx.AsyncClient(base_url=live_server.url, headers=bearer(live_server.api_key), timeout=60) as c:
        totals = await backfill_id_issuance(c, simulator, today - timedelta(days=1))
    assert totals == {"accepted": 2 * 3_321, "duplicate": 0, "rejected": 0}
    async with httpx.AsyncClient(base_url=live_server.url, headers=bearer(live_server.admin_token), timeout=60) as c:
        assert await put_targets(c, simulator.default_targets()) == 2 * 34 + 36
    bd = list(binh_duong_communes(load_catalogue()))
    start = today - timedelta(days=2)
    [(eligible, issued, activated)] = rows(live_server.db_url, """
        SELECT sum(eligible_population), sum(cccd_issued_total), sum(l2_activated_total)
        FROM id_issuance_daily WHERE day = %s AND commune_code = ANY(%s)""", [start, bd])  # fmt: skip
    assert (eligible, issued, activated) == (1_972_053, 1_919_976, 172_986)
    [(target_sum,)] = rows(live_server.db_url, "SELECT sum(target_value) FROM id_target WHERE commune_code = ANY(%s)",
                           [bd])  # fmt: skip
    assert target_sum == 1_200_000
    assert date.fromisoformat(str(rows(live_server.db_url, "SELECT max(deadline) FROM id_target")[0][0])) == (
        start + timedelta(days=137)
    )
