"""The alert engine shell against the real database, with dossiers ingested through the real API.

The engine is not scheduled in the test server; each test calls ``AlertEngine.run_once`` with an
explicit ``now``, so every instant below is chosen, not read from a clock. Events are dated in the
week of 12–19 October 2026, which has no public holiday: only the weekend bends working time.
Office hours are 08:00–17:00 (Asia/Ho_Chi_Minh), so one working day is nine working hours.

Table rows that evaluate the same data at different instants run the engine inside a transaction
that is rolled back, so one data set serves them all without one row seeing another's alerts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.calendar import WorkingCalendar
from alerts.model import OpenAlert
from alerts.rulebook.legacy import default_specs
from alerts.rulebook.spec import OverdueParams
from alerts.shell import ENGINE_LOCK_KEY, AlertEngine, EvaluationReport
from ioc.db.pool import Conn
from ioc.metrics import Metrics
from tests.conftest import LiveServer

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local instant in October 2026 (12 = Monday, 16 = Friday, 19 = the next Monday)."""
    return datetime(2026, 10, day, hour, minute, tzinfo=LOCAL)


# --------------------------------------------------------------------------- ingest helpers


@dataclass(frozen=True)
class Place:
    """A commune of Hà Nội (province 01) and the one-stop desk that handles its dossiers."""

    commune_code: str
    commune_name: str

    @property
    def agency_code(self) -> str:
        return f"UBND-{self.commune_code}"

    @property
    def agency_name(self) -> str:
        return f"UBND {self.commune_name[0].lower()}{self.commune_name[1:]}"


BA_DINH = Place("00004", "Phường Ba Đình")
NGOC_HA = Place("00008", "Phường Ngọc Hà")
GIANG_VO = Place("00025", "Phường Giảng Võ")
HOAN_KIEM = Place("00070", "Phường Hoàn Kiếm")
CUA_NAM = Place("00082", "Phường Cửa Nam")
PHU_THUONG = Place("00091", "Phường Phú Thượng")
HONG_HA = Place("00097", "Phường Hồng Hà")


def event(code: str, kind: str, place: Place, when: datetime, *, days: int = 1) -> dict[str, object]:
    item: dict[str, object] = {
        "event_id": f"{code}:{kind}",
        "dossier_code": code,
        "event_type": kind,
        "occurred_at": when.isoformat(),
        "locality": {"commune_code": place.commune_code},
        "agency": {"code": place.agency_code, "name": place.agency_name},
    }
    if kind == "received":
        item["procedure"] = {
            "code": f"TEST-{days}D",
            "name": f"Thủ tục thử nghiệm {days} ngày",
            "sector": "Tư pháp",
            "statutory_days": days,
        }
        item["channel"] = "online"
    return item


def ingest(server: LiveServer, events: list[dict[str, object]]) -> None:
    response = server.post_events(events)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == len(events), body


async def ingest_async(server: LiveServer, events: list[dict[str, object]]) -> None:
    # The server runs in its own thread; keep this test's loop free while the request runs.
    await asyncio.to_thread(ingest, server, events)


# --------------------------------------------------------------------------- database helpers


@asynccontextmanager
async def connect(db_url: str) -> AsyncIterator[Conn]:
    conn: Conn = await psycopg.AsyncConnection.connect(db_url)
    try:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.commit()
        yield conn
    finally:
        await conn.close()


def new_engine() -> AlertEngine:
    return AlertEngine(WorkingCalendar(), Metrics())


async def run_engine(db_url: str, now: datetime) -> EvaluationReport:
    async with connect(db_url) as conn:
        report = await new_engine().run_once(conn, now)
    assert report.ran
    return report


@dataclass(frozen=True)
class AlertRow:
    id: int
    rule_id: str
    state: str
    labels: dict[str, str]
    value: float
    summary_vi: str
    summary_en: str
    details: dict[str, Any]
    active_since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class TransitionRow:
    id: int
    from_state: str | None
    to_state: str
    at: datetime


@dataclass(frozen=True)
class OutboxRow:
    transition_id: int
    channel: str
    payload: dict[str, Any]
    delivered_at: datetime | None


