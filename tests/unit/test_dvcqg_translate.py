"""The portal-format translator (ingest/dvcqg): envelopes and variants, per-item refusals, and
lifecycle events derived from successive states, deterministically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest.dvcqg.envelope import BAD_REQUEST, EnvelopeError, Service, read_bare, read_envelope
from ingest.dvcqg.translate import (
    Context,
    KnownStatus,
    Translation,
    UnitDirectory,
    UnitPlace,
    item_results,
    translate,
    unit_keys,
)
from tests.unit.dvcqg_payloads import VN, envelope, ocps_dossier, progress, td_dossier

RECEIVED = datetime(2026, 11, 2, 8, 30, tzinfo=VN)
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
UNITS = UnitDirectory({
    "UBND phường Ba Đình": UnitPlace("01", "00004", "UBND-00004", "UBND phường Ba Đình"),
    "H26": UnitPlace("01", None, None, None),
})  # fmt: skip


def ctx(known: dict[str, KnownStatus] | None = None, *, now: datetime = NOW, unit: str | None = "000.00.00.H26",
        owners: dict[str, tuple[str, str | None]] | None = None) -> Context:  # fmt: skip
    return Context(now=now, units=UNITS, unit_id=unit, known=known or {}, owner_places=owners or {},
                   procedure_known=lambda code: code in {"1.000001", "3.000181"})  # fmt: skip


def kinds(tr: Translation) -> list[tuple[str, str, str]]:
    return [(e["event_type"], e["occurred_at"], e["event_id"]) for e in tr.events]


# -- envelopes and variants -------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "expected"), [("True", True), ("False", False)])
def test_the_session_envelope_with_is_updating_as_a_string(flag: str, expected: bool) -> None:
    body = {"session": "abc", "madonvi": "000.00.01.H26", "service": "DongBoHoSoMC", "isUpdating": flag,
            "data": [ocps_dossier("H26.1-261102-0001", "2", RECEIVED)]}  # fmt: skip
    request = read_envelope(body)
    assert (request.service, request.session, request.unit_id, request.is_updating, len(request.items)) == (
        Service.DOSSIERS, "abc", "000.00.01.H26", expected, 1)  # fmt: skip


def test_the_bare_array_and_the_query_string_variant() -> None:
    data = [td_dossier("H26.1-261102-0001", "2", RECEIVED)]
    bare = read_bare(data, "DongBoHoSoMC", {})
    assert (bare.service, bare.unit_id, bare.is_updating, bare.items) == (Service.DOSSIERS, None, None, data)
    query = read_bare(data, "DongBoHoSoMC", {"MaDinhDanhDV": "000.00.01.H22", "isUpdating": "True"})
    assert (query.unit_id, query.is_updating) == ("000.00.01.H22", True)
    steps = read_bare([progress("X-1", "4", RECEIVED)], "CapNhatTienDoHoSoMC", {})
    assert steps.service is Service.PROGRESS


@pytest.mark.parametrize("body", [
    {"service": "LayThuTuc", "data": []},
    {"service": "DongBoHoSoMC", "data": {}},
    {"service": "DongBoHoSoMC", "isUpdating": "maybe", "data": []},
    {"service": "CapNhatTienDoHoSoMC", "isUpdating": "True", "data": []},
    [ocps_dossier("X-1", "2", RECEIVED)],
])  # fmt: skip
def test_an_unreadable_request_is_refused_whole(body: Any) -> None:
    with pytest.raises(EnvelopeError) as caught:
        read_envelope(body)
    assert caught.value.error_code == BAD_REQUEST


def test_an_envelope_posted_to_another_services_url_is_refused() -> None:
    with pytest.raises(EnvelopeError):
        read_bare(envelope("CapNhatTienDoHoSoMC", []), "DongBoHoSoMC", {})


# -- states into events -------------------------------------------------------------------------


def test_a_received_dossier_becomes_a_received_event_in_vietnamese_time() -> None:
    tr = translate(Service.DOSSIERS, [td_dossier("H26.1-261102-0001", "2", RECEIVED)], ctx())
    [event] = tr.events
    assert event == {
        "dossier_code": "H26.1-261102-0001", "locality": {"commune_code": "00004"},
        "agency": {"code": "UBND-00004", "name": "UBND phường Ba Đình"},
        "event_id": "dvcqg:H26.1-261102-0001:2:20261102083000", "event_type": "received",
        "occurred_at": "2026-11-02T08:30:00+07:00",
        "procedure": {"code": "1.000001", "name": "Đăng ký khai sinh", "sector": "Hộ tịch"}, "channel": "online",
    }  # fmt: skip


def test_kenh_thuc_hien_maps_to_the_channel_and_its_absence_counts_at_the_counter() -> None:
    channels = [translate(Service.DOSSIERS, [d], ctx()).events[0]["channel"] for d in (
        td_dossier("A-1", "2", RECEIVED, channel="1"), td_dossier("A-2", "2", RECEIVED, channel="2"),
        td_dossier("A-3", "2", RECEIVED, channel="3"), ocps_dossier("A-4", "2", RECEIVED))]  # fmt: skip
    assert channels == ["direct", "online", "postal", "direct"]


def _sync(status: str, known: dict[str, KnownStatus], now: datetime, **dates: Any) -> Translation:
    tr = translate(Service.DOSSIERS, [td_dossier("D-1", status, RECEIVED, **dates)], ctx(known, now=now))
    for code, state in tr.statuses.values():
        known[code] = state
    return tr


def test_status_sequence_2_5_4_9_10_as_repeated_syncs() -> None:
    known: dict[str, KnownStatus] = {}
    t5, t4 = NOW + timedelta(hours=1), NOW + timedelta(hours=5)
    finished, returned = datetime(2026, 11, 21, 9, 0, tzinfo=VN), datetime(2026, 11, 22, 10, 0, tzinfo=VN)
    assert [k[0] for k in kinds(_sync("2", known, NOW))] == ["received"]
    paused = kinds(_sync("5", known, t5))
    assert [k[0] for k in paused] == ["received", "supplement_requested"]
    assert paused[1][1] == t5.isoformat()  # no date in the record: stamped when first reported
    resumed = kinds(_sync("4", known, t4))
    assert [k[0] for k in resumed] == ["received", "supplement_received"] and resumed[1][1] == t4.isoformat()
    done = kinds(_sync("9", known, t4 + timedelta(days=1), finished=finished))
    assert [(k[0], k[1]) for k in done] == [("received", RECEIVED.isoformat()), ("resolved", finished.isoformat())]
    handed = kinds(_sync("10", known, t4 + timedelta(days=2), finished=finished, returned=returned))
    assert [k[0] for k in handed] == ["received", "resolved", "returned"]
    assert handed[1][2] == done[1][2]  # the same resolution, the same id: a duplicate, not a second one
    assert handed[2][2] == "dvcqg:D-1:10:20261122100000"


def test_a_resend_of_the_same_state_derives_the_same_events_later() -> None:
    known: dict[str, KnownStatus] = {}
    _sync("2", known, NOW)
    first = kinds(_sync("5", known, NOW + timedelta(hours=1)))
    again = kinds(_sync("5", known, NOW + timedelta(hours=9)))
    assert again == first


def test_processing_again_is_an_event_only_after_a_pause() -> None:
    known: dict[str, KnownStatus] = {}
    _sync("2", known, NOW)
    assert [k[0] for k in kinds(_sync("4", known, NOW + timedelta(hours=1)))] == ["received"]


def test_refused_withdrawn_and_stopped_close_the_dossier() -> None:
    for status, kind in (("7", "withdrawn"), ("8", "rejected"), ("3", "rejected")):
        assert kinds(_sync(status, {"D-1": KnownStatus("4", None)}, NOW))[-1][0] == kind


def test_a_newly_registered_dossier_adds_nothing_yet() -> None:
    tr = translate(Service.DOSSIERS, [td_dossier("D-1", "1", None)], ctx())
    assert tr.events == [] and tr.refused == {}


def test_a_whole_history_in_one_batch_follows_itself() -> None:
    items = [td_dossier("D-1", "2", RECEIVED), td_dossier("D-1", "5", RECEIVED), td_dossier("D-1", "4", RECEIVED)]
    tr = translate(Service.DOSSIERS, items, ctx())
    assert [e["event_type"] for e in tr.events].count("supplement_received") == 1


# -- units, procedures, dates ----------------------------------------------------------------------


def test_an_unmapped_unit_is_refused_and_a_mapped_suffix_places_the_identifier() -> None:
    lost = td_dossier("D-9", "2", RECEIVED, agency="UBND xã Không Rõ")
    tr = translate(Service.DOSSIERS, [lost], ctx(unit="000.00.01.H99"))
    assert tr.refused[0].reason == "unknown_unit" and tr.events == []
    placed = translate(Service.DOSSIERS, [lost], ctx(unit="000.00.01.H26")).events[0]
    assert placed["locality"] == {"province_code": "01"} and placed["agency"]["code"] == "000.00.01.H26"


def test_keys_a_request_needs_include_province_suffixes() -> None:
    assert unit_keys([td_dossier("D-1", "2", RECEIVED)], "000.00.01.H22") == {
        "000.00.01.H22", "UBND phường Ba Đình", "H22"}  # fmt: skip


def test_a_provincial_variant_of_a_national_procedure_counts_as_it() -> None:
    tr = translate(Service.DOSSIERS, [td_dossier("D-1", "2", RECEIVED, procedure="3.000181.000.00.00.H22")], ctx())
    assert tr.events[0]["procedure"]["code"] == "3.000181"
    unknown = translate(Service.DOSSIERS, [td_dossier("D-2", "2", RECEIVED, procedure="9.999999")], ctx())
    assert unknown.refused[0].reason == "unknown_procedure"


@pytest.mark.parametrize(("change", "reason"), [
    ({"NgayTiepNhan": "2026-11-02"}, "invalid_time"),
    ({"NgayTiepNhan": "20261302083000"}, "invalid_time"),
    ({"NgayTiepNhan": ""}, "missing_field"),
    ({"NgayHenTra": "20261140000000"}, "invalid_time"),
    ({"TrangThaiHoSo": "11"}, "invalid_field"),
    ({"MaHoSo": ""}, "missing_field"),
    ({"MaHoSo": "A:B"}, "invalid_field"),
    ({"KenhThucHien": "9"}, "invalid_field"),
    ({"MaTTHC": ""}, "missing_field"),
])  # fmt: skip
def test_each_bad_record_gets_its_own_reason(change: dict[str, Any], reason: str) -> None:
    items = [{**td_dossier("D-1", "2", RECEIVED), **change}, td_dossier("D-2", "2", RECEIVED)]
    tr = translate(Service.DOSSIERS, items, ctx())
    assert tr.refused[0].reason == reason
    assert [e["dossier_code"] for e in tr.events] == ["D-2"]  # the good record goes on


# -- progress items --------------------------------------------------------------------------------


def test_progress_steps_carry_their_time_and_official_and_follow_the_registered_place() -> None:
    at = datetime(2026, 11, 3, 14, 0, tzinfo=VN)
    steps = [progress("D-1", "5", at), progress("D-1", "2", at), progress("D-2", "4", at)]
    tr = translate(Service.PROGRESS, steps, ctx(owners={"D-1": ("01", "00004")}, unit="000.00.00.H26"))
    assert [(e["dossier_code"], e["event_type"], e["locality"]) for e in tr.events] == [
        ("D-1", "supplement_requested", {"commune_code": "00004"}),
        ("D-2", "supplement_received", {"province_code": "01"}),  # not registered: the calling unit's place
    ]  # fmt: skip
    assert tr.events[0]["handler"] == {"code": "Trần Thị B", "name": "Trần Thị B"}
    assert tr.events[0]["event_id"] == "dvcqg:D-1:5:20261103140000"
    orphan = translate(Service.PROGRESS, [progress("D-3", "9", at)], ctx(unit=None))
    assert orphan.refused[0].reason == "unknown_unit"


def test_results_fold_per_item() -> None:
    items = [td_dossier("D-1", "10", RECEIVED, finished=RECEIVED + timedelta(days=1),
                        returned=RECEIVED + timedelta(days=2)), {"MaHoSo": "D-2"}]  # fmt: skip
    tr = translate(Service.DOSSIERS, items, ctx())
    n = len(tr.events)
    fresh = [{"status": "accepted", "event_id": e["event_id"]} for e in tr.events]
    [one, two] = item_results(tr, 2, fresh)
    assert (one["status"], len(one["events"]), two["status"], two["reason"]) == ("accepted", n, "rejected",
                                                                                 "invalid_field")  # fmt: skip
    seen = [{"status": "duplicate", "reason": "already_ingested", "event_id": e["event_id"]} for e in tr.events]
    assert item_results(tr, 2, seen)[0]["status"] == "duplicate"
    mixed = [*fresh[:-1], {"status": "rejected", "reason": "locality_out_of_scope", "message": "x"}]
    assert item_results(tr, 2, mixed)[0]["reason"] == "locality_out_of_scope"


# -- the appointment (NgayHenTra) ------------------------------------------------------------------


def test_the_slip_date_rides_on_the_receipt() -> None:
    due = datetime(2026, 11, 16, 17, 0, tzinfo=VN)
    [event] = translate(Service.DOSSIERS, [td_dossier("D-1", "2", RECEIVED, due=due)], ctx()).events
    assert datetime.fromisoformat(event["due_at"]) == due
    [early] = translate(Service.DOSSIERS, [td_dossier("D-1", "2", RECEIVED, due=RECEIVED - timedelta(days=1))],
                        ctx()).events  # fmt: skip
    assert "due_at" not in early  # before the receipt: noise, the statutory deadline applies


def test_a_changed_slip_date_after_a_supplement_rides_on_the_restart() -> None:
    known: dict[str, KnownStatus] = {}
    due, moved = NOW + timedelta(days=3), NOW + timedelta(days=6)
    _sync("2", known, NOW, due=due)
    _sync("5", known, NOW + timedelta(hours=1), due=moved)  # recomputed while paused: left for the restart
    restart = _sync("4", known, NOW + timedelta(hours=2), due=moved).events
    assert [(e["event_type"], e.get("due_at") and datetime.fromisoformat(e["due_at"])) for e in restart[1:]] == [
        ("supplement_received", None),
        ("extended", moved),
    ]
    resend = _sync("4", known, NOW + timedelta(hours=3), due=moved).events
    assert {e["event_id"] for e in resend} <= {e["event_id"] for e in restart}  # nothing new: duplicates


def test_a_changed_slip_date_while_open_is_an_extension() -> None:
    known: dict[str, KnownStatus] = {}
    due, moved = NOW + timedelta(days=3), NOW + timedelta(days=8)
    _sync("2", known, NOW, due=due)
    assert _sync("2", known, NOW + timedelta(hours=1), due=due).events[1:] == []
    [extended] = _sync("2", known, NOW + timedelta(hours=2), due=moved).events[1:]
    assert (extended["event_type"], datetime.fromisoformat(extended["due_at"]), extended["event_id"]) == (
        "extended", moved, f"dvcqg:D-1:due:{moved.astimezone(VN):%Y%m%d%H%M%S}")  # fmt: skip


# -- the TD system's quirks ------------------------------------------------------------------------


def test_nine_without_its_date_is_not_a_result() -> None:
    """TD rewrites 5, 6 and 8 to 9 before pushing: without NgayKetThucXuLy, 9 resolves nothing."""
    known: dict[str, KnownStatus] = {}
    _sync("2", known, NOW)
    assert [e["event_type"] for e in _sync("9", known, NOW + timedelta(hours=1)).events] == ["received"]
    dated = _sync("9", known, NOW + timedelta(hours=2), finished=RECEIVED + timedelta(days=3)).events
    assert [e["event_type"] for e in dated] == ["received", "resolved"]


def test_the_td_systems_made_up_steps_add_nothing() -> None:
    made_up = [
        progress("D-1", "2", RECEIVED, official="Cán bộ một cửa", action="Tiếp nhận hồ sơ"),
        progress("D-1", "9", RECEIVED, official="Cán bộ một cửa", action="Kết thúc xử lý hồ sơ"),
        progress("D-1", "9", RECEIVED, official="Cán bộ một cửa", action="Hồ sơ không có ngày hẹn trả"),
    ]
    for step in made_up:
        step["NoiDungXuLy"] = step["NoiDungXuLy"].rstrip("-")  # TD sends the label alone
    tr = translate(Service.PROGRESS, made_up, ctx(owners={"D-1": ("01", "00004")}))
    assert tr.events == [] and tr.refused == {}
    real = progress("D-1", "9", RECEIVED + timedelta(days=2), official="Lê Văn C", action="Kết thúc xử lý hồ sơ")
    assert [
        e["event_type"] for e in translate(Service.PROGRESS, [real], ctx(owners={"D-1": ("01", "00004")})).events
    ] == ["resolved"]
