"""Telegram bot: Bot API sendMessage to a chat, in Telegram's HTML subset.

POST {base_url}/bot{token}/sendMessage with chat_id, text, parse_mode "HTML". The base URL is a
setting so tests (or a self-hosted Bot API server) stand in for api.telegram.org. Telegram says
"slow down" as 429 with ``parameters.retry_after``; that wait is honoured.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerts.delivery.errors import PermanentError
from alerts.delivery.http_support import post_json, raise_for_answer
from alerts.delivery.outbox import DeliveryRow
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.templates import render

__all__ = ["TELEGRAM_MAX_CHARS", "TelegramSender", "telegram_request"]

TELEGRAM_MAX_CHARS = 4096


def telegram_request(row: DeliveryRow, public_url: str) -> dict[str, Any]:
    """The sendMessage body for ``row`` (pure)."""
    message = render(row.notification, language=row.language, public_url=public_url)
    text = message.chat_html
    if len(text) > TELEGRAM_MAX_CHARS:
        # Cutting HTML could leave a tag open, which Telegram refuses: fall back to the title + link.
        text = f"{message.chat_html.split(chr(10), 1)[0]}\n{message.link}"[:TELEGRAM_MAX_CHARS]
    return {"chat_id": row.address, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}


class TelegramSender:
    def __init__(self, settings: DeliverySettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.http_timeout_s)

    async def send(self, row: DeliveryRow) -> None:
        token = self._settings.telegram_token
        if not token:
            raise PermanentError("Telegram is not configured (no bot token)")
        url = f"{self._settings.telegram_base_url.rstrip('/')}/bot{token}/sendMessage"
        body = telegram_request(row, self._settings.public_url)
        response = await post_json(self._client, url, body, redact=token, check=False)
        answer = _json(response)
        # Telegram says "slow down" in the body ({"parameters": {"retry_after": 5}}), not a header.
        retry = answer.get("parameters", {}).get("retry_after") if isinstance(answer.get("parameters"), dict) else None
        raise_for_answer(response, redact=token, retry_after=float(retry) if isinstance(retry, int | float) else None)
        if answer.get("ok") is False:  # a 2xx that says no
            raise PermanentError(f"Telegram error {answer.get('error_code')}: {answer.get('description', '')}"[:300])

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