SELECT_ALERTS = """
SELECT id, rule_id, state, labels, value, summary_vi, summary_en, details, active_since, fired_at, resolved_at
FROM alert ORDER BY id
"""


async def read_alerts(conn: Conn, rule_id: str, place: Place | None = None) -> list[AlertRow]:
    cur = await conn.execute(SELECT_ALERTS)
    rows = [AlertRow(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]
    return [
        a for a in rows
        if a.rule_id == rule_id and (place is None or a.labels.get("commune_code") == place.commune_code)
    ]  # fmt: skip


async def alerts_in(db_url: str, rule_id: str, place: Place | None = None) -> list[AlertRow]:
    async with connect(db_url) as conn:
        return await read_alerts(conn, rule_id, place)


async def only_alert(db_url: str, rule_id: str, place: Place | None = None) -> AlertRow:
    found = await alerts_in(db_url, rule_id, place)
    assert len(found) == 1, found
    return found[0]


async def transitions_of(db_url: str, alert_id: int) -> list[TransitionRow]:
    async with connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT id, from_state, to_state, at FROM alert_transition WHERE alert_id = %s ORDER BY id", [alert_id]
        )
        return [TransitionRow(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]


async def outbox_of(db_url: str, alert_id: int) -> list[OutboxRow]:
    async with connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT o.transition_id, o.channel, o.payload, o.delivered_at FROM outbox o "
            "JOIN alert_transition t ON t.id = o.transition_id WHERE t.alert_id = %s ORDER BY o.id",
            [alert_id],
        )
        return [OutboxRow(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]


def counted(value: object) -> int:
    assert isinstance(value, int), value
    return value


async def table_sizes(db_url: str) -> tuple[int, int, int]:
    """Rows in alert, alert_transition and outbox."""
    async with connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM alert), (SELECT count(*) FROM alert_transition), "
            "(SELECT count(*) FROM outbox)"
        )
        row = await cur.fetchone()
    assert row is not None
    return counted(row[0]), counted(row[1]), counted(row[2])


async def transitions_without_exactly_one_outbox_row(db_url: str) -> int:
    async with connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM alert_transition t "
            "WHERE (SELECT count(*) FROM outbox o WHERE o.transition_id = t.id) <> 1"
        )
        row = await cur.fetchone()
    assert row is not None
    return counted(row[0])


async def alerts_if_evaluated_at(
    db_url: str, now: datetime, rule_id: str, place: Place, engine: AlertEngine | None = None
) -> list[AlertRow]:
    """Evaluate at ``now`` and read the alerts, then roll it all back (see the module docstring)."""
    found: list[AlertRow] = []
    async with connect(db_url) as conn, conn.transaction():
        report = await (engine or new_engine()).run_once(conn, now)
        assert report.ran
        found = await read_alerts(conn, rule_id, place)
        raise psycopg.Rollback()
    return found


def states(alerts: list[AlertRow]) -> list[str]:
    return [a.state for a in alerts]


# --------------------------------------------------------------------------- one data set, many instants


@pytest.fixture(scope="module")
def world(module_live_server: LiveServer) -> Iterator[str]:
    """One dossier per commune, each shaped for one question; yields the database URL."""
    ingest(module_live_server, [
        # Received Monday 09:00, one working day: due Tuesday 09:00.
        event("PLAIN", "received", BA_DINH, at(12, 9)),
        # Same, but papers requested Monday 11:00, before the deadline: the clock stops.
        event("PAUSED", "received", NGOC_HA, at(12, 9)),
        event("PAUSED", "supplement_requested", NGOC_HA, at(12, 11)),
        # Paused Monday 11:00 to Wednesday 09:00 = 16 working hours: due Wednesday 16:00.
        event("RESUMED", "received", GIANG_VO, at(12, 9)),
        event("RESUMED", "supplement_requested", GIANG_VO, at(12, 11)),
        event("RESUMED", "supplement_received", GIANG_VO, at(14, 9)),
        # Papers requested Tuesday 10:00, after the deadline: lateness does not stop.
        event("LATE-PAUSE", "received", HOAN_KIEM, at(12, 9)),
        event("LATE-PAUSE", "supplement_requested", HOAN_KIEM, at(13, 10)),
        # Three working days from Monday 09:00: due Thursday 09:00.
        event("DUE-THU", "received", CUA_NAM, at(12, 9), days=3),
        # Received Friday 10:00, one working day: due Monday 10:00, the weekend does not count.
        event("DUE-MON", "received", PHU_THUONG, at(16, 10)),
        # Received Thursday 10:00: due, and late from, Friday 10:00.
        event("LATE-FRI", "received", HONG_HA, at(15, 10)),
    ])  # fmt: skip
    yield module_live_server.db_url


