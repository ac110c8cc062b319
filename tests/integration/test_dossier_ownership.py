"""A dossier belongs to its locality and to the source that registered it (ingest/ownership.py).

Through the real API over a real PostgreSQL: the two attacks of the "official record" issue as
they were written, the legitimate sharing of a dossier by sources whose scopes cover it, and a
seeded random run of sources, scopes and event orders after which no dossier ever changed its
locality or was touched by a source outside its scope.
"""

from __future__ import annotations

import os
import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from alerts.calendar import WorkingCalendar
from ingest.lifecycle import DossierEvent, DossierState, EventType, Procedure, fold
from ingest.writer import PROJECTION_CHANNEL
from ioc.auth.scope import Scope
from ioc.sources import register_source
from tests.auth_support import bearer, user_token
from tests.conftest import LiveServer, wait_until
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, INGEST, KHAI_SINH, event, receipt, table_counts

pytestmark = pytest.mark.usefixtures("module_live_server")

NOW = datetime.now(UTC).replace(microsecond=0)
HANOI_OTHER_WARD = {"commune_code": "00008"}  # Phường Ngọc Hà, Hà Nội (01)
HCMC_OTHER_WARD = {"commune_code": "25750"}  # Phường Phú Lợi, TP Hồ Chí Minh (79)


def source_key(server: LiveServer, source_id: str, scope: Scope) -> str:
    return register_source(server.db_url, source_id, f"Nguồn {source_id}", scope=scope)


def registers(server: LiveServer, key: str, event_id: str, code: str, t: datetime, where: dict[str, str]) -> bool:
    result = post(server, key, [receipt(event_id, code, t, locality=where)])[0]
    return bool(result["status"] == "accepted")


