"""Simulated social-security payout cycles, as items of the payout push API (pure: no I/O, no clock).

Scales, from the domain brief (/work/shared/domain/brief.md, 2b and 3.5):
- Hà Nội's October-2024 cycle paid 291,638 beneficiaries more than 343 billion VND, about
  1.18 million VND each. The brief's figure covers the two programmes of the labour and social
  affairs sector (people with meritorious service and social-protection beneficiaries); the split
  between them is an assumption: 87,500 at about 2.2 M VND (allowances for meritorious service
  are the larger ones) and 204,138 at about 0.74 M VND, i.e. 192.5 + 151.1 = 343.6 billion VND.
- Other provinces scale by population (ingest/simulator/catalogue.py), ± 8 %.
- Cashless shares of 60–75 % (Bình Dương reported "71 %", denominator unclear; 66–69 % are the
  ratios its counts allow).
- The seeds give no failure figures and no payout dates; assumed here: a few per thousand fail
  (wrong account, deceased, unreachable, moved) and most are paid in the first ten days, bank
  transfers within a day or two and cash at the post office over a week or so.
- Pensions (lương hưu) are not in the seeds. [General knowledge, approximate] about 3.3 million
  people draw monthly pensions and social-insurance allowances, about 6 M VND on average; that
  is spread by population share, so Hà Nội gets about 255,000.

A report is a cumulative snapshot of a cycle "as of" its reported_at; the simulator reports every
cycle of the current month at every full hour of office time (07:00–18:00 local). Like the
dossier simulator, its clock starts `backfill` before the first `now` and runs `time_scale`
times faster than wall time until it has caught up, then follows `now`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ingest.simulator.catalogue import PROVINCE_POPULATION, Province, load_provinces
from ingest.simulator.clock import SimClock

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HANOI = "01"
Item = dict[str, Any]
# Shares of cashless payments by means, and of failures by reason (assumed; see above).
CASHLESS_MEANS = (("paid_bank", 0.70), ("paid_card", 0.22), ("paid_ewallet", 0.08))
FAILURE_MIX = (("wrong_account", 0.45), ("unreachable", 0.25), ("moved", 0.18), ("deceased", 0.12))
OFFICE_HOURS = range(7, 19)  # reports at 07:00 … 18:00 local


@dataclass(frozen=True)
class ProgrammeProfile:
    code: str
    hanoi_beneficiaries: int  # per monthly cycle; other provinces scale by population
    mean_amount_vnd: int
    deadline_day: int  # of the cycle's month
    cashless_share: tuple[float, float]  # range across provinces
    failure_share: float  # of beneficiaries due, by the end of the month
    unreached_share: float  # neither paid nor failed by the end of the month
    cash_days: float  # time constant of cash payouts (post office), days
    cashless_days: float  # time constant of bank transfers, days


PROFILES: tuple[ProgrammeProfile, ...] = (
    ProgrammeProfile("nguoi_co_cong", 87_500, 2_200_000, 10, (0.62, 0.74), 0.004, 0.002, 3.5, 1.2),
    ProgrammeProfile("bao_tro_xa_hoi", 204_138, 740_000, 10, (0.60, 0.72), 0.006, 0.003, 4.0, 1.5),
    ProgrammeProfile("luong_huu", 255_000, 6_000_000, 14, (0.65, 0.74), 0.002, 0.001, 4.0, 1.0),
)


@dataclass(frozen=True)
class PayoutSimulatorSettings:
    seed: int = 1
    time_scale: float = 3600.0  # simulated seconds per real second while catching up
    backfill: timedelta = timedelta(days=7)
    level: Literal["province", "commune"] = "province"
    programmes: tuple[ProgrammeProfile, ...] = PROFILES
    record_id_prefix: str = "sim-payout"
    run_tag: str = ""  # as for dossiers: a restarted demo must not look like resends


@dataclass(frozen=True)
class CyclePlan:
    """How one cycle of one programme in one place will go, decided when first reported."""

    province_code: str
    commune_code: str  # '' for a province-level report
    programme: ProgrammeProfile
    cycle_month: date
    beneficiaries_due: int
    mean_amount_vnd: int
    cashless: int  # paid cashless by the end of the month
    cash: int
    failures: tuple[tuple[str, int], ...]

    @property
    def deadline(self) -> date:
        return self.cycle_month.replace(day=self.programme.deadline_day)

    def opens_at(self) -> datetime:
        return datetime.combine(self.cycle_month, datetime.min.time(), LOCAL_TZ).replace(hour=7)


def split(total: int, weights: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """`total` shared by weight, largest remainders first, so the parts add up exactly."""
    whole = sum(w for _, w in weights)
    exact = [(name, total * w / whole) for name, w in weights]
    parts = {name: math.floor(x) for name, x in exact}
    left = total - sum(parts.values())
    for name, _ in sorted(exact, key=lambda pair: pair[1] - math.floor(pair[1]), reverse=True)[:left]:
        parts[name] += 1
    return parts


def _progress(days: float, time_constant: float) -> float:
    return 0.0 if days <= 0 else 1.0 - math.exp(-days / time_constant)


def cycle_state(plan: CyclePlan, moment: datetime) -> dict[str, int | dict[str, int]]:
    """The cycle's cumulative numbers as of `moment`: never decreasing, always consistent."""
    days = (moment - plan.opens_at()).total_seconds() / 86_400
    profile = plan.programme
    cashless = math.floor(plan.cashless * _progress(days, profile.cashless_days))
    cash = math.floor(plan.cash * _progress(days, profile.cash_days))
    failed_total = sum(n for _, n in plan.failures)
    failed = math.floor(failed_total * _progress(days, 5.0))
    paid = cashless + cash
    return {
        "beneficiaries_due": plan.beneficiaries_due, "paid_total": paid, **split(cashless, CASHLESS_MEANS),
        "paid_cash": cash, "failed": failed,
        "failures": {k: v for k, v in split(failed, plan.failures).items() if v} if failed else {},
        "amount_due_vnd": plan.beneficiaries_due * plan.mean_amount_vnd, "amount_paid_vnd": paid * plan.mean_amount_vnd,
    }  # fmt: skip


