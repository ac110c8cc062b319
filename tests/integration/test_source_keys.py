"""Source API keys end to end: who may push dossier events, for which localities, with which key.

A real app over a real PostgreSQL. Sources and keys are made through the admin API (as an
operator would), and each case says what the caller gets: 401 for a missing, wrong, revoked or
expired key and for a revoked source; 403 for a source whose streams lack `dossier`; a per-item
`locality_out_of_scope` (writing nothing) for an event outside the source's provinces.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from ioc.auth.credentials import digest, new_credential
from ioc.sources import SourceError, register_source
from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD, HCMC_WARD, INGEST, VN, receipt, scalar

_n = itertools.count()
HANOI = {"provinces": ["01"]}


def _source(server: LiveServer, scope: dict[str, Any] | None = None) -> tuple[str, str]:
    """A new source made through the admin API; returns (source id, its first key)."""
    source_id = f"src-{next(_n)}"
    with server.client() as admin:
        response = admin.post("/api/v1/admin/sources", json={
            "id": source_id, "name": f"Hệ thống một cửa {source_id}", "scope": scope or {"national": True},
        })  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"]["id"] == source_id
    return source_id, body["api_key"]


def _events(tag: str, locality: dict[str, Any] = HANOI_WARD) -> list[dict[str, Any]]:
    return [receipt(f"ev-{tag}", f"HS-{tag}", datetime.now(VN) - timedelta(hours=1), locality=locality)]


def _push(server: LiveServer, key: str | None, tag: str, **headers: str) -> httpx.Response:
    """One receipt in Hà Nội, sent with `key` as bearer (or the given headers), anonymously otherwise."""
    sent = dict(headers)
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    with server.anonymous() as client:
        return client.post(INGEST, json=_events(tag), headers=sent)


def _accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


def _refused(response: httpx.Response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def _keys(server: LiveServer, source_id: str) -> list[dict[str, Any]]:
    with server.client() as admin:
        response = admin.get(f"/api/v1/admin/sources/{source_id}")
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["keys"]
    return keys


def _events_of(server: LiveServer, dossier_code: str) -> tuple[int, int]:
    """(rows in dossier_event, rows in dossier) for one dossier code."""
    events = scalar(server.db_url, "SELECT count(*) FROM dossier_event WHERE dossier_code = %s", [dossier_code])
    dossiers = scalar(server.db_url, "SELECT count(*) FROM dossier WHERE code = %s", [dossier_code])
    return int(events), int(dossiers)


# --------------------------------------------------------------------------- who may push


def test_missing_key_gets_401_and_writes_nothing(module_live_server: LiveServer) -> None:
    _refused(_push(module_live_server, None, "no-key"))
    assert _events_of(module_live_server, "HS-no-key") == (0, 0)


@pytest.mark.parametrize(
    "key",
    [
        new_credential("source"),  # well formed, but no source has it
        "ioc_wrong",  # too short to be a key at all
        "not-an-ioc-credential",
    ],
)
def test_wrong_key_gets_401(module_live_server: LiveServer, key: str) -> None:
    tag = f"wrong-{next(_n)}"
    _refused(_push(module_live_server, key, tag))
    _refused(_push(module_live_server, None, tag, **{"X-API-Key": key}))
    assert _events_of(module_live_server, f"HS-{tag}") == (0, 0)


def test_the_key_also_works_in_the_x_api_key_header(module_live_server: LiveServer) -> None:
    _, key = _source(module_live_server)
    _accepted(_push(module_live_server, None, f"xkey-{next(_n)}", **{"X-API-Key": key}))


def test_revoked_key_gets_401(module_live_server: LiveServer) -> None:
    source_id, key = _source(module_live_server)
    _accepted(_push(module_live_server, key, f"before-revoke-{next(_n)}"))
    [only] = _keys(module_live_server, source_id)
    with module_live_server.client() as admin:
        response = admin.delete(f"/api/v1/admin/sources/{source_id}/keys/{only['id']}")
        assert response.status_code == 200, response.text
        # Revoking it again: there is no active key with that id any more.
        assert admin.delete(f"/api/v1/admin/sources/{source_id}/keys/{only['id']}").status_code == 404
    _refused(_push(module_live_server, key, f"after-revoke-{next(_n)}"))
    [after] = _keys(module_live_server, source_id)
    assert after["valid"] is False and after["revoked_at"] is not None


def test_revoked_source_gets_401_for_every_key(module_live_server: LiveServer) -> None:
    source_id, key = _source(module_live_server)
    with module_live_server.client() as admin:
        rotated = admin.post(f"/api/v1/admin/sources/{source_id}/keys", json={"grace_hours": 24})
        assert rotated.status_code == 201, rotated.text
        assert admin.delete(f"/api/v1/admin/sources/{source_id}").status_code == 200
    _refused(_push(module_live_server, key, f"revoked-old-{next(_n)}"))
    _refused(_push(module_live_server, rotated.json()["api_key"], f"revoked-new-{next(_n)}"))


def test_source_without_the_dossier_stream_gets_403(module_live_server: LiveServer) -> None:
    """A payout-only source may not write dossier events; an unknown stream is refused at creation."""
    with module_live_server.client() as admin:
        refused = admin.post("/api/v1/admin/sources", json={
            "id": f"weather-{next(_n)}", "name": "Thời tiết", "streams": ["weather"], "scope": {"national": True},
        })  # fmt: skip
    assert refused.status_code == 422, refused.text
    with pytest.raises(SourceError):
        register_source(module_live_server.db_url, f"weather-{next(_n)}", "Thời tiết", streams=frozenset({"weather"}))

    source_id = f"payout-{next(_n)}"
    key = register_source(module_live_server.db_url, source_id, "Hệ thống chi trả", streams=frozenset({"payout"}))
    tag = f"payout-{next(_n)}"
    response = _push(module_live_server, key, tag)
    _refused(response, 403)
    assert "dossier" in response.json()["detail"]
    assert _events_of(module_live_server, f"HS-{tag}") == (0, 0)


# --------------------------------------------------------------------------- scope per item


def test_out_of_scope_item_is_rejected_alone_and_writes_nothing(module_live_server: LiveServer) -> None:
    """A source for Hà Nội (01) sends one event in Hà Nội and one in TP Hồ Chí Minh (79)."""
    _, key = _source(module_live_server, HANOI)
    tag = next(_n)
    t = datetime.now(VN) - timedelta(hours=2)
    in_scope, out_of_scope = f"HS-IN-{tag}", f"HS-OUT-{tag}"
    batch = [
        receipt(f"ev-in-{tag}", in_scope, t, locality=HANOI_WARD),
        receipt(f"ev-out-{tag}", out_of_scope, t, locality=HCMC_WARD),
    ]
    with module_live_server.anonymous() as client:
        response = client.post(INGEST, json=batch, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 0, 1)
    accepted, rejected = body["results"]
    assert (accepted["index"], accepted["status"]) == (0, "accepted")
    assert (rejected["index"], rejected["event_id"], rejected["status"], rejected["reason"]) == (
        1, f"ev-out-{tag}", "rejected", "locality_out_of_scope",
    )  # fmt: skip
    assert rejected["message"]
    assert _events_of(module_live_server, in_scope) == (1, 1)
    assert _events_of(module_live_server, out_of_scope) == (0, 0)
    receipts = scalar(module_live_server.db_url, "SELECT count(*) FROM event_receipt WHERE event_id = %s",
                      [f"ev-out-{tag}"])  # fmt: skip
    assert receipts == 0


def test_legacy_code_is_scoped_by_the_current_province(module_live_server: LiveServer) -> None:
    """Legacy Bình Dương (74) is now part of TP Hồ Chí Minh (79): a source for Hà Nội may not write it."""
    _, key = _source(module_live_server, HANOI)
    tag = f"legacy-{next(_n)}"
    events = _events(tag, {"legacy_province_code": "74"})
    with module_live_server.anonymous() as client:
        response = client.post(INGEST, json=events, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "locality_out_of_scope")
    assert _events_of(module_live_server, f"HS-{tag}") == (0, 0)


# --------------------------------------------------------------------------- rotation


def test_rotation_with_grace_keeps_both_keys_until_it_is_finished(module_live_server: LiveServer) -> None:
    source_id, old = _source(module_live_server)
    with module_live_server.client() as admin:
        response = admin.post(f"/api/v1/admin/sources/{source_id}/keys", json={"grace_hours": 24})
    assert response.status_code == 201, response.text
    new = response.json()["api_key"]
    assert new != old
    # In the grace period both keys work.
    _accepted(_push(module_live_server, old, f"grace-old-{next(_n)}"))
    _accepted(_push(module_live_server, new, f"grace-new-{next(_n)}"))
    old_row, new_row = _keys(module_live_server, source_id)
    assert old_row["valid"] and new_row["valid"]
    assert old_row["expires_at"] is not None and new_row["expires_at"] is None

    with module_live_server.client() as admin:
        finished = admin.post(f"/api/v1/admin/sources/{source_id}/keys/finish-rotation")
    assert finished.status_code == 200, finished.text
    assert finished.json() == {"keys_ended": 1}
    _refused(_push(module_live_server, old, f"finished-old-{next(_n)}"))
    _accepted(_push(module_live_server, new, f"finished-new-{next(_n)}"))
    old_row, new_row = _keys(module_live_server, source_id)
    assert (old_row["valid"], new_row["valid"]) == (False, True)


def test_rotation_without_grace_ends_the_old_key_at_once(module_live_server: LiveServer) -> None:
    source_id, old = _source(module_live_server)
    with module_live_server.client() as admin:
        response = admin.post(f"/api/v1/admin/sources/{source_id}/keys", json={"grace_hours": 0})
    assert response.status_code == 201, response.text
    _refused(_push(module_live_server, old, f"nograce-old-{next(_n)}"))
    _accepted(_push(module_live_server, response.json()["api_key"], f"nograce-new-{next(_n)}"))
    old_row, new_row = _keys(module_live_server, source_id)
    assert (old_row["valid"], new_row["valid"]) == (False, True)


def test_rotation_of_a_revoked_or_unknown_source_is_404(module_live_server: LiveServer) -> None:
    source_id, _ = _source(module_live_server)
    with module_live_server.client() as admin:
        assert admin.delete(f"/api/v1/admin/sources/{source_id}").status_code == 200
        assert admin.post(f"/api/v1/admin/sources/{source_id}/keys", json={}).status_code == 404
        assert admin.post("/api/v1/admin/sources/no-such-source/keys", json={}).status_code == 404


def test_source_details_list_keys_with_validity_but_never_the_key(module_live_server: LiveServer) -> None:
    source_id, old = _source(module_live_server, HANOI)
    with module_live_server.client() as admin:
        new = admin.post(f"/api/v1/admin/sources/{source_id}/keys", json={"grace_hours": 0}).json()["api_key"]
        response = admin.get(f"/api/v1/admin/sources/{source_id}")
        listing = admin.get("/api/v1/admin/sources")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"]["scope"]["provinces"] == ["01"]
    assert [(k["valid"], k["revoked_at"]) for k in body["keys"]] == [(False, None), (True, None)]
    for key in body["keys"]:
        assert set(key) == {"id", "created_at", "expires_at", "revoked_at", "valid"}
    for text in (response.text, listing.text):
        for secret in (old, new):
            assert secret not in text
            assert digest(secret) not in text
    assert source_id in listing.text


def test_source_key_administration_is_for_admins_only(module_live_server: LiveServer) -> None:
    source_id, key = _source(module_live_server)
    # A source's own key cannot rotate or read its keys.
    with module_live_server.client(key) as as_source:
        assert as_source.get(f"/api/v1/admin/sources/{source_id}").status_code == 403
        assert as_source.post(f"/api/v1/admin/sources/{source_id}/keys", json={}).status_code == 403
    with module_live_server.anonymous() as anonymous:
        assert anonymous.post(f"/api/v1/admin/sources/{source_id}/keys", json={}).status_code == 401
