"""A deterministic stream of dossier lifecycle events for the 34 provinces (pure: no I/O, no wall clock).

Intake (intake.py): `volume_scale` × the national volume (≈ 70.8 M dossiers a year, from the
brief), split by population, desk receipts only in office hours of working days (the project's
calendar: weekends, public holidays, Tết), online ones at any hour.

Lifecycle: each new dossier's whole life is planned when it is received and its later events
wait in a heap until the simulated clock reaches them. Deadlines are the server's: the same
working calendar, `statutory_days` office days from the next working instant after receipt, the
clock stopped while a supplement is awaited. Processing time is a fraction of that budget in
working time (many early, a share of one-day procedures resolved at the counter within hours);
each province has its own late share (most 1–4.5 %, a few lagging at 6–10 %, national ≈ 96–97 %
on time, the brief's 91–99.99 %); late ones run on by up to `max_late_working_days`, most get an
apology. A few are withdrawn or refused, some wait on a supplement, a few never come back.
Every action of an official (resolution, supplement request, refusal, apology, desk hand-over)
happens in office hours; citizens' own actions online (submission, supplement upload, rating)
at any hour. The official in charge (officials.py: a roster per agency, some often late) is
named as `handler` on the acts of an official, for the monthly list of late officials.

Clock (clock.py): simulated = start + time_scale × elapsed, started `backfill` before the first
`now` and never past real now, so the back-filled week replays in minutes and no event is ever
stamped in the future; once caught up it follows real time.

Load. The full `volume_scale` volume is ≈ 7 dossiers a second nationally in office hours at
scale 1 (≈ 9 at the 10:00 peak, ≈ 0.06 at 03:00). Replaying a week of it in seconds is beyond any
demo database (1.4 M dossiers), so the replay is a uniform sample of whole dossiers, sized so
that it posts `rate_per_second` new dossiers per real second on average: with the demo's 50/s at
20,000× a week is replayed in ≈ 30 s as ≈ 1 dossier in 900 (50 / (2.24 × 20,000)). A sample
keeps every rate and share (on time, online, by province) unbiased; only counts are smaller. The
live stream goes on with the same sample, so every window (today, 7 days) has one density and
resolutions keep pace with receipts; `full_volume_live` sends the full volume once caught up
instead (capped at `rate_per_second`), at the price of a first day whose resolutions of earlier
dossiers are the sample's while its receipts are the full stream's. For a full-volume replay give
rate_per_second ≈ 2.24 × volume_scale × time_scale (e.g. --rate 2300 --time-scale 1000: a week in
≈ 10 min, ≈ 6,000 events/s; the generator itself makes ≈ 4,400–7,100 dossiers/s: bench.simulator_week).
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

from alerts.calendar import WorkingCalendar
from ingest.simulator.catalogue import (
    PROCEDURES,
    AgencyLevel,
    Commune,
    Procedure,
    Province,
    load_provinces,
)
from ingest.simulator.clock import SimClock
from ingest.simulator.intake import (
    NATIONAL_MEAN_PER_SECOND,
    IntakeModel,
    Segment,
    Stream,
    arrival_times,
    province_weights,
)
from ingest.simulator.officials import Official, OfficialRoster

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
    # New dossiers per real second while the past is replayed (the replay's load on the API), and a
    # ceiling on the live stream's average; see the module docstring.
    rate_per_second: float = 20.0
    volume_scale: float = 1.0  # × the national volume (≈ 70.8 M dossiers a year)
    time_scale: float = 3600.0  # simulated seconds per real second while catching up
    backfill: timedelta = timedelta(days=7)
    # After catching up, send the full volume instead of going on with the replay's sample: live
    # counts a province recognises, but the first day's windows then mix a sampled past (few
    # resolutions of earlier dossiers) with a full present. Off: one density throughout.
    full_volume_live: bool = False
    event_id_prefix: str = "sim"
    # Distinguishes runs that share a seed (a restarted demo): it goes into event ids and dossier
    # codes, otherwise the server would take the new run's events for resends of the old one's.
    run_tag: str = ""
    # Shares below are of all new dossiers unless stated; see catalogue.py for their sources.
    withdrawn_share: float = 0.01
    rejected_share: float = 0.015
    supplement_share: float = 0.08
    supplement_abandoned_share: float = 0.10  # of supplement requests: the citizen never returns
    # Late shares per province: most within `late_share_range`, `lagging_province_share` of them
    # within `lagging_late_range` (Hà Nội was at 91 % on time in H1-2020, 99.58 % in 2022).
    late_share_range: tuple[float, float] = (0.01, 0.045)
    lagging_province_share: float = 0.15
    lagging_late_range: tuple[float, float] = (0.06, 0.10)
    apology_share_of_late: float = 0.70
    mean_late_working_days: float = 2.5  # how far past the deadline a late dossier is resolved
    max_late_working_days: float = 12.0  # long tail, so late dossiers are still open at `now`
    # One-day desk procedures (certified copies, birth registration …) done at the counter.
    same_day_share_of_one_day_desk: float = 0.6
    unreturned_share: float = 0.08  # resolved, result not yet handed over
    postal_share_of_desk: float = 0.05  # of desk-stream dossiers, sent by post (bưu chính công ích)
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


@dataclass(frozen=True)
class ProvinceProfile:
    """A province as the simulator treats it: its intake weight and how often it is late."""

    province: Province
    weight: float
    late_share: float


def province_profiles(
    settings: SimulatorSettings, provinces: tuple[Province, ...] | None = None
) -> tuple[ProvinceProfile, ...]:
    """Weights by population; late shares drawn once per seed, so a province keeps its record."""
    weights = province_weights(provinces or load_provinces())
    rng = random.Random(f"performance-{settings.seed}")
    profiles = []
    for province, weight in zip(weights.provinces, weights.weights, strict=True):
        lagging = rng.random() < settings.lagging_province_share
        low, high = settings.lagging_late_range if lagging else settings.late_share_range
        profiles.append(ProvinceProfile(province, weight, rng.uniform(low, high)))
    return tuple(profiles)


# Events that record an act of the official in charge; the others are the citizen's or the system's.
OFFICIAL_ACTS = frozenset({"supplement_requested", "resolved", "rejected", "apology_issued"})
# Officials handling one agency's dossiers: a commune's one-stop desk, a provincial department.
ROSTER_SIZE = {AgencyLevel.COMMUNE: 4, AgencyLevel.COMMUNE_POLICE: 3, AgencyLevel.PROVINCE: 12}


def agency_of(province: Province, commune: Commune, procedure: Procedure) -> dict[str, str]:
    """The agency that resolves `procedure` for a citizen of `commune`."""
    if procedure.level is AgencyLevel.COMMUNE:
        return {"code": f"UBND-{commune.code}", "name": f"UBND {commune.name}"}
    if procedure.level is AgencyLevel.COMMUNE_POLICE:
        return {"code": f"CA-{commune.code}", "name": f"Công an {commune.name}"}
    return {
        "code": f"{procedure.department_code}-{province.code}",
        "name": f"{procedure.department} {province.name_in_title}",
    }


@dataclass(frozen=True, slots=True)
class _Dossier:
    code: str
    province: Province
    commune: Commune
    procedure: Procedure
    channel: str
    handler: Official

    def context(self) -> Event:
        proc = self.procedure
        if proc.level is AgencyLevel.PROVINCE:
            locality = {"province_code": self.province.code}
        else:
            locality = {"commune_code": self.commune.code}
        return {
            "dossier_code": self.code,
            "procedure": {
                "code": proc.code,
                "name": proc.name,
                "sector": proc.sector,
                "statutory_days": proc.statutory_days,
            },
            "agency": agency_of(self.province, self.commune, proc),
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
        calendar: WorkingCalendar | None = None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._settings = settings
        self._rng = random.Random(settings.seed)
        # Quality fields draw from their own generator, so adding one does not move the lifecycle
        # stream of a seed.
        self._quality_rng = random.Random(f"quality-{settings.seed}")
        self._calendar = calendar or WorkingCalendar()
        self._intake = IntakeModel(self._calendar, settings.volume_scale, PROCEDURES)
        self._profiles = province_profiles(settings, provinces)
        self._roster = OfficialRoster(settings.seed)
        self._province_cum = list(itertools.accumulate(p.weight for p in self._profiles))
        self._clock_model = SimClock.replaying(now, settings.backfill, settings.time_scale)
        self._started = now
        self._clock = self._clock_model.start
        self._elapsed = 0.0
        self._live_sample = self._sample_for(NATIONAL_MEAN_PER_SECOND * settings.volume_scale)
        self._replay_sample = self._replay_sample_for(now)
        if not settings.full_volume_live:
            self._live_sample = min(self._live_sample, self._replay_sample)
        # A pending event is a small tuple: (POSIX time, serial, its dossier, type, shared extra
        # fields). At the full national volume about 480,000 are pending after a simulated day
        # (≈ 1.7 M at the steady state of a long run), so their size matters more than their shape.
        self._scheduled: list[_Pending] = []
        self._serial = itertools.count(1)
        self._daily_serial: dict[tuple[str, str], int] = {}
        self._carry = {stream: 0.0 for stream in Stream}
        self._held_back: list[Event] = []
        self._recent: deque[Event] = deque(maxlen=256)
        self._last_now: datetime | None = None
        tag = f"-{settings.run_tag}" if settings.run_tag else ""
        self._id_prefix = f"{settings.event_id_prefix}-{settings.seed}{tag}"
        self._code_suffix = tag

    def _sample_for(self, dossiers_per_second: float) -> float:
        """The share of dossiers kept so that `dossiers_per_second` fits within the rate."""
        if dossiers_per_second <= 0:
            return 1.0
        return min(1.0, self._settings.rate_per_second / dossiers_per_second)

    def _replay_sample_for(self, now: datetime) -> float:
        """Keep `rate_per_second` × the catch-up's real duration of the replayed window's dossiers."""
        seconds = self._clock_model.catch_up_seconds(now)
        if seconds is None:  # the clock never catches up: the whole run is "live" at its pace
            return self._sample_for(NATIONAL_MEAN_PER_SECOND * self._settings.volume_scale * self._clock_model.scale)
        expected = self._intake.expected(self._clock_model.start, now)
        if expected <= 0:
            return 1.0
        return min(1.0, self._settings.rate_per_second * seconds / expected)

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

    @property
    def replay_sample(self) -> float:
        """The share of the replayed past's dossiers that are sent (1.0 = full volume)."""
        return self._replay_sample

    @property
    def catch_up_seconds(self) -> float | None:
        """Real seconds the replay takes to reach real time (None: it never does)."""
        return self._clock_model.catch_up_seconds(self._started)

    @property
    def live_sample(self) -> float:
        """The share of the live stream's dossiers that are sent (1.0 unless the rate caps it)."""
        return self._live_sample

    @property
    def calendar(self) -> WorkingCalendar:
        return self._calendar

    @property
    def profiles(self) -> tuple[ProvinceProfile, ...]:
        return self._profiles

    @property
    def roster(self) -> OfficialRoster:
        return self._roster

    def advance(self, real_seconds: float, now: datetime) -> list[Event]:
        """Move the simulated clock on and return the events that happened meanwhile, in order."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._last_now = now
        self._elapsed += max(real_seconds, 0.0)
        start = self._clock
        end = max(start, self._clock_model.reading(self._elapsed, now))
        if end > start:
            self._receive(start, end)
        self._clock = end
        due: list[Event] = []
        until = end.timestamp()
        while self._scheduled and self._scheduled[0][0] <= until:
            due.append(self._materialise(heapq.heappop(self._scheduled)))
        return self._inject_faults(due)

    # -- intake ------------------------------------------------------------------------------

    def _receive(self, start: datetime, end: datetime) -> None:
        """Plan the dossiers received in [start, end): both streams, sampled, in time order."""
        arrivals: list[tuple[datetime, Stream]] = []
        for stream in Stream:
            segments = [
                Segment(
                    seg.start,
                    seg.end,
                    seg.mass * (self._replay_sample if seg.start < self._started else self._live_sample),
                )
                for part_start, part_end in _split(start, end, self._started)
                for seg in self._intake.segments(stream, part_start, part_end)
            ]
            expected = sum(seg.mass for seg in segments) + self._carry[stream]
            count = int(expected)
            self._carry[stream] = expected - count
            draws = [self._rng.random() for _ in range(count)]
            arrivals += [(moment, stream) for moment in arrival_times(segments, draws)]
        arrivals.sort(key=lambda arrival: arrival[0])
        for moment, stream in arrivals:
            self._plan_dossier(stream, moment)

    # -- planning ----------------------------------------------------------------------------

    def _plan_dossier(self, stream: Stream, received: datetime) -> None:
        rng, settings, cal = self._rng, self._settings, self._calendar
        profile = self._profiles[bisect(self._province_cum, rng.random() * self._province_cum[-1])]
        province = profile.province
        commune = rng.choice(province.communes)
        procedure = self._intake.procedure(stream, rng.random())
        if stream is Stream.ONLINE:
            channel = "online"
        else:
            channel = "postal" if rng.random() < settings.postal_share_of_desk else "direct"
        officials = self._roster.of(agency_of(province, commune, procedure)["code"], ROSTER_SIZE[procedure.level])
        handler = officials[int(rng.random() * len(officials))]
        code = self._dossier_code(province, procedure, received)
        dossier = _Dossier(code, province, commune, procedure, channel, handler)
        self._schedule(received, dossier, "received", self._receipt_quality(channel))
        self._plan_payment(received, dossier)

        day = cal.seconds_per_working_day
        budget = procedure.statutory_days * day
        deadline = cal.add_working_seconds(received, budget)
        fate = rng.random()
        if fate < settings.withdrawn_share:
            self._schedule(
                cal.add_working_seconds(received, int(budget * rng.uniform(0.05, 0.8))), dossier, "withdrawn"
            )
            return
        if fate < settings.withdrawn_share + settings.rejected_share:
            # Refused at appraisal (thẩm định), early in the budget.
            self._schedule(cal.add_working_seconds(received, int(budget * rng.uniform(0.05, 0.6))), dossier, "rejected")
            return

        work_from = cal.next_working_instant(received)
        if rng.random() < settings.supplement_share:
            requested = cal.add_working_seconds(received, max(600, int(budget * rng.uniform(0.05, 0.4))))
            self._schedule(requested, dossier, "supplement_requested")
            if rng.random() < settings.supplement_abandoned_share:
                return  # the clock stays paused: open but not overdue
            if channel == "online":  # uploaded from home, at any hour
                supplied = requested + timedelta(hours=rng.uniform(2, 120))
            else:  # brought to the counter
                supplied = cal.add_working_seconds(requested, int(day * rng.uniform(0.3, 5.0)))
            self._schedule(supplied, dossier, "supplement_received")
            # The pause is closed, so due_at has an answer; the wait does not count against the desk.
            deadline = cal.due_at(received, procedure.statutory_days, [(requested, supplied)]) or deadline
            work_from = cal.next_working_instant(supplied)

        if rng.random() < profile.late_share * handler.late_factor:
            overrun = min(rng.expovariate(1 / settings.mean_late_working_days), settings.max_late_working_days)
            overrun_seconds = max(int(overrun * day), 900)
            resolved = cal.add_working_seconds(deadline, overrun_seconds)
            if rng.random() < settings.apology_share_of_late:
                # The letter (thư xin lỗi) with a new appointment goes out once lateness is known:
                # from half a day before the due date to most of a working day after it, inside the
                # one working day of grace the late_without_apology rule allows, and always before
                # the result.
                offset = rng.uniform(-0.5, 0.8) * day
                if offset < 0:
                    apology = max(
                        cal.subtract_working_seconds(deadline, int(-offset)), work_from + timedelta(minutes=5)
                    )
                else:
                    apology = cal.add_working_seconds(deadline, int(min(offset, 0.9 * overrun_seconds)))
                self._schedule(apology, dossier, "apology_issued")
        else:
            remaining = cal.working_seconds_between(work_from, deadline)
            if (
                procedure.statutory_days == 1
                and channel == "direct"
                and rng.random() < settings.same_day_share_of_one_day_desk
            ):
                spent = rng.uniform(600, 3 * 3600)  # giải quyết tại chỗ: while the citizen waits, or by the afternoon
            else:
                spent = remaining * min(max(rng.betavariate(2.0, 2.5), 0.03), 0.97)
            resolved = min(cal.add_working_seconds(work_from, max(int(min(spent, remaining)), 60)), deadline)
        self._schedule(resolved, dossier, "resolved")
        self._plan_rating(resolved, dossier)
        if rng.random() >= settings.unreturned_share:
            if channel == "online":  # the e-result, or a notice to collect it
                handed_over = resolved + timedelta(minutes=rng.uniform(5, 120))
            elif channel == "postal":
                handed_over = resolved + timedelta(days=rng.uniform(1, 4))
            else:  # collected at the counter
                handed_over = cal.add_working_seconds(resolved, int(day * rng.uniform(0.05, 2.0)))
            self._schedule(max(handed_over, resolved + timedelta(minutes=1)), dossier, "returned")

    def _receipt_quality(self, channel: str) -> Event:
        rng, settings = self._quality_rng, self._settings
        quality: Event = {"digitised": rng.random() < settings.digitised_share}
        if channel == "online":
            quality["online_level"] = "full" if rng.random() < settings.full_online_share_of_online else "partial"
        return quality

    def _plan_payment(self, received: datetime, dossier: _Dossier) -> None:
        rng, settings = self._quality_rng, self._settings
        if rng.random() >= settings.fee_share:
            return
        online = dossier.channel == "online"
        share = settings.online_payment_share_of_online if online else settings.online_payment_share_of_desk
        paid_online = rng.random() < share
        # Paid while submitting (online), or at the desk within the hour of receipt.
        paid = received + timedelta(minutes=rng.uniform(1, 10) if paid_online else rng.uniform(5, 60))
        self._schedule(paid, dossier, "fee_paid", {"payment_channel": "online" if paid_online else "offline"})

    def _plan_rating(self, resolved: datetime, dossier: _Dossier) -> None:
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
        self._schedule(resolved + timedelta(hours=rng.uniform(0.5, 48)), dossier, "rated", {"rating": rating})

    def _dossier_code(self, province: Province, procedure: Procedure, received: datetime) -> str:
        day = received.astimezone(LOCAL_TZ).strftime("%y%m%d")
        key = (province.code, day)
        serial = self._daily_serial.get(key, 0) + 1
        self._daily_serial[key] = serial
        procedure_number = _PROCEDURE_NUMBER[procedure.code]
        return f"H{province.code}.{procedure_number:02d}-{day}-{serial:04d}{self._code_suffix}"

    def _schedule(self, moment: datetime, dossier: _Dossier, event_type: str, extra: Event | None = None) -> None:
        # Ids are numbered at planning time, so a seed gives the same ids whatever the tick length.
        shared = None if extra is None else _EXTRAS.setdefault(tuple(sorted(extra.items())), extra)
        heapq.heappush(self._scheduled, (moment.timestamp(), next(self._serial), dossier, event_type, shared))

    def _materialise(self, entry: _Pending) -> Event:
        moment, serial, dossier, event_type, extra = entry
        return {
            "event_id": f"{self._id_prefix}-{serial:09d}",
            "event_type": event_type,
            "occurred_at": datetime.fromtimestamp(moment, LOCAL_TZ).isoformat(timespec="seconds"),
            **dossier.context(),
            **(extra or {}),
            **({"handler": dossier.handler.as_handler()} if event_type in OFFICIAL_ACTS else {}),
        }

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


_Pending = tuple[float, int, "_Dossier", str, Event | None]
# The few distinct extra-field sets (quality at receipt, payment channel, rating), one object each:
# pending events share them and `_materialise` copies them out.
_EXTRAS: dict[tuple[tuple[str, Any], ...], Event] = {}
_PROCEDURE_NUMBER = {procedure.code: number for number, procedure in enumerate(PROCEDURES, start=1)}


def _split(start: datetime, end: datetime, at: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at `at` when it falls inside, so each part has one sampling rate."""
    if start < at < end:
        return [(start, at), (at, end)]
    return [(start, end)]