@cache
def _population_ratio(province_code: str) -> float:
    return PROVINCE_POPULATION.get(province_code, 1_000_000) / PROVINCE_POPULATION[HANOI]


def plan_cycle(seed: int, province: Province, commune_code: str, share: float, profile: ProgrammeProfile,
               cycle_month: date) -> CyclePlan:  # fmt: skip
    """Deterministic per seed, place, programme and month; `share` is the commune's part of its
    province (1.0 for a province-level report)."""
    rng = random.Random(f"{seed}/{province.code}/{commune_code}/{profile.code}/{cycle_month.isoformat()}")
    province_rng = random.Random(f"{seed}/{province.code}/{profile.code}")  # steady from month to month
    jitter = 1.0 if province.code == HANOI else province_rng.uniform(0.92, 1.08)
    due = round(profile.hanoi_beneficiaries * _population_ratio(province.code) * jitter * share)
    amount = profile.mean_amount_vnd if province.code == HANOI else round(
        profile.mean_amount_vnd * province_rng.uniform(0.95, 1.05), -3)  # fmt: skip
    failed = round(due * profile.failure_share * rng.uniform(0.5, 1.5))
    unreached = round(due * profile.unreached_share * rng.uniform(0.5, 1.5))
    payable = max(0, due - failed - unreached)
    low, high = profile.cashless_share
    cashless = round(payable * min(high, max(low, province_rng.uniform(low, high) + rng.uniform(-0.01, 0.01))))
    return CyclePlan(
        province.code, commune_code, profile, cycle_month, due, int(amount), cashless, payable - cashless,
        tuple(split(failed, FAILURE_MIX).items()),
    )  # fmt: skip