@pytest.mark.parametrize(
    ("place", "now", "fires"),
    [
        pytest.param(BA_DINH, at(13, 9), False, id="due-now-is-not-yet-overdue"),
        pytest.param(BA_DINH, at(13, 9, 1), True, id="one-minute-past-the-deadline"),
        pytest.param(BA_DINH, at(14, 10), True, id="a-day-past-the-deadline"),
        pytest.param(NGOC_HA, at(14, 10), False, id="paused-for-supplements"),
        pytest.param(NGOC_HA, at(30, 10), False, id="paused-for-supplements-weeks-later"),
        pytest.param(GIANG_VO, at(14, 15, 59), False, id="resumed-deadline-extended-by-the-pause"),
        pytest.param(GIANG_VO, at(14, 16, 1), True, id="resumed-and-past-the-extended-deadline"),
        pytest.param(HOAN_KIEM, at(14, 10), True, id="papers-requested-after-the-deadline"),
    ],
)
async def test_overdue_fires_once_the_working_day_deadline_has_passed(
    world: str, place: Place, now: datetime, fires: bool
) -> None:
    found = await alerts_if_evaluated_at(world, now, "overdue", place)
    assert states(found) == (["firing"] if fires else [])


@pytest.mark.parametrize(
    ("place", "now", "due_soon", "overdue"),
    [
        pytest.param(CUA_NAM, at(13, 16), False, False, id="two-working-days-ahead"),
        pytest.param(CUA_NAM, at(14, 8, 59), False, False, id="one-minute-beyond-one-working-day"),
        pytest.param(CUA_NAM, at(14, 9), True, False, id="exactly-one-working-day-ahead"),
        pytest.param(CUA_NAM, at(15, 8, 30), True, False, id="due-within-the-hour"),
        pytest.param(CUA_NAM, at(15, 9), True, False, id="due-this-instant"),
        pytest.param(CUA_NAM, at(15, 9, 1), False, True, id="past-due-is-overdue-not-due-soon"),
        pytest.param(PHU_THUONG, at(16, 10, 30), True, False, id="friday-for-monday-weekend-not-counted"),
    ],
)
async def test_due_soon_warns_within_one_working_day(
    world: str, place: Place, now: datetime, due_soon: bool, overdue: bool
) -> None:
    # The horizon is tested with the due-soon threshold at one dossier and no hold. The packaged
    # rule alerts only an agency with 30 or more due (issue 11: due-soon is a count, not an alarm),
    # so with the defaults this one dossier raises nothing, whatever the instant.
    specs = tuple(
        replace(s, params=replace(s.params, pre_due_min_count=1), hold=timedelta(0))
        if s.id == "due_soon" and isinstance(s.params, OverdueParams) else s
        for s in default_specs()
    )  # fmt: skip
    horizon_only = AlertEngine(WorkingCalendar(), Metrics(), rules=specs)
    found = await alerts_if_evaluated_at(world, now, "due_soon", place, horizon_only)
    assert states(found) == (["firing"] if due_soon else [])
    assert states(await alerts_if_evaluated_at(world, now, "due_soon", place)) == []
    assert states(await alerts_if_evaluated_at(world, now, "overdue", place)) == (["firing"] if overdue else [])


