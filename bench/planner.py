"""Notification planning round at scale: IOC's planner against Alertmanager's dispatch, same run.

    .venv/bin/python -m bench.planner [--rounds 5] [--peer-rounds 3] [--sizes 5000,50000] [--skip-peer]
                                      [--seed 11] [--subscriptions 40]

The world (same for both, generated from --seed): N firing alerts shaped like rulebook alerts
(rule, kind, stream, province, commune, agency, sector, severity), of which 100 are inhibit
*sources* (``kind=silent_source``, muting the other alerts of their stream and province through
the shipped inhibit rule), 200 one-off silences (province + rule, some by regex) — all in force.
One route to one contact point grouped by (rule, province_code), as the peer is configured; IOC
also plans the shipped escalation policy and --subscriptions personal subscriptions (default 40, a
quarter of them national: each of those receives about half of all alerts — more work, not less).

  IOC   — ``alerts.notify.planner.plan`` in this process (the pure round, no database), three
          rounds a second apart, each fed the groups and escalations the previous one wrote:
          *first* (every group new, a cold silence cache: groups wait their group_wait),
          *send* (every group's first notification planned) and *steady* (nothing due: the
          once-a-second round of issue #11); median of --rounds each.
  peer  — Debian's Alertmanager (``prometheus-alertmanager``, apt-get installed if missing) on
          loopback, the same route, inhibit rule and silences; a fresh process per round. Timed
          from the first POST /api/v2/alerts (batches of 5,000) until GET /api/v2/alerts/groups
          returns every alert in the expected groups — that answer runs the silencer and the
          inhibitor on every alert, so it covers ingest, dispatch and the mute decisions.

  IOC+DB — with --db: ``dispatch_once`` (load, plan and write in one transaction) against an
          embedded PostgreSQL holding the same alerts, route, silences and the shipped notify
          file (no people, so no subscriptions: the route's planning only); steady rounds after
          a first and a send round, each stage from the round's own metric.

Ratios are computed from medians of the same run. No wall-clock assertions: a report.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from alerts.calendar import WorkingCalendar
from alerts.delivery.model import Channel
from alerts.notify.dispatcher import run_plan
from alerts.notify.escalation import EscalationState, parse_policy
from alerts.notify.grouping import GroupState
from alerts.notify.inhibition import DEFAULT_INHIBIT_RULE
from alerts.notify.matchers import parse_matchers
from alerts.notify.planner import AlertRecord, PlannerInput
from alerts.notify.routing import ContactPoint, Person, Route, Subscription
from alerts.notify.silences import Silence, SilenceMatchCache
from bench.alert_latency import free_port, wait_http
from ioc.auth.scope import Scope

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
RULES = [f"rule_{i:02d}" for i in range(20)]
KINDS = ("threshold", "indicator", "deadline")
STREAMS = ("dossier", "payout", "id_issuance")
PROVINCES = [f"{i:02d}" for i in range(1, 64)]
SOURCES = 100
SILENCES = 200
BATCH = 5000


@dataclass(frozen=True)
class World:
    alerts: list[AlertRecord]
    silences: list[Silence]
    subscriptions: list[Subscription]
    people: dict[int, Person]


def make_world(n: int, seed: int, subscriptions: int = 40) -> World:
    rng = random.Random(seed)
    alerts: list[AlertRecord] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    # One source per (stream, province): a silent source is one stream silent in one province.
    sources = rng.sample([(s, p) for s in STREAMS for p in PROVINCES], SOURCES)
    while len(alerts) < n:
        i = len(alerts)
        if i < SOURCES:
            stream, province = sources[i]
            rule, kind, labels = "silent_source", "silent_source", {}
        else:
            stream, province = rng.choice(STREAMS), rng.choice(PROVINCES)
            rule, kind = rng.choice(RULES), rng.choice(KINDS)
            labels = {"commune_code": f"{province}{rng.randrange(52):03d}", "agency_code": f"AG{rng.randrange(40):02d}",
                      "sector": f"S{rng.randrange(12):02d}"}  # fmt: skip
        severity = rng.choice(("warning", "critical"))
        labels |= {"rule": rule, "kind": kind, "stream": stream, "province_code": province, "severity": severity}
        identity = tuple(sorted(labels.items()))
        if identity in seen:
            continue  # the same labels are the same alert (one fingerprint), on both sides
        seen.add(identity)
        alerts.append(AlertRecord(
            id=i + 1, fingerprint=f"fp{i:07d}", rule_id=rule, labels=labels, severity=severity, firing=True,
            value=1.0, summary_vi=f"Cảnh báo {i}", summary_en=f"Alert {i}",
            fired_at=NOW - timedelta(minutes=rng.randrange(1, 600)),
        ))  # fmt: skip
    silences = []
    for i in range(SILENCES):
        province = rng.choice(PROVINCES)
        rule = rng.choice(RULES)
        value = f"{rule}|{rng.choice(RULES)}" if i % 4 == 0 else rule
        matchers = parse_matchers([
            {"label": "province_code", "op": "=", "value": province},
            {"label": "rule", "op": "=~" if i % 4 == 0 else "=", "value": value},
        ])  # fmt: skip
        silences.append(Silence(i + 1, matchers, NOW - timedelta(hours=1), NOW + timedelta(hours=6),
                                comment="bảo trì / maintenance", created_by="user:bench"))  # fmt: skip
    people, subs = {}, []
    for uid in range(1, subscriptions + 1):
        scope = Scope.from_dict({"provinces": [rng.choice(PROVINCES)]} if uid % 4 else {"national": True})
        people[uid] = Person(uid, f"user{uid}", "operator", scope, "vi", True, {"email": f"u{uid}@example.vn"})
        subs.append(Subscription(uid, uid, channels=("email",), severities=frozenset({"critical"})))
    return World(alerts, silences, subs, people)


ROUTE = Route("bench", 1, (), ("bench-cp",), ("rule", "province_code"))
POLICY = parse_policy({
    "id": "default-hierarchy", "position": 100,
    "matchers": [{"label": "severity", "op": "=~", "value": "warning|critical"}], "repeat": 0,
    "steps": [{"after_working_minutes": 30, "level": "commune", "roles": ["operator"], "channels": ["email"]},
              {"after_working_minutes": 60, "level": "province", "roles": ["operator"], "channels": ["email"]}],
})  # fmt: skip


def planner_input(
    w: World, groups: dict[tuple[str, str], GroupState], cache: SilenceMatchCache,
    escalations: dict[int, EscalationState],
) -> PlannerInput:  # fmt: skip
    return PlannerInput(
        alerts=w.alerts, silences=w.silences, inhibit_rules=[DEFAULT_INHIBIT_RULE], routes=[ROUTE],
        contact_points={"bench-cp": ContactPoint("bench-cp", Channel.WEBHOOK, "http://127.0.0.1:9/")},
        subscriptions=w.subscriptions, people=w.people, groups=groups, escalation_policies=[POLICY],
        escalations=escalations, silence_cache=cache,
    )  # fmt: skip


@dataclass
class Rounds:
    first: list[float]  # every group new, cold silence cache
    send: list[float]  # one second later: every group's first notification planned
    steady: list[float]  # one more second: nothing due (the once-a-second round)
    info: dict[str, int]
    steady_cpu: list[float]  # the steady rounds' CPU time (this process)


def _round(w: World, state: dict[str, Any], at: datetime, cache: SilenceMatchCache, calendar: WorkingCalendar) -> float:
    inp = planner_input(w, state["groups"], cache, state["escalations"])
    t0, c0 = time.perf_counter(), time.process_time()
    p = run_plan(inp, at, calendar)  # as dispatch_once runs it (cyclic GC paused)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Feed the plan back as the dispatcher's write and the next round's read would.
    groups = dict(state["groups"])
    for g in p.group_upserts:
        groups[(g.receiver, g.group_key)] = g
    for k in p.group_deletes:
        groups.pop(k, None)
    escalations = dict(state["escalations"])
    for e in p.escalations:
        if e.stopped_at is None:
            escalations[e.alert_id] = e
        else:
            escalations.pop(e.alert_id, None)
    state.update(groups=groups, escalations=escalations, deliveries=len(p.deliveries))
    state.setdefault("cpu", []).append(cpu)
    return elapsed


def run_ioc(w: World, rounds: int) -> Rounds:
    calendar = WorkingCalendar()
    out = Rounds([], [], [], {}, [])
    for _ in range(rounds):
        cache = SilenceMatchCache()
        state: dict[str, Any] = {"groups": {}, "escalations": {}}
        out.first.append(_round(w, state, NOW, cache, calendar))
        out.send.append(_round(w, state, NOW + timedelta(seconds=1), cache, calendar))
        sent = state["deliveries"]
        out.steady.append(_round(w, state, NOW + timedelta(seconds=2), cache, calendar))
        out.steady_cpu.append(state["cpu"][-1])
        out.info = {"groups": len(state["groups"]), "deliveries_send_round": sent,
                    "deliveries_steady_round": state["deliveries"],
                    "escalating": len(state["escalations"])}  # fmt: skip
    return out


# --------------------------------------------------------------------------- peer


def am_config(path: Path) -> None:
    path.write_text(yaml.safe_dump({
        "route": {"receiver": "bench", "group_by": ["rule", "province_code"], "group_wait": "1s",
                  "group_interval": "5m", "repeat_interval": "4h"},
        "receivers": [{"name": "bench"}],  # no integration: dispatch is measured, not delivery
        "inhibit_rules": [{"source_matchers": ['kind="silent_source"'], "target_matchers": ['kind!="silent_source"'],
                           "equal": ["stream", "province_code"]}],
    }))  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def am_round(w: World, work: Path) -> tuple[float, float]:
    """(wall seconds, Alertmanager CPU seconds) from the first POST to every alert grouped."""
    port = free_port()
    cfg = work / "alertmanager.yml"
    am_config(cfg)
    data = work / f"am-data-{port}"
    cmd = ["prometheus-alertmanager", f"--config.file={cfg}", f"--storage.path={data}",
           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v2"
    expected: dict[tuple[str, str], int] = {}
    for a in w.alerts:
        key = (a.labels["rule"], a.labels["province_code"])
        expected[key] = expected.get(key, 0) + 1
    # Alertmanager judges alerts by its own clock: they start an hour ago and end in six hours.
    real_now = datetime.now(UTC)
    starts, ends = (real_now - timedelta(hours=1)).isoformat(), (real_now + timedelta(hours=6)).isoformat()
    # Encoded before the clock starts: the peer is timed, not this process's JSON encoder.
    batches = [
        orjson.dumps([{"labels": dict(a.labels), "annotations": {"summary": a.summary_en}, "startsAt": starts,
                       "endsAt": ends} for a in w.alerts[i : i + BATCH]])
        for i in range(0, len(w.alerts), BATCH)
    ]  # fmt: skip
    log = (work / f"alertmanager-{port}.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(timeout=120, headers={"content-type": "application/json"}) as client:
            wait_http(f"http://127.0.0.1:{port}/-/ready")
            for s in w.silences:
                matchers = [{"name": m.label, "value": m.value, "isRegex": m.op == "=~", "isEqual": True}
                            for m in s.matchers]  # fmt: skip
                client.post(f"{base}/silences", json={
                    "matchers": matchers, "startsAt": real_now.isoformat(),
                    "endsAt": (real_now + timedelta(hours=6)).isoformat(), "createdBy": "bench", "comment": s.comment,
                }).raise_for_status()  # fmt: skip
            t0, c0 = time.perf_counter(), _cpu_seconds(proc.pid)
            for batch in batches:
                client.post(f"{base}/alerts", content=batch).raise_for_status()
            while True:
                groups = orjson.loads(client.get(f"{base}/alerts/groups").content)
                seen = {(g["labels"].get("rule", ""), g["labels"].get("province_code", "")): len(g["alerts"])
                        for g in groups}  # fmt: skip
                if seen == expected:
                    return time.perf_counter() - t0, _cpu_seconds(proc.pid) - c0
                if time.perf_counter() - t0 > 300:
                    missing = [(k, v, seen.get(k)) for k, v in expected.items() if seen.get(k) != v]
                    raise RuntimeError(f"Alertmanager did not group every alert within 300 s: {missing[:5]}")
                time.sleep(0.05)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def run_peer(w: World, rounds: int, work: Path) -> list[tuple[float, float]]:
    from bench.alert_latency import ensure_peer_installed

    ensure_peer_installed()
    return [am_round(w, work) for _ in range(rounds)]


# --------------------------------------------------------------------------- IOC with its database


def run_db(w: World, rounds: int, work: Path) -> dict[str, list[float]]:
    """``dispatch_once`` (load, plan, write in one transaction) against an embedded PostgreSQL
    holding the same world: steady rounds, after a first and a send round. Times per stage from
    the round's own metric (ioc_alerts_notify_round_duration_seconds)."""
    import asyncio

    import psycopg

    from alerts.notify.config import DEFAULT_NOTIFY_FILE, load_notify_file
    from alerts.notify.dispatcher import dispatch_once
    from bench.alert_latency import ioc_world
    from ioc.metrics import Metrics

    work.mkdir(exist_ok=True)
    work.chmod(0o755)
    pg, url, _source = ioc_world(work)
    try:
        with psycopg.connect(url) as conn:
            with conn.cursor().copy(
                "COPY alert (id, rule_id, fingerprint, labels, severity, state, province_code, commune_code,"
                " agency_code, sector_code, stream, value, summary_vi, summary_en, active_since, fired_at)"
                " FROM STDIN"
            ) as copy:
                for a in w.alerts:
                    lb = a.labels
                    copy.write_row((a.id, a.rule_id, a.fingerprint, orjson.dumps(dict(lb)).decode(), a.severity,
                                    "firing", lb["province_code"], lb.get("commune_code"), lb.get("agency_code"),
                                    lb.get("sector"), lb["stream"], a.value, a.summary_vi, a.summary_en, a.fired_at,
                                    a.fired_at))  # fmt: skip
            conn.execute("SELECT setval('alert_id_seq', %s)", [len(w.alerts)])
            conn.execute("INSERT INTO contact_point (id, channel, address, options, created_by) VALUES"
                         " ('bench-cp', 'webhook', 'http://127.0.0.1:9/', '{}', 'bench')")  # fmt: skip
            conn.execute("INSERT INTO notification_route (id, position, matchers, contact_points, group_by, updated_by)"
                         " VALUES ('bench', 1, '[]', '{bench-cp}', '{rule,province_code}', 'bench')")  # fmt: skip
            for s in w.silences:
                conn.execute("INSERT INTO silence (matchers, starts_at, ends_at, comment, created_by) VALUES"
                             " (%s, %s, %s, %s, %s)", [orjson.dumps([m.to_json() for m in s.matchers]).decode(),
                                                       s.starts_at, s.ends_at, s.comment, s.created_by])  # fmt: skip
            conn.execute("ANALYZE")

        async def go() -> dict[str, list[float]]:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
            try:
                await load_notify_file(conn, DEFAULT_NOTIFY_FILE)  # the shipped inhibit rule and escalation
                calendar = WorkingCalendar()
                out: dict[str, list[float]] = {"load": [], "plan": [], "write": [], "total": []}
                for i in range(rounds + 2):
                    metrics = Metrics()
                    await dispatch_once(conn, NOW + timedelta(seconds=i), calendar, metrics=metrics)
                    if i < 2:
                        continue  # the first and the send round
                    for stage in out:
                        total = metrics.registry.get_sample_value(
                            "ioc_alerts_notify_round_duration_seconds_sum", {"stage": stage}
                        )
                        out[stage].append(float(total or 0.0))
                return out
            finally:
                await conn.close()

        return asyncio.run(go())
    finally:
        pg.stop()
        # The cluster may live outside ``work`` (when the postgres account cannot reach it).
        shutil.rmtree(pg.data_dir, ignore_errors=True)


