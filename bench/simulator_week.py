"""The dossier simulator over one replayed week: how fast it generates, and what the week looks like.

    .venv/bin/python -m bench.simulator_week [--volume 0.05] [--rounds 3] [--seed 1]

Each round replays the week before Monday 23/11/2026 12:00 (Hà Nội) at `--volume` × the national
volume, unsampled, one simulated hour per step, and times it. The peer, measured in the same
round on the same events, is what the runner must do with them anyway: JSON-encode them in
batches of 500 (httpx's `json=`). The figure that matters on a shared, noisy machine is the
per-round ratio generate / encode; its median and spread are printed with the throughputs.

Then the week itself, against the brief's figures: on-time rate (server's rule: resolved by the
working-calendar deadline, open past it counts late), online share, share of receipts in office
hours and at night, resolved / received on the last whole working day, and receipts per working
day scaled to the full national volume for Hà Nội and Hồ Chí Minh City.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

from alerts.calendar import WorkingCalendar
from ingest.simulator.generator import LOCAL_TZ, DossierSimulator, Event, SimulatorSettings

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 12:00 in Hà Nội
LAST_WORKING_DAY = date(2026, 11, 20)
BATCH = 500


def generate(volume: float, seed: int) -> tuple[float, list[Event]]:
    settings = SimulatorSettings(seed=seed, rate_per_second=1e9, volume_scale=volume, time_scale=3600)
    simulator = DossierSimulator(settings, NOW)
    events: list[Event] = []
    started = time.perf_counter()
    for step in range(1, 170):
        events += simulator.advance(1.0, NOW + timedelta(seconds=step))
    return time.perf_counter() - started, events


def encode(events: list[Event]) -> float:
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        json.dumps(events[i : i + BATCH], ensure_ascii=False).encode()
    return time.perf_counter() - started


def describe(events: list[Event], volume: float) -> list[str]:
    calendar = WorkingCalendar()

    def at(event: Event) -> datetime:
        return datetime.fromisoformat(event["occurred_at"])

    receipts = [e for e in events if e["event_type"] == "received"]
    office = sum(calendar.working_seconds_between(at(e), at(e) + timedelta(seconds=1)) == 1 for e in receipts)
    night = sum(at(e).astimezone(LOCAL_TZ).hour < 6 for e in receipts)
    online = sum(e["channel"] == "online" for e in receipts)
    grouped: dict[str, dict[str, datetime]] = defaultdict(dict)
    first: dict[str, Event] = {}
    for event in events:
        grouped[event["dossier_code"]][event["event_type"]] = at(event)
        first.setdefault(event["dossier_code"], event)
    due = late = 0
    for code, times in grouped.items():
        if times.keys() & {"supplement_requested", "rejected", "withdrawn"}:
            continue
        deadline = calendar.add_working_days(times["received"], first[code]["procedure"]["statutory_days"])
        if deadline < NOW:
            due += 1
            late += times.get("resolved", NOW) > deadline
    day = Counter(e["event_type"] for e in events if at(e).astimezone(LOCAL_TZ).date() == LAST_WORKING_DAY)
    working_days = sum(calendar.is_working_day(NOW.date() - timedelta(days=d)) for d in range(1, 8))
    by_province = Counter(e["dossier_code"][1:3] for e in receipts)

    def per_working_day(code: str) -> float:
        # Receipts over the week (desk only on working days) per working day, at the full volume.
        return by_province[code] / volume / working_days

    return [
        f"dossiers received       {len(receipts):,} (events {len(events):,})",
        f"on time                 {1 - late / due:.2%} of {due:,} due before the end (brief: 91–99.99 %)",
        f"online                  {online / len(receipts):.1%} (brief: 20 % Hà Nội 2018–20, 50 % target)",
        f"in office hours         {office / len(receipts):.1%}; 00:00–06:00 {night / len(receipts):.2%}",
        f"resolved / received     {day['resolved'] / day['received']:.2f} on {LAST_WORKING_DAY}",
        f"Hà Nội per working day  {per_working_day('01'):,.0f} at 1× (≈ 5.5 M a year by population share)",
        f"HCMC per working day    {per_working_day('79'):,.0f} at 1×",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--volume", type=float, default=0.05, help="× the national volume")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ratios: list[float] = []
    rates: list[float] = []
    events: list[Event] = []
    for round_number in range(args.rounds):
        generated, events = generate(args.volume, args.seed + round_number)
        encoded = encode(events)
        dossiers = sum(e["event_type"] == "received" for e in events)
        ratios.append(generated / encoded)
        rates.append(dossiers / generated)
        print(
            f"round {round_number + 1}: {dossiers:,} dossiers, {len(events):,} events; generate {generated:.2f} s "
            f"({dossiers / generated:,.0f} dossiers/s, {len(events) / generated:,.0f} events/s), "
            f"JSON encode {encoded:.2f} s, ratio {generated / encoded:.1f}",
            flush=True,
        )
    print(
        f"generate / encode  median {statistics.median(ratios):.1f}  min {min(ratios):.1f}  max {max(ratios):.1f}"
        f"  runs {len(ratios)}"
    )
    print(f"dossiers/s         median {statistics.median(rates):,.0f}  min {min(rates):,.0f}  max {max(rates):,.0f}")
    for line in describe(events, args.volume):
        print(line)


if __name__ == "__main__":
    main()
