"""A breach, end to end, through the real processes: ingest → rule → planner → outbox → receivers.

The app runs with its alert service (rules from the shipped file, notifications planned every
0.2 s, delivery workers) against a real PostgreSQL; an aiosmtpd server and an HTTP server on
127.0.0.1 are the receivers. The breach is one dossier received 60 days ago for a 10-day
procedure: the shipped `overdue` rule fires as soon as the ingest notification wakes the engine.

Escalation steps are timed in working minutes, so the later steps are driven by calling the
planner with an explicit `now` a week ahead (the same function the service runs), while the
messages still travel through the real outbox, workers and SMTP server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.calendar import WorkingCalendar
from alerts.notify.dispatcher import dispatch_once
from ioc.auth.scope import Scope
from tests.auth_support import create_user
from tests.conftest import LiveServer, fresh_database, running_app
from tests.integration.alerting.test_delivery_support import HttpReceiver, SmtpReceiver, answer_with
from tests.integration.ingest_support import KHAI_SINH, receipt

HANOI = "01"
BA_DINH = "00004"  # Phường Ba Đình, Hà Nội
IN_HANOI = [{"label": "province_code", "op": "=", "value": HANOI}]
# The breach is also "late without an apology letter"; routes and chains here carry only "overdue".
OVERDUE = {"label": "rule", "op": "=", "value": "overdue"}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> float:
    """Seconds it took until `predicate()` held; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def app(pg_server: Any, smtp: SmtpReceiver) -> Iterator[LiveServer]:
    url = fresh_database(pg_server)
    with running_app(
        url, run_alerts=True, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="IOC Hà Nội <ioc@hanoi.gov.vn>",
        notify_interval_seconds=0.2, alert_interval_seconds=5.0, public_url="https://ioc.example.vn",
    ) as server:  # fmt: skip
        yield server


def configure_routes(server: LiveServer, webhook_url: str) -> None:
    with server.client() as c:
        for cp_id, body in {
            "so-noi-vu-email": {"channel": "email", "address": "dieuhanh@hanoi.gov.vn"},
            "he-thong-ngoai": {"channel": "webhook", "address": webhook_url, "options": {"format": "alertmanager"}},
        }.items():
            assert c.put(f"/api/v1/notify/contact-points/{cp_id}", json=body).status_code in (200, 201)
        route = {
            "position": 0, "matchers": [*IN_HANOI, OVERDUE], "contact_points": ["so-noi-vu-email", "he-thong-ngoai"],
            "group_by": ["rule", "province_code"], "group_wait_s": 0, "group_interval_s": 60, "repeat_interval_s": 3600,
        }  # fmt: skip
        assert c.put("/api/v1/notify/routes/ha-noi", json=route).status_code in (200, 201)


def breach(server: LiveServer, code: str = "HS-E2E-1") -> None:
    received = datetime.now(UTC) - timedelta(days=60)
    response = server.post_events([receipt(f"{code}-r", code, received, procedure=KHAI_SINH)])
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def overdue_alert_id(server: LiveServer) -> int | None:
    with psycopg.connect(server.db_url) as conn:
        row = conn.execute(
            "SELECT id FROM alert WHERE rule_id = 'overdue' AND state = 'firing' AND province_code = %s", [HANOI]
        ).fetchone()
    return int(row[0]) if row else None


def test_a_breach_reaches_email_and_webhook(app: LiveServer, smtp: SmtpReceiver, webhook: HttpReceiver) -> None:
    configure_routes(app, webhook.url("/hooks/ioc"))
    breach(app)
    wait_for(lambda: overdue_alert_id(app) is not None, what="the overdue alert")
    alert_id = overdue_alert_id(app)
    link = f"https://ioc.example.vn/alerts/{alert_id}"

    def overdue_mails() -> list[str]:
        texts = []
        for mail in smtp.messages:
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            texts.append(f"{mail['Subject']}\n{body.get_content()}")
        return [t for t in texts if link in t]

    def overdue_hooks() -> list[dict[str, Any]]:
        return [r.json() for r in webhook.requests if r.json()["groupLabels"].get("rule") == "overdue"]

    wait_for(lambda: bool(overdue_mails()) and bool(overdue_hooks()), what="the e-mail and the webhook")
    assert {tuple(rcpts) for _, rcpts in smtp.envelopes} == {("dieuhanh@hanoi.gov.vn",)}
    assert "quá hạn" in overdue_mails()[0].lower()  # Vietnamese, with its diacritics

    assert all(r.path == "/hooks/ioc" and r.headers.get("idempotency-key") for r in webhook.requests)
    payload = overdue_hooks()[0]
    assert payload["version"] == "4" and payload["status"] == "firing"
    assert payload["alerts"][0]["labels"]["province_code"] == HANOI
    assert payload["alerts"][0]["generatorURL"] == link


