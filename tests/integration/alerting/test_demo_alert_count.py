"""The default rulebook on the demo's own data, after a simulated day: a count an operator can read.

The demo's simulator (its default settings, as `ioc demo` runs it) replays its back-filled week and
then a day of live intake, hour by hour, through the real writer and projector; after each hour
the engine evaluates the default rulebook at that hour's end, as the alert process would. Not a
timing: a bound on how many alerts are open (pending or firing) at any hour of that day, and a
check that each is one someone acts on — one per agency or commune for dossier rules, never one per
dossier or per sector, and no "too many series" summary.

The bound is the README's "healthy count" for the demo; the count itself is printed so a change of
the simulator or the rulebook shows what it did.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg

from alerts.calendar import WorkingCalendar
from alerts.rulebook.loader import load_rules_file
from alerts.shell import AlertEngine
from ingest.simulator.generator import DossierSimulator, SimulatorSettings
from ioc.metrics import Metrics
from ioc.settings import Settings
from ioc.sources import register_source
from tests.integration.writer_support import SOURCE_ID, ingest

DEFAULT_RULES = Settings().alert_rules_file
HEALTHY_MAXIMUM = 300  # open alerts nationally on the demo's data; README "Alerting"


def demo_simulator(start: datetime) -> DossierSimulator:
    demo = Settings()
    return DossierSimulator(SimulatorSettings(
        rate_per_second=demo.simulate_rate, time_scale=demo.simulate_time_scale,
        backfill=timedelta(hours=demo.simulate_backfill_hours), volume_scale=demo.simulate_volume_scale,
        full_volume_live=demo.simulate_full_volume_live,
    ), start)  # fmt: skip


def open_alerts(db_url: str) -> list[tuple[str, dict[str, str]]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT rule_id, labels FROM alert WHERE state IN ('pending', 'firing')").fetchall()
    return [(str(rule), dict(labels)) for rule, labels in rows]


async def test_the_default_rulebook_stays_readable_over_a_simulated_demo_day(db_url: str) -> None:
    assert DEFAULT_RULES is not None
    register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await load_rules_file(conn, DEFAULT_RULES)
        await conn.commit()
    engine = AlertEngine(WorkingCalendar(), Metrics())
    real_now = datetime.now(UTC).replace(microsecond=0)
    start = real_now - timedelta(days=1)
    simulator = demo_simulator(start)
    clock, events, worst, dossier_rules = start, 0, 0, {"overdue", "due_soon", "late_without_apology"}
    by_hour: list[int] = []
    while clock < real_now:
        hour_end = min(clock + timedelta(hours=1), real_now)
        batch = []
        while clock < hour_end:
            step = min(timedelta(minutes=1), hour_end - clock)
            clock += step
            batch += simulator.advance(step.total_seconds(), clock)
        for i in range(0, len(batch), 2000):
            outcome = await ingest(db_url, batch[i : i + 2000], clock)
            assert outcome.rejected == 0, [r for r in outcome.results if r["status"] == "rejected"][:3]
        events += len(batch)
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            await engine.run_once(conn, clock)
        alerts = open_alerts(db_url)
        by_hour.append(len(alerts))
        worst = max(worst, len(alerts))
        places: Counter[tuple[str | None, ...]] = Counter()
        for rule, labels in alerts:
            assert labels.get("guard") is None, f"a 'too many series' summary opened for {rule}"
            if rule in dossier_rules:
                # One per agency, or per commune where no agency is known: never per sector or dossier
                # (a `sector` label only names the one sector of an agency's dossiers).
                assert "dossier_code" not in labels, (rule, labels)
                places[(rule, *(labels.get(k) for k in ("province_code", "commune_code", "agency_code")))] += 1
        assert all(n == 1 for n in places.values()), [key for key, n in places.items() if n > 1][:5]
    final = Counter(rule for rule, _ in open_alerts(db_url))
    print(f"demo day: {events} events; open alerts per hour {by_hour}; at the end {dict(final)}")
    assert events > 1000  # the simulated day did happen
    assert worst <= HEALTHY_MAXIMUM, f"open alerts per hour: {by_hour}; at the end: {dict(final)}"