@pytest.mark.parametrize(
    ("now", "fires"),
    [
        pytest.param(at(16, 16), False, id="friday-afternoon"),
        pytest.param(at(17, 12), False, id="saturday"),
        pytest.param(at(18, 23), False, id="sunday-night"),
        pytest.param(at(19, 9, 59), False, id="monday-a-minute-early"),
        pytest.param(at(19, 10), True, id="monday-same-hour"),
        pytest.param(at(19, 14), True, id="monday-afternoon"),
    ],
)
async def test_late_without_apology_waits_one_working_day_across_the_weekend(
    world: str, now: datetime, fires: bool
) -> None:
    # Late since Friday 10:00 throughout: overdue at every row, the apology grace is what varies.
    assert states(await alerts_if_evaluated_at(world, now, "overdue", HONG_HA)) == ["firing"]
    found = await alerts_if_evaluated_at(world, now, "late_without_apology", HONG_HA)
    assert states(found) == (["firing"] if fires else [])


# --------------------------------------------------------------------------- lifecycles (fresh database each)


async def test_overdue_alert_fires_is_idempotent_and_resolves_with_the_dossier(live_server: LiveServer) -> None:
    db = live_server.db_url
    await ingest_async(live_server, [event("HS-001", "received", BA_DINH, at(12, 9))])
    fired_at = at(14, 10)

    first = await run_engine(db, fired_at)

    alert = await only_alert(db, "overdue")
    assert alert.state == "firing"
    assert alert.fired_at == alert.active_since == fired_at
    assert alert.value == 1.0
    assert alert.labels == {
        "rule": "overdue", "province_code": "01", "commune_code": "00004",
        "agency_code": "UBND-00004", "sector": "Tư pháp", "severity": "critical", "stream": "dossier",
        "kind": "overdue",
    }  # fmt: skip
    assert alert.summary_vi == (
        "Phường Ba Đình – UBND phường Ba Đình – lĩnh vực Tư pháp: 1 hồ sơ quá hạn (quá hạn lâu nhất từ 13/10/2026)"
    )
    assert alert.summary_en == (
        "Phường Ba Đình – UBND phường Ba Đình – Tư pháp sector: 1 overdue dossier (oldest overdue since 13 Oct 2026)"
    )
    assert alert.details["sample_codes"] == ["HS-001"]
    async with connect(db) as conn:
        cur = await conn.execute("SELECT sector_code, stream FROM alert WHERE id = %s", [alert.id])
        assert await cur.fetchone() == ("Tư pháp", "dossier")  # the columns scopes filter on
    assert alert.details["locality_name"] == "Phường Ba Đình"
    assert alert.details["agency_name"] == "UBND phường Ba Đình"

    assert [(t.from_state, t.to_state, t.at) for t in await transitions_of(db, alert.id)] == [
        (None, "firing", fired_at)
    ]
    [queued] = await outbox_of(db, alert.id)
    assert queued.channel == "dashboard"
    assert queued.delivered_at == fired_at  # the dashboard is served by the NOTIFY on commit
    assert queued.payload["alert_id"] == alert.id
    assert (queued.payload["from"], queued.payload["to"]) == (None, "firing")
    assert queued.payload["summary_vi"] == alert.summary_vi
    assert queued.payload["labels"] == alert.labels
    sizes = await table_sizes(db)
    assert sizes[1] == sizes[2] == first.transitions  # one history row and one outbox row each
    assert await transitions_without_exactly_one_outbox_row(db) == 0

    # Nothing changed: evaluating again, now or a little later, writes nothing.
    for again in (fired_at, fired_at + timedelta(minutes=5)):
        report = await run_engine(db, again)
        assert (report.transitions, report.updates, report.conflicts) == (0, 0, 0)
        assert await table_sizes(db) == sizes

    await ingest_async(live_server, [event("HS-001", "resolved", BA_DINH, at(14, 11))])
    resolved_at = at(14, 12)
    await run_engine(db, resolved_at)

    alert = await only_alert(db, "overdue")
    assert alert.state == "resolved"
    assert alert.resolved_at == resolved_at
    assert [(t.from_state, t.to_state, t.at) for t in await transitions_of(db, alert.id)] == [
        (None, "firing", fired_at),
        ("firing", "resolved", resolved_at),
    ]
    assert [(o.payload["from"], o.payload["to"]) for o in await outbox_of(db, alert.id)] == [
        (None, "firing"),
        ("firing", "resolved"),
    ]
    assert await transitions_without_exactly_one_outbox_row(db) == 0


