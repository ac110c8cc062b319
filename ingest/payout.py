"""The social-security payout stream: validating pushed cycle reports, and the stream's ingester.

A report is a cumulative snapshot of one monthly cycle of one programme in one locality, "as of
reported_at": beneficiaries due, paid (by bank account, card, e-wallet or in cash), failed with
reasons, amounts due and paid in VND, and the cycle's deadline. One item of the push API:

    {"record_id": "HN-NCC-2024-10-0007", "locality": {"province_code": "01"},
     "programme": "nguoi_co_cong", "cycle": "2024-10", "cycle_opens_on": "2024-10-01",
     "deadline": "2024-10-31", "reported_at": "2024-10-07T17:00:00+07:00",
     "beneficiaries_due": 1000, "paid_total": 900, "paid_bank": 500, "paid_card": 100,
     "paid_ewallet": 50, "paid_cash": 250, "failed": 3, "failures": {"wrong_account": 2, "deceased": 1},
     "amount_due_vnd": 2200000000, "amount_paid_vnd": 1980000000}

Validation is pure (`validate_payout_batch`); `PayoutIngester` reads the active programmes,
validates, and hands the accepted records to the writer (ingest/payout_writer.py) inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ingest.batch import BatchContext, BatchOutcome, BatchRejected, InScope
from ingest.item_fields import (
    LocalityResolver,
    iso_date,
    locality_fields,
    moment,
    month,
    no_unknown_keys,
    require_keys,
    require_object,
    text,
    whole_number,
)
from ingest.parse import _Unparsable  # the body splitter's marker for an NDJSON line that is no JSON
from ingest.payout_programmes import active_programmes
from ingest.payout_writer import write_payout_records
from ingest.validate import InvalidItem, echo
from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue

STREAM = "payout"
MAX_COUNT = 100_000_000  # beneficiaries of one cycle: far above any province (Hà Nội ≈ 0.3 M)
MAX_VND = 10**15  # a million billion đồng: far above any cycle (Hà Nội ≈ 343 billion)
MAX_REASONS = 32
MAX_REASON = 64
# Reasons a source may use for failed payments; others are accepted as sent (the sources'
# own vocabularies differ), these are the ones the screens and reports name.
FAILURE_REASONS: dict[str, tuple[str, str]] = {
    "wrong_account": ("Sai số tài khoản", "wrong account number"),
    "deceased": ("Người hưởng đã chết", "beneficiary deceased"),
    "unreachable": ("Không liên lạc được", "beneficiary unreachable"),
    "moved": ("Thay đổi địa chỉ", "beneficiary moved"),
    "other": ("Lý do khác", "other reason"),
}
COUNT_FIELDS = ("beneficiaries_due", "paid_total", "paid_bank", "paid_card", "paid_ewallet", "paid_cash", "failed")
AMOUNT_FIELDS = ("amount_due_vnd", "amount_paid_vnd")
_REQUIRED = (
    "record_id", "locality", "programme", "cycle", "deadline", "reported_at", "beneficiaries_due",
    "paid_total", "paid_bank", "paid_card", "paid_ewallet", "paid_cash", *AMOUNT_FIELDS,
)  # fmt: skip
_KEYS = frozenset({*_REQUIRED, "cycle_opens_on", "failed", "failures"})


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    """One accepted report, normalised: current locality codes, commune '' for a province report."""

    record_id: str
    province_code: str
    commune_code: str
    programme_code: str
    cycle_month: date  # the first day of the cycle's month
    cycle_opens_on: date
    deadline: date
    reported_at: datetime
    beneficiaries_due: int
    paid_total: int
    paid_bank: int
    paid_card: int
    paid_ewallet: int
    paid_cash: int
    failed: int
    failure_reasons: dict[str, int]
    amount_due_vnd: int
    amount_paid_vnd: int


@dataclass
class ValidatedBatch:
    """Accepted records (index, record, legacy locality converted from) and a result per refusal."""

    accepted: list[tuple[int, PayoutRecord, str | None]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return sum(1 for r in self.refused if r["status"] == "rejected")

    def outcome(self, written: Collection[str] | None) -> BatchOutcome:
        """Results in index order. `written`: the record ids stored now (others were already
        ingested); None when nothing was written (an atomic batch refused: "accepted" then means
        "passed every check")."""
        results: list[dict[str, Any]] = [{}] * (len(self.accepted) + len(self.refused))
        for refused in self.refused:
            results[refused["index"]] = refused
        provinces: set[str] = set()
        for index, record, converted_from in self.accepted:
            if written is None or record.record_id in written:
                result: dict[str, Any] = {"index": index, "record_id": record.record_id, "status": "accepted"}
                if converted_from:
                    result["converted_from"] = converted_from
                if written is not None:
                    provinces.add(record.province_code)
            else:
                result = _result(index, record.record_id, "duplicate", "already_ingested",
                                 "this source already sent a report with this record_id")  # fmt: skip
            results[index] = result
        return BatchOutcome(results, provinces)


def _result(index: int, record_id: str | None, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"index": index, "record_id": record_id, "status": status, "reason": reason, "message": message}


def validate_payout_batch(
    items: Sequence[Any],
    *,
    now: datetime,
    catalogue: LocalityCatalogue,
    programmes: Collection[str],
    in_scope: InScope | None,
    future_tolerance: timedelta,
) -> ValidatedBatch:
    """Check every item. `programmes`: the active programme codes; `in_scope(province, commune)`:
    the source's locality grant (None: national). A bad item never stops the batch."""
    batch = ValidatedBatch()
    resolver = LocalityResolver(catalogue)
    latest_allowed = now + future_tolerance
    seen: set[str] = set()
    for index, raw in enumerate(items):
        record_id = echo(raw.get("record_id") if isinstance(raw, dict) else None)
        if isinstance(raw, _Unparsable):
            batch.refused.append(_result(index, None, "rejected", "malformed_json", raw.error))
            continue
        try:
            record, converted_from = validate_payout_record(raw, programmes, resolver)
        except InvalidItem as exc:
            batch.refused.append(_result(index, record_id, "rejected", exc.reason, str(exc)))
            continue
        if record.record_id in seen:
            batch.refused.append(_result(index, record.record_id, "duplicate", "duplicate_in_batch",
                                         "record_id repeats in this batch"))  # fmt: skip
            continue
        if record.reported_at > latest_allowed:
            batch.refused.append(_result(
                index, record.record_id, "rejected", "future_time",
                f"reported_at {record.reported_at.isoformat()} is more than "
                f"{int(future_tolerance.total_seconds())} s ahead of the server clock",
            ))  # fmt: skip
            continue
        if in_scope is not None and not in_scope(record.province_code, record.commune_code or None):
            batch.refused.append(_result(
                index, record.record_id, "rejected", "locality_out_of_scope",
                f"this source's key does not cover locality {record.commune_code or record.province_code}; "
                "nothing was written for this item",
            ))  # fmt: skip
            continue
        seen.add(record.record_id)
        batch.accepted.append((index, record, converted_from))
    return batch


