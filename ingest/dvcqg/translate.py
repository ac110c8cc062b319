"""Portal records → native dossier events, deterministically. Pure.

A DongBoHoSoMC record is the dossier's state, not an event: the events are derived from it. Dated
facts become events at their own date (the receipt at NgayTiepNhan, the resolution at
NgayKetThucXuLy, the hand-over at NgayTra, a refusal at NgayTuChoi); their ids are
`dvcqg:<MaHoSo>:<status>:<yyyyMMddHHmmss>`, so a resend of the same state derives the same ids and
the receipt ledger answers `already_ingested`. Entering a status the record gives no date for
(5/6 supplement or fee requested, 4 processing again after them, 7, 8, and 10 without NgayTra;
9 without NgayKetThucXuLy is no result, see below) is stamped, to the second, when this source
first reports it; that moment is remembered per dossier
(`KnownStatus`, migrations/028), so a resend derives the same id again. A progress item
(CapNhatTienDoHoSoMC) carries its own time (ThoiDiemXuLy) and official (NguoiXuLy): it becomes the
event for its TrangThai at that time, with the official as the dossier's handler. When a progress
item and a later state report the same step, the earlier time wins in the fold (a second pause or
resume changes nothing), whichever arrived first.

The derived events are ordinary native event objects: the route hands them to the same
parse → ownership → writer → projector pipeline as the push API, so scope and ownership hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.dvcqg.codes import CHANNELS, PAUSED, STATUS_EVENT, BadDate, portal_stamp, portal_time
from ingest.dvcqg.envelope import Service
from ingest.lifecycle import EventType
from ingest.validate import storable

MAX_DOSSIER_CODE = 100  # leaves room for the event-id prefix and suffix within 128 characters
MAX_HANDLER_CODE = 128
MAX_NAME = 300
_PROVINCE_SUFFIX = re.compile(r"(?:^|\.)(H\d{2})$")
_NATIONAL_CODE = re.compile(r"^(\d+\.\d{6})\.")  # 3.000181.000.00.00.H22 → 3.000181


@dataclass(frozen=True, slots=True)
class UnitPlace:
    """Where a unit's dossiers belong, as an administrator mapped it (migrations/028)."""

    province_code: str
    commune_code: str | None
    agency_code: str | None  # None: the unit identifier itself is the agency code
    agency_name: str | None


@dataclass(frozen=True, slots=True)
class KnownStatus:
    """The last status this source reported for a dossier, and when an undated entry into it was
    first heard (None when entering it derived no undated event)."""

    status: str
    since: datetime | None
    due: datetime | None = None  # NgayHenTra as last seen outside a pause


@dataclass(frozen=True, slots=True)
class Place:
    agency_code: str | None
    agency_name: str | None
    locality: dict[str, str]


class UnitDirectory:
    """The administrator's table: a key is a unit identifier (madonvi, e.g. 000.00.01.H22), a
    DonViXuLy name as the source writes it, or a bare province suffix (H22). An identifier not
    listed itself is placed by its suffix when that suffix is mapped: the identifier says the
    province (Decision 20/2020/QĐ-TTg ends every identifier with it), the table says which."""

    def __init__(self, rows: Mapping[str, UnitPlace]) -> None:
        self._rows = dict(rows)

    def place(self, key: str) -> Place | None:
        row = self._rows.get(key)
        if row is not None:
            return Place(row.agency_code or key, row.agency_name, _locality(row.province_code, row.commune_code))
        match = _PROVINCE_SUFFIX.search(key)
        province = self._rows.get(match.group(1)) if match else None
        if province is None or match is None or match.group(1) == key:
            return None
        return Place(key, None, _locality(province.province_code, None))


def unit_keys(items: Sequence[Any], unit_id: str | None) -> set[str]:
    """The table keys a request may need (its unit, each DonViXuLy, their province suffixes)."""
    keys = {unit_id} if unit_id else set()
    keys |= {i["DonViXuLy"] for i in items if isinstance(i, dict) and isinstance(i.get("DonViXuLy"), str)}
    keys |= {m.group(1) for k in list(keys) if (m := _PROVINCE_SUFFIX.search(k))}
    return keys


def dossier_codes(items: Sequence[Any]) -> set[str]:
    return {i["MaHoSo"] for i in items if isinstance(i, dict) and isinstance(i.get("MaHoSo"), str)}


def _locality(province: str, commune: str | None) -> dict[str, str]:
    return {"commune_code": commune} if commune else {"province_code": province}


