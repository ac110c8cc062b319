"""Keep-firing and flap damping through the real shell: rules in the alert_rule table, real dossier
rows, ``AlertEngine.run_once(conn, now)`` at chosen instants.

The pure state machine is table-tested in tests/unit/alerting/test_rulebook_engine.py; here the
same policies run over the database, where the shell marks ``alert.signal_lost_at`` and counts a
series' changes from ``alert_transition`` across its episodes (one alert row each) to set
``alert.flapping``. The condition is one overdue dossier; closing it (``closed_at``) clears the
condition and reopening it brings it back, so each round sees exactly the data the test chose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.calendar import WorkingCalendar
from alerts.model import Severity
from alerts.rulebook.spec import FlapDamping, LateStep, OverdueParams, RuleSpec
from alerts.rulebook.store import create_rule
from alerts.shell import AlertEngine, EvaluationReport
from ioc.db.pool import Conn
from ioc.metrics import Metrics

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DUE = datetime(2026, 10, 12, 9, 0, tzinfo=VN)  # Monday; every instant below is after it


def at(hour: int, minute: int = 0) -> datetime:
    """Wednesday 14 October 2026, local time."""
    return datetime(2026, 10, 14, hour, minute, tzinfo=VN)


OVERDUE = OverdueParams((LateStep(0, Severity.CRITICAL),))
KEPT = RuleSpec("overdue_kept", OVERDUE, keep_firing_for=timedelta(minutes=15), flap_damping=None)
DAMPED = RuleSpec("overdue_damped", OVERDUE, flap_damping=FlapDamping(window=timedelta(hours=1), max_changes=3))
UNDAMPED = RuleSpec("overdue_undamped", OVERDUE, flap_damping=None)


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[Conn]:
    connection: Conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    try:
        await connection.execute(
            "INSERT INTO dossier (code, source_id, procedure_code, sector, statutory_days, agency_code, province_code,"
            " commune_code, channel, status, received_at, due_at, last_event_at)"
            " VALUES ('HS-1', 'test', 'P-1', 'Tư pháp', 1, 'UBND-00004', '01', '00004', 'online', 'received',"
            " %(received)s, %(due)s, %(received)s)",
            {"received": DUE - timedelta(days=1), "due": DUE},
        )
        yield connection
    finally:
        await connection.close()


async def set_overdue(conn: Conn, overdue: bool) -> None:
    """The condition on (an open dossier past due) or off (the same dossier closed)."""
    await conn.execute("UPDATE dossier SET closed_at = CASE WHEN %s THEN NULL ELSE %s END", [overdue, DUE])


@dataclass(frozen=True)
class AlertRow:
    id: int
    state: str
    flapping: bool
    signal_lost_at: datetime | None
    resolved_at: datetime | None


async def alerts_of(conn: Conn, rule_id: str) -> list[AlertRow]:
    cur = await conn.execute(
        "SELECT id, state, flapping, signal_lost_at, resolved_at FROM alert WHERE rule_id = %s ORDER BY id", [rule_id]
    )
    return [AlertRow(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]


async def transitions_of(conn: Conn, alert_id: int) -> list[tuple[str, datetime]]:
    cur = await conn.execute("SELECT to_state, at FROM alert_transition WHERE alert_id = %s ORDER BY id", [alert_id])
    return [(str(r[0]), r[1]) for r in await cur.fetchall()]  # type: ignore[misc]


async def run(engine: AlertEngine, conn: Conn, now: datetime) -> EvaluationReport:
    report = await engine.run_once(conn, now)
    assert report.ran and report.conflicts == 0
    return report


def new_engine() -> AlertEngine:
    return AlertEngine(WorkingCalendar(), Metrics())  # no rules= given: the alert_rule table


# --------------------------------------------------------------------------- keep-firing


async def test_keep_firing_holds_the_alert_after_the_condition_clears_then_resolves(conn: Conn) -> None:
    await create_rule(conn, KEPT, "quản trị viên")
    engine = new_engine()

    await run(engine, conn, at(10))
    [alert] = await alerts_of(conn, KEPT.id)
    assert (alert.state, alert.signal_lost_at) == ("firing", None)

    await set_overdue(conn, False)
    await run(engine, conn, at(10, 5))
    [alert] = await alerts_of(conn, KEPT.id)
    assert (alert.state, alert.signal_lost_at) == ("firing", at(10, 5))  # kept firing, and marked

    quiet = await run(engine, conn, at(10, 19))  # 14 minutes without the signal: nothing to write
    assert (quiet.transitions, quiet.updates) == (0, 0)
    assert await alerts_of(conn, KEPT.id) == [alert]

    await run(engine, conn, at(10, 20))  # keep_firing_for (15 minutes) has passed
    [resolved] = await alerts_of(conn, KEPT.id)
    assert (resolved.id, resolved.state, resolved.resolved_at) == (alert.id, "resolved", at(10, 20))
    assert resolved.signal_lost_at is None
    assert await transitions_of(conn, alert.id) == [("firing", at(10)), ("resolved", at(10, 20))]


async def test_a_condition_back_within_keep_firing_clears_the_mark_and_restarts_the_clock(conn: Conn) -> None:
    await create_rule(conn, KEPT, "quản trị viên")
    engine = new_engine()
    await run(engine, conn, at(10))
    await set_overdue(conn, False)
    await run(engine, conn, at(10, 5))

    await set_overdue(conn, True)
    await run(engine, conn, at(10, 10))
    [alert] = await alerts_of(conn, KEPT.id)
    assert (alert.state, alert.signal_lost_at) == ("firing", None)

    await set_overdue(conn, False)
    await run(engine, conn, at(10, 30))  # 25 minutes after the first loss, but the clock restarted
    await run(engine, conn, at(10, 44))
    [still] = await alerts_of(conn, KEPT.id)
    assert (still.id, still.state, still.signal_lost_at) == (alert.id, "firing", at(10, 30))

    await run(engine, conn, at(10, 45))
    [resolved] = await alerts_of(conn, KEPT.id)
    assert resolved.state == "resolved"
    assert await transitions_of(conn, alert.id) == [("firing", at(10)), ("resolved", at(10, 45))]  # one episode


# --------------------------------------------------------------------------- flap damping


async def test_a_flapping_condition_is_marked_and_cleared_with_hysteresis(conn: Conn) -> None:
    await create_rule(conn, DAMPED, "quản trị viên")
    await create_rule(conn, UNDAMPED, "quản trị viên")
    engine = new_engine()

    # Toggle every five minutes: fire, resolve, fire, resolve, fire. Changes in the hour: 1..5.
    flags: list[tuple[bool, bool]] = []
    for n, minute in enumerate((0, 5, 10, 15, 20)):
        await set_overdue(conn, n % 2 == 0)
        await run(engine, conn, at(10, minute))
        latest = (await alerts_of(conn, DAMPED.id))[-1]
        assert latest.state == ("firing" if n % 2 == 0 else "resolved")
        flags.append((latest.flapping, (await alerts_of(conn, UNDAMPED.id))[-1].flapping))
    # More than max_changes (3) from the fourth change on; a rule without damping never flaps.
    assert flags == [(False, False), (False, False), (False, False), (True, False), (True, False)]
    episodes = await alerts_of(conn, DAMPED.id)
    assert [a.state for a in episodes] == ["resolved", "resolved", "firing"]
    flapping = episodes[-1]

    # Steady from 10:20 on. Changes still in the window fall as the hour slides past them; the flag
    # clears only at half of max_changes (1) or fewer, not as soon as the count is back to 3.
    for now, changes_in_window, expected in [
        (at(11, 6), 3, True),  # 10:10, 10:15, 10:20: no longer "more than 3", still flapping
        (at(11, 11), 2, True),  # 10:15, 10:20
        (at(11, 16), 1, False),  # 10:20 only: cleared
    ]:
        await run(engine, conn, now)
        [current] = [a for a in await alerts_of(conn, DAMPED.id) if a.state != "resolved"]
        assert (current.id, current.state) == (flapping.id, "firing"), now
        assert current.flapping is expected, (now, changes_in_window)
    assert await transitions_of(conn, flapping.id) == [("firing", at(10, 20))]  # the flag is not a state change
