"""Post simulated dossier events to the public ingest API, as an external source would.

The simulator goes through the same door as real sources (HTTP, API key, idempotent event ids),
so a demo also exercises validation, deduplication and the live path end to end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ingest.simulator.generator import DossierSimulator, Event, SimulatorSettings
from ingest.simulator.id_issuance import IdSimulatorSettings, run_id_issuance
from ingest.simulator.payout import PayoutSimulator, PayoutSimulatorSettings

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest/dossier-events"
PAYOUT_PATH = "/api/v1/ingest/payout-records"
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_BACKOFF_SECONDS = 30.0


class SimulatorAuthError(RuntimeError):
    """The API key was refused: every later batch would be too, so the run stops."""


@dataclass
class SimulatorTotals:
    batches: int = 0
    events: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed_batches: int = 0  # refused as a whole (4xx): logged and skipped, never retried

    def add(self, response: dict[str, Any], sent: int) -> None:
        self.batches += 1
        self.events += sent
        self.accepted += int(response.get("accepted", 0))
        self.duplicate += int(response.get("duplicate", 0))
        self.rejected += int(response.get("rejected", 0))


def _run_tag(now: datetime) -> str:
    """A short tag unique per start-up second, so a restarted demo does not look like resends."""
    raw = int(now.timestamp()).to_bytes(5, "big")
    return base64.b32encode(raw).decode().rstrip("=").lower()


async def run_simulator(
    base_url: str,
    api_key: str,
    *,
    rate_per_second: float,
    batch_size: int = 500,
    duration: float | None = None,
    seed: int = 1,
    stop: asyncio.Event | None = None,
    time_scale: float = 3600.0,
    backfill: timedelta = timedelta(days=7),
    tick_seconds: float = 1.0,
    log_every_seconds: float = 10.0,
    settings: SimulatorSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    payout: PayoutSimulatorSettings | None = None,
    id_issuance: IdSimulatorSettings | None = None,
    volume_scale: float = 1.0,
    full_volume_live: bool = False,
) -> SimulatorTotals:
    """Generate and post events until `duration` real seconds pass or `stop` is set.

    The simulated clock replays the `backfill` before start at `time_scale` × real time, then
    follows real time. `volume_scale` is the intake as a multiple of the national volume (≈ 70.8 M
    dossiers a year; 1.0 ≈ 7 new dossiers a second nationally in office hours). `rate_per_second`
    is the replay's load: new dossiers per real second while catching up (the replay is a uniform
    sample sized to it), and a ceiling on the live stream's average. Each dossier yields about
    2.7 events over its life. `full_volume_live` sends the full volume once caught up instead of
    going on with the replay's sample (see generator.py). `settings`, when given, overrides the seed /
    rate / volume / scale / backfill / sample arguments.
    `payout`, when given, also posts payout-cycle reports, beside the dossiers, with the same key;
    `id_issuance` likewise posts the daily ID-issuance reports.
    """
    stop = stop or asyncio.Event()
    started_at = datetime.now(UTC)
    settings = settings or SimulatorSettings(
        seed=seed,
        rate_per_second=rate_per_second,
        volume_scale=volume_scale,
        time_scale=time_scale,
        full_volume_live=full_volume_live,
        backfill=backfill,
        run_tag=_run_tag(started_at),
    )
    simulator = DossierSimulator(settings, started_at)
    catch_up = simulator.catch_up_seconds
    log.info(
        "simulator: %.3g × the national dossier volume, by population; replaying %.4g h at %g× "
        "(caught up in %s) as a sample of 1 in %.0f, then live at 1× (1 in %.0f)",
        settings.volume_scale,
        settings.backfill.total_seconds() / 3600,
        settings.time_scale,
        "never" if catch_up is None else f"{catch_up:.0f} s",
        1 / simulator.replay_sample if simulator.replay_sample else float("inf"),
        1 / simulator.live_sample if simulator.live_sample else float("inf"),
    )
    totals = SimulatorTotals()
    headers = {"Authorization": f"Bearer {api_key}"}
    began = last_tick = last_log = time.monotonic()

    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0, transport=transport) as client:
        payout_task = None
        if payout is not None:
            payouts = PayoutSimulator(replace(payout, run_tag=payout.run_tag or settings.run_tag), started_at)
            payout_task = asyncio.create_task(_post_payouts(client, payouts, stop, tick_seconds, batch_size))
        id_task = None
        if id_issuance is not None:
            id_settings = replace(id_issuance, run_tag=id_issuance.run_tag or settings.run_tag)
            id_task = asyncio.create_task(run_id_issuance(client, id_settings, stop, batch_size=batch_size))
        try:
            while not stop.is_set():
                tick = time.monotonic()
                if duration is not None and tick - began >= duration:
                    break
                events = simulator.advance(tick - last_tick, datetime.now(UTC))
                last_tick = tick
                for start in range(0, len(events), batch_size):
                    batch = events[start : start + batch_size]
                    if not await _post_with_retry(client, batch, totals, stop):
                        break
                if time.monotonic() - last_log >= log_every_seconds:
                    last_log = time.monotonic()
                    _log_totals(totals, simulator)
                await _sleep_unless_stopped(stop, tick + tick_seconds - time.monotonic())
        finally:
            # Also when this run is cancelled: the side streams must not outlive it.
            for task in (payout_task, id_task):
                if task is not None:
                    task.cancel()
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
                    except Exception as exc:  # e.g. the API went away while stopping: not this run's failure
                        log.warning("a side stream of the simulator ended with %s: %s", type(exc).__name__, exc)
    _log_totals(totals, simulator)
    return totals


async def _post_payouts(
    client: httpx.AsyncClient, simulator: PayoutSimulator, stop: asyncio.Event, tick_seconds: float, batch_size: int
) -> None:
    """The payout stream's reports, until cancelled; a key without that stream ends only this task."""
    totals = SimulatorTotals()
    last_tick = time.monotonic()
    try:
        while not stop.is_set():
            tick = time.monotonic()
            items = simulator.advance(tick - last_tick, datetime.now(UTC))
            last_tick = tick
            for start in range(0, len(items), batch_size):
                if not await _post_with_retry(client, items[start : start + batch_size], totals, stop, PAYOUT_PATH):
                    return
            await _sleep_unless_stopped(stop, tick + tick_seconds - time.monotonic())
    except SimulatorAuthError as exc:
        log.warning("payout simulator stopped: %s", exc)
    finally:
        log.info("payout simulator: %d reports — accepted %d, duplicate %d, rejected %d",
                 totals.events, totals.accepted, totals.duplicate, totals.rejected)  # fmt: skip


