"""The shell's reads for the payout and ID-issuance rules: SQL in, observations, then signals.

National, like the rest of the engine: alerts are raised for every locality and scoped only when
read. Each reader takes the calendar and ``now`` from the caller and returns the rule's signals,
so ``alerts.shell`` only has to pass the rule on.

Which rows are looked at:

* payouts — for each locality (a commune, or '' for a province-wide report) and programme, its
  latest cycle that has opened by today (``payout_cycle`` holds each cycle's latest report).
  Once the next month's cycle is reported the old one leaves the rules and its alert resolves:
  the unpaid remainder of an old cycle is the next cycle's arrears, not a standing emergency.
* ID issuance — each target in ``id_target`` against the stocks of the same locality (a
  province target against the province's own '' reports, as the reports define them) on the
  latest day reported up to today, within the indicators' look-back (``ID_LOOKBACK_DAYS``: a
  locality silent for longer has no current figure to judge, on the map or here); level-2
  activations summed over the rule's pace window ending on that day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.day_format import local_day
from alerts.model import Signal
from alerts.rules_id import (
    CccdCoverage,
    CccdCoverageRule,
    L2PaceRule,
    L2Progress,
    cccd_coverage_signals,
    l2_pace_signals,
)
from alerts.rules_payout import (
    CashlessShareRule,
    PayoutBehindScheduleRule,
    PayoutCycle,
    WorkingSpan,
    cashless_share_signals,
    payout_behind_schedule_signals,
)
from ioc.db.pool import Conn
from ioc.indicators.stream_state import ID_LOOKBACK_DAYS

__all__ = [
    "SELECT_CCCD_COVERAGE",
    "SELECT_CURRENT_PAYOUT_CYCLES",
    "SELECT_L2_PROGRESS",
    "StreamRule",
    "default_stream_rules",
    "stream_rule_hold",
    "stream_rule_signals",
]

StreamRule = PayoutBehindScheduleRule | CashlessShareRule | CccdCoverageRule | L2PaceRule
STREAM_RULE_TYPES = (PayoutBehindScheduleRule, CashlessShareRule, CccdCoverageRule, L2PaceRule)

SELECT_CURRENT_PAYOUT_CYCLES = """
SELECT DISTINCT ON (c.province_code, c.commune_code, c.programme_code)
       c.province_code, nullif(c.commune_code, ''), coalesce(lc.name, lp.name, c.province_code),
       c.programme_code, pr.name_vi, c.cycle_month, c.beneficiaries_due, c.paid_total,
       c.paid_bank + c.paid_card + c.paid_ewallet, pr.cashless_target::float8, c.cycle_opens_on, c.deadline
FROM payout_cycle c
JOIN payout_programme pr ON pr.code = c.programme_code
LEFT JOIN locality lp ON lp.code = c.province_code
LEFT JOIN locality lc ON lc.code = nullif(c.commune_code, '')
WHERE c.cycle_opens_on <= %(today)s AND pr.active
ORDER BY c.province_code, c.commune_code, c.programme_code, c.cycle_month DESC
"""

_LATEST_STOCK = """
SELECT DISTINCT ON (d.province_code, d.commune_code) d.province_code, d.commune_code, d.day,
       d.eligible_population, d.cccd_issued_total, d.l2_activated_total
FROM id_issuance_daily d
WHERE d.day <= %(today)s AND d.day > %(today)s - %(lookback)s::int
ORDER BY d.province_code, d.commune_code, d.day DESC
"""

SELECT_CCCD_COVERAGE = f"""
WITH stock AS ({_LATEST_STOCK})
SELECT t.province_code, nullif(t.commune_code, ''), coalesce(lc.name, lp.name, t.province_code),
       s.eligible_population, s.cccd_issued_total, t.target_value::float8, t.start_date, t.deadline
FROM id_target t
JOIN stock s ON s.province_code = t.province_code AND s.commune_code = t.commune_code
LEFT JOIN locality lp ON lp.code = t.province_code
LEFT JOIN locality lc ON lc.code = nullif(t.commune_code, '')
WHERE t.metric = 'cccd_coverage' AND t.target_value > 0
ORDER BY t.province_code, t.commune_code
"""

SELECT_L2_PROGRESS = f"""
WITH stock AS ({_LATEST_STOCK})
SELECT t.province_code, nullif(t.commune_code, ''), coalesce(lc.name, lp.name, t.province_code), s.day,
       s.l2_activated_total,
       (SELECT coalesce(sum(d.l2_activated), 0) FROM id_issuance_daily d
        WHERE d.province_code = t.province_code AND d.commune_code = t.commune_code
          AND d.day > s.day - %(pace_days)s AND d.day <= s.day),
       ceil(t.target_value)::bigint, t.start_date, t.deadline
FROM id_target t
JOIN stock s ON s.province_code = t.province_code AND s.commune_code = t.commune_code
LEFT JOIN locality lp ON lp.code = t.province_code
LEFT JOIN locality lc ON lc.code = nullif(t.commune_code, '')
WHERE t.metric = 'vneid_l2_activated' AND t.target_value >= 1
ORDER BY t.province_code, t.commune_code
"""


def default_stream_rules() -> tuple[PayoutBehindScheduleRule, CashlessShareRule, CccdCoverageRule, L2PaceRule]:
    return (PayoutBehindScheduleRule(), CashlessShareRule(), CccdCoverageRule(), L2PaceRule())


def stream_rule_hold(rule: StreamRule) -> timedelta:
    return rule.hold


async def stream_rule_signals(conn: Conn, rule: StreamRule, now: datetime, calendar: WorkingSpan) -> list[Signal]:
    today = local_day(now)
    lookback = ID_LOOKBACK_DAYS
    if isinstance(rule, PayoutBehindScheduleRule | CashlessShareRule):
        cur = await conn.execute(SELECT_CURRENT_PAYOUT_CYCLES, {"today": today})
        cycles = [PayoutCycle(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]
        if isinstance(rule, PayoutBehindScheduleRule):
            return payout_behind_schedule_signals(rule, cycles, now, calendar)
        return cashless_share_signals(rule, cycles)
    if isinstance(rule, CccdCoverageRule):
        cur = await conn.execute(SELECT_CCCD_COVERAGE, {"today": today, "lookback": lookback})
        return cccd_coverage_signals(rule, [CccdCoverage(*row) for row in await cur.fetchall()], now)  # type: ignore[arg-type]
    # The recent pace is summed over pace_window(as_of): the pace_days ending on each locality's as-of day.
    cur = await conn.execute(SELECT_L2_PROGRESS, {"today": today, "lookback": lookback, "pace_days": rule.pace_days})
    return l2_pace_signals(rule, [L2Progress(*row) for row in await cur.fetchall()], now)  # type: ignore[arg-type]
