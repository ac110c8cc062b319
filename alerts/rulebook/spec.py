"""Rule specs as data: one frozen dataclass per kind, parsed from a dict (JSON/YAML) and back.

A spec is the envelope every rule shares (``RuleSpec``: id, hold, keep-firing, flap damping, extra
labels, summary templates, enabled) around the parameters of its kind (``*Params``). Parsing
collects *every* problem before failing, each with the field's path and what was expected
(Vietnamese, then English); ``rule_to_json`` writes the canonical form, and
``parse_rule(rule_to_json(s)) == s``.

The flat JSON shape (kind parameters beside the common fields)::

    {"id": "overdue", "kind": "overdue", "enabled": true, "for": "0s", "keep_firing_for": "0s",
     "flap_damping": {"window": "1h", "max_changes": 4}, "labels": {}, "summary_vi": null,
     "summary_en": null, "description": "", "max_new_alerts": null,
     "steps": [{"days_late": 0, "severity": "critical"}],
     "pre_due_working_days": 0, "pre_due_severity": "warning", "pre_due_min_count": 1}

Kinds (see alerts/rulebook/README.md for what each evaluates): threshold, rate_of_change,
silent_source, overdue, late_without_apology, on_time_rate, payout_behind_schedule,
cashless_share, cccd_coverage, target_pace, appointment_beyond_statutory.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Literal, TypeVar

from alerts.model import Severity
from alerts.rulebook.durations import DurationError, format_duration, parse_duration
from alerts.rulebook.errors import FieldError, RuleSpecError
from alerts.rulebook.templates import TemplateError, check_template
from ioc.indicators.definitions import INDICATORS

__all__ = [
    "KINDS",
    "RESERVED_LABELS",
    "AppointmentBeyondStatutoryParams",
    "CashlessShareParams",
    "CccdCoverageParams",
    "FlapDamping",
    "LateStep",
    "LateWithoutApologyParams",
    "OnTimeRateParams",
    "Op",
    "OverdueParams",
    "PayoutBehindScheduleParams",
    "RateOfChangeParams",
    "RuleParams",
    "RuleSpec",
    "SeverityStep",
    "SilentSourceParams",
    "TargetPaceParams",
    "ThresholdParams",
    "parse_rule",
    "rule_to_json",
]

Op = Literal[">", ">=", "<", "<="]
Level = Literal["province", "commune", "agency"]
SourceStream = Literal["dossier", "payout", "id_issuance"]
OPS: tuple[Op, ...] = (">", ">=", "<", "<=")
LEVELS: tuple[Level, ...] = ("province", "commune", "agency")
SOURCE_STREAMS: tuple[SourceStream, ...] = ("dossier", "payout", "id_issuance")
RULE_ID = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
LABEL_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Labels the engine sets itself; a rule may not override them.
RESERVED_LABELS = frozenset(
    {"rule", "severity", "province_code", "commune_code", "agency_code", "sector", "stream", "phase", "guard"}
)
_SEVERITIES = ", ".join(s.value for s in Severity)
_ZERO = timedelta(0)
MAX_STEPS = 10


# --------------------------------------------------------------------------- parameters per kind


@dataclass(frozen=True)
class SeverityStep:
    """Crossing ``threshold`` (in the rule's direction) gives ``severity``; the furthest step wins."""

    threshold: float
    severity: Severity


@dataclass(frozen=True)
class LateStep:
    """From ``days_late`` working days past the due time on, an overdue series has ``severity``."""

    days_late: int
    severity: Severity


@dataclass(frozen=True)
class FlapDamping:
    """More than ``max_changes`` state changes within ``window`` marks the series as flapping."""

    window: timedelta = timedelta(hours=1)
    max_changes: int = 4


@dataclass(frozen=True)
class ThresholdParams:
    """An indicator's current value per place compared with thresholds."""

    indicator: str
    op: Op
    steps: tuple[SeverityStep, ...]
    level: Level = "province"


@dataclass(frozen=True)
class RateOfChangeParams:
    """An indicator over the last ``window`` against the window before it (hourly history)."""

    indicator: str
    window: timedelta
    op: Op
    steps: tuple[SeverityStep, ...]
    mode: Literal["absolute", "relative"] = "absolute"
    level: Literal["province", "commune"] = "province"


@dataclass(frozen=True)
class SilentSourceParams:
    """No data of ``stream`` from a province for ``silent_for`` of working time."""

    stream: SourceStream
    silent_for: timedelta
    severity: Severity = Severity.WARNING
    # Only provinces heard from within this (calendar) look-back are watched: a province that
    # never sent anything is not "silent", it is not connected.
    lookback: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class OverdueParams:
    """Overdue dossiers with severity escalating by working days late, and pre-due warnings."""

    steps: tuple[LateStep, ...] = (LateStep(0, Severity.CRITICAL),)
    pre_due_working_days: int = 0
    pre_due_severity: Severity = Severity.WARNING
    # Dossiers due soon are information (counted on the map and tables), not an alarm: a pre-due
    # series signals only where an agency has at least this many due within the horizon.
    pre_due_min_count: int = 1


@dataclass(frozen=True)
class LateWithoutApologyParams:
    after_working_days: int = 1
    severity: Severity = Severity.WARNING


@dataclass(frozen=True)
class OnTimeRateParams:
    target: float = 0.90
    window: timedelta = timedelta(days=7)
    min_resolved: int = 20
    severity: Severity = Severity.WARNING


@dataclass(frozen=True)
class PayoutBehindScheduleParams:
    lag: float = 0.10


@dataclass(frozen=True)
class CashlessShareParams:
    min_paid: int = 20
    severity: Severity = Severity.WARNING


@dataclass(frozen=True)
class CccdCoverageParams:
    pass


@dataclass(frozen=True)
class TargetPaceParams:
    pace_days: int = 7


@dataclass(frozen=True)
class AppointmentBeyondStatutoryParams:
    """Open dossiers whose appointment (the source's slip) is later than the statutory deadline:
    one series per agency with at least ``min_count`` of them."""

    min_count: int = 1
    severity: Severity = Severity.WARNING


RuleParams = (
    ThresholdParams | RateOfChangeParams | SilentSourceParams | OverdueParams | LateWithoutApologyParams
    | OnTimeRateParams | PayoutBehindScheduleParams | CashlessShareParams | CccdCoverageParams | TargetPaceParams
    | AppointmentBeyondStatutoryParams
)  # fmt: skip

KINDS: dict[str, type[Any]] = {
    "threshold": ThresholdParams,
    "rate_of_change": RateOfChangeParams,
    "silent_source": SilentSourceParams,
    "overdue": OverdueParams,
    "late_without_apology": LateWithoutApologyParams,
    "on_time_rate": OnTimeRateParams,
    "payout_behind_schedule": PayoutBehindScheduleParams,
    "cashless_share": CashlessShareParams,
    "cccd_coverage": CccdCoverageParams,
    "target_pace": TargetPaceParams,
    "appointment_beyond_statutory": AppointmentBeyondStatutoryParams,
}
_KIND_OF = {cls: kind for kind, cls in KINDS.items()}


@dataclass(frozen=True)
class RuleSpec:
    id: str
    params: RuleParams
    hold: timedelta = _ZERO  # "for"
    keep_firing_for: timedelta = _ZERO
    flap_damping: FlapDamping | None = FlapDamping()
    labels: tuple[tuple[str, str], ...] = ()
    summary_vi: str | None = None
    summary_en: str | None = None
    description: str = ""
    enabled: bool = True
    # Cardinality guard: the most alerts this rule may open in one round (None: the engine's
    # default, alerts.engine.DEFAULT_MAX_NEW_ALERTS); above it one summary alert opens instead.
    max_new_alerts: int | None = None

    @property
    def kind(self) -> str:
        return _KIND_OF[type(self.params)]

    @property
    def streams(self) -> frozenset[str]:
        """The data streams this rule reads (for evaluating after one stream's ingest)."""
        p = self.params
        if isinstance(p, ThresholdParams | RateOfChangeParams):
            return frozenset({INDICATORS[p.indicator].stream})
        if isinstance(p, SilentSourceParams):
            return frozenset({p.stream})
        if isinstance(p, PayoutBehindScheduleParams | CashlessShareParams):
            return frozenset({"payout"})
        if isinstance(p, CccdCoverageParams | TargetPaceParams):
            return frozenset({"id_issuance"})
        return frozenset({"dossier"})


# --------------------------------------------------------------------------- parsing

T = TypeVar("T")


class _Reader:
    """Reads fields off one mapping, recording every error under ``path`` instead of stopping."""

    def __init__(self, data: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        self.data = data
        self.path = path
        self.errors = errors
        self.used: set[str] = set()

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, vi: str, en: str) -> None:
        self.errors.append(FieldError(self.at(name), vi, en))

    def get(self, name: str, default: T, convert: Callable[[Any], T], vi: str, en: str, required: bool = False) -> T:
        self.used.add(name)
        if name not in self.data or (self.data[name] is None and not required):
            if required:
                self.fail(name, f"bắt buộc: {vi}", f"required: {en}")
            return default
        try:
            return convert(self.data[name])
        except (TypeError, ValueError, KeyError):
            self.fail(name, vi, en)
            return default

    def finish(self) -> None:
        for extra in sorted(set(self.data) - self.used, key=str):
            self.errors.append(FieldError(self.at(str(extra)), "trường không được hỗ trợ", "unknown field"))


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError
        return v

    return convert


def _number(lo: float, hi: float, *, open_low: bool = False, open_high: bool = False) -> Callable[[Any], float]:
    def convert(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError
        x = float(v)
        if x < lo or x > hi or (open_low and x == lo) or (open_high and x == hi):
            raise ValueError
        return x

    return convert


def _choice(options: tuple[str, ...]) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if v not in options:
            raise ValueError
        return v

    return convert


def _severity(v: Any) -> Severity:
    return Severity(v)


def _duration(lo: timedelta, hi: timedelta) -> Callable[[Any], timedelta]:
    def convert(v: Any) -> timedelta:
        try:
            d = parse_duration(v)
        except DurationError as exc:
            raise ValueError from exc
        if not lo <= d <= hi:
            raise ValueError
        return d

    return convert


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError
    return v


def _text(max_len: int) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if not isinstance(v, str) or len(v) > max_len or "\x00" in v:
            raise ValueError
        return v

    return convert


_DUR_VI = "khoảng thời gian như '90s', '15m', '2h', '1d', '1h30m' hoặc số giây"
_DUR_EN = "a duration like '90s', '15m', '2h', '1d', '1h30m' or whole seconds"


def _dur_msg(lo: str, hi: str) -> tuple[str, str]:
    return f"{_DUR_VI}, từ {lo} đến {hi}", f"{_DUR_EN}, from {lo} to {hi}"


def _list(r: _Reader, name: str, required: bool = False) -> list[tuple[str, Mapping[str, Any]]]:
    r.used.add(name)
    raw = r.data.get(name)
    if raw is None:
        if required:
            r.fail(name, "bắt buộc: danh sách bậc", "required: a list of steps")
        return []
    if not isinstance(raw, list) or len(raw) > MAX_STEPS:
        r.fail(name, f"danh sách tối đa {MAX_STEPS} phần tử", f"a list of at most {MAX_STEPS} items")
        return []
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            r.errors.append(FieldError(f"{r.at(name)}[{i}]", "một đối tượng", "an object"))
        else:
            out.append((f"{r.at(name)}[{i}]", item))
    return out


def _severity_steps(r: _Reader, op: Op | None) -> tuple[SeverityStep, ...]:
    """Either ``steps: [{threshold, severity}]`` or the shorthand ``threshold`` + ``severity``."""
    steps: list[SeverityStep] = []
    if "steps" in r.data:
        if "threshold" in r.data:
            r.fail(
                "threshold", "dùng 'threshold' hoặc 'steps', không dùng cả hai", "use 'threshold' or 'steps', not both"
            )
        for path, item in _list(r, "steps", required=True):
            s = _Reader(item, path, r.errors)
            t = s.get("threshold", 0.0, _number(-1e15, 1e15), "một số", "a number", required=True)
            sev = s.get("severity", Severity.WARNING, _severity, f"một trong {_SEVERITIES}", f"one of {_SEVERITIES}")
            s.finish()
            steps.append(SeverityStep(t, sev))
        if not steps and "steps" in r.data and isinstance(r.data["steps"], list):
            r.fail("steps", "ít nhất một bậc", "at least one step")
    else:
        t = r.get("threshold", 0.0, _number(-1e15, 1e15), "một số (ngưỡng)", "a number (the threshold)", required=True)
        sev = r.get("severity", Severity.WARNING, _severity, f"một trong {_SEVERITIES}", f"one of {_SEVERITIES}")
        steps.append(SeverityStep(t, sev))
    if op is not None and len(steps) > 1:
        # Steps must grow in the direction of the comparison, each with a severity at least as high.
        rising = op in (">", ">=")
        order = [Severity.INFO, Severity.WARNING, Severity.CRITICAL]
        for a, b in itertools.pairwise(steps):
            further = b.threshold > a.threshold if rising else b.threshold < a.threshold
            if not further or order.index(b.severity) < order.index(a.severity):
                r.fail(
                    "steps",
                    f"các bậc xếp theo chiều '{op}', ngưỡng tăng dần độ nghiêm trọng không giảm",
                    f"steps ordered in the direction of '{op}', with non-decreasing severity",
                )
                break
    return tuple(steps)


def _indicator(v: Any) -> str:
    if v not in INDICATORS:
        raise ValueError
    return str(v)


_IND_VI = "mã chỉ số trong ioc/indicators/definitions.py"
_IND_EN = "an indicator code from ioc/indicators/definitions.py"
_OP_VI, _OP_EN = "một trong >, >=, <, <=", "one of >, >=, <, <="


def _parse_params(kind: str, r: _Reader) -> RuleParams:
    sev_vi, sev_en = f"một trong {_SEVERITIES}", f"one of {_SEVERITIES}"
    if kind == "threshold":
        indicator = r.get("indicator", "on_time_rate", _indicator, _IND_VI, _IND_EN, required=True)
        op: Op = r.get("op", ">", _choice(OPS), _OP_VI, _OP_EN, required=True)
        level: Level = r.get("level", "province", _choice(LEVELS), "province, commune hoặc agency",
                      "province, commune or agency")  # fmt: skip
        if level == "agency" and INDICATORS.get(indicator) and INDICATORS[indicator].stream != "dossier":
            r.fail("level", "cấp cơ quan chỉ có chỉ số hồ sơ", "agency level has dossier indicators only")
        return ThresholdParams(indicator, op, _severity_steps(r, op), level)
    if kind == "rate_of_change":
        indicator = r.get("indicator", "on_time_rate", _indicator, _IND_VI, _IND_EN, required=True)
        vi, en = _dur_msg("1h", "7d (số giờ chẵn)")
        window = r.get("window", timedelta(hours=1), _whole_hours(timedelta(hours=1), timedelta(days=7)), vi,
                       en.replace("(số giờ chẵn)", "(whole hours)"), required=True)  # fmt: skip
        op = r.get("op", ">", _choice(OPS), _OP_VI, _OP_EN, required=True)
        mode: Literal["absolute", "relative"] = r.get(
            "mode", "absolute", _choice(("absolute", "relative")), "absolute hoặc relative", "absolute or relative"
        )
        roc_level: Literal["province", "commune"] = r.get(
            "level", "province", _choice(("province", "commune")), "province hoặc commune", "province or commune"
        )
        return RateOfChangeParams(indicator, window, op, _severity_steps(r, op), mode, roc_level)
    if kind == "silent_source":
        stream: SourceStream = r.get("stream", "dossier", _choice(SOURCE_STREAMS), "dossier, payout hoặc id_issuance",
                       "dossier, payout or id_issuance", required=True)  # fmt: skip
        vi, en = _dur_msg("1m", "30d")
        silent_for = r.get("silent_for", timedelta(hours=2), _duration(timedelta(minutes=1), timedelta(days=30)),
                           vi + " (giờ làm việc)", en + " (working time)", required=True)  # fmt: skip
        severity = r.get("severity", Severity.WARNING, _severity, sev_vi, sev_en)
        vi, en = _dur_msg("1d", "90d")
        lookback = r.get("lookback", timedelta(days=14), _duration(timedelta(days=1), timedelta(days=90)), vi, en)
        return SilentSourceParams(stream, silent_for, severity, lookback)
    if kind == "overdue":
        steps: list[LateStep] = []
        if "steps" in r.data:
            for path, item in _list(r, "steps"):
                s = _Reader(item, path, r.errors)
                days = s.get("days_late", 0, _int(0, 365), "số ngày làm việc trễ, 0–365",
                             "working days late, 0–365", required=True)  # fmt: skip
                sev = s.get("severity", Severity.CRITICAL, _severity, sev_vi, sev_en, required=True)
                s.finish()
                steps.append(LateStep(days, sev))
            if any(b.days_late <= a.days_late for a, b in itertools.pairwise(steps)):
                r.fail("steps", "days_late tăng dần", "days_late strictly increasing")
        else:
            steps = [LateStep(0, Severity.CRITICAL)]
        pre_due = r.get("pre_due_working_days", 0, _int(0, 30), "số ngày làm việc, 0–30", "working days, 0–30")
        pre_sev = r.get("pre_due_severity", Severity.WARNING, _severity, sev_vi, sev_en)
        pre_min = r.get("pre_due_min_count", 1, _int(1, 1_000_000), "số hồ sơ tối thiểu mỗi cơ quan, >= 1",
                        "the least dossiers per agency, >= 1")  # fmt: skip
        if not steps and pre_due == 0:
            r.fail("steps", "ít nhất một bậc, hoặc pre_due_working_days > 0",
                   "at least one step, or pre_due_working_days > 0")  # fmt: skip
        return OverdueParams(tuple(steps), pre_due, pre_sev, pre_min)
    if kind == "late_without_apology":
        after = r.get("after_working_days", 1, _int(0, 30), "số ngày làm việc, 0–30", "working days, 0–30")
        return LateWithoutApologyParams(after, r.get("severity", Severity.WARNING, _severity, sev_vi, sev_en))
    if kind == "on_time_rate":
        target = r.get("target", 0.9, _number(0, 1, open_low=True), "tỷ lệ trong (0, 1]", "a share in (0, 1]")
        vi, en = _dur_msg("1h", "90d")
        window = r.get("window", timedelta(days=7), _duration(timedelta(hours=1), timedelta(days=90)), vi, en)
        min_resolved = r.get("min_resolved", 20, _int(1, 1_000_000), "số nguyên >= 1", "an integer >= 1")
        severity = r.get("severity", Severity.WARNING, _severity, sev_vi, sev_en)
        return OnTimeRateParams(target, window, min_resolved, severity)
    if kind == "payout_behind_schedule":
        return PayoutBehindScheduleParams(
            r.get("lag", 0.10, _number(0, 1, open_high=True), "tỷ lệ trong [0, 1)", "a share in [0, 1)")
        )
    if kind == "cashless_share":
        min_paid = r.get("min_paid", 20, _int(1, 1_000_000), "số nguyên >= 1", "an integer >= 1")
        return CashlessShareParams(min_paid, r.get("severity", Severity.WARNING, _severity, sev_vi, sev_en))
    if kind == "cccd_coverage":
        return CccdCoverageParams()
    if kind == "appointment_beyond_statutory":
        min_count = r.get("min_count", 1, _int(1, 1_000_000), "số hồ sơ tối thiểu mỗi cơ quan, >= 1",
                          "the least dossiers per agency, >= 1")  # fmt: skip
        severity = r.get("severity", Severity.WARNING, _severity, sev_vi, sev_en)
        return AppointmentBeyondStatutoryParams(min_count, severity)
    return TargetPaceParams(r.get("pace_days", 7, _int(1, 90), "số ngày, 1–90", "days, 1–90"))


def _whole_hours(lo: timedelta, hi: timedelta) -> Callable[[Any], timedelta]:
    inner = _duration(lo, hi)

    def convert(v: Any) -> timedelta:
        d = inner(v)
        if d % timedelta(hours=1):
            raise ValueError
        return d

    return convert


def _labels(r: _Reader) -> tuple[tuple[str, str], ...]:
    r.used.add("labels")
    raw = r.data.get("labels")
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or len(raw) > 20:
        r.fail("labels", "đối tượng tối đa 20 nhãn {tên: giá trị}", "an object of at most 20 {name: value} labels")
        return ()
    out = []
    for key, value in raw.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key) or key in RESERVED_LABELS:
            r.errors.append(FieldError(
                f"{r.at('labels')}.{key}",
                "tên nhãn chữ thường [a-z0-9_], không trùng nhãn hệ thống " + ", ".join(sorted(RESERVED_LABELS)),
                "a lowercase [a-z0-9_] label name, not one the engine sets: " + ", ".join(sorted(RESERVED_LABELS)),
            ))  # fmt: skip
        elif not isinstance(value, str) or not 0 < len(value) <= 200 or any(ord(c) < 32 for c in value):
            r.errors.append(FieldError(f"{r.at('labels')}.{key}", "chuỗi 1–200 ký tự in được",
                                       "a string of 1–200 printable characters"))  # fmt: skip
        else:
            out.append((key, value))
    return tuple(sorted(out))


def _template(r: _Reader, name: str) -> str | None:
    value = r.get(name, None, _text(500), "chuỗi tối đa 500 ký tự", "a string of at most 500 characters")
    if value is None:
        return None
    try:
        check_template(value)
    except TemplateError as exc:
        r.fail(name, "mẫu chỉ dùng trường {tên} đơn giản", f"a template with plain {{name}} fields only: {exc}")
        return None
    return value


def _flap(r: _Reader) -> FlapDamping | None:
    r.used.add("flap_damping")
    if "flap_damping" not in r.data:
        return FlapDamping()
    raw = r.data["flap_damping"]
    if raw is None or raw is False:
        return None
    if not isinstance(raw, Mapping):
        r.fail("flap_damping", "đối tượng {window, max_changes} hoặc null để tắt",
               "an object {window, max_changes}, or null to turn it off")  # fmt: skip
        return FlapDamping()
    f = _Reader(raw, r.at("flap_damping"), r.errors)
    vi, en = _dur_msg("1m", "7d")
    window = f.get("window", timedelta(hours=1), _duration(timedelta(minutes=1), timedelta(days=7)), vi, en)
    max_changes = f.get("max_changes", 4, _int(2, 1000), "số nguyên 2–1000", "an integer 2–1000")
    f.finish()
    return FlapDamping(window, max_changes)


def parse_rule(data: object, path: str = "") -> RuleSpec:
    """A validated spec from a dict; raises RuleSpecError listing every problem with its path."""
    errors: list[FieldError] = []
    if not isinstance(data, Mapping):
        raise RuleSpecError([FieldError(path, "một đối tượng luật", "a rule object")])
    r = _Reader(data, path, errors)
    rule_id = r.get("id", "", _text(63), "mã luật [a-z][a-z0-9_]{1,62}", "a rule id [a-z][a-z0-9_]{1,62}", True)
    if rule_id and not RULE_ID.match(rule_id):
        r.fail("id", "mã luật [a-z][a-z0-9_]{1,62}", "a rule id [a-z][a-z0-9_]{1,62}")
    kinds = ", ".join(KINDS)
    kind = r.get("kind", "", _choice(tuple(KINDS)), f"một trong {kinds}", f"one of {kinds}", required=True)
    vi, en = _dur_msg("0s", "30d")
    hold = r.get("for", _ZERO, _duration(_ZERO, timedelta(days=30)), vi, en)
    keep = r.get("keep_firing_for", _ZERO, _duration(_ZERO, timedelta(days=30)), vi, en)
    flap = _flap(r)
    labels = _labels(r)
    summary_vi, summary_en = _template(r, "summary_vi"), _template(r, "summary_en")
    description = r.get(
        "description", "", _text(1000), "chuỗi tối đa 1000 ký tự", "a string of at most 1000 characters"
    )
    enabled = r.get("enabled", True, _bool, "true hoặc false", "true or false")
    max_new = r.get("max_new_alerts", None, _int(1, 1_000_000), "số nguyên 1–1.000.000 (bỏ trống: mặc định)",
                    "an integer 1–1,000,000 (omit for the default)")  # fmt: skip
    if not kind:
        # Without a kind the other fields cannot be checked; report only what is known.
        r.used.update(str(k) for k in data)
        raise RuleSpecError(errors)
    params = _parse_params(kind, r)
    r.finish()
    if errors:
        raise RuleSpecError(errors)
    return RuleSpec(rule_id, params, hold, keep, flap, labels, summary_vi, summary_en, description, enabled, max_new)


# --------------------------------------------------------------------------- writing


def _json_value(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Severity):
        return value.value
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, SeverityStep | LateStep | FlapDamping):
        return {f.name: _json_value(getattr(value, f.name)) for f in fields(value)}
    return value


def rule_to_json(spec: RuleSpec) -> dict[str, Any]:
    """The canonical flat JSON form (what the database stores and the API returns)."""
    out: dict[str, Any] = {
        "id": spec.id,
        "kind": spec.kind,
        "enabled": spec.enabled,
        "description": spec.description,
        "for": format_duration(spec.hold),
        "keep_firing_for": format_duration(spec.keep_firing_for),
        "flap_damping": _json_value(spec.flap_damping) if spec.flap_damping else None,
        "labels": dict(spec.labels),
        "summary_vi": spec.summary_vi,
        "summary_en": spec.summary_en,
        "max_new_alerts": spec.max_new_alerts,
    }
    for f in fields(spec.params):
        out[f.name] = _json_value(getattr(spec.params, f.name))
    return out
