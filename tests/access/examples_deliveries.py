"""Matrix examples for the delivery outbox's admin routes (ioc/api/deliveries.py)."""

from __future__ import annotations

import orjson

from tests.access.matrix_support import Call, Example, World, next_id

_PAYLOAD = orjson.dumps({
    "kind": "test", "group_key": "matrix", "group_labels": {}, "alerts": [],
    "created_at": "2026-10-12T01:30:00+00:00", "language": "vi", "extra": {},
}).decode()  # fmt: skip


def dead_letter(w: World) -> int:
    """A fresh dead letter: every allowed call may retry its own."""
    row = w.sql(
        "INSERT INTO delivery (idempotency_key, channel, address, payload, status, attempts, dead_at, last_error)"
        " VALUES (%s, 'webhook', 'http://127.0.0.1:9/hook', %s::jsonb, 'dead', 1, now(), 'HTTP 410') RETURNING id",
        [f"matrix-{next_id()}", _PAYLOAD],
    )
    return int(row[0])


# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/deliveries"): Example(lambda w, v: Call("/api/v1/deliveries", params={"status": "dead"})),
    ("GET", "/api/v1/deliveries/{delivery_id}"): Example(lambda w, v: Call(f"/api/v1/deliveries/{dead_letter(w)}")),
    ("POST", "/api/v1/deliveries/{delivery_id}/retry"): Example(
        lambda w, v: Call(f"/api/v1/deliveries/{dead_letter(w)}/retry")
    ),
}
# fmt: on
