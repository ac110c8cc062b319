"""What every route needs, built once per process by the app's lifespan and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from psycopg_pool import AsyncConnectionPool

from ioc.db.pool import Conn
from ioc.localities.catalogue import LocalityCatalogue
from ioc.metrics import Metrics
from ioc.settings import Settings

if TYPE_CHECKING:
    from ingest.reference import CalendarStore
    from ioc.api.ingest import IngestContext
    from ioc.api.ratelimit import RateLimiter
    from ioc.auth.oidc import OidcVerifier
    from ioc.live.feed import LiveFeed


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[Conn]
    metrics: Metrics
    catalogue: LocalityCatalogue
    calendars: CalendarStore
    ingest: IngestContext
    feed: LiveFeed
    # Access control: the OIDC verifier (None when not configured), origins allowed for cookie
    # writes and WebSockets besides the site's own, and the rate limiters.
    oidc: OidcVerifier | None = None
    allowed_origins: frozenset[str] = frozenset()
    login_limiter_by_ip: RateLimiter | None = None
    login_limiter_by_user: RateLimiter | None = None
    ingest_limiter: RateLimiter | None = None


def app_state(request: Request) -> AppState:
    state = request.app.state.ioc
    assert isinstance(state, AppState)
    return state
