"""Who may change a dossier: pure rules, applied by the writer (stage one) and by the fold.

A dossier belongs to its locality and to the source that first registered it (its first stored
`received` event). From then on:

- an event from a source whose scope does not cover the dossier's locality is refused
  (`dossier_out_of_scope`) and writes nothing. The refusal names neither the dossier's locality
  nor its state: the source learns no more than that the code is not one it may write to;
- an event from a source that may write to the dossier but places it elsewhere is refused
  (`locality_mismatch`): no event, whatever its timestamp, moves a dossier to another locality.

Sources that legitimately share dossiers (a provincial one-stop system and a commune system) do
so because both scopes cover the dossier's locality, not because both know its code.

Registration goes by arrival, not by `occurred_at`: an earlier-stamped `received` that arrives
later cannot re-home a dossier. Events for a code nobody has registered yet are stored as they
come (as for any code not yet received); when the dossier is registered, the fold keeps only
the events placed in its locality (`ingest.lifecycle.at_place`). Each stored event passed the scope check for the
locality it declares, and a commune-scoped source cannot declare a province-level locality, so
"declared at the dossier's place" implies "from a source whose scope covers the dossier".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ingest.lifecycle import DossierEvent, EventType, at_place

# (province, commune or None) -> may this source write there? None stands for a national scope.
InScope = Callable[[str, str | None], bool]

OUT_OF_SCOPE_MESSAGE = (
    "mã hồ sơ này thuộc địa bàn ngoài phạm vi của khóa nguồn; không ghi gì cho mục này / "
    "this dossier code belongs to a locality outside this source's scope; nothing was written for this item"
)


@dataclass(frozen=True, slots=True)
class Owner:
    """The registration of one dossier code: the source that first registered it and where."""

    code: str
    source_id: str
    province_code: str
    commune_code: str | None


def registrations(events: Iterable[DossierEvent]) -> dict[str, Owner]:
    """The registration each code would get from this batch: its earliest `received` (by
    occurred_at, then batch order). Only used where the code has no owner yet."""
    first: dict[str, DossierEvent] = {}
    for event in events:
        if event.event_type is not EventType.RECEIVED:
            continue
        known = first.get(event.dossier_code)
        if known is None or event.occurred_at < known.occurred_at:
            first[event.dossier_code] = event
    return {code: Owner(code, e.source_id, e.province_code, e.commune_code) for code, e in first.items()}


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int
    event_id: str
    reason: str
    message: str


def check_ownership(
    accepted: Sequence[tuple[int, DossierEvent, str | None]],
    owners: dict[str, Owner],
    in_scope: InScope | None,
) -> tuple[list[tuple[int, DossierEvent, str | None]], list[Refusal]]:
    """Split a batch's accepted items into those that may be written and those refused.

    `owners` holds the registration of every code of the batch that has one (this batch's own
    registrations included); a code with none is not registered yet, and its events are kept.
    """
    kept: list[tuple[int, DossierEvent, str | None]] = []
    refused: list[Refusal] = []
    for item in accepted:
        index, event, _ = item
        owner = owners.get(event.dossier_code)
        if owner is None:
            kept.append(item)
            continue
        # Scope first: a source that may not write to the dossier learns nothing about its locality.
        if in_scope is not None and not in_scope(owner.province_code, owner.commune_code):
            refused.append(Refusal(index, event.event_id, "dossier_out_of_scope", OUT_OF_SCOPE_MESSAGE))
            continue
        if not at_place(event, owner.province_code, owner.commune_code):
            where = owner.commune_code or owner.province_code
            declared = event.commune_code or event.province_code
            refused.append(Refusal(
                index, event.event_id, "locality_mismatch",
                f"hồ sơ {event.dossier_code} thuộc địa bàn {where}, sự kiện ghi {declared}; một sự kiện không "
                f"thể chuyển hồ sơ sang địa bàn khác / dossier {event.dossier_code} belongs to locality "
                f"{where}, this event places it in {declared}; no event can move a dossier; nothing was written",
            ))  # fmt: skip
            continue
        kept.append(item)
    return kept, refused
