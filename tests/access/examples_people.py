"""Matrix examples for people acting on alerts (ioc/api/alerts.py) and Web Push subscriptions
(ioc/api/push.py). The acknowledgement route's example stays in examples_core.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ioc.auth.scope import Scope
from tests.access.matrix_support import Call, Example, World, alert, next_id, province
from tests.auth_support import create_user

ALERTS = "/api/v1/alerts"
PUSH = "/api/v1/push"


def fresh_alert(w: World, variant: str) -> int:
    """An alert of its own for actions that close it (a resolved alert answers 409)."""
    return alert(w, province(variant), f"people-{next_id()}")


def shared_alert(w: World, variant: str) -> int:
    return w.alert_in if variant == "in" else w.alert_out


def assignee(w: World) -> str:
    """A national operator: their scope covers both the in- and the out-of-scope alert."""
    if "people_assignee" not in w.cache:
        create_user(w.db, "mx-assignee", "operator", Scope.everything())
        w.cache["people_assignee"] = "mx-assignee"
    return str(w.cache["people_assignee"])


def push_subscription(w: World, variant: str) -> Call:
    body = {
        "endpoint": f"https://push.example.test/send/mx-{next_id()}",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
        "expirationTime": None,
    }
    return Call(f"{PUSH}/subscriptions", json=body)


# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", f"{ALERTS}/{{alert_id}}/unack"): Example(
        lambda w, v: Call(f"{ALERTS}/{shared_alert(w, v)}/unack", json={"comment": ""})
    ),
    ("POST", f"{ALERTS}/{{alert_id}}/comments"): Example(
        lambda w, v: Call(f"{ALERTS}/{shared_alert(w, v)}/comments", json={"comment": "Đang liên hệ xã"})
    ),
    ("POST", f"{ALERTS}/{{alert_id}}/assign"): Example(
        lambda w, v: Call(f"{ALERTS}/{shared_alert(w, v)}/assign", json={"assignee": assignee(w)})
    ),
    ("POST", f"{ALERTS}/{{alert_id}}/snooze"): Example(
        lambda w, v: Call(f"{ALERTS}/{shared_alert(w, v)}/snooze",
                          json={"until": (datetime.now(UTC) + timedelta(hours=2)).isoformat()})
    ),
    ("POST", f"{ALERTS}/{{alert_id}}/resolve"): Example(
        lambda w, v: Call(f"{ALERTS}/{fresh_alert(w, v)}/resolve", json={"comment": "Đã xử lý xong"})
    ),
    ("GET", f"{PUSH}/vapid-public-key"): Example(lambda w, v: Call(f"{PUSH}/vapid-public-key")),
    ("GET", f"{PUSH}/subscriptions"): Example(lambda w, v: Call(f"{PUSH}/subscriptions")),
    ("POST", f"{PUSH}/subscriptions"): Example(push_subscription),
    ("DELETE", f"{PUSH}/subscriptions"): Example(
        lambda w, v: Call(f"{PUSH}/subscriptions", params={"endpoint": "https://push.example.test/send/none"})
    ),
}
# fmt: on
