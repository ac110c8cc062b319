"""What every ingest stream shares: the per-item outcome of a batch, and the stream registry.

A stream (payout, ID issuance) turns a list of JSON items into per-item results and writes the
accepted ones inside the caller's transaction. The push API, the file import and the polling
connector all go through the same `StreamIngester`, so an item means the same wherever it came
from. With `atomic=True` (file import) one rejected item refuses the whole batch before anything
is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue

# (province_code, commune_code or None) → whether the source's key covers that locality.
InScope = Callable[[str, str | None], bool]


@dataclass(frozen=True)
class BatchContext:
    source_id: str
    now: datetime
    catalogue: LocalityCatalogue
    in_scope: InScope | None  # None: the source is national
    future_tolerance_seconds: int = 300


@dataclass
class BatchOutcome:
    """Per-item results in index order, in their wire form, and the counts by status.

    Each result: {"index", "record_id", "status": accepted|duplicate|rejected, "reason"?, "message"?}.
    Reasons are machine-readable (invalid_field, missing_field, invalid_time, future_time,
    unknown_locality, locality_out_of_scope, unknown_programme, duplicate_in_batch,
    already_ingested, ...); messages say what is wrong in words, never echoing personal data.
    """

    results: list[dict[str, Any]] = field(default_factory=list)
    provinces: set[str] = field(default_factory=set)  # touched, for the live feed's NOTIFY

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r["status"] == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.count("accepted"), "duplicate": self.count("duplicate"),
            "rejected": self.count("rejected"), "results": self.results,
        }  # fmt: skip


class BatchRejected(Exception):
    """An atomic batch had rejected items: nothing was written. Carries every item's result."""

    def __init__(self, outcome: BatchOutcome) -> None:
        super().__init__(f"{outcome.count('rejected')} item(s) rejected; nothing was written")
        self.outcome = outcome


class StreamIngester(Protocol):
    stream: str  # "payout", "id_issuance"

    async def ingest(
        self, conn: Conn, items: Sequence[Any], ctx: BatchContext, *, atomic: bool = False
    ) -> BatchOutcome:
        """Validate every item (pure), then write the accepted ones in the caller's transaction.

        Idempotent by (source, record_id): an item already ingested is a `duplicate` and changes
        nothing. With atomic=True, raise BatchRejected before writing if any item is rejected
        (duplicates do not count as rejected).
        """
        ...
