"""``threshold`` and ``rate_of_change``: an indicator of ioc/indicators/definitions.py per place.

Pure: the shell hands over each place's value(s) (from ``ioc.indicators.values.current_values``
for a threshold; from hourly history components for a change) and these decide the signals.

* threshold — the current value compared with each step (``op``, ``threshold``); the furthest
  step crossed gives the severity. A place with no value (None: nothing counted) never signals.
* rate_of_change — the indicator over the last ``window`` against the ``window`` before it, both
  computed from the same hourly history buckets (``window_components`` aggregates them by the
  indicator's kind: flows summed, stocks and states as of the window's last bucket with data).
  ``mode: absolute`` compares current − previous; ``relative`` compares (current − previous) /
  |previous| (a previous value of 0 or None gives no signal). A window of the last hour, against
  the hour before it, on ``overdue_count`` with ``op: ">"`` and ``threshold: 20`` = "twenty more
  overdue dossiers than an hour ago".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from alerts.day_format import format_decimal_en, format_decimal_vi
from alerts.model import Severity, Signal
from alerts.rulebook.spec import Op, RateOfChangeParams, SeverityStep, ThresholdParams
from alerts.rules import format_count_vi, format_percent_en, format_percent_vi
from ioc.indicators.definitions import INDICATORS, Components, Indicator, Temporal, combine

__all__ = ["PlaceChange", "PlaceValue", "rate_of_change_signals", "threshold_signals", "window_components"]

_OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                   "<=": operator.le}  # fmt: skip


@dataclass(frozen=True)
class PlaceValue:
    """One place (province, commune or agency) and the indicator's value there (None: no data)."""

    level: str
    code: str
    name: str
    province_code: str
    value: float | None


@dataclass(frozen=True)
class PlaceChange:
    level: str
    code: str
    name: str
    province_code: str
    previous: float | None
    current: float | None


def crossed(value: float, op: Op, steps: Sequence[SeverityStep]) -> SeverityStep | None:
    """The furthest step ``value`` crosses, or None."""
    hit = None
    for step in steps:
        if _OPS[op](value, step.threshold):
            hit = step
    return hit


def format_value(ind: Indicator, x: float, *, signed: bool = False) -> tuple[str, str]:
    sign = "+" if signed and x > 0 else ""
    if ind.unit == "ratio":
        return sign + format_percent_vi(x), sign + format_percent_en(x)
    if float(x).is_integer():
        return sign + format_count_vi(int(x)), sign + f"{int(x):,}"
    f = Fraction(str(x))
    return sign + format_decimal_vi(f), sign + format_decimal_en(f)


def _labels(level: str, code: str, province_code: str) -> dict[str, str | None]:
    return {
        "province_code": province_code,
        "commune_code": code if level == "commune" else None,
        "agency_code": code if level == "agency" else None,
    }


def threshold_signals(rule_id: str, p: ThresholdParams, values: Iterable[PlaceValue]) -> list[Signal]:
    ind = INDICATORS[p.indicator]
    signals = []
    for v in values:
        if v.value is None:
            continue
        step = crossed(v.value, p.op, p.steps)
        if step is None:
            continue
        value_vi, value_en = format_value(ind, v.value)
        t_vi, t_en = format_value(ind, step.threshold)
        signals.append(
            Signal.for_labels(
                rule_id, step.severity, v.value,
                summary_vi=f"{v.name}: {ind.name_vi} {value_vi} (ngưỡng {p.op} {t_vi})",
                summary_en=f"{v.name}: {ind.name_en} {value_en} (threshold {p.op} {t_en})",
                details={"locality_name": v.name, "indicator": ind.code, "threshold": step.threshold, "op": p.op},
                stream=ind.stream, **_labels(v.level, v.code, v.province_code),
            )
        )  # fmt: skip
    return signals


def window_components(temporal: Temporal, buckets: Sequence[Components]) -> Components:
    """One window's components from its hourly buckets (oldest first)."""
    if temporal == "flow":
        return combine(buckets)
    for bucket in reversed(buckets):
        if any(value is not None for value in bucket.values()):
            return bucket
    return {}


def _window_text(window: timedelta) -> tuple[str, str]:
    hours = int(window.total_seconds() // 3600)
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} ngày", "1 day" if days == 1 else f"{days} days"
    return f"{hours} giờ", "1 hour" if hours == 1 else f"{hours} hours"


def rate_of_change_signals(rule_id: str, p: RateOfChangeParams, changes: Iterable[PlaceChange]) -> list[Signal]:
    ind = INDICATORS[p.indicator]
    window_vi, window_en = _window_text(p.window)
    signals = []
    for c in changes:
        if c.previous is None or c.current is None:
            continue
        delta = c.current - c.previous
        if p.mode == "relative":
            if c.previous == 0:
                continue
            delta = delta / abs(c.previous)
        step = crossed(delta, p.op, p.steps)
        if step is None:
            continue
        if p.mode == "relative":
            d_vi, d_en = format_percent_vi(delta), format_percent_en(delta)
            d_vi, d_en = ("+" if delta > 0 else "") + d_vi, ("+" if delta > 0 else "") + d_en
        else:
            d_vi, d_en = format_value(ind, delta, signed=True)
        prev_vi, prev_en = format_value(ind, c.previous)
        cur_vi, cur_en = format_value(ind, c.current)
        signals.append(
            Signal.for_labels(
                rule_id, step.severity if isinstance(step.severity, Severity) else Severity(step.severity), delta,
                summary_vi=f"{c.name}: {ind.name_vi} thay đổi {d_vi} trong {window_vi} qua "
                f"({prev_vi} → {cur_vi})",
                summary_en=f"{c.name}: {ind.name_en} changed by {d_en} over the last {window_en} "
                f"({prev_en} → {cur_en})",
                details={"locality_name": c.name, "indicator": ind.code, "previous": c.previous,
                         "current": c.current, "mode": p.mode, "threshold": step.threshold,
                         "window_seconds": int(p.window.total_seconds())},
                stream=ind.stream, **_labels(c.level, c.code, c.province_code),
            )
        )  # fmt: skip
    return signals