async def test_late_without_apology_fires_after_grace_and_clears_with_the_apology(live_server: LiveServer) -> None:
    db = live_server.db_url
    await ingest_async(live_server, [event("HS-FRI", "received", HONG_HA, at(15, 10))])

    await run_engine(db, at(17, 12))  # Saturday: late since Friday, still within its grace
    assert await alerts_in(db, "late_without_apology") == []
    await run_engine(db, at(19, 10))  # Monday, one working day after lateness began

    alert = await only_alert(db, "late_without_apology")
    assert alert.state == "firing"
    assert alert.labels["commune_code"] == HONG_HA.commune_code
    assert alert.labels["agency_code"] == HONG_HA.agency_code
    assert alert.labels["sector"] == "Tư pháp"
    assert alert.summary_vi == (
        "Phường Hồng Hà – UBND phường Hồng Hà – lĩnh vực Tư pháp: 1 hồ sơ trễ hạn chưa có thư xin lỗi "
        "(trễ hạn từ 16/10/2026)"
    )

    await ingest_async(live_server, [event("HS-FRI", "apology_issued", HONG_HA, at(19, 11))])
    await run_engine(db, at(19, 12))

    alert = await only_alert(db, "late_without_apology")
    assert alert.state == "resolved"
    assert [(t.from_state, t.to_state, t.at) for t in await transitions_of(db, alert.id)] == [
        (None, "firing", at(19, 10)),
        ("firing", "resolved", at(19, 12)),
    ]
    # The apology answers the letter owed, not the delay: the dossier is still overdue.
    assert (await only_alert(db, "overdue")).state == "firing"


def resolved_dossiers(prefix: str, count: int, received: datetime, resolved: datetime) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for i in range(count):
        code = f"{prefix}-{i:03d}"
        events += [event(code, "received", BA_DINH, received), event(code, "resolved", BA_DINH, resolved)]
    return events


async def test_on_time_rate_fires_only_after_its_hold_and_resolves_on_recovery(live_server: LiveServer) -> None:
    db = live_server.db_url
    # Resolved Monday 12 October: 12 a week late (due Tuesday 6th), 8 early. 8/20 = 40 % < 90 %.
    await ingest_async(live_server, [
        *resolved_dossiers("LATE", 12, received=at(5, 9), resolved=at(12, 10)),
        *resolved_dossiers("EARLY", 8, received=at(12, 9), resolved=at(12, 15)),
    ])  # fmt: skip
    start = at(14, 12)  # the 7-day window by resolution day is 8–14 October

    await run_engine(db, start)
    alert = await only_alert(db, "on_time_rate")
    assert alert.state == "pending"
    assert alert.fired_at is None
    assert alert.labels == {"rule": "on_time_rate", "province_code": "01", "severity": "warning", "stream": "dossier",
                            "kind": "on_time_rate"}  # fmt: skip
    assert alert.value == pytest.approx(0.4)
    assert alert.summary_vi == (
        "Thành phố Hà Nội: tỷ lệ giải quyết đúng hạn 40 % (8/20 hồ sơ) trong 7 ngày qua, dưới mục tiêu 90 %"
    )

    for offset, expected in [
        (timedelta(minutes=10), "pending"),
        (timedelta(minutes=14, seconds=59), "pending"),
        (timedelta(minutes=16), "firing"),
    ]:
        await run_engine(db, start + offset)
        assert (await only_alert(db, "on_time_rate")).state == expected, offset

    # 100 more resolved early: 108/120 is exactly the 90 % target, which is not below it.
    await ingest_async(live_server, resolved_dossiers("RECOVER", 100, received=at(13, 9), resolved=at(13, 14)))
    await run_engine(db, start + timedelta(minutes=20))

    alert = await only_alert(db, "on_time_rate")
    assert alert.state == "resolved"
    assert [(t.from_state, t.to_state, t.at) for t in await transitions_of(db, alert.id)] == [
        (None, "pending", start),
        ("pending", "firing", start + timedelta(minutes=16)),
        ("firing", "resolved", start + timedelta(minutes=20)),
    ]