def post(server: LiveServer, key: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post(INGEST, json=items, headers=bearer(key))
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def state_of(db_url: str, code: str) -> dict[str, Any] | None:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute("SELECT * FROM dossier WHERE code = %s", [code])
        row = cur.fetchone()
        if row is None:
            return None
        names = [d.name for d in cur.description or ()]
        return {n: v for n, v in zip(names, row, strict=True) if n != "updated_at"}


@pytest.fixture(scope="module")
def keys(module_live_server: LiveServer) -> dict[str, str]:
    server = module_live_server
    return {
        "hanoi": source_key(server, "mc-hanoi", Scope(provinces=frozenset({"01"}))),
        "hcmc": source_key(server, "mc-hcmc", Scope(provinces=frozenset({"79"}))),
        "hcmc-ward": source_key(server, "xa-25747", Scope(communes=frozenset({"25747"}))),
        "national": source_key(server, "quoc-gia", Scope.everything()),
    }


def test_a_resolved_event_from_another_province_is_refused_and_changes_nothing(
    module_live_server: LiveServer, keys: dict[str, str]
) -> None:
    server = module_live_server
    received = NOW - timedelta(days=30)  # long overdue: 10 working days have passed
    assert registers(server, keys["hcmc"], "a1-r", "H79-A1", received, HCMC_WARD)
    before_state, before_counts = state_of(server.db_url, "H79-A1"), table_counts(server.db_url)
    assert before_state is not None and before_state["closed_at"] is None and before_state["due_at"] < NOW

    # The attack as written: a key scoped to 01 resolves the province-79 dossier, naming a 01 commune.
    result = post(server, keys["hanoi"], [event("a1-x", "H79-A1", "resolved", NOW - timedelta(hours=1))])[0]

    assert result["status"] == "rejected" and result["reason"] == "dossier_out_of_scope"
    # Nothing about the dossier leaks: not its locality, not its state.
    assert not any(part in result["message"] for part in ("79", "25747", "received", "overdue", "mc-hcmc"))
    assert state_of(server.db_url, "H79-A1") == before_state
    assert table_counts(server.db_url) == before_counts  # no receipt, no event, no queue row


def test_an_earlier_receipt_from_another_province_cannot_rehome_a_dossier(
    module_live_server: LiveServer, keys: dict[str, str]
) -> None:
    server = module_live_server
    received = NOW - timedelta(days=3)
    assert registers(server, keys["hcmc"], "a2-r", "H79-A2", received, HCMC_WARD)
    before_counts = table_counts(server.db_url)

    # The attack as written: an earlier-stamped receipt from the 01 key, in a 01 commune.
    result = post(server, keys["hanoi"], [receipt("a2-x", "H79-A2", received - timedelta(days=1))])[0]

    assert result["status"] == "rejected" and result["reason"] == "dossier_out_of_scope"
    assert table_counts(server.db_url) == before_counts
    state = state_of(server.db_url, "H79-A2")
    assert state is not None and (state["province_code"], state["commune_code"]) == ("79", "25747")
    assert state["received_at"] == received and state["source_id"] == "mc-hcmc"
    # Province 01's leader cannot read it; province 79's reads it with its own events only.
    hanoi_leader = user_token(server.db_url, "lanh-dao-01-a2", "leader", Scope(provinces=frozenset({"01"})))
    hcmc_leader = user_token(server.db_url, "lanh-dao-79-a2", "leader", Scope(provinces=frozenset({"79"})))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/api/v1/dossiers/H79-A2", headers=bearer(hanoi_leader)).status_code == 404
        seen = client.get("/api/v1/dossiers/H79-A2", headers=bearer(hcmc_leader)).json()
    assert [e["event_id"] for e in seen["events"]] == ["a2-r"]


def test_events_stored_before_the_receipt_count_only_when_placed_at_the_dossier(
    module_live_server: LiveServer, keys: dict[str, str]
) -> None:
    """A code nobody registered yet is answered as any unknown code is (stored, waiting for its
    receipt); once the owner registers it, an event placed elsewhere never shaped it."""
    server = module_live_server
    t = NOW - timedelta(days=2)
    early = post(server, keys["hanoi"], [event("a3-x", "H79-A3", "resolved", t + timedelta(hours=2))])[0]
    unknown = post(server, keys["hanoi"], [event("a3-y", "H01-NEVER", "resolved", t + timedelta(hours=2))])[0]
    assert early["status"] == unknown["status"] == "accepted"

    assert post(server, keys["hcmc"], [receipt("a3-r", "H79-A3", t, locality=HCMC_WARD)])[0]["status"] == "accepted"

    state = state_of(server.db_url, "H79-A3")
    assert state is not None and state["province_code"] == "79"
    assert state["status"] == "received" and state["closed_at"] is None and state["last_event_at"] == t
    # A later refold from the log (as the projector loop does after a crash) keeps it so.
    with psycopg.connect(server.db_url) as conn:
        conn.execute("INSERT INTO dossier_projection_queue (source_id, dossier_codes, deferred) "
                     "VALUES ('test', ARRAY['H79-A3'], true)")  # fmt: skip
        conn.execute(f"SELECT pg_notify('{PROJECTION_CHANNEL}', '')")

    def queue_empty() -> bool:
        with psycopg.connect(server.db_url) as conn:
            return conn.execute("SELECT count(*) FROM dossier_projection_queue").fetchone() == (0,)

    wait_until(queue_empty, timeout=20)
    assert state_of(server.db_url, "H79-A3") == state


def test_sources_whose_scopes_cover_a_dossier_share_it_and_no_one_moves_it(
    module_live_server: LiveServer, keys: dict[str, str]
) -> None:
    server = module_live_server
    t = NOW - timedelta(days=1)
    # The provincial one-stop system registers it in a commune; the commune's own system and a
    # national system may then write to it, and the province may name only the province.
    assert post(server, keys["hcmc"], [receipt("s-r", "H79-S", t, locality=HCMC_WARD)])[0]["status"] == "accepted"
    shared = post(server, keys["hcmc-ward"], [event("s-1", "H79-S", "supplement_requested", t + timedelta(hours=1),
                                                    locality=HCMC_WARD)])  # fmt: skip
    national = post(server, keys["national"], [event("s-2", "H79-S", "supplement_received", t + timedelta(hours=2),
                                                     locality=HCMC_WARD)])  # fmt: skip
    province_only = post(server, keys["hcmc"], [event("s-3", "H79-S", "apology_issued", t + timedelta(hours=3),
                                                      locality={"province_code": "79"})])  # fmt: skip
    assert [r["status"] for r in (*shared, *national, *province_only)] == ["accepted"] * 3

    moved = post(server, keys["national"], [
        event("s-4", "H79-S", "resolved", t + timedelta(hours=4), locality=HANOI_WARD),
        event("s-5", "H79-S", "resolved", t + timedelta(hours=4), locality=HCMC_OTHER_WARD),
    ])  # fmt: skip
    assert [(r["status"], r["reason"]) for r in moved] == [("rejected", "locality_mismatch")] * 2
    assert "25747" in moved[0]["message"]  # the national key may know where the dossier is

    # A commune-scoped key may not write to another commune's dossier of its province.
    assert registers(server, keys["hcmc"], "s2-r", "H79-S2", t, HCMC_OTHER_WARD)
    other = post(server, keys["hcmc-ward"], [event("s2-1", "H79-S2", "resolved", t + timedelta(hours=1),
                                                   locality=HCMC_WARD)])[0]  # fmt: skip
    assert (other["status"], other["reason"]) == ("rejected", "dossier_out_of_scope")

    state = state_of(server.db_url, "H79-S")
    assert state is not None and state["commune_code"] == "25747" and state["apology_at"] is not None
    assert state["paused_seconds"] > 0 and state["closed_at"] is None


def test_two_receipts_in_one_batch_register_the_earliest(module_live_server: LiveServer, keys: dict[str, str]) -> None:
    server = module_live_server
    t = NOW - timedelta(days=1)
    results = post(server, keys["national"], [
        receipt("b-late", "H-B", t + timedelta(hours=1), locality=HCMC_WARD),
        receipt("b-early", "H-B", t, locality=HANOI_WARD),
    ])  # fmt: skip
    assert [(r["status"], r.get("reason")) for r in results] == [("rejected", "locality_mismatch"), ("accepted", None)]
    state = state_of(server.db_url, "H-B")
    assert state is not None and state["province_code"] == "01"


# --------------------------------------------------------------------------- random orders

PLACES: list[dict[str, str]] = [
    HANOI_WARD, HANOI_OTHER_WARD, {"province_code": "01"},
    HCMC_WARD, HCMC_OTHER_WARD, {"province_code": "79"},
]  # fmt: skip
PLACE_OF = {"00004": ("01", "00004"), "00008": ("01", "00008"), "25747": ("79", "25747"), "25750": ("79", "25750")}
SCOPES = {
    "r-national": Scope.everything(),
    "r-01": Scope(provinces=frozenset({"01"})),
    "r-79": Scope(provinces=frozenset({"79"})),
    "r-00004": Scope(communes=frozenset({"00004"})),
    "r-25747": Scope(communes=frozenset({"25747"})),
}
PROCEDURE = Procedure(str(KHAI_SINH["code"]), str(KHAI_SINH["sector"]), int(str(KHAI_SINH["statutory_days"])))
KINDS = ["received", "received", "supplement_requested", "supplement_received", "resolved", "returned",
         "apology_issued", "fee_paid", "rated", "withdrawn"]  # fmt: skip


def place_of(locality: dict[str, str]) -> tuple[str, str | None]:
    if "commune_code" in locality:
        return PLACE_OF[locality["commune_code"]]
    return locality["province_code"], None


def covers(scope: Scope, place: tuple[str, str | None]) -> bool:
    return scope.allows_locality(*place)


def as_event(item: dict[str, Any], source_id: str) -> DossierEvent:
    province, commune = place_of(item["locality"])
    return DossierEvent(
        occurred_at=datetime.fromisoformat(item["occurred_at"]), dossier_code=item["dossier_code"],
        event_type=EventType(item["event_type"]), source_id=source_id, event_id=item["event_id"],
        province_code=province, commune_code=commune, agency_code=None,
        procedure_code=PROCEDURE.code if item["event_type"] == "received" else None,
        channel=item.get("channel"), handler_code=None, handler_name=None,
        online_level=None, digitised=None, payment_channel=None,
        rating="satisfied" if item["event_type"] == "rated" else None,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(1, int(os.environ.get("IOC_OWNERSHIP_SEEDS", "6")) + 1))
def test_random_sources_scopes_and_orders_never_move_or_touch_a_dossier_out_of_scope(
    module_live_server: LiveServer, seed: int
) -> None:
    server = module_live_server
    rng = random.Random(seed)
    keys = {sid: source_key(server, f"{sid}-{seed}", scope) for sid, scope in SCOPES.items()}
    codes = [f"R{seed}-{n}" for n in range(6)]
    start = NOW - timedelta(days=20)
    owner: dict[str, tuple[str, str | None]] = {}  # the model: code -> registered place
    accepted: dict[str, list[DossierEvent]] = {code: [] for code in codes}
    seen_place: dict[str, tuple[str, str | None]] = {}
    counter = 0
    for _ in range(14):
        sid = rng.choice(list(SCOPES))
        scope = SCOPES[sid]
        items = []
        for _ in range(rng.randint(1, 6)):
            counter += 1
            kind = rng.choice(KINDS)
            # Mostly places the key may declare (others are refused at parse as out of its scope).
            options = [p for p in PLACES if covers(scope, place_of(p))] or PLACES
            when = start + timedelta(hours=rng.randint(0, 400), minutes=rng.randint(0, 59))
            procedure = KHAI_SINH if kind == "received" else None
            items.append(event(f"e{counter}", rng.choice(codes), kind, when, locality=rng.choice(options),
                               procedure=procedure))  # fmt: skip
        results = post(server, keys[sid], items)
        batch_ok = [(item, r) for item, r in zip(items, results, strict=True) if r["status"] == "accepted"]
        # The model's registration: the batch's earliest accepted receipt of an unowned code.
        receipts = [i for i, _ in batch_ok if i["event_type"] == "received"]
        for item in sorted(receipts, key=lambda i: datetime.fromisoformat(i["occurred_at"])):
            owner.setdefault(item["dossier_code"], place_of(item["locality"]))
        for item, result in zip(items, results, strict=True):
            code = item["dossier_code"]
            if code in owner and result["status"] == "accepted":
                # Never accepted from a key that may not write to the dossier, nor placing it elsewhere.
                assert covers(scope, owner[code]) and place_of(item["locality"])[0] == owner[code][0], (item, result)
            if code in owner and result.get("reason") == "dossier_out_of_scope":
                assert not covers(scope, owner[code])
        for item, _ in batch_ok:
            accepted[item["dossier_code"]].append(as_event(item, f"{sid}-{seed}"))
        for code in codes:
            state = state_of(server.db_url, code)
            if state is None:
                continue
            place = (state["province_code"], state["commune_code"])
            assert seen_place.setdefault(code, place) == place, f"{code} moved"
            assert place == owner[code]

    # Each dossier is exactly the fold of the events a key covering it placed at it.
    calendar = WorkingCalendar()
    for code in codes:
        state = state_of(server.db_url, code)
        if code not in owner:
            assert state is None
            continue
        place = owner[code]
        counted = [
            e for e in accepted[code]
            if covers(SCOPES[e.source_id.rsplit("-", 1)[0]], place) and e.province_code == place[0]
            and e.commune_code in (None, place[1])
        ]  # fmt: skip
        # The lifecycle fold over just those events; given the registered place, since a dossier
        # registered in a commune stays there even if its earliest receipt named only the province.
        expected = fold(None, counted, lambda _p: calendar, lambda _c: PROCEDURE, place)
        if expected is None:
            assert state is None
            continue
        assert state is not None
        want = {f.name: getattr(expected, f.name) for f in fields(DossierState)}
        assert {k: state[k] for k in want} == want, code
