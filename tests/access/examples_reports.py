"""Matrix examples for the monthly reports (late list, briefing, stored files)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ioc.reports.months import month_of, previous_month
from tests.access.matrix_support import IN_PROVINCE, Call, Example, World, province


def last_month() -> str:
    return f"{previous_month(month_of(datetime.now(UTC))):%Y-%m}"


def stored_report(w: World, variant: str) -> int:
    """A stored late list per province (made once per module), as the monthly schedule stores it."""
    key = f"report-{variant}"
    if key not in w.cache:
        row = w.sql(
            "INSERT INTO report_file (province_code, kind, month, format, content, size_bytes)"
            " VALUES (%s, 'late_list', '2026-08-01', 'xlsx', %s, 4) RETURNING id",
            [province(variant), b"PK\x03\x04"],
        )
        w.cache[key] = int(row[0])
    return int(w.cache[key])


def on_demand(path: str) -> Example:
    return Example(
        lambda w, v: Call(path, params={"province_code": province(v), "month": last_month(), "format": "xlsx"})
    )


def stored_list_leaks(w: World, body: Any) -> bool:
    return any(r["province_code"] != IN_PROVINCE for r in body["reports"])


def listing(w: World, variant: str) -> Call:
    # Both exist, so a scoped caller's list must leave the other province's out.
    stored_report(w, "in")
    stored_report(w, "out")
    return Call("/api/v1/reports", params={"province_code": province(variant)})


EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/reports/late-list"): on_demand("/api/v1/reports/late-list"),
    ("GET", "/api/v1/reports/briefing"): on_demand("/api/v1/reports/briefing"),
    ("GET", "/api/v1/reports"): Example(listing, leaked=stored_list_leaks),
    ("GET", "/api/v1/reports/{report_id}"): Example(lambda w, v: Call(f"/api/v1/reports/{stored_report(w, v)}")),
}
