"""Generic webhook: POST JSON to the contact point's URL, with the idempotency key in a header.

Two payload forms. The default is IOC's own: the notification as the planner wrote it plus the
rendered title and text. ``{"format": "alertmanager"}`` posts Alertmanager's webhook payload
instead, for receivers built for Prometheus. Either way the ``Idempotency-Key`` header lets the
receiver drop a retried duplicate.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerts.delivery.alertmanager_format import alertmanager_payload
from alerts.delivery.errors import PermanentError
from alerts.delivery.http_support import post_json
from alerts.delivery.outbox import DeliveryRow
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.templates import render

__all__ = ["WebhookSender", "webhook_payload"]


def webhook_payload(row: DeliveryRow, public_url: str) -> dict[str, Any]:
    """The JSON body for ``row`` in the form its options ask for (pure)."""
    if row.options.get("format") == "alertmanager":
        receiver = str(row.options.get("receiver") or row.options.get("contact_point") or "ioc")
        max_alerts = int(row.options.get("max_alerts") or 0)
        return alertmanager_payload(
            row.notification, receiver=receiver, public_url=public_url, language=row.language, max_alerts=max_alerts
        )
    message = render(row.notification, language=row.language, public_url=public_url)
    return {
        "version": "ioc/1",
        "idempotency_key": row.idempotency_key,
        "kind": row.notification.kind.value,
        "language": message.language,
        "title": message.title,
        "text": message.text,
        "link": message.link,
        "notification": row.notification.to_json(),
    }


class WebhookSender:
    def __init__(self, settings: DeliverySettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        # Webhooks must answer, not redirect: a 3xx is a misconfigured URL (permanent error).
        self._client = client or httpx.AsyncClient(timeout=settings.http_timeout_s, follow_redirects=False)

    async def send(self, row: DeliveryRow) -> None:
        try:
            url = httpx.URL(row.address)
        except (httpx.InvalidURL, TypeError) as exc:
            raise PermanentError(f"invalid webhook URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise PermanentError("webhook URL must be http(s)://host/...")
        headers = {"Idempotency-Key": row.idempotency_key}
        await post_json(self._client, row.address, webhook_payload(row, self._settings.public_url), headers)

    async def aclose(self) -> None:
        await self._client.aclose()
