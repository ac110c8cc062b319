"""Zalo Official Account: a customer-service text message to a follower.

POST {base_url}/v3.0/oa/message/cs, header ``access_token``, body
{"recipient": {"user_id": ...}, "message": {"text": ...}}. Zalo answers HTTP 200 even for a
refusal and puts the verdict in ``error`` (0 = sent): a non-zero code is permanent (unknown user,
not a follower, bad token) except the rate-limit and server-busy codes.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerts.delivery.errors import PermanentError, TemporaryError
from alerts.delivery.http_support import post_json
from alerts.delivery.outbox import DeliveryRow
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.templates import render

__all__ = ["ZALO_MAX_CHARS", "ZALO_TEMPORARY_ERRORS", "ZaloSender", "zalo_request"]

ZALO_MAX_CHARS = 2000
# Zalo's "try later" codes: -32 request rate exceeded, -1 / -50 internal error.
ZALO_TEMPORARY_ERRORS = frozenset({-1, -32, -50})


def zalo_request(row: DeliveryRow, public_url: str) -> dict[str, Any]:
    """The message body for ``row`` (pure); the link stays even when the text is cut."""
    message = render(row.notification, language=row.language, public_url=public_url)
    text = message.chat_text
    if len(text) > ZALO_MAX_CHARS:
        keep = ZALO_MAX_CHARS - len(message.link) - 2
        text = f"{text[:keep]}…\n{message.link}"
    return {"recipient": {"user_id": row.address}, "message": {"text": text}}


class ZaloSender:
    def __init__(self, settings: DeliverySettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.http_timeout_s)

    async def send(self, row: DeliveryRow) -> None:
        token = self._settings.zalo_access_token
        if not token:
            raise PermanentError("Zalo is not configured (no OA access token)")
        url = f"{self._settings.zalo_base_url.rstrip('/')}/v3.0/oa/message/cs"
        response = await post_json(self._client, url, zalo_request(row, self._settings.public_url),
                                   {"access_token": token}, redact=token)  # fmt: skip
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = answer.get("error", 0) if isinstance(answer, dict) else 0
        if isinstance(code, int) and code != 0:
            text = f"Zalo error {code}: {answer.get('message', '')}"[:300]
            raise TemporaryError(text) if code in ZALO_TEMPORARY_ERRORS else PermanentError(text)

    async def aclose(self) -> None:
        await self._client.aclose()
