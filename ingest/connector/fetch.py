"""One page from a source's REST API, with retries: GET <base_url>?<cursor_param>=<cursor>.

Retried (with backoff, or after the Retry-After the source sent): transport errors (refused or
dropped connections, timeouts), 5xx and 429. Not retried: any other 4xx, an answer that is not
JSON or lacks the configured paths — those are configuration problems a retry will not fix.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ingest.connector.backoff import RetryPolicy, retry_after_seconds
from ingest.connector.config import ConnectorConfig, PathError, next_cursor, page_items

log = logging.getLogger(__name__)
MAX_PAGE_BYTES = 32 * 1024 * 1024
MAX_PAGE_ITEMS = 10_000
Sleep = Callable[[float], Awaitable[None]]


class ConnectorError(Exception):
    """The source answered in a way a retry will not fix (4xx, not JSON, wrong paths)."""


class SourceUnavailable(ConnectorError):
    """Every attempt failed with a transient error; try again at the next run."""


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None
    attempts: int


class _Transient(Exception):
    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


async def fetch_page(
    client: httpx.AsyncClient,
    config: ConnectorConfig,
    cursor: str | None,
    *,
    policy: RetryPolicy,
    headers: dict[str, str],
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> Page:
    rng = rng or random.Random()
    params = {config.cursor_param: cursor} if cursor is not None else {}
    for attempt in range(1, policy.attempts + 1):
        try:
            document = await _get(client, config.base_url, params, headers, policy.timeout_seconds)
        except _Transient as exc:
            if attempt == policy.attempts:
                raise SourceUnavailable(f"{exc} (after {attempt} attempts)") from exc
            wait = policy.wait_for(attempt, exc.retry_after, rng)
            log.warning("connector %s: %s; retry %d in %.2f s", config.id, exc, attempt, wait)
            await sleep(wait)
            continue
        try:
            items = page_items(document, config.items_path)
        except PathError as exc:
            raise ConnectorError(str(exc)) from exc
        if len(items) > MAX_PAGE_ITEMS:
            raise ConnectorError(f"a page of {len(items)} items exceeds {MAX_PAGE_ITEMS}")
        return Page(items, next_cursor(document, config.cursor_path), attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


async def _get(
    client: httpx.AsyncClient, url: str, params: dict[str, str], headers: dict[str, str], timeout: float
) -> Any:
    try:
        async with client.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise _Transient(
                    f"HTTP {response.status_code}", retry_after_seconds(response.headers.get("retry-after"))
                )
            if response.status_code >= 400:
                raise ConnectorError(f"the source answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_PAGE_BYTES:
                    raise ConnectorError(f"a page exceeds {MAX_PAGE_BYTES} bytes")
    except httpx.TransportError as exc:  # refused, reset, dropped mid-answer, timed out
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise ConnectorError("the source's answer is not JSON") from exc