def test_a_dead_channel_delays_no_other_and_delivers_after_it_recovers(
    app: LiveServer, smtp: SmtpReceiver, webhook: HttpReceiver
) -> None:
    webhook.answer = answer_with(503)  # the receiving system is down
    configure_routes(app, webhook.url("/hooks/ioc"))
    breach(app)
    wait_for(lambda: bool(smtp.messages), what="the e-mail while the webhook is down")
    wait_for(lambda: bool(webhook.refused), what="a refused webhook attempt")
    assert webhook.requests == []  # nothing accepted yet, and the e-mail did not wait for it

    webhook.answer = answer_with(200)  # it recovers; the retry (backoff of a few seconds) gets through
    wait_for(lambda: bool(webhook.requests), timeout=45, what="the webhook after recovery")
    keys = {r.headers.get("idempotency-key") for r in [*webhook.refused, *webhook.requests]}
    assert len(keys) == 1  # the same message, retried: a receiver can drop duplicates by its key
    with psycopg.connect(app.db_url) as conn:
        rows = conn.execute("SELECT channel, status, attempts FROM delivery ORDER BY channel").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("email", "delivered"), ("webhook", "delivered")]
    assert rows[1][2] >= 2


def test_escalation_fires_when_not_acknowledged_and_stops_when_acknowledged(
    app: LiveServer, smtp: SmtpReceiver
) -> None:
    commune_op = create_user(app.db_url, "canbo-badinh", "operator", Scope.from_dict({"communes": [BA_DINH]}))
    province_op = create_user(app.db_url, "chuyenvien-hanoi", "operator", Scope.from_dict({"provinces": [HANOI]}))
    leader = create_user(app.db_url, "lanhdao-hanoi", "leader", Scope.from_dict({"provinces": [HANOI]}))
    with psycopg.connect(app.db_url) as conn:
        for uid, address in ((commune_op, "canbo@badinh.hanoi.gov.vn"), (province_op, "chuyenvien@hanoi.gov.vn"),
                             (leader, "lanhdao@hanoi.gov.vn")):  # fmt: skip
            conn.execute("INSERT INTO user_contact (user_id, channel, address) VALUES (%s, 'email', %s)",
                         [uid, address])  # fmt: skip
    chain = {
        "position": -100, "matchers": [*IN_HANOI, OVERDUE],
        "steps": [
            {"after_working_minutes": 0, "level": "commune", "roles": ["operator"], "channels": ["email"]},
            {"after_working_minutes": 30, "level": "province", "roles": ["operator"], "channels": ["email"]},
            {"after_working_minutes": 60, "level": "province", "roles": ["leader"], "channels": ["email"]},
        ],
    }  # fmt: skip
    with app.client() as c:
        assert c.put("/api/v1/notify/escalation-policies/ha-noi-e2e", json=chain).status_code in (200, 201)
        # The shipped chain would page the same people about the other alert of the same dossier.
        assert c.delete("/api/v1/notify/escalation-policies/default-hierarchy").status_code in (200, 204)

    def recipients() -> set[str]:
        return {r for _, rcpts in smtp.envelopes for r in rcpts}

    breach(app)
    wait_for(lambda: "canbo@badinh.hanoi.gov.vn" in recipients(), what="step 1: the commune officer")
    assert recipients() == {"canbo@badinh.hanoi.gov.vn"}
    alert_id = overdue_alert_id(app)
    assert alert_id is not None

    # Nobody acknowledged: a week later (well past 30 working minutes) the provincial department hears.
    asyncio.run(plan_at(app.db_url, datetime.now(UTC) + timedelta(days=7)))
    wait_for(lambda: "chuyenvien@hanoi.gov.vn" in recipients(), what="step 2: the provincial department")

    with app.client() as c:
        r = c.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "Đã giao bộ phận một cửa xử lý"})
        assert r.status_code == 200, r.text
    # Acknowledged: a further week later the provincial leader is not called.
    asyncio.run(plan_at(app.db_url, datetime.now(UTC) + timedelta(days=14)))
    time.sleep(1.5)  # time for a (wrong) message to travel through the outbox
    assert "lanhdao@hanoi.gov.vn" not in recipients()
    with psycopg.connect(app.db_url) as conn:
        row = conn.execute("SELECT step, stop_reason FROM alert_escalation WHERE alert_id = %s", [alert_id]).fetchone()
        steps = conn.execute(
            "SELECT count(*) FROM alert_activity WHERE alert_id = %s AND kind = 'escalate'", [alert_id]
        ).fetchone()
    assert row == (1, "acknowledged")
    assert steps is not None and steps[0] == 2


async def plan_at(db_url: str, now: datetime) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("SET TIME ZONE 'UTC'")
        # The service plans every 0.2 s and holds the planner's lock while it does: retry briefly.
        for _ in range(50):
            report = await dispatch_once(conn, now, WorkingCalendar())
            if report.ran:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the planner's lock was never free")