# --------------------------------------------------------------------------- report


def stats(values: list[float]) -> str:
    return (f"median {statistics.median(values):8.4f} s  min {min(values):8.4f}  max {max(values):8.4f}  "
            f"n {len(values)}")  # fmt: skip


def am_version() -> str:
    try:
        out = subprocess.run(["prometheus-alertmanager", "--version"], capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peer-rounds", type=int, default=3)
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--subscriptions", type=int, default=40, help="personal subscriptions (a quarter national)")
    parser.add_argument("--db", action="store_true", help="also time dispatch_once against an embedded PostgreSQL")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, seed {args.seed}, "
          f"rounds {args.rounds} (peer {args.peer_rounds}), {args.subscriptions} subscriptions")  # fmt: skip
    medians: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="ioc-bench-planner-") as tmp:
        for n in sizes:
            w = make_world(n, args.seed, args.subscriptions)
            r = run_ioc(w, args.rounds)
            for kind, values in (("first", r.first), ("send", r.send), ("steady", r.steady)):
                medians[(kind, n)] = statistics.median(values)
                print(f"{n:>7} alerts  IOC {kind:<6} round  {stats(values)}")
            medians[("steady-cpu", n)] = statistics.median(r.steady_cpu)
            print(f"{n:>7} alerts  IOC steady CPU    {stats(r.steady_cpu)}")
            print(f"{n:>7} alerts  {r.info}")
            if args.db:
                db = run_db(w, args.rounds, Path(tmp) / f"db-{n}")
                for stage, values in db.items():
                    medians[(f"db-{stage}", n)] = statistics.median(values)
                    print(f"{n:>7} alerts  IOC+DB steady {stage:<5}  {stats(values)}")
            if not args.skip_peer:
                peer = run_peer(w, args.peer_rounds, Path(tmp))
                medians[("peer", n)] = statistics.median(t for t, _ in peer)
                medians[("peer-cpu", n)] = statistics.median(c for _, c in peer)
                print(f"{n:>7} alerts  Alertmanager      {stats([t for t, _ in peer])}   ({am_version()})")
                print(f"{n:>7} alerts  Alertmanager CPU  {stats([c for _, c in peer])}")
    lo, hi = min(sizes), max(sizes)
    for kind in ("first", "send", "steady", "steady-cpu", "db-load", "db-plan", "db-total", "peer", "peer-cpu"):
        if (kind, lo) in medians and (kind, hi) in medians and lo != hi:
            print(f"{kind:>10}: time({hi})/time({lo}) = {medians[(kind, hi)] / medians[(kind, lo)]:.2f}")
    for n in sizes:
        if ("peer", n) in medians:
            peer_wall = medians[("peer", n)]
            ratios = [
                f"IOC {k} / Alertmanager = {medians[(k, n)] / peer_wall:.3f}" for k in ("first", "send", "steady")
            ]
            print(f"{n:>7}: {'   '.join(ratios)}")
            cpu = medians[("steady-cpu", n)] / medians[("peer-cpu", n)]
            print(f"{n:>7}: IOC steady CPU / Alertmanager CPU = {cpu:.3f}")
    print("targets: IOC round ≤ 1 s at 50,000 and time(50k)/time(5k) ≤ 12")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
