"""Every indicator, defined once: what is counted, over which window, and the formula.

An indicator's value is a pure function of a few **components** — counts that add up across
localities (and, for flows, across days). Live values, history buckets, rankings and the 766
scorecard all gather components first and then call the same `Indicator.value`, so a number on
the map and the last point of its history chart can only differ by what was counted, never by
how. Components sum with `combine`; a component nobody measured stays None, and a formula over a
None component is None ("no data"), never 0.

How components behave over time (`Indicator.temporal`):

- ``flow``  — things that happened in the window (dossiers received, resolved). A period's
  components are the sums of its days' (or hours') components.
- ``stock`` — a count at an instant (dossiers overdue now). A period's value is the value at its
  end (the last snapshot taken in it); stocks are summed across localities, never across time.
- ``state`` — ratios of cumulative figures as reported at an instant (a payout cycle's progress,
  cards issued to date). A period's value is the state as of its last day.

Service quality (full-process online, digitisation, online payment, satisfaction) comes from
optional fields of the dossier stream (ingest/lifecycle.py, migrations/015): a receipt may state
its online service level and whether it was digitised, a `fee_paid` event its payment channel, a
`rated` event the citizen's rating. Senders need not send them, and what was not stated is never
guessed: the two receipt-based rates divide by the receipts whose level (or digitisation) is known
— a direct or postal receipt has no online service, so its level is known — and payments and
ratings divide by the payments and ratings received. With nothing stated the value is None.

Pure: no I/O. The README's indicator table is rendered from `INDICATORS` (`readme_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Stream = Literal["dossier", "payout", "id_issuance"]
Unit = Literal["ratio", "count", "vnd", "per_day"]
Better = Literal["higher", "lower"]
Temporal = Literal["flow", "stock", "state"]
Components = Mapping[str, float | None]
Formula = Callable[[Components], float | None]

# -- component names ------------------------------------------------------------------------------

# Dossier flows, by local day (dossier_daily, dossier_hourly): a receipt counts on the day of
# received_at (with its service level and digitisation, when stated), a resolution (with its
# outcome) on the day of resolved_at, a dossier's first fee payment on its day, its latest rating
# on its day. Each dossier counts once in each (ingest/lifecycle.py ROLLUP_FIELDS, the same order).
DOSSIER_FLOWS = (
    "received", "received_online", "resolved", "resolved_early", "resolved_on_time", "resolved_late",
    "received_full_online", "received_level_stated", "digitised", "digitised_known",
    "fee_payments", "fee_payments_online", "ratings", "ratings_satisfied",
)  # fmt: skip
# Dossier stocks at an instant t (partial indexes on `dossier`; hourly snapshots for history).
# appointment_beyond_statutory: open dossiers whose appointment (the source's slip) is later than
# their statutory deadline (ingest/lifecycle.py DossierState.beyond_statutory, migrations/026).
DOSSIER_STOCKS = ("overdue", "late_without_apology", "appointment_beyond_statutory")
# Payout cycles as of a day (payout_cycle, payout_cycle_daily).
PAYOUT_STATE = ("payout_due", "payout_paid_by_deadline", "payout_paid", "payout_paid_cashless", "payout_failed")
# ID issuance as of a day (id_issuance_daily, id_target).
ID_STATE = ("id_eligible_population", "id_cccd_issued_total", "id_l2_activated_total", "id_l2_target",
            "id_l2_required_pace")  # fmt: skip


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is unknown or nothing was counted."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def combine(parts: Iterable[Components]) -> dict[str, float | None]:
    """Component-wise sum. A component absent or None in every part stays None (not measured);
    otherwise the sum of the parts that measured it."""
    out: dict[str, float | None] = {}
    for part in parts:
        for name, value in part.items():
            if value is None:
                out.setdefault(name, None)
            else:
                previous = out.get(name)
                out[name] = value if previous is None else previous + value
    return out


def required_daily_pace(target: float, achieved: float, days_left: int) -> float | None:
    """Activations needed per day, from the day after the as-of day through the deadline
    (`days_left` = deadline − as-of day), to reach `target`. 0 once reached; None once the
    deadline has come (no day left to act on)."""
    if achieved >= target:
        return 0.0
    if days_left <= 0:
        return None
    return (target - achieved) / days_left


# -- the indicator type ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    code: str
    name_vi: str
    name_en: str
    stream: Stream
    unit: Unit
    better: Better
    temporal: Temporal
    components: tuple[str, ...]
    formula: Formula
    # What is counted: numerator / denominator (or the count) and the window, for the README.
    counts_vi: str
    counts_en: str
    # A default target or threshold from the brief, when it gives one (ratios as 0–1).
    target: float | None = None
    # False while no source sends the components (the value is then always None). Every
    # indicator is fed today; the flag stays in the API for definitions added ahead of their data.
    ingested: bool = True

    def value(self, components: Components) -> float | None:
        return self.formula(components)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code, "name_vi": self.name_vi, "name_en": self.name_en, "stream": self.stream,
            "unit": self.unit, "better": self.better, "temporal": self.temporal,
            "components": list(self.components), "counts_vi": self.counts_vi, "counts_en": self.counts_en,
            "target": self.target, "ingested": self.ingested,
        }  # fmt: skip


def _c(name: str) -> Callable[[Components], float | None]:
    return lambda c: c.get(name)


def _ratio(numerator: Callable[[Components], float | None], denominator: str) -> Formula:
    return lambda c: ratio(numerator(c), c.get(denominator))


def _sum(*names: str) -> Callable[[Components], float | None]:
    def total(c: Components) -> float | None:
        values = [c.get(n) for n in names]
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    return total


def _full_online_share(c: Components) -> float | None:
    """Full-process receipts / receipts whose service level is known: the direct and postal ones
    (no online service at all) and the online ones that stated full or partial. An online receipt
    that stated nothing is left out, not guessed; with no level stated at all there is no value
    (a source that never sends levels must not read as 0 % full-process)."""
    full, stated, received, online = (c.get(n) for n in (
        "received_full_online", "received_level_stated", "received", "received_online"))  # fmt: skip
    if full is None or stated is None or received is None or online is None or stated <= 0:
        return None
    return ratio(full, received - online + stated)


_DOSSIER_FLOW_WINDOW_VI = "trong kỳ (trực tiếp: 30 ngày gần nhất, hôm nay tính cả)"
_DOSSIER_FLOW_WINDOW_EN = "in the period (live: the last 30 local days, today included)"

# fmt: off
_LIST: tuple[Indicator, ...] = (
    Indicator(
        "on_time_rate", "Tỷ lệ hồ sơ giải quyết đúng hạn", "On-time resolution rate", "dossier", "ratio", "higher",
        "flow", ("resolved_early", "resolved_on_time", "resolved"),
        _ratio(_sum("resolved_early", "resolved_on_time"), "resolved"),
        "(hồ sơ giải quyết trước hạn + đúng hạn) / hồ sơ đã giải quyết, theo ngày giải quyết, "
        + _DOSSIER_FLOW_WINDOW_VI,
        "(resolved early + resolved on time) / resolved, by local day of resolution, " + _DOSSIER_FLOW_WINDOW_EN,
        target=0.90,
    ),
    Indicator(
        "overdue_count", "Số hồ sơ quá hạn", "Overdue dossiers", "dossier", "count", "lower",
        "stock", ("overdue",), _c("overdue"),
        "hồ sơ đang mở đã quá hạn xử lý tại thời điểm t (hồ sơ đang chờ bổ sung không có hạn nên không tính)",
        "open dossiers past their due time at instant t (a dossier paused for a supplement has no due time)",
    ),
    Indicator(
        "online_submission_share", "Tỷ lệ hồ sơ nộp trực tuyến", "Online submission share", "dossier", "ratio",
        "higher", "flow", ("received_online", "received"), _ratio(_c("received_online"), "received"),
        "hồ sơ tiếp nhận qua kênh trực tuyến / hồ sơ tiếp nhận, theo ngày tiếp nhận, " + _DOSSIER_FLOW_WINDOW_VI,
        "dossiers received online / dossiers received, by local day of receipt, " + _DOSSIER_FLOW_WINDOW_EN,
        target=0.50,
    ),
    Indicator(
        "full_online_share", "Tỷ lệ hồ sơ trực tuyến toàn trình", "Full-process online share", "dossier", "ratio",
        "higher", "flow", ("received_full_online", "received_level_stated", "received", "received_online"),
        _full_online_share,
        "hồ sơ nộp qua dịch vụ công trực tuyến toàn trình / hồ sơ tiếp nhận đã biết mức độ dịch vụ (hồ sơ trực "
        "tiếp, bưu chính, và hồ sơ trực tuyến có ghi toàn trình hay một phần; không hồ sơ nào ghi thì không tính), "
        "theo ngày tiếp nhận, " + _DOSSIER_FLOW_WINDOW_VI,
        "dossiers submitted through a full-process online service / dossiers received whose service level is known "
        "(direct and postal ones, and online ones that stated full or partial; no value when none stated it), by "
        "local day of receipt, " + _DOSSIER_FLOW_WINDOW_EN,
    ),
    Indicator(
        "digitisation_rate", "Tỷ lệ số hóa hồ sơ", "Digitisation rate", "dossier", "ratio", "higher",
        "flow", ("digitised", "digitised_known"), _ratio(_c("digitised"), "digitised_known"),
        "hồ sơ được số hóa thành phần khi tiếp nhận / hồ sơ tiếp nhận có ghi số hóa hay không, theo ngày tiếp nhận, "
        + _DOSSIER_FLOW_WINDOW_VI,
        "dossiers whose components were digitised at receipt / dossiers received that stated whether they were, "
        "by local day of receipt, " + _DOSSIER_FLOW_WINDOW_EN,
        target=1.0,
    ),
    Indicator(
        "online_payment_share", "Tỷ lệ thanh toán trực tuyến", "Online payment share", "dossier", "ratio", "higher",
        "flow", ("fee_payments_online", "fee_payments"), _ratio(_c("fee_payments_online"), "fee_payments"),
        "hồ sơ nộp phí, lệ phí trực tuyến / hồ sơ đã nộp phí, lệ phí (mỗi hồ sơ một lần, lần nộp đầu), theo ngày "
        "nộp, " + _DOSSIER_FLOW_WINDOW_VI,
        "dossiers whose fee was paid online / dossiers whose fee was paid (once per dossier, the first payment), "
        "by local day of payment, " + _DOSSIER_FLOW_WINDOW_EN,
    ),
    Indicator(
        "satisfaction_rate", "Tỷ lệ hài lòng", "Satisfaction rate", "dossier", "ratio", "higher",
        "flow", ("ratings_satisfied", "ratings"), _ratio(_c("ratings_satisfied"), "ratings"),
        "đánh giá rất hài lòng hoặc hài lòng / lượt đánh giá (Quyết định 766, đánh giá theo thời gian thực; mỗi "
        "hồ sơ một lượt, lần đánh giá sau cùng), theo ngày đánh giá, " + _DOSSIER_FLOW_WINDOW_VI,
        "very satisfied or satisfied ratings / ratings (Decision 766 real-time evaluation; one per dossier, the "
        "latest), by local day of rating, " + _DOSSIER_FLOW_WINDOW_EN,
        target=0.85,
    ),
    Indicator(
        "late_without_apology_count", "Hồ sơ trễ hạn chưa có thư xin lỗi", "Late dossiers without an apology",
        "dossier", "count", "lower", "stock", ("late_without_apology",), _c("late_without_apology"),
        "hồ sơ đã trễ hạn (đã đóng sau hạn, hoặc đang mở quá hạn) mà chưa ghi nhận thư xin lỗi, tại thời điểm t",
        "dossiers that missed their deadline (closed after it, or open past it) with no apology recorded, at t",
        target=0.0,
    ),
    Indicator(
        "appointment_beyond_statutory_count", "Hồ sơ có ngày hẹn trả vượt thời hạn luật định",
        "Dossiers promised later than the statutory deadline", "dossier", "count", "lower", "stock",
        ("appointment_beyond_statutory",), _c("appointment_beyond_statutory"),
        "hồ sơ đang mở có ngày hẹn trả (theo giấy hẹn của hệ thống nguồn) muộn hơn thời hạn giải quyết theo quy "
        "định do IOC tính, tại thời điểm t: giấy hẹn hứa nhiều thời gian hơn luật cho phép",
        "open dossiers whose appointment (the source's slip) is later than the statutory deadline IOC computes, at "
        "instant t: the slip promised more time than the law allows",
        target=0.0,
    ),
    Indicator(
        "payout_completion", "Tỷ lệ chi trả đúng hạn kỳ", "Payout completion by the cycle deadline", "payout",
        "ratio", "higher", "state", ("payout_paid_by_deadline", "payout_due"),
        _ratio(_c("payout_paid_by_deadline"), "payout_due"),
        "người đã nhận tiền tính đến hạn chót của kỳ (hoặc đến ngày xét nếu chưa tới hạn) / người phải chi trả; kỳ "
        "của tháng đang xét, hoặc kỳ tháng trước nếu kỳ này chưa báo cáo; mỗi chương trình một kỳ",
        "beneficiaries paid by the cycle's deadline (or by the as-of day, before it) / beneficiaries due; the cycle "
        "of the as-of month, or last month's while this month's is unreported; one cycle per programme",
        target=1.0,
    ),
    Indicator(
        "payout_cashless_share", "Tỷ lệ chi trả không dùng tiền mặt", "Cashless payout share", "payout", "ratio",
        "higher", "state", ("payout_paid_cashless", "payout_paid"), _ratio(_c("payout_paid_cashless"), "payout_paid"),
        "người nhận qua tài khoản, thẻ, ví điện tử / người đã nhận tiền, tại ngày xét, cùng các kỳ như trên",
        "paid by bank account, card or e-wallet / paid, as of the as-of day, over the same cycles as above",
        target=0.70,
    ),
    Indicator(
        "payout_failure_rate", "Tỷ lệ chi trả không thành công", "Payout failure rate", "payout", "ratio", "lower",
        "state", ("payout_failed", "payout_paid"), lambda c: ratio(c.get("payout_failed"),
                                                                 _sum("payout_paid", "payout_failed")(c)),
        "lượt chi không thành công / (đã chi + không thành công), tại ngày xét, cùng các kỳ như trên",
        "failed payments / (paid + failed), as of the as-of day, over the same cycles as above",
    ),
    Indicator(
        "cccd_coverage", "Tỷ lệ cấp CCCD gắn chíp", "CCCD chip-card coverage", "id_issuance", "ratio", "higher",
        "state", ("id_cccd_issued_total", "id_eligible_population"),
        _ratio(_c("id_cccd_issued_total"), "id_eligible_population"),
        "thẻ CCCD đã cấp (lũy kế) / dân số đủ điều kiện, theo báo cáo gần nhất đến ngày xét",
        "CCCD cards issued to date / eligible population, from the latest report up to the as-of day",
    ),
    Indicator(
        "vneid_l2_activation", "Tỷ lệ kích hoạt định danh mức 2 so với chỉ tiêu", "VNeID level-2 activation vs target",
        "id_issuance", "ratio", "higher", "state", ("id_l2_activated_total", "id_l2_target"),
        _ratio(_c("id_l2_activated_total"), "id_l2_target"),
        "tài khoản định danh mức 2 đã kích hoạt (lũy kế) / chỉ tiêu của địa bàn; không có chỉ tiêu thì không tính",
        "level-2 accounts activated to date / the locality's target; no target, no value",
        target=1.0,
    ),
    Indicator(
        "vneid_l2_required_daily_pace", "Số tài khoản mức 2 cần kích hoạt mỗi ngày",
        "Level-2 activations needed per day", "id_issuance", "per_day", "lower", "state", ("id_l2_required_pace",),
        _c("id_l2_required_pace"),
        "(chỉ tiêu − đã kích hoạt) / số ngày từ sau ngày xét đến hạn chót; 0 khi đã đạt; không tính khi đã hết hạn",
        "(target − activated) / days from the day after the as-of day to the deadline; 0 once met; none after it",
    ),
)
# fmt: on

INDICATORS: dict[str, Indicator] = {i.code: i for i in _LIST}
STREAM_OF: dict[str, Stream] = {i.code: i.stream for i in _LIST}


def value_of(code: str, components: Components) -> float | None:
    return INDICATORS[code].value(components)


def values_of(components: Components, codes: Iterable[str] | None = None) -> dict[str, float | None]:
    """Every indicator (or those of `codes`) from one set of components."""
    return {code: INDICATORS[code].value(components) for code in (codes if codes is not None else INDICATORS)}


def readme_table() -> str:
    """The indicator table the README prints (regenerate it after changing a definition)."""
    lines = ["| code | chỉ số / indicator | what is counted | kind |", "|---|---|---|---|"]
    for i in _LIST:
        lines.append(f"| `{i.code}` | {i.name_vi} / {i.name_en} | {i.counts_en} | {i.temporal}, {i.unit} |")
    return "\n".join(lines)
