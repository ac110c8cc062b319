"""One HTTP call for the HTTP channels, its failures mapped onto temporary and permanent errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from alerts.delivery.errors import TemporaryError, classify_http_status, parse_retry_after

__all__ = ["USER_AGENT", "post_json", "raise_for_answer"]

USER_AGENT = "IOC-alerts/1.0"


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    headers: Mapping[str, str] | None = None,
    *,
    redact: str = "",
    retry_after: float | None = None,
    check: bool = True,
) -> httpx.Response:
    """POST ``payload`` as JSON; returns a 2xx response, raises TemporaryError/PermanentError.

    ``redact`` is a secret in the URL (a bot token) kept out of error messages and so out of
    the outbox's last_error, which administrators read. ``check=False`` returns any answer, for a
    channel that reads its own error details first, then calls ``raise_for_answer``.
    """
    try:
        response = await client.post(url, json=payload, headers={"User-Agent": USER_AGENT, **(headers or {})})
    except httpx.TimeoutException as exc:
        raise TemporaryError(_clean(f"timeout: {type(exc).__name__}", redact)) from exc
    except httpx.HTTPError as exc:  # connection refused, reset, DNS, protocol errors
        raise TemporaryError(_clean(f"{type(exc).__name__}: {exc}", redact)) from exc
    if check:
        raise_for_answer(response, redact=redact, retry_after=retry_after)
    return response


def raise_for_answer(response: httpx.Response, *, redact: str = "", retry_after: float | None = None) -> None:
    """Raise the classified error of a non-2xx answer; ``retry_after`` overrides the header's."""
    wait = retry_after if retry_after is not None else parse_retry_after(response.headers.get("retry-after"))
    error = classify_http_status(response.status_code, _clean(response.text, redact), wait)
    if error is not None:
        raise error


def _clean(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
