"""An alert evaluation round that changes tens of thousands of alerts: pipelined writes against
per-row writes, in the same run.

    .venv/bin/python -m bench.engine_volume [--alerts 50000] [--rounds 3] [--record]

One embedded PostgreSQL, one migrated database with the localities, and N open overdue dossiers,
each at its own agency (set-based SQL, spread over every commune), so the ``overdue`` rule finds N
agency series. The rule runs with its cardinality guard raised above N (the default, 500, would
open one summary alert instead). Each round measures, for both ways of writing, in alternating
order:
  open     a round that opens N alerts (N inserts, N transitions, N outbox rows, the NOTIFYs);
  steady   the next round, nothing changed (reads and evaluation only);
  resolve  a round after every dossier was closed: N resolutions.
The two ways:
  pipelined  alerts.shell.AlertEngine as shipped (one pipelined executemany per kind of write);
  per_row    the same engine with the writes one statement at a time, awaiting each answer, as the
             shell did before issue 11 — the peer.
Each round must commit and report N changes and several NOTIFY payloads (one would exceed
PostgreSQL's 8,000-byte limit and roll the round back). The machine is shared and noisy: the
figures that matter are the per-round ratios per_row / pipelined; their median and spread are
printed, and appended to bench/RESULTS.md with --record.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from alerts.calendar import WorkingCalendar
from alerts.model import AlertState, Evaluation, Transition
from alerts.rulebook.spec import OverdueParams, RuleSpec
from alerts.shell import (
    INSERT_ALERT,
    INSERT_OUTBOX,
    INSERT_TRANSITION,
    UPDATE_ALERT_MARK,
    UPDATE_ALERT_STATE,
    UPDATE_ALERT_VALUE,
    AlertEngine,
    EvaluationReport,
    _Applied,
)
from ioc.db.embedded import EmbeddedPostgres
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.db.pool import Conn
from ioc.localities.catalogue import load_catalogue
from ioc.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
VN = ZoneInfo("Asia/Ho_Chi_Minh")
RECEIVED = datetime(2026, 10, 12, 9, 0, tzinfo=VN)  # Monday; one working day: due Tuesday 09:00
NOW = datetime(2026, 10, 14, 10, 0, tzinfo=VN)  # Wednesday: every dossier overdue
WAYS = ("pipelined", "per_row")
PHASES = ("open", "steady", "resolve")

FILL = """
WITH c AS (SELECT code, province_code, row_number() OVER (ORDER BY code) - 1 AS i, count(*) OVER () AS n
           FROM locality WHERE level = 'commune'),
g AS (SELECT g, c.code AS commune, c.province_code AS province
      FROM generate_series(0, %(n)s - 1) g JOIN c ON c.i = g %% c.n),
a AS (INSERT INTO agency (code, name, province_code, commune_code)
      SELECT 'DESK-' || g, 'Bộ phận một cửa ' || g, province, commune FROM g)
INSERT INTO dossier (code, source_id, procedure_code, sector, statutory_days, agency_code, province_code,
                     commune_code, channel, status, received_at, due_at, last_event_at)
SELECT 'VOL-' || g, 'bench', 'P-VOL', 'Tư pháp', 1, 'DESK-' || g, province, commune, 'online', 'received',
       %(received)s, %(due)s, %(received)s