def validate_payout_record(
    raw: Any, programmes: Collection[str], resolve_locality: LocalityResolver
) -> tuple[PayoutRecord, str | None]:
    """One item → a normalised record and the legacy locality it was converted from, if any.

    Raises InvalidItem: missing_field, invalid_field, invalid_time, unknown_programme,
    inconsistent_totals, or the locality resolver's reason (unknown_locality, ...).
    """
    item = require_object(raw)
    no_unknown_keys(item, _KEYS)
    require_keys(item, _REQUIRED)
    record_id = text(item["record_id"], "record_id")
    fields = locality_fields(item["locality"])
    programme = text(item["programme"], "programme", 64)
    cycle_month = month(item["cycle"], "cycle")
    deadline = iso_date(item["deadline"], "deadline")
    opens_on = cycle_month if item.get("cycle_opens_on") is None else iso_date(item["cycle_opens_on"], "cycle_opens_on")
    reported_at = moment(item["reported_at"], "reported_at")
    counts = {name: whole_number(item.get(name, 0), name, MAX_COUNT) for name in COUNT_FIELDS}
    amounts = {name: whole_number(item[name], name, MAX_VND) for name in AMOUNT_FIELDS}
    failures = _failures(item.get("failures"))
    if deadline < cycle_month or deadline > cycle_month + timedelta(days=366):
        raise InvalidItem("invalid_field", "deadline: must fall within a year from the first day of the cycle")
    if opens_on < cycle_month - timedelta(days=31) or opens_on > deadline:
        raise InvalidItem("invalid_field", "cycle_opens_on: must lie between a month before the cycle and its deadline")
    _check_totals(counts, amounts, failures)
    if programme not in programmes:
        raise InvalidItem("unknown_programme", f"programme {programme!r} is not an active payout programme")
    place = resolve_locality(fields)
    record = PayoutRecord(
        record_id=record_id, province_code=place.province_code, commune_code=place.commune_code or "",
        programme_code=programme, cycle_month=cycle_month, cycle_opens_on=opens_on, deadline=deadline,
        reported_at=reported_at, failure_reasons=failures, **counts, **amounts,
    )  # fmt: skip
    return record, place.converted_from


def _failures(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_REASONS:
        raise InvalidItem("invalid_field", f"failures: must be an object of at most {MAX_REASONS} reasons → counts")
    out: dict[str, int] = {}
    for reason, count in value.items():
        key = text(reason, "failures (a reason)", MAX_REASON)
        number = whole_number(count, f"failures.{key}", MAX_COUNT)
        if number:  # a reason with no failure says nothing
            out[key] = out.get(key, 0) + number
    return out


def _check_totals(counts: dict[str, int], amounts: dict[str, int], failures: dict[str, int]) -> None:
    by_channel = counts["paid_bank"] + counts["paid_card"] + counts["paid_ewallet"] + counts["paid_cash"]
    if by_channel != counts["paid_total"]:
        raise InvalidItem(
            "inconsistent_totals", "paid_bank + paid_card + paid_ewallet + paid_cash must equal paid_total"
        )
    if counts["paid_total"] + counts["failed"] > counts["beneficiaries_due"]:
        raise InvalidItem("inconsistent_totals", "paid_total + failed must not exceed beneficiaries_due")
    if sum(failures.values()) != counts["failed"]:
        raise InvalidItem("inconsistent_totals", "the counts in failures must add up to failed")
    if amounts["amount_paid_vnd"] > amounts["amount_due_vnd"]:
        raise InvalidItem("inconsistent_totals", "amount_paid_vnd must not exceed amount_due_vnd")


class PayoutIngester:
    """The payout stream's `StreamIngester`: the push API, file import and connectors use it."""

    stream = STREAM

    async def ingest(
        self, conn: Conn, items: Sequence[Any], ctx: BatchContext, *, atomic: bool = False
    ) -> BatchOutcome:
        programmes = await active_programmes(conn)
        batch = validate_payout_batch(
            items, now=ctx.now, catalogue=ctx.catalogue, programmes=programmes, in_scope=ctx.in_scope,
            future_tolerance=timedelta(seconds=ctx.future_tolerance_seconds),
        )  # fmt: skip
        if atomic and batch.rejected:
            raise BatchRejected(batch.outcome(None))
        records = [record for _, record, _ in batch.accepted]
        written = await write_payout_records(conn, ctx.source_id, records, ctx.now)
        return batch.outcome(written)
