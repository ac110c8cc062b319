"""The lifecycle fold with the source's appointment against the fold before it, same run.

    .venv/bin/python -m bench.fold_appointment [--dossiers 20000] [--rounds 7] [--base 0266ef4]

The fold runs for every ingested event (tens of thousands a second), so the appointment must not
make it noticeably slower. Peer: ``ingest/lifecycle.py`` as of --base (the commit before the
appointment landed), loaded from git into its own module. Both fold the same dossiers — received,
supplement requested, supplement received, resolved, returned (5 events each), the catalogue's
period — event by event from the previous state, as the projector does for in-order arrivals.
The current fold also runs a second workload where every receipt carries an appointment and every
second dossier gets a new appointment with its supplement. Reported: median and spread (min–max)
of --rounds per variant in µs per event, the ratio of medians, and the median of per-round ratios
(each round times the variants back to back, so a busy machine slows them alike). No assertions.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from alerts.calendar import WorkingCalendar
from ingest import lifecycle

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parent.parent


def load_base(commit: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{commit}:ingest/lifecycle.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    spec = importlib.util.spec_from_loader("lifecycle_base", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lifecycle_base"] = module  # dataclasses look their module up
    exec(compile(source, "lifecycle_base.py", "exec"), module.__dict__)
    return module


def events_for(mod: ModuleType, n: int, *, appointments: bool) -> list[list[Any]]:
    start = datetime(2026, 3, 2, 8, 30, tzinfo=VN)
    out = []
    for i in range(n):
        t = start + timedelta(minutes=7 * i)
        steps = [
            ("received", t), ("supplement_requested", t + timedelta(hours=3)),
            ("supplement_received", t + timedelta(days=1)), ("resolved", t + timedelta(days=3)),
            ("returned", t + timedelta(days=3, hours=2)),
        ]  # fmt: skip
        dossier = []
        for k, (kind, at) in enumerate(steps):
            extra: dict[str, Any] = {}
            if appointments and kind == "received":
                extra["due_at"] = at + timedelta(days=5)
            if appointments and kind == "supplement_received" and i % 2:
                extra["due_at"] = at + timedelta(days=6)
            dossier.append(mod.DossierEvent(
                occurred_at=at, dossier_code=f"HS-{i}", event_type=mod.EventType(kind), source_id="bench",
                event_id=f"{i}:{k}", province_code="01", commune_code="00004", agency_code="AG",
                procedure_code="P3", channel="direct", **extra,
            ))  # fmt: skip
        out.append(dossier)
    return out


def timed(mod: ModuleType, dossiers: list[list[Any]], calendar: WorkingCalendar) -> float:
    procedure = mod.Procedure("P3", "Đất đai", 3)
    fold: Callable[..., Any] = mod.fold
    calendar_for = {"01": calendar}.__getitem__
    procedure_of = {"P3": procedure}.get
    begin = time.perf_counter()
    for events in dossiers:
        state = None
        for event in events:
            state = fold(state, (event,), calendar_for, procedure_of)
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", default="0266ef4")
    args = parser.parse_args()
    base = load_base(args.base)
    calendar = WorkingCalendar()
    variants = {
        "base (no appointment support)": (base, events_for(base, args.dossiers, appointments=False)),
        "current, no appointments sent": (lifecycle, events_for(lifecycle, args.dossiers, appointments=False)),
        "current, appointments sent": (lifecycle, events_for(lifecycle, args.dossiers, appointments=True)),
    }
    for mod, dossiers in variants.values():  # warm the calendar caches and the interpreter
        timed(mod, dossiers[:500], calendar)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved, so drift hits every variant alike
        for name, (mod, dossiers) in variants.items():
            times[name].append(timed(mod, dossiers, calendar))
    events = args.dossiers * 5
    print(f"fold, event by event: {args.dossiers:,} dossiers x 5 events, {args.rounds} rounds; "
          f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")  # fmt: skip
    base_runs = times["base (no appointment support)"]
    peer = statistics.median(base_runs)
    for name, runs in times.items():
        median = statistics.median(runs)
        # Paired: each round's ratio to the base timed right before it (robust on a busy machine).
        paired = [run / b for run, b in zip(runs, base_runs, strict=True)]
        print(f"  {name:32s} median {median * 1e6 / events:6.2f} µs/event "
              f"(spread {min(runs) * 1e6 / events:.2f}–{max(runs) * 1e6 / events:.2f}), "
              f"x{median / peer:.2f} of base; per-round ratio median x{statistics.median(paired):.2f} "
              f"({min(paired):.2f}–{max(paired):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