# --------------------------------------------------------------------------- several engines


async def test_concurrent_engines_apply_each_transition_once(live_server: LiveServer) -> None:
    db = live_server.db_url
    places = (BA_DINH, NGOC_HA, GIANG_VO)
    await ingest_async(live_server, [event(f"HS-{p.commune_code}", "received", p, at(12, 9)) for p in places])

    async with connect(db) as one, connect(db) as two:
        engines = (new_engine(), new_engine())

        async def race(now: datetime) -> int:
            reports = await asyncio.gather(engines[0].run_once(one, now), engines[1].run_once(two, now))
            assert any(r.ran for r in reports)
            return sum(r.transitions for r in reports)

        fired = await race(at(14, 10))
        assert await race(at(14, 10)) == 0
        await ingest_async(live_server, [event(f"HS-{p.commune_code}", "resolved", p, at(14, 11)) for p in places])
        resolved = await race(at(14, 12))

    overdue = await alerts_in(db, "overdue")
    assert sorted(a.labels["commune_code"] for a in overdue) == sorted(p.commune_code for p in places)
    for alert in overdue:
        assert [t.to_state for t in await transitions_of(db, alert.id)] == ["firing", "resolved"]
    _, transitions, outbox = await table_sizes(db)
    assert transitions == outbox == fired + resolved
    assert await transitions_without_exactly_one_outbox_row(db) == 0


async def test_engine_skips_the_round_while_another_holds_the_lock(live_server: LiveServer) -> None:
    db = live_server.db_url
    await ingest_async(live_server, [event("HS-LOCK", "received", BA_DINH, at(12, 9))])

    async with connect(db) as holder, connect(db) as conn:
        await holder.execute("SELECT pg_advisory_lock(%s)", [ENGINE_LOCK_KEY])
        await holder.commit()
        skipped = await new_engine().run_once(conn, at(14, 10))
        assert skipped == EvaluationReport(ran=False, transitions=0, updates=0, conflicts=0)
        assert await table_sizes(db) == (0, 0, 0)

        await holder.execute("SELECT pg_advisory_unlock(%s)", [ENGINE_LOCK_KEY])
        await holder.commit()
        assert (await new_engine().run_once(conn, at(14, 10))).transitions > 0


class EngineRacedByAnotherWriter(AlertEngine):
    """Bumps every open alert's version right after loading them, as a racing writer would."""

    def __init__(self, db_url: str) -> None:
        super().__init__(WorkingCalendar(), Metrics())
        self._db_url = db_url

    async def _open_alerts(self, conn: Conn) -> list[OpenAlert]:
        loaded = await super()._open_alerts(conn)
        async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as other:
            await other.execute("UPDATE alert SET version = version + 1 WHERE state <> 'resolved'")
        return loaded


async def test_compare_and_set_skips_a_transition_on_an_alert_changed_meanwhile(live_server: LiveServer) -> None:
    db = live_server.db_url
    await ingest_async(live_server, [event("HS-CAS", "received", BA_DINH, at(12, 9))])
    await run_engine(db, at(14, 10))
    await ingest_async(live_server, [event("HS-CAS", "resolved", BA_DINH, at(14, 11))])
    alert = await only_alert(db, "overdue")

    async with connect(db) as conn:
        report = await EngineRacedByAnotherWriter(db).run_once(conn, at(14, 12))
    assert report.conflicts >= 1
    assert (await only_alert(db, "overdue")).state == "firing"
    assert [t.to_state for t in await transitions_of(db, alert.id)] == ["firing"]
    assert len(await outbox_of(db, alert.id)) == 1

    await run_engine(db, at(14, 13))  # the next round sees the fresh version and applies it once
    assert [t.to_state for t in await transitions_of(db, alert.id)] == ["firing", "resolved"]
