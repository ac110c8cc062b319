"""A deterministic stream of dossier lifecycle events for the 34 provinces (pure: no I/O, no clock).

Each new dossier's whole life is planned when it is received (supplement round, on time or late,
apology, return of the result, or rejection / withdrawal) and its later events wait in a heap until
the simulated clock reaches them. The simulated clock starts `backfill` before the first `now`
and runs `time_scale` times faster than wall time until it catches up; after that it follows
`now`. Events are therefore always stamped in the past, and dossiers received during the
backfill have had time to become overdue by the time the demo is watched.

New dossiers arrive at `rate_per_second` per *real* second on weekly average, in both phases
(busier in office hours, quiet at night and at weekends), so the simulated past is sparser than
the live present; that keeps a catch-up of a simulated week down to a few
minutes at a load the embedded database takes easily.
"""

from __future__ import annotations

import heapq
import itertools
import random
from bisect import bisect
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.simulator.catalogue import (
    PROCEDURES,
    PROVINCE_POPULATION,
    AgencyLevel,
    Commune,
    Procedure,
    Province,
    load_provinces,
)

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EVENT_TYPES = (
    "received",
    "supplement_requested",
    "supplement_received",
    "resolved",
    "returned",
    "rejected",
    "withdrawn",
    "apology_issued",
    "fee_paid",
    "rated",
)
CHANNELS = ("online", "direct", "postal")
Event = dict[str, Any]


@dataclass(frozen=True)
class SimulatorSettings:
    seed: int = 1
    rate_per_second: float = 20.0  # new dossiers per real second
    time_scale: float = 3600.0  # simulated seconds per real second while catching up
    backfill: timedelta = timedelta(days=7)
    event_id_prefix: str = "sim"
    # Distinguishes runs that share a seed (a restarted demo): it goes into event ids and dossier
    # codes, otherwise the server would take the new run's events for resends of the old one's.
    run_tag: str = ""
    # Shares below are of all new dossiers unless stated; see catalogue.py for their sources.
    withdrawn_share: float = 0.01
    rejected_share: float = 0.015
    supplement_share: float = 0.08
    supplement_abandoned_share: float = 0.10  # of supplement requests: the citizen never returns
    late_share: float = 0.05
    apology_share_of_late: float = 0.70
    unreturned_share: float = 0.08  # resolved, result not yet handed over
    postal_share: float = 0.03
    max_late_working_days: float = 12.0  # long tail, so late dossiers are still open at `now`
    # Service quality (migrations/015). The brief gives targets, not measured shares, for most:
    # 100 % of re-usable results digitised (Bình Dương), satisfaction above 85 % in 2023 and 95 % by
    # 2025, with Bình Dương's survey at 88.84 % (2022) and its 766 satisfaction score 17/18 (94 %).
    # The rest are plausible assumptions, stated here: change them freely.
    full_online_share_of_online: float = 0.55  # online receipts through a full-process (toàn trình) service
    digitised_share: float = 0.85  # receipts whose components were digitised (số hóa)
    fee_share: float = 0.40  # dossiers whose procedure charges a fee or charge (phí, lệ phí)
    online_payment_share_of_online: float = 0.80  # fees of online dossiers paid online
    online_payment_share_of_desk: float = 0.15  # fees of direct / postal dossiers paid online (QR, transfer)
    rated_share: float = 0.35  # resolved dossiers whose applicant rated the service
    very_satisfied_share_of_rated: float = 0.55
    satisfied_share_of_rated: float = 0.35  # very satisfied + satisfied = 90 %
    # Faults to exercise idempotency and ordering on the server; off by default.
    out_of_order_share: float = 0.0
    duplicate_share: float = 0.0


def add_working_days(start: datetime, days: float) -> datetime:
    """Mon–Fri approximation of the server's calendar (no public holidays, no office hours)."""
    whole = int(days)
    moment = start.astimezone(LOCAL_TZ)
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    for _ in range(whole):
        moment += timedelta(days=1)
        while moment.weekday() >= 5:
            moment += timedelta(days=1)
    moment += timedelta(days=days - whole)
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment


def _arrival_weight(moment: datetime) -> float:
    """Relative intake by local hour: one-stop shops are open Mon–Fri and Saturday mornings."""
    local = moment.astimezone(LOCAL_TZ)
    hour = local.hour + local.minute / 60
    if local.weekday() < 5 and 7.5 <= hour < 17:
        return 1.0
    if local.weekday() == 5 and 7.5 <= hour < 11.5:
        return 0.4
    return 0.08  # online submissions at night and at weekends


# Mean of _arrival_weight over a week: (47.5 h x 1.0 + 4 h x 0.4 + 116.5 h x 0.08) / 168 h.
_WEEKLY_MEAN_WEIGHT = (47.5 * 1.0 + 4 * 0.4 + 116.5 * 0.08) / 168


