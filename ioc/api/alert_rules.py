"""Alert rules as data: list, read, history, create, update (compare-and-set), enable/disable, delete.

Reading needs ALERT_RULES_READ, changing ALERT_RULES_WRITE (ioc/auth/policy.py); rules are
national, so the target is "global". A rule body is the flat JSON of alerts/rulebook/spec.py;
validation errors answer 422 with every problem's field path (``detail.errors``). An update
carries the version it was made from: a stale one answers 409 and changes nothing. Every change
is written to the audit trail in the same transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field

from alerts.rulebook import store
from alerts.rulebook.errors import RuleSpecError
from alerts.rulebook.spec import RuleSpec, parse_rule, rule_to_json
from ioc.api.deps import app_state
from ioc.api.guard import client_origin, guard
from ioc.auth import audit
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal

RuleReader = Annotated[Principal, guard(Policy(Action.ALERT_RULES_READ, "global"))]
RuleWriter = Annotated[Principal, guard(Policy(Action.ALERT_RULES_WRITE, "global"))]
RuleId = Annotated[str, Path(min_length=2, max_length=63, pattern=r"^[a-z][a-z0-9_]{1,62}$")]
Version = Annotated[int, Field(ge=1, le=2_147_483_647)]


class RuleBody(BaseModel):
    """The rule spec (validated by alerts.rulebook, not here) — any JSON object."""

    model_config = {"extra": "allow"}


class RuleUpdate(BaseModel):
    version: Version
    rule: dict[str, Any]


class VersionBody(BaseModel):
    version: Version | None = None


def _spec(data: dict[str, Any]) -> RuleSpec:
    try:
        return parse_rule(data)
    except RuleSpecError as exc:
        raise HTTPException(422, {"message": str(exc), "errors": [e.as_dict() for e in exc.errors]}) from exc


def alert_rules_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/alert-rules", tags=["alert rules"])

    @router.get("")
    async def list_rules(request: Request, principal: RuleReader) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            return {"rules": [r.as_dict() for r in await store.list_rules(conn)]}

    @router.post("/validate", responses={422: {}})
    async def validate(request: Request, body: RuleBody, principal: RuleReader) -> dict[str, Any]:
        """Dry run: the canonical form of a valid rule, or 422 with every error; nothing is written."""
        return {"valid": True, "rule": rule_to_json(_spec(body.model_dump()))}

    @router.get("/{rule_id}", responses={404: {}})
    async def get_rule(request: Request, rule_id: RuleId, principal: RuleReader) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            rule = await store.get_rule(conn, rule_id)
        if rule is None or rule.deleted_at is not None:
            raise HTTPException(404, f"không có luật / no rule {rule_id}")
        return {"rule": rule.as_dict()}

    @router.get("/{rule_id}/versions", responses={404: {}})
    async def versions(request: Request, rule_id: RuleId, principal: RuleReader) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn:
            found = await store.rule_versions(conn, rule_id)
        if not found:
            raise HTTPException(404, f"không có luật / no rule {rule_id}")
        return {"versions": [v.as_dict() for v in found]}

    @router.post("", status_code=201, responses={409: {}, 422: {}})
    async def create(request: Request, body: RuleBody, principal: RuleWriter) -> dict[str, Any]:
        spec = _spec(body.model_dump())
        async with app_state(request).pool.connection() as conn, conn.transaction():
            try:
                rule = await store.create_rule(conn, spec, principal.subject, origin="api")
            except store.RuleExists as exc:
                raise HTTPException(409, str(exc)) from exc
            await _audit(conn, request, principal, "alert_rule.create", rule)
        return {"rule": rule.as_dict()}

    @router.put("/{rule_id}", responses={404: {}, 409: {}, 422: {}})
    async def update(request: Request, rule_id: RuleId, body: RuleUpdate, principal: RuleWriter) -> dict[str, Any]:
        spec = _spec({**body.rule, "id": body.rule.get("id", rule_id)})
        if spec.id != rule_id:
            error = {"path": "id", "expected_vi": "trùng mã trên đường dẫn", "expected_en": "the id in the path"}
            raise HTTPException(422, {"message": "id không khớp / id does not match the path", "errors": [error]})
        async with app_state(request).pool.connection() as conn, conn.transaction():
            rule = await _guarded(store.update_rule(conn, spec, body.version, principal.subject))
            await _audit(conn, request, principal, "alert_rule.update", rule)
        return {"rule": rule.as_dict()}

    @router.post("/{rule_id}/enable", responses={404: {}, 409: {}})
    async def enable(
        request: Request, rule_id: RuleId, principal: RuleWriter, body: VersionBody | None = None
    ) -> dict[str, Any]:
        return await _toggle(request, rule_id, principal, True, body)

    @router.post("/{rule_id}/disable", responses={404: {}, 409: {}})
    async def disable(
        request: Request, rule_id: RuleId, principal: RuleWriter, body: VersionBody | None = None
    ) -> dict[str, Any]:
        return await _toggle(request, rule_id, principal, False, body)

    @router.delete("/{rule_id}", responses={404: {}, 409: {}})
    async def delete(request: Request, rule_id: RuleId, principal: RuleWriter) -> dict[str, Any]:
        async with app_state(request).pool.connection() as conn, conn.transaction():
            rule = await _guarded(store.delete_rule(conn, rule_id, principal.subject))
            await _audit(conn, request, principal, "alert_rule.delete", rule)
        return {"rule": rule.as_dict()}

    async def _toggle(
        request: Request, rule_id: str, principal: Principal, enabled: bool, body: VersionBody | None
    ) -> dict[str, Any]:
        expected = body.version if body else None
        async with app_state(request).pool.connection() as conn, conn.transaction():
            rule = await _guarded(store.set_enabled(conn, rule_id, enabled, principal.subject, expected))
            await _audit(conn, request, principal, f"alert_rule.{'enable' if enabled else 'disable'}", rule)
        return {"rule": rule.as_dict()}

    return router


async def _guarded(change: Any) -> store.StoredRule:
    try:
        rule: store.StoredRule = await change
    except store.RuleNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except store.VersionConflict as exc:
        raise HTTPException(409, {"message": str(exc), "current_version": exc.current}) from exc
    return rule


async def _audit(conn: Any, request: Request, principal: Principal, action: str, rule: store.StoredRule) -> None:
    details = {"version": rule.version, "kind": rule.spec.kind, "enabled": rule.spec.enabled}
    await audit.record(
        conn, actor=principal.subject, actor_role=principal.role.value, action=action,
        target=f"alert_rule:{rule.id}", origin=client_origin(request), details=details,
    )  # fmt: skip