async def _post_with_retry(
    client: httpx.AsyncClient,
    batch: list[Event],
    totals: SimulatorTotals,
    stop: asyncio.Event,
    path: str = INGEST_PATH,
) -> bool:
    """Post one batch; retry transport errors and 5xx with backoff. False when stopped."""
    backoff = 0.5
    while not stop.is_set():
        try:
            response = await client.post(path, json=batch)
        except httpx.TransportError as exc:
            log.warning("ingest API unreachable (%s); retrying in %.1f s", exc, backoff)
        else:
            if response.status_code == 200:
                totals.add(response.json(), len(batch))
                return True
            if response.status_code in (401, 403):
                raise SimulatorAuthError(f"ingest API refused the API key: HTTP {response.status_code}")
            if response.status_code not in _RETRY_STATUSES:
                # A batch the server will never take (bad key, bad body) must not block the rest.
                totals.failed_batches += 1
                log.error(
                    "ingest API refused a batch of %d: HTTP %d %s",
                    len(batch),
                    response.status_code,
                    response.text[:300],
                )
                return True
            log.warning("ingest API answered HTTP %d; retrying in %.1f s", response.status_code, backoff)
        await _sleep_unless_stopped(stop, backoff)
        backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
    return False


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _log_totals(totals: SimulatorTotals, simulator: DossierSimulator) -> None:
    log.info(
        "simulator: %d events in %d batches — accepted %d, duplicate %d, rejected %d, "
        "failed batches %d; simulated clock %s%s",
        totals.events,
        totals.batches,
        totals.accepted,
        totals.duplicate,
        totals.rejected,
        totals.failed_batches,
        simulator.clock.isoformat(timespec="seconds"),
        "" if simulator.caught_up else " (catching up)",
    )