def _mean_arrival_weight(start: datetime, end: datetime) -> float:
    """Intake intensity over [start, end], so nights are quiet even when a tick spans an hour."""
    span = (end - start).total_seconds()
    samples = max(1, min(96, int(span // 900)))  # every quarter of an hour, at most a day's worth
    step = timedelta(seconds=span / samples)
    return sum(_arrival_weight(start + step * (i + 0.5)) for i in range(samples)) / samples


def _office_open(moment: datetime) -> bool:
    return _arrival_weight(moment) > 0.1


@dataclass(frozen=True)
class _Dossier:
    code: str
    province: Province
    commune: Commune
    procedure: Procedure
    channel: str

    def context(self) -> Event:
        proc = self.procedure
        if proc.level is AgencyLevel.COMMUNE:
            agency = {"code": f"UBND-{self.commune.code}", "name": f"UBND {self.commune.name}"}
            locality: dict[str, str] = {"commune_code": self.commune.code}
        elif proc.level is AgencyLevel.COMMUNE_POLICE:
            agency = {"code": f"CA-{self.commune.code}", "name": f"Công an {self.commune.name}"}
            locality = {"commune_code": self.commune.code}
        else:
            agency = {
                "code": f"{proc.department_code}-{self.province.code}",
                "name": f"{proc.department} {self.province.name_in_title}",
            }
            locality = {"province_code": self.province.code}
        return {
            "dossier_code": self.code,
            "procedure": {
                "code": proc.code,
                "name": proc.name,
                "sector": proc.sector,
                "statutory_days": proc.statutory_days,
            },
            "agency": agency,
            "locality": locality,
            "channel": self.channel,
        }


class DossierSimulator:
    """Call `advance` with the real seconds elapsed and the real `now`; get the events due."""

    def __init__(
        self,
        settings: SimulatorSettings,
        now: datetime,
        provinces: tuple[Province, ...] | None = None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._settings = settings
        self._rng = random.Random(settings.seed)
        # Quality fields draw from their own generator, so the lifecycle stream of a seed is the same
        # as before they existed (tests and demos pin it).
        self._quality_rng = random.Random(f"quality-{settings.seed}")
        self._clock = now - settings.backfill
        self._provinces = provinces or load_provinces()
        self._province_cum = list(
            itertools.accumulate(PROVINCE_POPULATION.get(p.code, 1_000_000) for p in self._provinces)
        )
        self._procedure_cum = list(itertools.accumulate(p.weight for p in PROCEDURES))
        self._scheduled: list[tuple[datetime, int, Event]] = []
        self._serial = itertools.count(1)
        self._event_serial = itertools.count(1)
        self._daily_serial: dict[tuple[str, str], int] = {}
        self._arrival_carry = 0.0
        self._held_back: list[Event] = []
        self._recent: deque[Event] = deque(maxlen=256)
        self._last_now: datetime | None = None
        tag = f"-{settings.run_tag}" if settings.run_tag else ""
        self._id_prefix = f"{settings.event_id_prefix}-{settings.seed}{tag}"
        self._code_suffix = tag

    @property
    def clock(self) -> datetime:
        """The simulated time reached so far (never after the last `now`)."""
        return self._clock

    @property
    def caught_up(self) -> bool:
        """Whether the simulated clock has reached real time."""
        return self._last_now is not None and self._clock >= self._last_now

    @property
    def scheduled_count(self) -> int:
        """Events planned but not yet due (the lifecycle still ahead of open dossiers)."""
        return len(self._scheduled)

    def advance(self, real_seconds: float, now: datetime) -> list[Event]:
        """Move the simulated clock on and return the events that happened meanwhile, in order."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._last_now = now
        start = self._clock
        end = max(start, min(start + timedelta(seconds=real_seconds * self._settings.time_scale), now))
        intensity = _mean_arrival_weight(start, end) / _WEEKLY_MEAN_WEIGHT
        expected = self._settings.rate_per_second * max(real_seconds, 0.0) * intensity + self._arrival_carry
        count = int(expected)
        self._arrival_carry = expected - count
        for _ in range(count):
            self._plan_dossier(self._arrival_time(start, end))
        self._clock = end
        due: list[Event] = []
        while self._scheduled and self._scheduled[0][0] <= end:
            due.append(heapq.heappop(self._scheduled)[2])
        return self._inject_faults(due)

    # -- planning ----------------------------------------------------------------------------

    def _arrival_time(self, start: datetime, end: datetime) -> datetime:
        span = (end - start).total_seconds()
        candidate = end
        for _ in range(20):  # thinning: busier office hours, quiet nights
            candidate = start + timedelta(seconds=self._rng.random() * span)
            if self._rng.random() < _arrival_weight(candidate):
                break
        return candidate

    def _plan_dossier(self, received: datetime) -> None:
        rng, settings = self._rng, self._settings
        province = self._provinces[bisect(self._province_cum, rng.random() * self._province_cum[-1])]
        commune = rng.choice(province.communes)
        procedure = PROCEDURES[bisect(self._procedure_cum, rng.random() * self._procedure_cum[-1])]
        dossier = _Dossier(
            self._dossier_code(province, procedure, received),
            province,
            commune,
            procedure,
            self._channel(procedure, received),
        )
        context = dossier.context()
        self._schedule(received, "received", context, self._receipt_quality(dossier.channel))
        self._plan_payment(received, dossier.channel, context)

        deadline = add_working_days(received, procedure.statutory_days)
        allowed = deadline - received
        fate = rng.random()
        if fate < settings.withdrawn_share:
            self._schedule(received + allowed * rng.uniform(0.1, 0.8), "withdrawn", context)
            return
        if fate < settings.withdrawn_share + settings.rejected_share:
            self._schedule(received + allowed * rng.uniform(0.1, 0.9), "rejected", context)
            return

        work_from = received
        if rng.random() < settings.supplement_share:
            requested = received + allowed * rng.uniform(0.05, 0.5)
            self._schedule(requested, "supplement_requested", context)
            if rng.random() < settings.supplement_abandoned_share:
                return  # the clock stays paused: open but not overdue
            returned = add_working_days(requested, rng.uniform(0.5, 5.0))
            self._schedule(returned, "supplement_received", context)
            deadline += returned - requested  # the pause does not count
            work_from = returned

        if rng.random() < settings.late_share:
            resolved = add_working_days(deadline, rng.uniform(0.2, settings.max_late_working_days))
            if rng.random() < settings.apology_share_of_late:
                # The letter goes out around the due date, once lateness is known.
                apology = max(deadline - timedelta(hours=rng.uniform(0, 20)), work_from + timedelta(minutes=5))
                self._schedule(apology, "apology_issued", context)
        else:
            resolved = work_from + (deadline - work_from) * rng.uniform(0.05, 0.98)
        resolved = max(resolved, work_from + timedelta(minutes=10))
        self._schedule(resolved, "resolved", context)
        self._plan_rating(resolved, context)
        if rng.random() >= settings.unreturned_share:
            handed_over = resolved + timedelta(hours=rng.uniform(0.5, 40))
            self._schedule(handed_over, "returned", context)

    def _receipt_quality(self, channel: str) -> Event:
        rng, settings = self._quality_rng, self._settings
        quality: Event = {"digitised": rng.random() < settings.digitised_share}
        if channel == "online":
            quality["online_level"] = "full" if rng.random() < settings.full_online_share_of_online else "partial"
        return quality

    def _plan_payment(self, received: datetime, channel: str, context: Event) -> None:
        rng, settings = self._quality_rng, self._settings
        if rng.random() >= settings.fee_share:
            return
        share = (
            settings.online_payment_share_of_online if channel == "online" else settings.online_payment_share_of_desk
        )
        paid_online = rng.random() < share
        # Paid while submitting (online), or at the desk within the hour of receipt.
        paid = received + timedelta(minutes=rng.uniform(1, 10) if paid_online else rng.uniform(5, 60))
        self._schedule(paid, "fee_paid", context, {"payment_channel": "online" if paid_online else "offline"})

    def _plan_rating(self, resolved: datetime, context: Event) -> None:
        rng, settings = self._quality_rng, self._settings
        if rng.random() >= settings.rated_share:
            return
        draw = rng.random()
        if draw < settings.very_satisfied_share_of_rated:
            rating = "very_satisfied"
        elif draw < settings.very_satisfied_share_of_rated + settings.satisfied_share_of_rated:
            rating = "satisfied"
        else:
            rating = "dissatisfied"
        self._schedule(resolved + timedelta(hours=rng.uniform(0.5, 48)), "rated", context, {"rating": rating})

    def _channel(self, procedure: Procedure, received: datetime) -> str:
        if not _office_open(received):
            return "online"
        draw = self._rng.random()
        if draw < procedure.online_share:
            return "online"
        if draw < procedure.online_share + self._settings.postal_share:
            return "postal"
        return "direct"

    def _dossier_code(self, province: Province, procedure: Procedure, received: datetime) -> str:
        day = received.astimezone(LOCAL_TZ).strftime("%y%m%d")
        key = (province.code, day)
        serial = self._daily_serial.get(key, 0) + 1
        self._daily_serial[key] = serial
        procedure_number = PROCEDURES.index(procedure) + 1
        return f"H{province.code}.{procedure_number:02d}-{day}-{serial:04d}{self._code_suffix}"

    def _schedule(self, moment: datetime, event_type: str, context: Event, extra: Event | None = None) -> None:
        event = {
            "event_id": f"{self._id_prefix}-{next(self._event_serial):09d}",
            "event_type": event_type,
            "occurred_at": moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
            **context,
            **(extra or {}),
        }
        heapq.heappush(self._scheduled, (moment, next(self._serial), event))

    # -- faults ------------------------------------------------------------------------------

    def _inject_faults(self, due: list[Event]) -> list[Event]:
        settings, rng = self._settings, self._rng
        if not settings.out_of_order_share and not settings.duplicate_share:
            return due
        out, self._held_back = self._held_back, []
        for event in due:
            if rng.random() < settings.out_of_order_share:
                self._held_back.append(event)  # sent after later events, in the next batch
            else:
                out.append(event)
        for event in list(out):
            self._recent.append(event)
            if rng.random() < settings.duplicate_share:
                out.append(dict(rng.choice(self._recent)))  # a resend: same event_id
        return out
