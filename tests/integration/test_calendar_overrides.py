"""Operator overrides of the working-day calendar, stored in the database through the API, move
the deadlines of dossiers received afterwards: an extra day off (national or for one province)
and a swapped working Saturday."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import LiveServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
# Received Thursday 12/11/2026 10:00 with 2 working days: Friday 13 and Monday 16 → Mon 16 10:00.
RECEIVED = datetime(2026, 11, 12, 10, 0, tzinfo=VN)


def receipt(event_id: str, dossier: str, commune: str) -> dict[str, object]:
    return {
        "event_id": event_id, "dossier_code": dossier, "event_type": "received",
        "occurred_at": RECEIVED.isoformat(), "channel": "direct",
        "procedure": {"code": "1.000894", "name": "Chứng thực bản sao", "sector": "Chứng thực", "statutory_days": 2},
        "locality": {"commune_code": commune},
    }  # fmt: skip


def due_at(server: LiveServer, dossier: str) -> datetime:
    with server.client() as client:
        state = client.get(f"/api/v1/dossiers/{dossier}").json()["state"]
    return datetime.fromisoformat(state["due_at"]).astimezone(VN)


def test_overrides_move_deadlines_of_later_receipts(live_server: LiveServer) -> None:
    assert live_server.post_events([receipt("o-1", "HS-O1", "00097")]).json()["accepted"] == 1
    assert due_at(live_server, "HS-O1") == datetime(2026, 11, 16, 10, 0, tzinfo=VN)

    with live_server.client() as client:
        # Hà Nội (01) gives Friday 13 off; the whole country works Saturday 14 in exchange.
        r = client.put("/api/v1/calendar/overrides", json={"day": "2026-11-13", "kind": "day_off",
                                                            "province_code": "01", "note": "Nghỉ bù"})  # fmt: skip
        assert r.status_code == 200, r.text
        r = client.put("/api/v1/calendar/overrides", json={"day": "2026-11-14", "kind": "working_day"})
        assert r.status_code == 200, r.text
        listed = client.get("/api/v1/calendar/overrides").json()["overrides"]
        assert [(o["day"], o["province_code"], o["kind"]) for o in listed] == [
            ("2026-11-13", "01", "day_off"), ("2026-11-14", "", "working_day"),
        ]  # fmt: skip
        assert client.put("/api/v1/calendar/overrides", json={"day": "2026-11-13", "kind": "day_off",
                                                               "province_code": "99"}).status_code == 422  # fmt: skip

    # Hà Nội: Friday off, Saturday worked → Saturday and Monday → Monday 16 10:00 still.
    # Ho Chi Minh City (79): Friday worked, Saturday worked → Friday, Saturday → Saturday 14 10:00.
    posted = live_server.post_events([receipt("o-2", "HS-O2", "00097"), receipt("o-3", "HS-O3", "25747")])
    assert posted.json()["accepted"] == 2
    assert due_at(live_server, "HS-O2") == datetime(2026, 11, 16, 10, 0, tzinfo=VN)
    assert due_at(live_server, "HS-O3") == datetime(2026, 11, 14, 10, 0, tzinfo=VN)
    # Deadlines computed before the overrides stand.
    assert due_at(live_server, "HS-O1") == datetime(2026, 11, 16, 10, 0, tzinfo=VN)

    with live_server.client() as client:
        assert client.delete("/api/v1/calendar/overrides/2026-11-14").status_code == 200
        assert client.delete("/api/v1/calendar/overrides/2026-11-14").status_code == 404
