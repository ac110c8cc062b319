"""Admin routes for polling connectors: GET/PUT/DELETE /api/v1/admin/connectors[/{id}].

A connector pulls a source's REST API into a stream (ingest/connector/); the `ioc connectors`
process runs them. PUT creates or replaces one (201 when created); its progress (cursor, counts,
last error) is shown beside it. A credential for the source's API sent as `auth_value` is stored
and never shown again (`auth_value_set`); a PUT without `auth_value` keeps the stored one, and
`"auth_value": null` removes it. Every change goes to the audit trail with the change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from ingest.connector import store
from ingest.connector.config import ConnectorConfig
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.api.params import Identifier
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.sources import source_by_id

ConnectorAdmin = Annotated[Principal, guard(Policy(Action.CONNECTORS_MANAGE, "global"))]
ConnectorId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
JsonPath = Annotated[str, StringConstraints(max_length=200, pattern=r"^(?:[A-Za-z0-9_$@-]+(?:\.[A-Za-z0-9_$@-]+)*)?$")]
CursorPath = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9_$@-]+(?:\.[A-Za-z0-9_$@-]+)*$")]
Printable = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ConnectorIn(BaseModel):
    stream: Literal["payout", "id_issuance"]
    source_id: Identifier
    base_url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]
    cursor_param: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\[\]-]{1,64}$")] = "changed_since"
    items_path: JsonPath = "items"
    cursor_path: CursorPath = "next_cursor"
    initial_cursor: Printable | None = None
    auth_header: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")] | None = None
    auth_value: Printable | None = None
    auth_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")] | None = None
    interval_seconds: int = Field(default=300, ge=1, le=86400)
    enabled: bool = True


def connectors_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/admin/connectors", tags=["admin"])

    @router.get("")
    async def list_connectors(request: Request, principal: ConnectorAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            return {"connectors": await store.list_connectors(conn)}

    @router.get("/{connector_id}", responses={404: {}})
    async def get_connector(request: Request, connector_id: ConnectorId, principal: ConnectorAdmin) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            found = await store.list_connectors(conn, connector_id)
        if not found:
            raise HTTPException(404, f"không có bộ kết nối / no connector {connector_id}")
        return {"connector": found[0]}

    @router.put("/{connector_id}", responses={201: {"description": "created"}, 422: {}})
    async def put_connector(
        request: Request, connector_id: ConnectorId, body: ConnectorIn, principal: ConnectorAdmin
    ) -> JSONResponse:
        """Create or replace a connector (its cursor and counts are kept)."""
        try:
            httpx.URL(body.base_url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise HTTPException(422, f"base_url: {exc}") from exc
        async with app_state(request).pool.connection() as conn, conn.transaction():
            source = await source_by_id(conn, body.source_id)
            if source is None or source.revoked_at is not None:
                raise HTTPException(422, f"source_id: không có nguồn / no source {body.source_id!r}")
            if body.stream not in source.streams:
                raise HTTPException(422, f"source_id: nguồn không gồm luồng / the source does not cover {body.stream}")
            values = body.model_dump()
            if "auth_value" not in body.model_fields_set:
                existing = await store.stored_config(conn, connector_id)
                values["auth_value"] = existing.auth_value if existing else None
            config = ConnectorConfig(id=connector_id, **values)
            created = await store.save_connector(conn, config)
            details = {k: v for k, v in values.items() if k != "auth_value"}
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="connector.create" if created else "connector.update",
                               target=f"connector:{connector_id}", origin=client_origin(request),
                               details=details)  # fmt: skip
            [view] = await store.list_connectors(conn, connector_id)
        return JSONResponse({"connector": view}, status_code=201 if created else 200)

    @router.delete("/{connector_id}", responses={404: {}})
    async def delete_connector(
        request: Request, connector_id: ConnectorId, principal: ConnectorAdmin
    ) -> dict[str, Any]:
        """Remove a connector and its progress; the data it brought in stays."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            if not await store.delete_connector(conn, connector_id):
                raise HTTPException(404, f"không có bộ kết nối / no connector {connector_id}")
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value,
                               action="connector.delete", target=f"connector:{connector_id}",
                               origin=client_origin(request))  # fmt: skip
        return {"deleted": connector_id}

    return router
