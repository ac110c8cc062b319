"""Web Push subscriptions through the API: upsert by endpoint for the signed-in person, delete
only one's own, bounded input, and the VAPID key answer when Web Push is not configured."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ioc.auth.scope import Scope
from tests.auth_support import user_token
from tests.conftest import LiveServer
from tests.integration.alerting.people_support import fetch_all

SUBSCRIPTIONS = "/api/v1/push/subscriptions"
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"


@pytest.fixture(scope="module")
def server(module_live_server: LiveServer) -> Iterator[LiveServer]:
    with module_live_server.client() as client:
        if client.get(SUBSCRIPTIONS).status_code == 404:
            pytest.skip("push_router (ioc/api/push.py) is not included in ioc/app.py yet")
    yield module_live_server


def _subscription(endpoint: str, p256dh: str = P256DH) -> dict[str, object]:
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": AUTH}, "expirationTime": None}


def _person(server: LiveServer, name: str) -> httpx.Client:
    return server.client(user_token(server.db_url, name, "subscriber", Scope.from_dict({"provinces": ["01"]})))


def test_subscribe_upserts_by_endpoint_and_moves_between_accounts(server: LiveServer) -> None:
    endpoint = "https://fcm.googleapis.com/fcm/send/phone-1"
    with _person(server, "push-an") as an, _person(server, "push-binh") as binh:
        first = an.post(SUBSCRIPTIONS, json=_subscription(endpoint))
        assert first.status_code == 201 and first.json()["created"] is True
        again = an.post(SUBSCRIPTIONS, json=_subscription(endpoint, "B" + "x" * 86))
        assert again.status_code == 201 and again.json() == {"id": first.json()["id"], "created": False}
        # The same phone signed in as another person: the endpoint now notifies that person only.
        assert binh.post(SUBSCRIPTIONS, json=_subscription(endpoint)).status_code == 201
        assert an.get(SUBSCRIPTIONS).json()["subscriptions"] == []
        [mine] = binh.get(SUBSCRIPTIONS).json()["subscriptions"]
        assert mine["endpoint"] == endpoint
    rows = fetch_all(server.db_url, "SELECT u.username, p.p256dh FROM push_subscription p JOIN app_user u"
                     " ON u.id = p.user_id WHERE endpoint = %s", [endpoint])  # fmt: skip
    assert rows == [("push-binh", P256DH)]


def test_delete_removes_only_ones_own(server: LiveServer) -> None:
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/phone-2"
    with _person(server, "push-chi") as chi, _person(server, "push-dung") as dung:
        assert chi.post(SUBSCRIPTIONS, json=_subscription(endpoint)).status_code == 201
        assert dung.delete(SUBSCRIPTIONS, params={"endpoint": endpoint}).json() == {"removed": 0}
        assert chi.delete(SUBSCRIPTIONS, params={"endpoint": endpoint}).json() == {"removed": 1}
    assert fetch_all(server.db_url, "SELECT 1 FROM push_subscription WHERE endpoint = %s", [endpoint]) == []


@pytest.mark.parametrize(
    "body",
    [
        _subscription("http://insecure.example/push"),
        _subscription("https://push.example/" + "a" * 2100),
        _subscription("https://push.example/x", p256dh="not base64!"),
        {"endpoint": "https://push.example/x", "keys": {"p256dh": P256DH}},
    ],
)
def test_bad_subscriptions_are_refused(server: LiveServer, body: dict[str, object]) -> None:
    with _person(server, f"push-bad-{abs(hash(str(body))) % 10_000}") as person:
        assert person.post(SUBSCRIPTIONS, json=body).status_code == 422


def test_vapid_key_is_given_or_the_server_says_push_is_not_configured(server: LiveServer) -> None:
    with server.client() as admin:
        response = admin.get("/api/v1/push/vapid-public-key")
    assert response.status_code == 200, response.text
    body = response.json()
    if body["public_key"] is None:
        assert "Web Push" in body["reason"]
    else:
        assert len(body["public_key"]) >= 80 and body["reason"] is None
