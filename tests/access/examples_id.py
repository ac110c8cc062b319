"""Matrix examples for the ID-issuance routes (push API, daily figures, targets)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ingest.id_issuance import VN
from tests.access.matrix_support import IN_PROVINCE, OUT_PROVINCE, Call, Example, World, next_id, province
from tests.integration.id_issuance_support import HANOI_WARD, THU_DAU_MOT, report

DAY = "2030-01-02"  # the day of the rows the list examples read; no other example writes it


def ingest(w: World, variant: str) -> Call:
    day = datetime.now(VN).date() - timedelta(days=1)
    item = report(f"mx-id-{next_id()}", day=day.isoformat(), reported_at=f"{day.isoformat()}T18:00:00+07:00",
                  locality=HANOI_WARD if variant == "in" else THU_DAU_MOT)  # fmt: skip
    return Call("/api/v1/ingest/id-issuance", json=[item])


def _world_rows(w: World) -> None:
    """A day's figures and a target in each province, once: what a leaky list would show."""
    if "id_rows" in w.cache:
        return
    for code, commune in ((IN_PROVINCE, "00004"), (OUT_PROVINCE, "25747")):
        w.sql(
            "INSERT INTO id_issuance_daily (province_code, commune_code, day, cccd_received, cccd_issued, l2_received,"
            " l2_approved, l2_activated, eligible_population, cccd_issued_total, l2_activated_total, reported_at,"
            " source_id, record_id) VALUES (%s, %s, %s, 1, 1, 1, 1, 1, 100, 90, 10, now(), 'mx', %s) RETURNING day",
            [code, commune, DAY, f"mx-{code}"],
        )
        w.sql(
            "INSERT INTO id_target (province_code, metric, target_value, deadline, set_by)"
            " VALUES (%s, 'vneid_l2_activated', 1000, '2030-06-20', 'mx') ON CONFLICT DO NOTHING RETURNING 1",
            [code],
        )
    w.cache["id_rows"] = True


def daily(w: World, variant: str) -> Call:
    _world_rows(w)
    return Call("/api/v1/id/daily", params={"province_code": province(variant), "from": DAY, "to": DAY})


def targets(w: World, variant: str) -> Call:
    _world_rows(w)
    return Call("/api/v1/id/targets")


def rows_leak(w: World, body: Any) -> bool:
    return any(r["province_code"] != IN_PROVINCE for r in body["rows"])


def targets_leak(w: World, body: Any) -> bool:
    return any(t["province_code"] != IN_PROVINCE for t in body["targets"])


def put_target(w: World, variant: str) -> Call:
    return Call("/api/v1/id/targets", json={
        "province_code": province(variant), "metric": "cccd_coverage", "target_value": 1.0,
        "start_date": "2030-01-01", "deadline": "2030-07-31", "note": "100% người đủ điều kiện có CCCD",
    })  # fmt: skip


def delete_target(w: World, variant: str) -> Call:
    code = province(variant)
    w.sql(
        "INSERT INTO id_target (province_code, metric, target_value, deadline, set_by)"
        " VALUES (%s, 'cccd_coverage', 1, '2030-07-31', 'mx') ON CONFLICT DO NOTHING RETURNING 1",
        [code],
    )
    return Call(f"/api/v1/id/targets/{code}/cccd_coverage")


EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/api/v1/ingest/id-issuance"): Example(ingest),
    ("GET", "/api/v1/id/daily"): Example(daily, leaked=rows_leak),
    ("GET", "/api/v1/id/targets"): Example(targets, leaked=targets_leak),
    ("PUT", "/api/v1/id/targets"): Example(put_target),
    ("DELETE", "/api/v1/id/targets/{province_code}/{metric}"): Example(delete_target),
}
