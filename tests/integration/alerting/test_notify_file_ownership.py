"""The notification file and the API share objects: the file never undoes an administrator.

Expected: a file object is created at start; an administrator's edit survives the next start;
an object the administrator deleted is not brought back; creating it again through the API
makes it theirs (and the file still leaves it alone).
"""

from __future__ import annotations

from typing import Any

import psycopg

from alerts.notify.config import DEFAULT_NOTIFY_FILE, load_notify_file
from tests.conftest import LiveServer

POLICY = "/api/v1/notify/escalation-policies"
SHIPPED = "default-hierarchy"


async def restart_load(db_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await load_notify_file(conn, DEFAULT_NOTIFY_FILE)


def policy(server: LiveServer, policy_id: str) -> dict[str, Any] | None:
    with server.client() as c:
        listed = c.get(POLICY).json()["escalation_policies"]
    return next((p for p in listed if p["id"] == policy_id), None)


async def test_the_file_never_undoes_an_administrator(live_server: LiveServer) -> None:
    await restart_load(live_server.db_url)
    shipped = policy(live_server, SHIPPED)
    assert shipped is not None and shipped["updated_by"] == "file"
    assert [s["after_working_minutes"] for s in shipped["steps"]] == [30, 60, 120]

    edited = {"position": 100, "steps": [{"after_working_minutes": 15, "level": "commune", "roles": ["operator"]}]}
    with live_server.client() as c:
        assert c.put(f"{POLICY}/{SHIPPED}", json=edited).status_code == 200
    await restart_load(live_server.db_url)  # the next start
    kept = policy(live_server, SHIPPED)
    assert kept is not None and [s["after_working_minutes"] for s in kept["steps"]] == [15]

    with live_server.client() as c:
        assert c.delete(f"{POLICY}/{SHIPPED}").status_code == 200
    await restart_load(live_server.db_url)
    assert policy(live_server, SHIPPED) is None  # deleted stays deleted

    with live_server.client() as c:
        assert c.put(f"{POLICY}/{SHIPPED}", json=edited).status_code == 200
    await restart_load(live_server.db_url)
    again = policy(live_server, SHIPPED)
    assert again is not None and again["updated_by"] != "file"
    assert [s["after_working_minutes"] for s in again["steps"]] == [15]
