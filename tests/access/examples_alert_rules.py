"""Matrix examples for the alert-rules API (ioc/api/alert_rules.py); all targets are "global"."""

from __future__ import annotations

from tests.access.matrix_support import Call, Example, World, next_id


def _rule(w: World) -> str:
    """A fresh rule (version 1) made straight in the database, so each call has its own."""
    rule_id = f"mx_rule_{next_id()}"
    spec = f'{{"id": "{rule_id}", "kind": "cccd_coverage"}}'
    w.sql(
        "INSERT INTO alert_rule (id, kind, spec, enabled, version, origin, updated_by)"
        " VALUES (%s, 'cccd_coverage', %s::jsonb, true, 1, 'api', 'matrix') RETURNING id",
        [rule_id, spec],
    )
    w.sql(
        "INSERT INTO alert_rule_version (rule_id, version, kind, spec, enabled, change, author)"
        " VALUES (%s, 1, 'cccd_coverage', %s::jsonb, true, 'create', 'matrix') RETURNING rule_id",
        [rule_id, spec],
    )
    return rule_id


BASE = "/api/v1/alert-rules"

# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", BASE): Example(lambda w, v: Call(BASE)),
    ("POST", BASE): Example(lambda w, v: Call(BASE, json={"id": f"mx_new_{next_id()}", "kind": "cccd_coverage"})),
    ("POST", f"{BASE}/validate"): Example(lambda w, v: Call(f"{BASE}/validate",
                                                            json={"id": "mx_dry", "kind": "cccd_coverage"})),
    ("GET", f"{BASE}/{{rule_id}}"): Example(lambda w, v: Call(f"{BASE}/{_rule(w)}")),
    ("GET", f"{BASE}/{{rule_id}}/versions"): Example(lambda w, v: Call(f"{BASE}/{_rule(w)}/versions")),
    ("PUT", f"{BASE}/{{rule_id}}"): Example(lambda w, v: (lambda rid: Call(
        f"{BASE}/{rid}", json={"version": 1, "rule": {"id": rid, "kind": "target_pace", "pace_days": 5}}))(_rule(w))),
    ("POST", f"{BASE}/{{rule_id}}/enable"): Example(lambda w, v: Call(f"{BASE}/{_rule(w)}/enable")),
    ("POST", f"{BASE}/{{rule_id}}/disable"): Example(lambda w, v: Call(f"{BASE}/{_rule(w)}/disable")),
    ("DELETE", f"{BASE}/{{rule_id}}"): Example(lambda w, v: Call(f"{BASE}/{_rule(w)}")),
}
# fmt: on