class PayoutSimulator:
    """Call `advance` with the real seconds elapsed and the real `now`; get the reports due."""

    def __init__(
        self, settings: PayoutSimulatorSettings, now: datetime, provinces: tuple[Province, ...] | None = None
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._settings = settings
        self._provinces = provinces or load_provinces()
        # The dossier simulator's clock (clock.py): start + time_scale × elapsed, never past now.
        self._clock_model = SimClock.replaying(now, settings.backfill, settings.time_scale)
        self._clock = self._clock_model.start
        self._elapsed = 0.0
        self._plans: dict[tuple[str, str, str, date], CyclePlan] = {}
        self._shares = self._commune_shares() if settings.level == "commune" else {}
        tag = f"-{settings.run_tag}" if settings.run_tag else ""
        self._id_prefix = f"{settings.record_id_prefix}-{settings.seed}{tag}"

    @property
    def clock(self) -> datetime:
        return self._clock

    def advance(self, real_seconds: float, now: datetime) -> list[Item]:
        """Move the simulated clock on; every report instant passed on the way gives a snapshot."""
        start = self._clock
        self._elapsed += max(real_seconds, 0.0)
        end = max(start, self._clock_model.reading(self._elapsed, now))
        self._clock = end
        items: list[Item] = []
        for moment in report_instants(start, end):
            items += self.snapshot(moment)
        return items

    def snapshot(self, moment: datetime) -> list[Item]:
        """Every cycle of `moment`'s month, as of `moment` (cycles not yet open are not reported)."""
        local = moment.astimezone(LOCAL_TZ)
        cycle_month = local.date().replace(day=1)
        items: list[Item] = []
        for province in self._provinces:
            places = self._shares.get(province.code, (("", 1.0),))
            for profile in self._settings.programmes:
                for commune_code, share in places:
                    plan = self._plan(province, commune_code, share, profile, cycle_month)
                    if moment >= plan.opens_at():
                        items.append(self._item(plan, local))
        return items

    def _plan(self, province: Province, commune_code: str, share: float, profile: ProgrammeProfile,
              cycle_month: date) -> CyclePlan:  # fmt: skip
        key = (province.code, commune_code, profile.code, cycle_month)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_cycle(self._settings.seed, province, commune_code, share, profile,
                                                 cycle_month)  # fmt: skip
        return plan

    def _item(self, plan: CyclePlan, local: datetime) -> Item:
        place = plan.commune_code or plan.province_code
        return {
            "record_id": f"{self._id_prefix}-{place}-{plan.programme.code}-{local:%Y%m%d%H%M}",
            "locality": {"commune_code": plan.commune_code} if plan.commune_code
            else {"province_code": plan.province_code},
            "programme": plan.programme.code, "cycle": plan.cycle_month.strftime("%Y-%m"),
            "cycle_opens_on": plan.cycle_month.isoformat(), "deadline": plan.deadline.isoformat(),
            "reported_at": local.isoformat(), **cycle_state(plan, local),
        }  # fmt: skip

    def _commune_shares(self) -> dict[str, tuple[tuple[str, float], ...]]:
        """Each commune's steady part of its province's beneficiaries (populations differ)."""
        out = {}
        for province in self._provinces:
            rng = random.Random(f"{self._settings.seed}/communes/{province.code}")
            weights = [rng.uniform(0.5, 1.5) for _ in province.communes]
            total = sum(weights)
            out[province.code] = tuple((c.code, w / total) for c, w in zip(province.communes, weights, strict=True))
        return out


def report_instants(start: datetime, end: datetime) -> list[datetime]:
    """The full office hours in (start, end], local time."""
    local = start.astimezone(LOCAL_TZ).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    out = []
    while local <= end:
        if local.hour in OFFICE_HOURS:
            out.append(local)
        local += timedelta(hours=1)
    return out