class Refused(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Translation:
    """Native events in derivation order; `origin[j]` is the portal item event j came from."""

    events: list[dict[str, Any]] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)
    refused: dict[int, Refused] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)  # item → MaHoSo, for the reply
    # Per dossier object accepted here: the status to remember if its events are stored.
    statuses: dict[int, tuple[str, KnownStatus]] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    now: datetime
    units: UnitDirectory
    unit_id: str | None  # the request's madonvi / MaDinhDanhDV
    known: Mapping[str, KnownStatus]  # last status per MaHoSo from this source
    owner_places: Mapping[str, tuple[str, str | None]]  # registered dossiers' places
    procedure_known: Callable[[str], bool]


def translate(service: Service, items: Sequence[Any], ctx: Context) -> Translation:
    out = Translation()
    one = _dossier if service is Service.DOSSIERS else _progress
    # A batch may carry a dossier more than once (a whole history): each record follows the last.
    known = dict(ctx.known)
    for index, raw in enumerate(items):
        try:
            events, status = one(raw, ctx, known)
        except Refused as exc:
            out.refused[index] = exc
            if isinstance(raw, dict) and isinstance(raw.get("MaHoSo"), str):
                out.codes[index] = raw["MaHoSo"]
            continue
        code = raw["MaHoSo"].strip()
        out.codes[index] = code
        if status is not None:
            out.statuses[index] = (code, status)
            known[code] = status
        for event in events:
            out.events.append(event)
            out.origin.append(index)
    return out


# -- DongBoHoSoMC: one dossier's state --------------------------------------------------------


def _dossier(
    raw: Any, ctx: Context, known: Mapping[str, KnownStatus]
) -> tuple[list[dict[str, Any]], KnownStatus | None]:
    if not isinstance(raw, dict):
        raise Refused("invalid_field", "mỗi hồ sơ phải là đối tượng JSON / each dossier must be a JSON object")
    code = _code(raw)
    status = _status(raw.get("TrangThaiHoSo"), "TrangThaiHoSo")
    received = _date(raw, "NgayTiepNhan")
    due = _date(raw, "NgayHenTra")
    finished, returned, refused = _date(raw, "NgayKetThucXuLy"), _date(raw, "NgayTra"), _date(raw, "NgayTuChoi")
    if status == "1":
        return [], KnownStatus(status, None)  # registered online, not received: nothing to count yet
    if received is None and status != "3":
        raise Refused("missing_field", "NgayTiepNhan: bắt buộc khi hồ sơ đã tiếp nhận / required once received")
    place = _dossier_place(raw, ctx)
    procedure = _procedure(raw, ctx)
    channel = _channel(raw.get("KenhThucHien"))
    base = {"dossier_code": code, "locality": place.locality}
    if place.agency_code is not None:
        base["agency"] = {"code": place.agency_code, "name": _name(raw.get("DonViXuLy")) or place.agency_name
                          or place.agency_code}  # fmt: skip
    events: list[dict[str, Any]] = []
    if received is not None:
        # The slip's appointment (ngày hẹn trả) is authoritative; one before the receipt is noise.
        slip = {"due_at": due.isoformat()} if due is not None and due >= received else {}
        events.append(_event(base, code, "2", received, EventType.RECEIVED,
                              procedure=procedure, channel=channel.value, **slip))  # fmt: skip
    dated = {"9": finished, "10": returned, "3": refused}
    if status in ("9", "10") and finished is not None:
        events.append(_event(base, code, "9", finished, EventType.RESOLVED))
    if status in ("3", "10") and dated[status] is not None:
        moment = dated[status]
        assert moment is not None
        events.append(_event(base, code, status, moment, STATUS_EVENT[status]))
    # Entering a status with no date of its own: stamped when first reported, then remembered.
    # 4 is the ordinary working state; it is an event only as the restart after a pause.
    previous = known.get(code)
    since: datetime | None = None
    # 9 without NgayKetThucXuLy is not taken as a result: the TD system rewrites 5, 6 and 8 to 9
    # before it pushes, and a false resolution would hide an overdue dossier. The date, or 10,
    # settles it.
    if status in STATUS_EVENT and dated.get(status) is None and status != "9":
        if previous is not None and previous.status == status:
            since = previous.since  # the same state again: the same stamp, so the same event id
        elif status != "4" or (previous is not None and previous.status in PAUSED):
            # To the whole second, the portal's resolution: a progress step for the same change
            # in the same second is then the same event (same id, same time).
            since = ctx.now.replace(microsecond=0)
    if since is not None:
        events.append(_event(base, code, status, since, STATUS_EVENT[status]))
    # A changed NgayHenTra while the dossier runs is a new appointment: the new slip after a
    # supplement, an extension (gia hạn), the new date of an apology letter. It is its own
    # `extended` event (id from the new date) rather than a field of the restart: the progress
    # step for the restart may arrive first under the same id, and the new date must not be lost.
    # While paused it is left for the restart, at which the one-stop system recomputes it.
    moved = due is not None and previous is not None and previous.due is not None and due != previous.due
    if moved and due is not None and status in ("2", "4") and due >= ctx.now:
        events.append({**base, "event_id": f"dvcqg:{code}:due:{portal_stamp(due)}",
                       "event_type": EventType.EXTENDED.value, "occurred_at": ctx.now.isoformat(),
                       "due_at": due.isoformat()})  # fmt: skip
    if status in PAUSED and previous is not None:
        due = previous.due
    return events, KnownStatus(status, since, due)


