"""Matrix examples for Alertmanager's API v2 (ioc/api/alertmanager.py): source keys only."""

from __future__ import annotations

from tests.access.matrix_support import Call, Example, World, next_id, province

PATH = "/api/v2/alerts"


def posted_alert(w: World, variant: str) -> Call:
    """One alert for the in-scope or the out-of-scope province, as Prometheus would post it."""
    labels = {"alertname": f"Matrix{next_id()}", "severity": "warning", "province_code": province(variant)}
    return Call(PATH, json=[{"labels": labels, "annotations": {"summary": "matrix"}}])


EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", PATH): Example(posted_alert),
    ("GET", "/api/v2/status"): Example(lambda w, v: Call("/api/v2/status")),
}
