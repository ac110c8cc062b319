"""The portal-format translator against the native parse it feeds, same run.

    .venv/bin/python -m bench.dvcqg_translate [--records 5000] [--rounds 7]

A sync batch costs the translation (ingest/dvcqg/translate.py: envelope fields checked, codes
mapped, events derived) plus the native parse_batch of the derived events. Peer: parse_batch of
the same events sent natively. Workload: TD-shaped DongBoHoSoMC records (the 2024-25 generation,
every field) of dossiers at status 10 with a supplement behind them, so each record derives three
dated events (received with its appointment, resolved, returned). Reported per variant: median
and spread (min–max) in µs per derived event over --rounds, the ratio of medians, and the median
of per-round ratios (each round runs both back to back). No assertions: figures for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.dvcqg.envelope import Service
from ingest.dvcqg.translate import Context, UnitDirectory, UnitPlace, translate
from ingest.lifecycle import Procedure
from ingest.parse import parse_batch
from ioc.localities.catalogue import load_catalogue
from tests.unit.dvcqg_payloads import VN, td_dossier

PROCEDURE = Procedure("1.000001", "Hộ tịch", 10)


def records(n: int, now: datetime) -> list[dict[str, Any]]:
    start = now - timedelta(days=60)
    out = []
    for i in range(n):
        received = (start + timedelta(minutes=11 * i)).astimezone(VN).replace(microsecond=0)
        out.append(td_dossier(
            f"H26.1-{i:06d}", "10", received, due=received + timedelta(days=14),
            finished=received + timedelta(days=9), returned=received + timedelta(days=10),
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    now = datetime.now(UTC)
    catalogue = load_catalogue()
    units = UnitDirectory({"UBND phường Ba Đình": UnitPlace("01", "00004", "UBND-00004", None)})
    ctx = Context(now=now, units=units, unit_id=None, known={}, owner_places={},
                  procedure_known=lambda code: code == PROCEDURE.code)  # fmt: skip
    items = records(args.records, now)

    def parse(events: list[dict[str, Any]]) -> int:
        batch = parse_batch(events, source_id="bench", now=now, future_tolerance=timedelta(minutes=5),
                            max_age=timedelta(days=3 * 365), catalogue=catalogue,
                            procedure_of=lambda code: PROCEDURE if code == PROCEDURE.code else None)  # fmt: skip
        assert not batch.refused, batch.refused[:1]
        return len(batch.accepted)

    native_events = translate(Service.DOSSIERS, items, ctx).events
    n_events = len(native_events)
    portal_us, native_us, ratios = [], [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        tr = translate(Service.DOSSIERS, items, ctx)
        parse(tr.events)
        portal = (time.perf_counter() - started) / n_events * 1e6
        started = time.perf_counter()
        parse(native_events)
        native = (time.perf_counter() - started) / n_events * 1e6
        portal_us.append(portal)
        native_us.append(native)
        ratios.append(portal / native)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.records} records → {n_events} events, {args.rounds} rounds")  # fmt: skip
    for name, values in (("portal (translate + parse)", portal_us), ("native parse (peer)", native_us)):
        print(f"{name:28s} median {statistics.median(values):6.2f} µs/event  "
              f"(min {min(values):.2f}, max {max(values):.2f})")  # fmt: skip
    print(
        f"ratio of medians {statistics.median(portal_us) / statistics.median(native_us):.2f}; "
        f"median per-round ratio {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