FROM g
"""
RESET = ["TRUNCATE alert, alert_transition, outbox, alert_activity CASCADE", "UPDATE dossier SET closed_at = NULL"]
CLOSE_ALL = "UPDATE dossier SET closed_at = %s"


class PerRowEngine(AlertEngine):
    """The peer: the shipped engine with its writes one statement at a time (the pre-issue-11 shell)."""

    async def _apply(self, conn: Conn, result: Evaluation, now: datetime) -> _Applied:
        out = _Applied()
        for t in result.transitions:
            alert_id = await self._one_transition(conn, t)
            if alert_id is None:
                out.conflicts += 1
                continue
            out.ids.append(alert_id)
            out.transitions += 1
            out.to_states.append(t.to_state.value)
        for u in result.updates:
            s = u.signal
            cur = await conn.execute(UPDATE_ALERT_VALUE, {
                "value": s.value, "severity": s.severity.value, "summary_vi": s.summary_vi,
                "summary_en": s.summary_en, "details": Jsonb(dict(s.details)), "at": now, "id": u.alert_id,
                "version": u.expected_version, "flapping": u.flapping, "labels": Jsonb(s.labels.as_dict()),
            })  # fmt: skip
            if cur.rowcount == 1:
                out.ids.append(u.alert_id)
                out.updates += 1
            else:
                out.conflicts += 1
        for m in result.marks:
            cur = await conn.execute(UPDATE_ALERT_MARK, {"flapping": m.flapping, "lost": m.signal_lost_at, "at": now,
                                                         "id": m.alert_id, "version": m.expected_version})  # fmt: skip
            if cur.rowcount == 1:
                out.ids.append(m.alert_id)
                out.updates += 1
            else:
                out.conflicts += 1
        return out

    async def _one_transition(self, conn: Conn, t: Transition) -> int | None:
        s = t.signal
        if t.alert_id is None:
            assert s is not None
            labels = s.labels.as_dict()
            cur = await conn.execute(INSERT_ALERT, {
                "rule_id": s.rule_id, "fingerprint": s.fingerprint, "labels": Jsonb(labels),
                "severity": s.severity.value, "state": t.to_state.value,
                "province": labels.get("province_code"), "commune": labels.get("commune_code"),
                "agency": labels.get("agency_code"), "sector": labels.get("sector"), "stream": labels.get("stream"),
                "flapping": t.flapping, "value": s.value, "summary_vi": s.summary_vi, "summary_en": s.summary_en,
                "details": Jsonb(dict(s.details)), "at": t.at,
                "fired_at": t.at if t.to_state is AlertState.FIRING else None,
            })  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            alert_id: int = int(row[0])  # type: ignore[call-overload]
        else:
            cur = await conn.execute(UPDATE_ALERT_STATE, {
                "state": t.to_state.value, "at": t.at, "id": t.alert_id, "version": t.expected_version,
                "value": s.value if s else None, "severity": s.severity.value if s else None,
                "summary_vi": s.summary_vi if s else None, "summary_en": s.summary_en if s else None,
                "details": Jsonb(dict(s.details)) if s else None, "flapping": t.flapping,
                "labels": Jsonb(s.labels.as_dict()) if s else None,
            })  # fmt: skip
            if cur.rowcount != 1:
                return None
            alert_id = int(t.alert_id)
        cur = await conn.execute(INSERT_TRANSITION, [alert_id, t.from_state.value if t.from_state else None,
                                                     t.to_state.value, t.at, s.value if s else None,
                                                     s.summary_vi if s else None])  # fmt: skip
        row = await cur.fetchone()
        assert row is not None
        payload = Jsonb({"alert_id": alert_id, "fingerprint": t.fingerprint, "to": t.to_state.value,
                         "at": t.at.isoformat(), "summary_vi": s.summary_vi if s else None})  # fmt: skip
        await conn.execute(INSERT_OUTBOX, [row[0], "dashboard", payload, t.at])
        return alert_id


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def summarise(name: str, values: Sequence[float], unit: str = "") -> str:
    return (f"{name:<26} median {statistics.median(values):>9.3f}{unit}  min {min(values):>9.3f}{unit}  "
            f"max {max(values):>9.3f}{unit}  runs {len(values)}")  # fmt: skip


def fill(url: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO source (id, name) VALUES ('bench', 'Bench')")
        conn.execute("INSERT INTO procedure (code, name, sector, statutory_days) VALUES "
                     "('P-VOL', 'Thủ tục thử tải', 'Tư pháp', 1)")  # fmt: skip
        due = datetime(2026, 10, 13, 9, 0, tzinfo=VN)
        conn.execute(FILL, {"n": n, "received": RECEIVED, "due": due})


async def one_round(url: str, engine: AlertEngine, n: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for sql in RESET:
            await conn.execute(sql)
        for phase in PHASES:
            if phase == "resolve":
                await conn.execute(CLOSE_ALL, [NOW])
            started = time.perf_counter()
            report = await engine.run_once(conn, NOW)
            seconds[phase] = time.perf_counter() - started
            check(phase, report, n)
    return seconds


def check(phase: str, report: EvaluationReport, n: int) -> None:
    expected = 0 if phase == "steady" else n
    assert report.ran and not report.failed_rules and not report.guarded_rules, report
    assert report.transitions == expected and report.conflicts == 0, (phase, report)
    assert (report.notify_payloads > 1) if expected else report.notify_payloads == 0, (phase, report)


async def bench(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    rule = RuleSpec("overdue", OverdueParams(), max_new_alerts=2 * n)
    engines = {
        "pipelined": AlertEngine(WorkingCalendar(), Metrics(), rules=(rule,)),
        "per_row": PerRowEngine(WorkingCalendar(), Metrics(), rules=(rule,)),
    }
    times: dict[str, list[float]] = {f"{p} {w}": [] for p in PHASES for w in WAYS}
    for r in range(rounds):
        order = WAYS if r % 2 == 0 else WAYS[::-1]
        for way in order:
            for phase, s in (await one_round(url, engines[way], n)).items():
                times[f"{phase} {way}"].append(s)
        log(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-engine-"))
    root.chmod(0o755)
    try:
        with EmbeddedPostgres(root / "pgdata") as pg:
            url = pg.url
            apply_migrations(url)
            sync_localities(url, load_catalogue())
            fill(url, args.alerts)
            log(f"{args.alerts:,} overdue dossiers at {args.alerts:,} agencies")
            times = asyncio.run(bench(url, args.alerts, args.rounds))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [summarise(f"{k} s", v) for k, v in times.items()]
    for phase in PHASES:
        ratios = [a / b for a, b in zip(times[f"{phase} per_row"], times[f"{phase} pipelined"], strict=True)]
        lines.append(summarise(f"{phase} per_row / pipelined", ratios, "×"))
    header = (f"### engine_volume — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {args.alerts:,} alerts per round, "
              f"{args.rounds} rounds, 2 cores")  # fmt: skip
    details = f"whole run {(time.perf_counter() - began) / 60:.1f} min"
    report = "\n".join([header, "", details, "", "```", *lines, "```", ""])
    print(report)
    if args.record:
        results = ROOT / "bench" / "RESULTS.md"
        results.write_text(results.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + report, encoding="utf-8")


if __name__ == "__main__":
    main()
