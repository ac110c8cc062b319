"""One page from a provincial data-sharing gateway that speaks the national portal's format.

The gateway wants what the portal's adapter wants (ingest/dvcqg/, dvcqg-sync.md §1): a sign-in
(POST login_url {username, password} → {error_code: 0, session}) and then, per call, a POST of
{session, madonvi, service, ...} with the headers Content-Type, Accept, Charset and `dstcode`.
Here the call asks for the records changed after a cursor: {…, <cursor_param>: <cursor>}; the
answer carries the records (DongBoHoSoMC dossier objects or CapNhatTienDoHoSoMC steps) at
`items_path` and the next cursor at `cursor_path`, with error_code 0.

Retried like a GET page (ingest/connector/fetch.py): transport errors, 5xx and 429. A session the
gateway no longer accepts (HTTP 401, or error_code -2) is renewed once by signing in again.
Anything else that is not error_code 0 is a ConnectorError (a retry will not fix it).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ingest.connector.backoff import RetryPolicy, retry_after_seconds
from ingest.connector.config import ConnectorConfig, PathError, next_cursor, page_items
from ingest.connector.fetch import MAX_PAGE_BYTES, MAX_PAGE_ITEMS, ConnectorError, Page, Sleep, SourceUnavailable

log = logging.getLogger(__name__)
SESSION_REFUSED = frozenset({"-2", "401"})


class _Transient(Exception):
    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class _SessionRefused(Exception):
    pass


@dataclass
class GatewayClient:
    """One run's conversation with the gateway: the session is signed in for once and reused."""

    client: httpx.AsyncClient
    config: ConnectorConfig
    password: str | None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    session: str | None = None
    logins: int = 0

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Charset": "utf-8"}
        if self.config.unit_id:
            headers["dstcode"] = self.config.unit_id
        return headers

    async def _post(self, url: str, body: dict[str, Any]) -> Any:
        try:
            async with self.client.stream("POST", url, content=orjson.dumps(body), headers=self._headers(),
                                          timeout=self.policy.timeout_seconds) as response:  # fmt: skip
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Transient(f"HTTP {response.status_code}",
                                     retry_after_seconds(response.headers.get("retry-after")))  # fmt: skip
                if response.status_code == 401:
                    raise _SessionRefused("HTTP 401")
                if response.status_code >= 400:
                    raise ConnectorError(f"the gateway answered HTTP {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > MAX_PAGE_BYTES:
                        raise ConnectorError(f"a page exceeds {MAX_PAGE_BYTES} bytes")
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        try:
            document = orjson.loads(bytes(data))
        except orjson.JSONDecodeError as exc:
            raise ConnectorError("the gateway's answer is not JSON") from exc
        if not isinstance(document, dict):
            raise ConnectorError("the gateway's answer is not a JSON object")
        code = str(document.get("error_code", "0")).strip()
        if code in SESSION_REFUSED:
            raise _SessionRefused(f"error_code {code}")
        if code != "0":
            raise ConnectorError(f"the gateway answered error_code {code}: {str(document.get('message'))[:300]}")
        return document

    async def _login(self) -> str:
        if not self.config.login_url or not self.config.login_username or not self.password:
            raise ConnectorError("a dvcqg connector needs login_url, login_username and a credential")
        self.logins += 1
        try:
            reply = await self._post(self.config.login_url,
                                     {"username": self.config.login_username, "password": self.password})  # fmt: skip
        except (_SessionRefused, ConnectorError) as exc:
            raise ConnectorError(f"the gateway refused the sign-in ({exc})") from exc
        session = reply.get("session")
        if not isinstance(session, str) or not session:
            raise ConnectorError("the gateway's sign-in answer has no session")
        return session

    async def page(self, cursor: str | None) -> Page:
        renewed = False
        for attempt in range(1, self.policy.attempts + 1):
            try:
                if self.session is None:
                    self.session = await self._login()
                body: dict[str, Any] = {"session": self.session, "madonvi": self.config.unit_id or "",
                                        "service": self.config.service}  # fmt: skip
                if cursor is not None:
                    body[self.config.cursor_param] = cursor
                document = await self._post(self.config.base_url, body)
            except _SessionRefused as exc:
                if renewed:
                    raise ConnectorError(f"the gateway refused a fresh session ({exc})") from exc
                self.session, renewed = None, True
                log.info("connector %s: session refused (%s); signing in again", self.config.id, exc)
                continue
            except _Transient as exc:
                if attempt == self.policy.attempts:
                    raise SourceUnavailable(f"{exc} (after {attempt} attempts)") from exc
                wait = self.policy.wait_for(attempt, exc.retry_after, self.rng)
                log.warning("connector %s: %s; retry %d in %.2f s", self.config.id, exc, attempt, wait)
                await self.sleep(wait)
                continue
            try:
                items = page_items(document, self.config.items_path)
            except PathError as exc:
                raise ConnectorError(str(exc)) from exc
            if len(items) > MAX_PAGE_ITEMS:
                raise ConnectorError(f"a page of {len(items)} items exceeds {MAX_PAGE_ITEMS}")
            return Page(items, next_cursor(document, self.config.cursor_path), attempt)
        raise SourceUnavailable(f"no page after {self.policy.attempts} attempts")
