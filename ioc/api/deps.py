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
    from ioc.live.hub import LiveHub


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[Conn]
    metrics: Metrics
    catalogue: LocalityCatalogue
    calendars: CalendarStore
    ingest: IngestContext
    hub: LiveHub


def app_state(request: Request) -> AppState:
    state = request.app.state.ioc
    assert isinstance(state, AppState)
    return state