def _dossier_place(raw: dict[str, Any], ctx: Context) -> Place:
    # The processing agency (DonViXuLy) is the more precise, when the administrator mapped it;
    # otherwise the calling unit (madonvi), which the identifier or the table places.
    agency = _name(raw.get("DonViXuLy"))
    for key in (agency, ctx.unit_id):
        if key is not None and (place := ctx.units.place(key)) is not None:
            return place
    tried = ", ".join(k for k in (agency, ctx.unit_id) if k) or "(không có / none)"
    raise Refused(
        "unknown_unit",
        f"đơn vị chưa được ánh xạ tới địa bàn / unit not mapped to a locality: {tried}; "
        "quản trị viên khai báo tại /api/v1/admin/dvcqg/units",
    )


def _procedure(raw: dict[str, Any], ctx: Context) -> dict[str, Any]:
    code = raw.get("MaTTHC")
    if not isinstance(code, str) or not code.strip():
        raise Refused("missing_field", "MaTTHC: bắt buộc / required")
    code = code.strip()
    if len(code) > 128 or not storable(code):
        raise Refused("invalid_field", "MaTTHC: mã không hợp lệ / not a procedure code")
    if not ctx.procedure_known(code):
        # A province's variant of a national procedure (3.000181.000.00.00.H22) counts as it.
        national = _NATIONAL_CODE.match(code)
        if national is None or not ctx.procedure_known(national.group(1)):
            raise Refused(
                "unknown_procedure",
                f"MaTTHC {code!r} chưa có trong danh mục thủ tục / is not in the "
                "procedure catalogue (load the catalogue with its statutory time)",
            )
        code = national.group(1)
    procedure: dict[str, Any] = {"code": code}
    if (name := _name(raw.get("TenTTHC"))) is not None:
        procedure["name"] = name
    if (sector := _name(raw.get("TenLinhVuc")) or _name(raw.get("MaLinhVuc"))) is not None:
        procedure["sector"] = sector
    return procedure


