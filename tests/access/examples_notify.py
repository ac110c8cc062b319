"""Matrix examples for the notify routes: silences, notification configuration, own subscriptions."""

from __future__ import annotations

from typing import Any

from tests.access.matrix_support import Call, Example, World, next_id, province

SILENCE_BODY = {"starts_at": "2030-01-01T00:00:00+07:00", "ends_at": "2030-01-02T00:00:00+07:00",
                "comment": "Bảo trì hệ thống"}  # fmt: skip


def silence(w: World, variant: str) -> int:
    """A silence pinned to the in-scope (01) or out-of-scope (79) province."""
    row = w.sql(
        "INSERT INTO silence (matchers, starts_at, ends_at, comment, created_by) VALUES (%s, now(),"
        " now() + interval '1 day', 'bảo trì', 'test') RETURNING id",
        [f'[{{"label": "province_code", "op": "=", "value": "{province(variant)}"}}]'],
    )
    return int(row[0])


def silences_leak(w: World, body: Any) -> bool:
    return any(m["label"] == "province_code" and m["value"] != "01" for s in body["silences"] for m in s["matchers"])


def contact_point(w: World) -> str:
    cp = f"cp-{next_id()}"
    w.sql("INSERT INTO contact_point (id, channel, address, created_by) VALUES (%s, 'webhook',"
          " 'http://127.0.0.1:9/hook', 'test') RETURNING id", [cp])  # fmt: skip
    return cp


def route(w: World) -> str:
    rid = f"route-{next_id()}"
    w.sql("INSERT INTO notification_route (id, position, contact_points, updated_by) VALUES (%s, 1, %s, 'test')"
          " RETURNING id", [rid, [contact_point(w)]])  # fmt: skip
    return rid


def policy(w: World) -> str:
    pid = f"policy-{next_id()}"
    w.sql("INSERT INTO escalation_policy (id, position, steps, updated_by) VALUES (%s, 1,"
          " '[{\"after_working_minutes\": 30, \"level\": \"commune\", \"roles\": [\"operator\"]}]', 'test')"
          " RETURNING id", [pid])  # fmt: skip
    return pid


def inhibit(w: World) -> str:
    iid = f"inhibit-{next_id()}"
    w.sql("INSERT INTO inhibit_rule (id, source_matchers, target_matchers, updated_by) VALUES (%s,"
          " '[{\"label\": \"rule\", \"op\": \"=\", \"value\": \"a\"}]',"
          " '[{\"label\": \"rule\", \"op\": \"=\", \"value\": \"b\"}]', 'test') RETURNING id", [iid])  # fmt: skip
    return iid


def subscription(w: World) -> int:
    # Owned by some user, not necessarily the caller: another person's row answers 404.
    row = w.sql("INSERT INTO alert_subscription (user_id, provinces, channels) SELECT min(id), '{01}', '{email}'"
                " FROM app_user RETURNING id")  # fmt: skip
    return int(row[0])


ROUTE_BODY = {"contact_points": ["x"], "matchers": [{"label": "severity", "op": "=", "value": "critical"}]}
POLICY_BODY = {"steps": [{"after_working_minutes": 30, "level": "commune", "roles": ["operator"]}]}
INHIBIT_BODY = {"source_matchers": [{"label": "rule", "op": "=", "value": "silent_source"}],
                "target_matchers": [{"label": "rule", "op": "!=", "value": "silent_source"}],
                "equal": ["stream", "province_code"]}  # fmt: skip
SUBSCRIPTION_BODY = {"provinces": ["01"], "channels": ["email", "webpush"], "quiet_from": "22:00", "quiet_to": "06:00"}

# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    # silences
    ("GET", "/api/v1/silences"): Example(lambda w, v: (silence(w, v), Call("/api/v1/silences"))[1],
                                         leaked=silences_leak),
    ("POST", "/api/v1/silences"): Example(lambda w, v: Call("/api/v1/silences", json={
        **SILENCE_BODY, "matchers": [{"label": "province_code", "op": "=", "value": province(v)}]})),
    ("GET", "/api/v1/silences/{silence_id}"): Example(lambda w, v: Call(f"/api/v1/silences/{silence(w, v)}")),
    ("POST", "/api/v1/silences/{silence_id}/expire"): Example(
        lambda w, v: Call(f"/api/v1/silences/{silence(w, v)}/expire")),
    # notification configuration (admin)
    ("GET", "/api/v1/notify/contact-points"): Example(lambda w, v: Call("/api/v1/notify/contact-points")),
    ("PUT", "/api/v1/notify/contact-points/{cp_id}"): Example(lambda w, v: Call(
        f"/api/v1/notify/contact-points/cp-{next_id()}",
        json={"channel": "email", "address": "trungtam@example.vn", "options": {"language": "vi"}})),
    ("DELETE", "/api/v1/notify/contact-points/{cp_id}"): Example(
        lambda w, v: Call(f"/api/v1/notify/contact-points/{contact_point(w)}")),
    ("POST", "/api/v1/notify/contact-points/{cp_id}/test"): Example(
        lambda w, v: Call(f"/api/v1/notify/contact-points/{contact_point(w)}/test")),
    ("GET", "/api/v1/notify/routes"): Example(lambda w, v: Call("/api/v1/notify/routes")),
    ("PUT", "/api/v1/notify/routes/{route_id}"): Example(lambda w, v: Call(
        f"/api/v1/notify/routes/route-{next_id()}", json={**ROUTE_BODY, "contact_points": [contact_point(w)]})),
    ("DELETE", "/api/v1/notify/routes/{route_id}"): Example(lambda w, v: Call(f"/api/v1/notify/routes/{route(w)}")),
    ("GET", "/api/v1/notify/escalation-policies"): Example(lambda w, v: Call("/api/v1/notify/escalation-policies")),
    ("PUT", "/api/v1/notify/escalation-policies/{policy_id}"): Example(
        lambda w, v: Call(f"/api/v1/notify/escalation-policies/policy-{next_id()}", json=POLICY_BODY)),
    ("DELETE", "/api/v1/notify/escalation-policies/{policy_id}"): Example(
        lambda w, v: Call(f"/api/v1/notify/escalation-policies/{policy(w)}")),
    ("GET", "/api/v1/notify/inhibit-rules"): Example(lambda w, v: Call("/api/v1/notify/inhibit-rules")),
    ("PUT", "/api/v1/notify/inhibit-rules/{rule_id}"): Example(
        lambda w, v: Call(f"/api/v1/notify/inhibit-rules/inhibit-{next_id()}", json=INHIBIT_BODY)),
    ("DELETE", "/api/v1/notify/inhibit-rules/{rule_id}"): Example(
        lambda w, v: Call(f"/api/v1/notify/inhibit-rules/{inhibit(w)}")),
    # one's own subscriptions (target global: filters inside every test principal's scope)
    ("GET", "/api/v1/me/subscriptions"): Example(lambda w, v: Call("/api/v1/me/subscriptions")),
    ("POST", "/api/v1/me/subscriptions"): Example(lambda w, v: Call("/api/v1/me/subscriptions",
                                                                    json=SUBSCRIPTION_BODY)),
    ("PUT", "/api/v1/me/subscriptions/{subscription_id}"): Example(
        lambda w, v: Call(f"/api/v1/me/subscriptions/{subscription(w)}", json=SUBSCRIPTION_BODY), ok=(200, 404)),
    ("DELETE", "/api/v1/me/subscriptions/{subscription_id}"): Example(
        lambda w, v: Call(f"/api/v1/me/subscriptions/{subscription(w)}"), ok=(200, 404)),
    ("GET", "/api/v1/me/contacts"): Example(lambda w, v: Call("/api/v1/me/contacts")),
    ("PUT", "/api/v1/me/contacts/{channel}"): Example(
        lambda w, v: Call("/api/v1/me/contacts/email", json={"address": "toi@example.vn"})),
    ("DELETE", "/api/v1/me/contacts/{channel}"): Example(lambda w, v: Call("/api/v1/me/contacts/zalo")),
    ("PUT", "/api/v1/me/language"): Example(lambda w, v: Call("/api/v1/me/language", json={"language": "en"})),
}
# fmt: on
