"""Validating a batch of dossier events: pure, item by item, with a precise reason for each refusal.

A bad item never stops the batch: it gets its own result and writes nothing. The writer receives
only the accepted items, already normalised (current locality codes, catalogue procedures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from ingest.lifecycle import DossierEvent, EventType, Procedure
from ingest.validate import InvalidItem, echo, validate_event
from ioc.localities.catalogue import LocalityCatalogue
from ioc.localities.resolve import LocalityError, LocalityRef, Resolved, resolve


@dataclass(frozen=True, slots=True)
class ItemResult:
    index: int
    event_id: str | None
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    message: str | None = None
    converted_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "event_id": self.event_id, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
            out["message"] = self.message
        if self.converted_from:
            out["converted_from"] = self.converted_from
        return out


@dataclass(frozen=True, slots=True)
class NewAgency:
    code: str
    name: str
    province_code: str
    commune_code: str | None


@dataclass
class ParsedBatch:
    """Accepted events in input order (index → event) and a result for every refused item."""

    accepted: list[tuple[int, DossierEvent, str | None]] = field(default_factory=list)
    refused: list[ItemResult] = field(default_factory=list)
    new_procedures: dict[str, tuple[Procedure, str]] = field(default_factory=dict)
    agencies: dict[str, NewAgency] = field(default_factory=dict)


class BatchFormatError(ValueError):
    """The body as a whole is unreadable (not a JSON array, not NDJSON)."""


def split_body(body: bytes, content_type: str) -> list[Any]:
    """A JSON array, or NDJSON (one object per line). Lines that fail to parse become items the
    validator refuses, so one broken line does not sink the rest of an NDJSON batch."""
    if "ndjson" in content_type or "jsonlines" in content_type:
        items: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                try:
                    items.append(json.loads(line))  # a lone surrogate escape: see below
                except (ValueError, RecursionError):
                    items.append(_Unparsable(str(exc)))
        return items
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson refuses the whole document for one lone surrogate escape (\uD800) in one item;
        # the standard parser reads it, and the item carrying it is then refused on its own.
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise BatchFormatError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise BatchFormatError("body must be a JSON array of events (or NDJSON with Content-Type application/x-ndjson)")
    return data


@dataclass(frozen=True)
class _Unparsable:
    error: str


ProcedureLookup = Callable[[str], Procedure | None]


def _reject(index: int, event_id: str | None, reason: str, message: str) -> ItemResult:
    return ItemResult(index, event_id, "rejected", reason, message)


def _resolve_cached(
    locality: tuple[str | None, ...],
    catalogue: LocalityCatalogue,
    cache: dict[tuple[str | None, ...], Resolved | LocalityError],
) -> Resolved | LocalityError:
    # A batch names the same communes again and again; resolution is a pure function of the fields.
    hit = cache.get(locality)
    if hit is None:
        try:
            hit = resolve(LocalityRef(*locality), catalogue)
        except LocalityError as exc:
            hit = exc
        cache[locality] = hit
    return hit


def parse_batch(
    items: Sequence[Any],
    *,
    source_id: str,
    now: datetime,
    future_tolerance: timedelta,
    max_age: timedelta,
    catalogue: LocalityCatalogue,
    procedure_of: ProcedureLookup,
    in_scope: Callable[[str, str | None], bool] | None = None,
) -> ParsedBatch:
    """Check every item; `in_scope(province, commune)` is the source's locality grant (None: all)."""
    batch = ParsedBatch()
    seen_ids: set[str] = set()
    latest_allowed = now + future_tolerance
    # Older than the retention period: it would be dropped at once, and a stray year-1 date would
    # otherwise make the writer create partitions for every month since.
    earliest_allowed = now - max_age
    resolved: dict[tuple[str | None, ...], Resolved | LocalityError] = {}
    for index, raw in enumerate(items):
        event_id = echo(raw.get("event_id") if isinstance(raw, dict) else None)
        if isinstance(raw, _Unparsable):
            batch.refused.append(_reject(index, None, "malformed_json", raw.error))
            continue
        try:
            item = validate_event(raw)
        except InvalidItem as exc:
            batch.refused.append(_reject(index, event_id, exc.reason, str(exc)))
            continue
        if item.event_id in seen_ids:
            batch.refused.append(
                ItemResult(index, item.event_id, "duplicate", "duplicate_in_batch", "event_id repeats in this batch")
            )
            continue
        if item.occurred_at > latest_allowed:
            batch.refused.append(_reject(
                index, item.event_id, "future_time",
                f"occurred_at {item.occurred_at.isoformat()} is more than "
                f"{int(future_tolerance.total_seconds())} s ahead of the server clock",
            ))  # fmt: skip
            continue
        if item.occurred_at < earliest_allowed:
            batch.refused.append(_reject(
                index, item.event_id, "too_old",
                f"occurred_at {item.occurred_at.isoformat()} is older than the retention period "
                f"({max_age.days} days)",
            ))  # fmt: skip
            continue
        place = _resolve_cached(item.locality, catalogue, resolved)
        if isinstance(place, LocalityError):
            batch.refused.append(_reject(index, item.event_id, place.code, str(place)))
            continue
        if in_scope is not None and not in_scope(place.province_code, place.commune_code):
            where = place.commune_code or place.province_code
            batch.refused.append(_reject(
                index, item.event_id, "locality_out_of_scope",
                f"this source's key does not cover locality {where}; nothing was written for this item",
            ))  # fmt: skip
            continue
        procedure_code: str | None = None
        registering: tuple[Procedure, str] | None = None
        if item.procedure is not None:
            procedure_code = item.procedure.code
            known = procedure_of(procedure_code) or batch.new_procedures.get(procedure_code, (None, ""))[0]
            if known is None:
                declared = item.procedure
                if declared.sector is None or declared.statutory_days is None:
                    batch.refused.append(_reject(
                        index, item.event_id, "unknown_procedure",
                        f"procedure {procedure_code!r} is not in the catalogue; send its sector and "
                        "statutory_days to register it",
                    ))  # fmt: skip
                    continue
                registering = (
                    Procedure(procedure_code, declared.sector, declared.statutory_days),
                    declared.name or procedure_code,
                )
        if item.event_type is EventType.RECEIVED and (procedure_code is None or item.channel is None):
            batch.refused.append(_reject(
                index, item.event_id, "missing_field", "a 'received' event needs procedure and channel"
            ))  # fmt: skip
            continue
        # Only an item that passed every check may add to the catalogue: a rejected item writes nothing.
        if registering is not None and procedure_code is not None:
            batch.new_procedures[procedure_code] = registering
        agency_code = None
        if item.agency is not None:
            agency_code = item.agency.code
            batch.agencies.setdefault(
                agency_code,
                NewAgency(agency_code, item.agency.name or agency_code, place.province_code, place.commune_code),
            )
        seen_ids.add(item.event_id)
        event = DossierEvent(
            occurred_at=item.occurred_at, dossier_code=item.dossier_code, event_type=item.event_type,
            source_id=source_id, event_id=item.event_id, province_code=place.province_code,
            commune_code=place.commune_code, agency_code=agency_code, procedure_code=procedure_code,
            channel=item.channel.value if item.channel else None,
            handler_code=item.handler.code if item.handler else None,
            handler_name=item.handler.name if item.handler else None,
            online_level=item.online_level.value if item.online_level else None, digitised=item.digitised,
            payment_channel=item.payment_channel.value if item.payment_channel else None,
            rating=item.rating.value if item.rating else None, due_at=item.due_at,
            statutory_days=item.procedure.statutory_days if item.procedure else None,
        )  # fmt: skip
        batch.accepted.append((index, event, place.converted_from))
    return batch