def _channel(value: Any) -> Any:
    if value is None or value == "":
        # The 2020 generation (OpenCPS) has no KenhThucHien: counted at the counter, which never
        # inflates the online share the province is measured on.
        return CHANNELS["1"]
    channel = CHANNELS.get(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if channel is None:
        raise Refused("invalid_field", "KenhThucHien: phải là 1, 2 hoặc 3 / must be 1, 2 or 3")
    return channel


# -- CapNhatTienDoHoSoMC: one progress step ---------------------------------------------------


def _progress(
    raw: Any, ctx: Context, known: Mapping[str, KnownStatus]
) -> tuple[list[dict[str, Any]], KnownStatus | None]:
    if not isinstance(raw, dict):
        raise Refused("invalid_field", "mỗi bước xử lý phải là đối tượng JSON / each step must be a JSON object")
    code = _code(raw)
    status = _status(raw.get("TrangThai"), "TrangThai")
    moment = _date(raw, "ThoiDiemXuLy")
    if moment is None:
        raise Refused("invalid_time", "ThoiDiemXuLy: bắt buộc / required")
    _date(raw, "NgayBatDau")
    _date(raw, "NgayKetThucTheoQuyDinh")
    kind = STATUS_EVENT.get(status)
    if kind is None or _synthetic(raw):
        return [], None  # the receipt step (it comes with the dossier object), or a made-up step
    # A step belongs where its dossier was registered; before that, where the calling unit is.
    owner = ctx.owner_places.get(code)
    if owner is not None:
        locality = _locality(*owner)
    elif ctx.unit_id is not None and (place := ctx.units.place(ctx.unit_id)) is not None:
        locality = place.locality
    else:
        raise Refused(
            "unknown_unit",
            "hồ sơ chưa đăng ký và đơn vị gửi chưa được ánh xạ / dossier not registered "
            f"yet and the calling unit is not mapped: {ctx.unit_id or '(không có / none)'}",
        )
    event = _event({"dossier_code": code, "locality": locality}, code, status, moment, kind)
    official = _name(raw.get("NguoiXuLy"))
    if official is not None:
        event["handler"] = {"code": official[:MAX_HANDLER_CODE], "name": official}
    return [event], None


# The TD system's made-up steps (dvcqg-sync.md §4), all by "Cán bộ một cửa": they restate the
# dossier object, and two of them are stamped with NgayTiepNhan or nothing at TrangThai 9 — taken
# as steps they would resolve a dossier at its receipt. The dossier object carries the facts.
_SYNTHETIC_ACTOR = "Cán bộ một cửa"
_SYNTHETIC_STEPS = frozenset({"Tiếp nhận hồ sơ", "Kết thúc xử lý hồ sơ", "Hồ sơ không có ngày hẹn trả"})


def _synthetic(raw: dict[str, Any]) -> bool:
    return _name(raw.get("NguoiXuLy")) == _SYNTHETIC_ACTOR and _name(raw.get("NoiDungXuLy")) in _SYNTHETIC_STEPS


# -- fields -------------------------------------------------------------------------------------


def _event(base: dict[str, Any], code: str, status: str, moment: datetime, kind: EventType,
           **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {**base, "event_id": f"dvcqg:{code}:{status}:{portal_stamp(moment)}", "event_type": kind.value,
            "occurred_at": moment.isoformat(), **extra}  # fmt: skip


def _code(raw: dict[str, Any]) -> str:
    value = raw.get("MaHoSo")
    if value is None or value == "":
        raise Refused("missing_field", "MaHoSo: bắt buộc / required")
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_DOSSIER_CODE:
        raise Refused(
            "invalid_field",
            f"MaHoSo: chuỗi tối đa {MAX_DOSSIER_CODE} ký tự / a string of at most {MAX_DOSSIER_CODE} characters",
        )
    if not storable(value) or ":" in value:
        raise Refused("invalid_field", "MaHoSo: chứa ký tự không hợp lệ / contains a character it may not")
    return value.strip()


def _status(value: Any, where: str) -> str:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or text.strip() not in ("1", *STATUS_EVENT, "2"):
        raise Refused("invalid_field", f"{where}: phải là mã 1–10 / must be a code 1–10")
    return text.strip()


def _date(raw: dict[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Refused("invalid_time", f"{name}: phải là chuỗi yyyyMMddHHmmss / must be a yyyyMMddHHmmss string")
    try:
        return portal_time(value)
    except BadDate as exc:
        raise Refused("invalid_time", f"{name}: {exc}") from exc


def _name(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or not storable(value):
        return None
    return value.strip()[:MAX_NAME]


# -- the reply ------------------------------------------------------------------------------------


def item_results(tr: Translation, n_items: int, event_results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One result per portal item, in order: its events' results folded into one status —
    rejected if any event was (the first reason), duplicate if all were, else accepted."""
    per_item: list[list[Mapping[str, Any]]] = [[] for _ in range(n_items)]
    for j, result in enumerate(event_results):
        per_item[tr.origin[j]].append({**result, "event_type": tr.events[j]["event_type"]})
    out: list[dict[str, Any]] = []
    for index in range(n_items):
        entry: dict[str, Any] = {"index": index, "MaHoSo": tr.codes.get(index)}
        if (refused := tr.refused.get(index)) is not None:
            entry.update(status="rejected", reason=refused.reason, message=str(refused))
        else:
            events = per_item[index]
            bad = next((r for r in events if r["status"] == "rejected"), None)
            if bad is not None:
                entry.update(status="rejected", reason=bad.get("reason"), message=bad.get("message"))
            elif events and all(r["status"] == "duplicate" for r in events):
                entry.update(status="duplicate", reason="already_ingested")
            else:
                entry["status"] = "accepted"
            entry["events"] = [{k: r.get(k) for k in ("event_id", "event_type", "status", "reason") if r.get(k)}
                               for r in events]  # fmt: skip
        out.append(entry)
    return out
