"""The source's appointment through the API: overdue follows it, the dossier read explains its
deadline, and an appointment beyond the statutory deadline is counted (indicator, history
snapshot) and alerted on (the rule kind, through the real database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.calendar import WorkingCalendar
from alerts.rulebook.collect import collect_signals
from alerts.rulebook.spec import parse_rule
from ioc.indicators.history_job import run_history_job
from tests.conftest import LiveServer
from tests.integration.ingest_support import KHAI_SINH, dossier, event, ok, receipt, scalar

NOW = datetime.now(UTC)  # events are placed around now; every assertion keeps days of margin
T0 = NOW - timedelta(days=8)  # 10 working days (KHAI_SINH) from T0 are still days ahead


def with_due(item: dict[str, Any], due: datetime) -> dict[str, Any]:
    return {**item, "due_at": due.isoformat()}


def seed(server: LiveServer) -> None:
    events = [
        # The slip promised less than the law: overdue by the appointment, not by the statute.
        with_due(receipt("ap-1", "HS-AP1", T0), NOW - timedelta(hours=1)),
        # Its own 1-day period (the catalogue says 10) and a slip 3 days ahead: past the statutory
        # deadline, not overdue, and a finding.
        with_due(
            receipt("ap-2", "HS-AP2", T0, procedure={"code": KHAI_SINH["code"], "statutory_days": 1}),
            NOW + timedelta(days=3),
        ),
        # No slip at receipt; an extension later moved the deadline to just past.
        receipt("ap-3", "HS-AP3", T0, procedure={"code": KHAI_SINH["code"]}),  # the catalogue's period
        with_due(event("ap-3x", "HS-AP3", "extended", T0 + timedelta(hours=1)), NOW - timedelta(minutes=30)),
        # The statutory deadline only, with a pause for a supplement.
        receipt("ap-4", "HS-AP4", T0),
        event("ap-4r", "HS-AP4", "supplement_requested", T0 + timedelta(hours=1)),
        event("ap-4g", "HS-AP4", "supplement_received", T0 + timedelta(days=1)),
    ]
    body = ok(server.post_events(events[:1]))  # registers the procedure first (10 days)
    assert body["accepted"] == 1, body
    body = ok(server.post_events(events[1:]))
    assert body["accepted"] == len(events) - 1, body


def test_overdue_follows_the_appointment_and_the_read_explains_the_deadline(live_server: LiveServer) -> None:
    seed(live_server)
    with live_server.client() as c:
        overdue = c.get("/api/v1/dossiers", params={"status": "overdue"}).json()["dossiers"]
        provinces = c.get("/api/v1/status/provinces").json()
    assert sorted(d["code"] for d in overdue) == ["HS-AP1", "HS-AP3"]
    hanoi = next(p for p in provinces["provinces"] if p["code"] == "01")
    assert hanoi["overdue"] == 2

    one = dossier(live_server, "HS-AP1")["state"]
    assert one["due_at"] == one["appointment_at"] != one["statutory_due_at"]
    assert one["appointment_beyond_statutory"] is False

    got = dossier(live_server, "HS-AP2")
    state, deadline = got["state"], got["deadline"]
    assert (state["statutory_days"], state["catalogue_statutory_days"]) == (1, 10)
    assert state["appointment_beyond_statutory"] is True
    assert datetime.fromisoformat(state["statutory_due_at"]) < NOW < datetime.fromisoformat(state["due_at"])
    assert deadline["basis"] == "appointment" and deadline["due_at"] == state["due_at"]
    assert deadline["policy"]["id"] == "builtin:vn-office-days" and deadline["policy"]["version"] == 1
    statutory = deadline["statutory"]
    assert statutory["due_at"] == state["statutory_due_at"] and statutory["start"] == state["received_at"]
    assert (statutory["working_days"], statutory["working_days_source"]) == (1, "dossier")
    assert statutory["catalogue_working_days"] == 10 and statutory["differs_from_catalogue"] is True
    assert deadline["appointment"]["beyond_statutory"] is True
    assert [(h["event_type"], h["event_id"]) for h in deadline["appointment"]["history"]] == [("received", "ap-2")]
    assert deadline["recomputed_differs"] is False
    assert next(e for e in got["events"] if e["event_id"] == "ap-2")["due_at"] == state["due_at"]

    extended = dossier(live_server, "HS-AP3")["deadline"]
    assert [(h["event_type"], h["moved_by_pause"]) for h in extended["appointment"]["history"]] == [("extended", False)]
    assert extended["statutory"]["working_days_source"] == "catalogue"

    paused = dossier(live_server, "HS-AP4")
    explained = paused["deadline"]
    assert explained["basis"] == "statutory" and explained["appointment"] is None
    assert len(explained["statutory"]["pauses"]) == 1
    pause = explained["statutory"]["pauses"][0]
    assert pause["working_seconds"] == paused["state"]["paused_working_seconds"] > 0
    assert explained["statutory"]["paused_working_seconds"] == pause["working_seconds"]
    # Every calendar day the count spanned that was not worked is accounted for.
    counted = WorkingCalendar().working_seconds_between(
        datetime.fromisoformat(explained["statutory"]["counting_from"]), datetime.fromisoformat(explained["due_at"])
    )
    assert counted == 10 * 9 * 3600 + pause["working_seconds"]


def test_the_finding_is_an_indicator_a_snapshot_and_an_alert(live_server: LiveServer) -> None:
    seed(live_server)
    with live_server.client() as c:
        body = ok(c.get("/api/v1/indicators/current", params={"level": "province"}))
    values = {item["code"]: item["values"] for item in body["localities"]}
    assert values["01"]["appointment_beyond_statutory_count"] == 1
    assert values["79"]["appointment_beyond_statutory_count"] == 0

    async def job_and_signals() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(live_server.db_url) as conn:
            assert (await run_history_job(conn, NOW)).ran
            await conn.commit()
            spec = parse_rule({"id": "appointment_beyond_statutory", "kind": "appointment_beyond_statutory"})
            return await collect_signals(conn, spec, NOW, WorkingCalendar())

    signals = asyncio.run(job_and_signals())
    assert scalar(live_server.db_url, "SELECT sum(appointment_beyond_statutory)::int FROM dossier_stock_hourly") == 1
    assert len(signals) == 1
    signal = signals[0]
    assert signal.value == 1.0 and signal.labels.get("province_code") == "01"
    assert signal.labels.get("kind") == "appointment_beyond_statutory"
    assert signal.details["sample_codes"] == ("HS-AP2",)
    assert signal.details["worst_working_seconds_beyond"] > 0
    assert "ngày hẹn trả muộn hơn thời hạn luật định" in signal.summary_vi

    # Resolved: no longer an open finding, no longer counted or alerted.
    assert ok(live_server.post_events([event("ap-2r", "HS-AP2", "resolved", NOW - timedelta(minutes=1))]))["accepted"]
    with live_server.client() as c:
        body = ok(c.get("/api/v1/indicators/current", params={"level": "province"}))
    values = {item["code"]: item["values"] for item in body["localities"]}
    assert values["01"]["appointment_beyond_statutory_count"] == 0
    state = dossier(live_server, "HS-AP2")["state"]
    assert state["outcome"] in ("early", "on_time")  # past the statutory deadline, before the appointment


def test_a_refold_from_the_log_keeps_appointments_and_the_own_period(live_server: LiveServer) -> None:
    """Events arriving before their receipt wait in the log; the receipt then refolds the dossier
    from the stored history, which must carry due_at and statutory_days like the batch did."""
    extension = NOW - timedelta(days=2)
    assert ok(live_server.post_events([receipt("rf-0", "HS-RF0", T0)]))["accepted"] == 1  # catalogue: 10 days
    # The extension (stamped after the receipt) arrives first and waits for it.
    assert ok(live_server.post_events([
        with_due(event("rf-x", "HS-RF", "extended", extension), NOW + timedelta(days=20)),
    ]))["accepted"] == 1  # fmt: skip
    assert dossier(live_server, "HS-RF")["state"] is None
    own = {"code": KHAI_SINH["code"], "name": KHAI_SINH["name"], "sector": KHAI_SINH["sector"], "statutory_days": 2}
    assert (
        ok(live_server.post_events([with_due(receipt("rf-r", "HS-RF", T0, procedure=own), NOW + timedelta(days=1))]))[
            "accepted"
        ]
        == 1
    )
    got = dossier(live_server, "HS-RF")
    state = got["state"]
    assert (state["statutory_days"], state["catalogue_statutory_days"]) == (2, 10)
    assert datetime.fromisoformat(state["appointment_at"]) == datetime.fromisoformat(
        (NOW + timedelta(days=20)).isoformat()
    )
    assert state["due_at"] == state["appointment_at"] and state["appointment_beyond_statutory"] is True
    history = got["deadline"]["appointment"]["history"]
    assert [h["event_id"] for h in history] == ["rf-r", "rf-x"]
    assert scalar(live_server.db_url, "SELECT statutory_days FROM dossier_event WHERE event_id = 'rf-r'") == 2


def test_a_late_new_date_without_an_apology_keeps_the_dossier_overdue(live_server: LiveServer) -> None:
    due = NOW - timedelta(days=1)
    assert ok(live_server.post_events([
        with_due(receipt("la-r", "HS-LA", T0), due),
        with_due(event("la-x", "HS-LA", "extended", NOW - timedelta(hours=2)), NOW + timedelta(days=5)),
    ]))["accepted"] == 2  # fmt: skip

    def hanoi() -> dict[str, Any]:
        with live_server.client() as c:
            rows = c.get("/api/v1/status/provinces").json()["provinces"]
        return next(p for p in rows if p["code"] == "01")

    assert (hanoi()["overdue"], hanoi()["late_without_apology"]) == (1, 1)
    assert dossier(live_server, "HS-LA")["deadline"]["basis"] == "missed_awaiting_apology"
    assert (
        ok(live_server.post_events([event("la-a", "HS-LA", "apology_issued", NOW - timedelta(hours=1))]))["accepted"]
        == 1
    )
    assert (hanoi()["overdue"], hanoi()["late_without_apology"]) == (0, 0)
    state = dossier(live_server, "HS-LA")["state"]
    assert state["due_at"] == state["appointment_at"] and datetime.fromisoformat(state["held_due_at"]) < NOW
