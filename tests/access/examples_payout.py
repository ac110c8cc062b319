"""Matrix examples for the payout routes (ioc/api/payout.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.access.matrix_support import IN_PROVINCE, Call, Example, World, next_id, province
from tests.auth_support import bearer
from tests.integration.payout_support import PAYOUT_INGEST, report

CYCLE = "2024-10"


def payout_record(w: World, variant: str) -> Call:
    return Call(PAYOUT_INGEST, json=[report(f"mx-payout-{next_id()}", locality={"province_code": province(variant)})])


def cycles(w: World, variant: str) -> Call:
    """Cycles in both provinces exist (pushed once), so a leak would show."""
    if "payout_cycles" not in w.cache:
        items = [report(f"mx-cycle-{p}", locality={"province_code": p}) for p in (IN_PROVINCE, "79")]
        with httpx.Client(base_url=w.server.url, headers=bearer(w.server.api_key), timeout=30) as client:
            response = client.post(PAYOUT_INGEST, json=items)
        assert response.status_code == 200 and response.json()["accepted"] == 2, response.text
        w.cache["payout_cycles"] = True
    return Call("/api/v1/payout/cycles", params={"cycle": CYCLE, "province_code": province(variant)})


def cycles_leak(w: World, body: Any) -> bool:
    return any(c["province_code"] != IN_PROVINCE for c in body["cycles"])


def programme(w: World, variant: str) -> Call:
    body = {"name_vi": "Trợ cấp thử nghiệm", "name_en": "Test allowance", "active": variant == "in"}
    return Call(f"/api/v1/admin/payout/programmes/mx_programme_{next_id()}", json=body)


EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", PAYOUT_INGEST): Example(payout_record),
    ("GET", "/api/v1/payout/programmes"): Example(lambda w, v: Call("/api/v1/payout/programmes")),
    ("PUT", "/api/v1/admin/payout/programmes/{code}"): Example(programme),
    ("GET", "/api/v1/payout/cycles"): Example(cycles, leaked=cycles_leak),
}
