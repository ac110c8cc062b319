"""Alerts for the caller's scope: the list, one alert with its history, and what people do to it.

People act on an alert with: acknowledge (with a comment), unacknowledge, comment, assign (to a
person whose scope covers the alert), snooze (until a time at most 7 days ahead) and resolve by
hand. Every action is one transaction that locks the alert row (SELECT ... FOR UPDATE), so two
people acting at once never lose each other's change; it writes the alert's columns, a line in
`alert_activity`, the audit log, and a live notification so every screen and phone shows it.

Idempotency, chosen so a double tap on a phone does no harm:
  - acknowledging an acknowledged alert answers 200 with the ORIGINAL acknowledgement
    (`already_acknowledged: true`) and records nothing;
  - unacknowledging an unacknowledged alert, assigning to the current assignee, and clearing a
    snooze that is not set answer 200 and record nothing;
  - acknowledging, assigning, snoozing or resolving a resolved alert answers 409 (it is closed);
    a comment on a resolved alert is still welcome (what was done about it).

Acknowledgements are also still written to `alert_ack`, so readers of that table keep working.
Scope: a nonexistent alert answers 404; one outside the caller's scope answers 403 to a write
and 404 to a read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from ioc.api.deps import app_state
from ioc.api.guard import client_origin, ensure_readable, ensure_writable, guard
from ioc.api.params import RowId
from ioc.auth import audit
from ioc.auth.policy import MATRIX, Action, Policy, Role
from ioc.auth.principal import Principal
from ioc.auth.scope import Scope, ScopeError
from ioc.live.alert_queue import CursorError, QueueKey, read_queue_page
from ioc.live.alerts import ALERT_COLUMNS, alert_in_scope, alert_row_to_dict
from ioc.live.channel import notify_live
from ioc.live.view import one_database_snapshot

MAX_SNOOZE = timedelta(days=7)

SELECT_ALERT = f"SELECT {ALERT_COLUMNS} FROM alert WHERE id = %s"
LOCK_ALERT = f"SELECT {ALERT_COLUMNS}, version FROM alert WHERE id = %s FOR UPDATE"
SELECT_TRANSITIONS = """
SELECT id, from_state, to_state, at, value, summary_vi FROM alert_transition WHERE alert_id = %s ORDER BY id
"""
SELECT_ACTIVITY = "SELECT id, at, actor, kind, comment, data FROM alert_activity WHERE alert_id = %s ORDER BY id"
SELECT_ACKS = "SELECT at, actor, comment FROM alert_ack WHERE alert_id = %s ORDER BY id"
INSERT_ACK = "INSERT INTO alert_ack (alert_id, actor, comment) VALUES (%s, %s, %s)"
INSERT_ACTIVITY = """
INSERT INTO alert_activity (alert_id, actor, kind, comment, data) VALUES (%s, %s, %s, %s, %s) RETURNING id, at
"""
SET_ACK = "UPDATE alert SET acknowledged_at = now(), acknowledged_by = %s WHERE id = %s"
CLEAR_ACK = "UPDATE alert SET acknowledged_at = NULL, acknowledged_by = NULL WHERE id = %s"
SET_ASSIGNEE = "UPDATE alert SET assignee = %s WHERE id = %s"
SET_SNOOZE = "UPDATE alert SET snoozed_until = %s WHERE id = %s"
# Compare-and-set on `version` as well as the row lock: the engine updates alerts with the same
# compare-and-set, so an evaluation that read the alert before this resolve skips it.
RESOLVE = """
UPDATE alert SET state = 'resolved', resolved_at = now(), resolved_by = %(by)s, updated_at = now(),
       last_changed_at = now(), version = version + 1
WHERE id = %(id)s AND version = %(version)s AND state <> 'resolved'
"""
INSERT_TRANSITION = """
INSERT INTO alert_transition (alert_id, from_state, to_state, at, value, summary_vi)
VALUES (%s, %s, 'resolved', now(), %s, %s)
"""
SELECT_ASSIGNEE = "SELECT role, scope, disabled_at FROM app_user WHERE username = %s"

AlertReader = Annotated[Principal, guard(Policy(Action.ALERTS_READ, "list"))]
AlertViewer = Annotated[Principal, guard(Policy(Action.ALERTS_READ, "read"))]
AlertActor = Annotated[Principal, guard(Policy(Action.ALERTS_ACK, "write"))]

_TEXT = r"^[^\x00]*$"
_SOME_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"  # at least one visible character
Comment = Annotated[str, StringConstraints(max_length=2000, pattern=_TEXT)]
RequiredComment = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_SOME_TEXT)]
Username = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._@-]{1,63}$")]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Không tìm thấy / no such alert"}}
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"description": "Cảnh báo đã đóng / the alert is resolved"},
    422: {"description": "Dữ liệu không hợp lệ / invalid input"},
}


class AckIn(BaseModel):
    comment: Comment = Field(default="", description="ghi chú / what is being done about it")


class CommentIn(BaseModel):
    comment: RequiredComment = Field(description="nội dung trao đổi / the comment")


class AssignIn(BaseModel):
    assignee: Username | None = Field(description="tên đăng nhập người được giao; null = bỏ giao / username or null")
    comment: Comment = ""


class SnoozeIn(BaseModel):
    until: AwareDatetime | None = Field(description="tạm hoãn đến (tối đa 7 ngày); null = bỏ tạm hoãn")
    comment: Comment = ""


class ResolveIn(BaseModel):
    comment: RequiredComment = Field(description="vì sao đóng cảnh báo / why it is closed by hand")


# -- pure helpers ----------------------------------------------------------------------------------


def iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}


def actor_name(principal: Principal) -> str:
    """Who to write in the alert's history: a person's username ("user:" dropped), else the subject."""
    return principal.subject.removeprefix("user:")


def snooze_problem(until: datetime, now: datetime) -> str | None:
    """Why a snooze end is refused (None: acceptable): it must be in the future, at most 7 days ahead."""
    if until <= now:
        return "thời điểm tạm hoãn phải ở tương lai / the snooze must end in the future"
    if until - now > MAX_SNOOZE:
        return "chỉ tạm hoãn tối đa 7 ngày / a snooze lasts at most 7 days"
    return None


def assignee_problem(role: str, scope_json: Any, disabled: bool, alert: dict[str, Any]) -> str | None:
    """Why a person cannot be given the alert (None: they can act on it)."""
    if disabled:
        return "tài khoản đã bị khóa / the account is disabled"
    try:
        acting = Role(role) in MATRIX[Action.ALERTS_ACK]
        scope = Scope.from_dict(scope_json if isinstance(scope_json, dict) else orjson.loads(scope_json))
    except (ValueError, ScopeError):
        return "tài khoản không hợp lệ / the account cannot act on alerts"
    if not acting:
        return "vai trò không được xử lý cảnh báo / the role cannot act on alerts"
    if not alert_in_scope(scope, alert):
        return "cảnh báo ngoài phạm vi của người được giao / the alert is outside the assignee's scope"
    return None


def merged_history(transitions: Iterable[dict[str, Any]], activity: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the rule did (transitions) and what people did (activity), in time order.

    Each entry: {at, kind, actor, comment, ...}; a transition has kind "transition", actor
    "system" (or the person who resolved by hand), from_state and to_state. On equal times a
    transition comes first (an alert fires before anyone acknowledges it), then by row id.
    """
    entries: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for t in transitions:
        entry = {"at": t["at"], "kind": "transition", "actor": "system", "comment": t.get("summary_vi") or "",
                 "from_state": t["from_state"], "to_state": t["to_state"], "value": t.get("value")}  # fmt: skip
        entries.append((t["at"], 0, int(t["id"]), entry))
    for a in activity:
        entry = {"at": a["at"], "kind": a["kind"], "actor": a["actor"], "comment": a["comment"], "data": a["data"]}
        entries.append((a["at"], 1, int(a["id"]), entry))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return [iso(e[3]) for e in entries]


# -- routes ----------------------------------------------------------------------------------------


def alerts_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

    @router.get("", responses={422: {"description": "Con trỏ không hợp lệ / invalid cursor or filter"}})
    async def alerts(
        request: Request,
        principal: AlertReader,
        state_filter: Annotated[
            Literal["pending", "firing", "resolved", "open"] | None,
            Query(alias="state", description="open = pending or firing"),
        ] = None,
        province_code: Annotated[str | None, Query(max_length=10, pattern=r"^[0-9]+$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        cursor: Annotated[
            str | None, Query(max_length=200, description="`next_cursor` of the previous page (opaque)")
        ] = None,
        resolved_since: Annotated[
            AwareDatetime | None, Query(description="only resolutions from this time on (open alerts always)")
        ] = None,
    ) -> dict[str, Any]:
        """The caller's alerts in the live queue's order: firing, pending, then resolved; critical
        first; newest first (resolved_at, else fired_at, else active_since); then id. The same order
        as the snapshot's first page, whose `alerts_more` says how to continue it here.

        Keyset paging: pass `next_cursor` back as `cursor` with the same filters; it is null on the
        last page. An alert created between pages appears on a later page if it sorts after the
        cursor and is never repeated; an alert that changes state between pages moves in the
        order (as it does on the screen). `total` counts every alert the filters and scope allow,
        read in the same database snapshot as the page.
        """
        try:
            after = None if cursor is None else QueueKey.from_cursor(cursor)
        except CursorError as exc:
            raise HTTPException(422, "con trỏ phân trang không hợp lệ / invalid paging cursor") from exc
        try:
            # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
            since = None if resolved_since is None else resolved_since.astimezone(UTC)
        except OverflowError as exc:
            raise HTTPException(422, "thời điểm ngoài phạm vi / resolved_since out of range") from exc
        async with app_state(request).pool.connection() as conn, one_database_snapshot(conn):
            page = await read_queue_page(
                conn, principal.scope, limit=limit, after=after, resolved_since=since, state=state_filter,
                province=province_code, with_total=True,
            )  # fmt: skip
        return {"alerts": page.alerts, "next_cursor": page.next_cursor, "total": page.total}

    @router.get("/{alert_id}", responses=_NOT_FOUND)
    async def alert_detail(request: Request, alert_id: RowId, principal: AlertViewer) -> dict[str, Any]:
        """The alert, its rule transitions (`history`), acknowledgements, and `timeline`: transitions
        and people's actions merged in time order."""
        async with app_state(request).pool.connection() as conn:
            alert = await _alert(conn, alert_id)
            visible = alert is not None and alert_in_scope(principal.scope, alert)
            ensure_readable(principal, visible, f"alert {alert_id}")
            assert alert is not None
            cur = await conn.execute(SELECT_TRANSITIONS, [alert_id])
            transitions = [dict(zip(("id", "from_state", "to_state", "at", "value", "summary_vi"), r, strict=True))
                           for r in await cur.fetchall()]  # fmt: skip
            cur = await conn.execute(SELECT_ACTIVITY, [alert_id])
            activity = [dict(zip(("id", "at", "actor", "kind", "comment", "data"), r, strict=True))
                        for r in await cur.fetchall()]  # fmt: skip
            cur = await conn.execute(SELECT_ACKS, [alert_id])
            acks = [iso(dict(zip(("at", "actor", "comment"), r, strict=True))) for r in await cur.fetchall()]
        history = [iso({k: v for k, v in t.items() if k != "id"}) for t in transitions]
        return {**alert, "history": history, "acknowledgements": acks,
                "timeline": merged_history(transitions, activity)}  # fmt: skip

    @router.post("/{alert_id}/ack", responses=_ACTION_ERRORS)
    async def acknowledge(request: Request, alert_id: RowId, body: AckIn, principal: AlertActor) -> dict[str, Any]:
        """Acknowledge an alert with a comment (escalation stops). Again on an acknowledged alert:
        200 with the original acknowledgement and nothing recorded."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            alert = await _locked(conn, principal, alert_id)
            if alert["acknowledged_at"] is not None:
                original = {"acknowledged_at": alert["acknowledged_at"], "by": alert["acknowledged_by"]}
                return {"alert_id": alert_id, **original, "already_acknowledged": True, "alert": _wire(alert)}
            _refuse_resolved(alert)
            who = actor_name(principal)
            await conn.execute(SET_ACK, [who, alert_id])
            await conn.execute(INSERT_ACK, [alert_id, principal.subject, body.comment])
            await _record(conn, request, principal, alert_id, "ack", body.comment, {}, "alert.acknowledge")
            after = await _alert(conn, alert_id)
        assert after is not None
        return {"alert_id": alert_id, "acknowledged_at": after["acknowledged_at"], "by": who,
                "already_acknowledged": False, "alert": after}  # fmt: skip

    @router.post("/{alert_id}/unack", responses=_ACTION_ERRORS)
    async def unacknowledge(request: Request, alert_id: RowId, body: AckIn, principal: AlertActor) -> dict[str, Any]:
        """Take an acknowledgement back (escalation may resume). Not acknowledged: 200, no change."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            alert = await _locked(conn, principal, alert_id)
            if alert["acknowledged_at"] is not None:
                await conn.execute(CLEAR_ACK, [alert_id])
                data = {"was_acknowledged_by": alert["acknowledged_by"]}
                await _record(conn, request, principal, alert_id, "unack", body.comment, data, "alert.unacknowledge")
            after = await _alert(conn, alert_id)
        return {"alert": after}

    @router.post("/{alert_id}/comments", responses=_ACTION_ERRORS)
    async def comment(request: Request, alert_id: RowId, body: CommentIn, principal: AlertActor) -> dict[str, Any]:
        """Add a line to the alert's history (also on a resolved alert)."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            await _locked(conn, principal, alert_id)
            entry = await _record(conn, request, principal, alert_id, "comment", body.comment, {}, "alert.comment")
            after = await _alert(conn, alert_id)
        return {"alert": after, "activity": entry}

    @router.post("/{alert_id}/assign", responses=_ACTION_ERRORS)
    async def assign(request: Request, alert_id: RowId, body: AssignIn, principal: AlertActor) -> dict[str, Any]:
        """Give the alert to a person whose scope covers it (422 otherwise); null takes it back."""
        async with app_state(request).pool.connection() as conn, conn.transaction():
            alert = await _locked(conn, principal, alert_id)
            _refuse_resolved(alert)
            if body.assignee is not None:
                cur = await conn.execute(SELECT_ASSIGNEE, [body.assignee])
                row = await cur.fetchone()
                problem = ("không có người dùng này / no such user" if row is None
                           else assignee_problem(str(row[0]), row[1], row[2] is not None, alert))  # fmt: skip
                if problem:
                    raise HTTPException(422, problem)
            if body.assignee != alert["assignee"]:
                await conn.execute(SET_ASSIGNEE, [body.assignee, alert_id])
                data = {"assignee": body.assignee, "previous": alert["assignee"]}
                await _record(conn, request, principal, alert_id, "assign", body.comment, data, "alert.assign")
            after = await _alert(conn, alert_id)
        return {"alert": after}

    @router.post("/{alert_id}/snooze", responses=_ACTION_ERRORS)
    async def snooze(request: Request, alert_id: RowId, body: SnoozeIn, principal: AlertActor) -> dict[str, Any]:
        """Hold the alert's notifications and escalation until `until` (future, at most 7 days);
        the alert stays open and visible. `until: null` ends a snooze."""
        now = datetime.now(UTC)
        if body.until is not None and (problem := snooze_problem(body.until, now)):
            raise HTTPException(422, problem)
        async with app_state(request).pool.connection() as conn, conn.transaction():
            alert = await _locked(conn, principal, alert_id)
            if body.until is not None:
                _refuse_resolved(alert)
            if body.until is not None or alert["snoozed_until"] is not None:
                await conn.execute(SET_SNOOZE, [body.until, alert_id])
                data = {"until": body.until.isoformat() if body.until else None}
                await _record(conn, request, principal, alert_id, "snooze", body.comment, data, "alert.snooze")
            after = await _alert(conn, alert_id)
        return {"alert": after}

    @router.post("/{alert_id}/resolve", responses=_ACTION_ERRORS)
    async def resolve(request: Request, alert_id: RowId, body: ResolveIn, principal: AlertActor) -> dict[str, Any]:
        """Close the alert by hand: state resolved, `resolved_by`, a transition to 'resolved'.

        A manual resolve closes this episode only. If the rule's condition is still true, the
        engine opens a NEW alert (a new episode, pending then firing per the rule's hold) at its
        next evaluation, since it only tracks open alerts; the closed one keeps its history.
        """
        async with app_state(request).pool.connection() as conn, conn.transaction():
            alert = await _locked(conn, principal, alert_id)
            _refuse_resolved(alert)
            who = actor_name(principal)
            cur = await conn.execute(RESOLVE, {"by": who, "id": alert_id, "version": alert["version"]})
            if cur.rowcount != 1:  # cannot happen under the row lock; kept as the compare-and-set's check
                raise HTTPException(409, "cảnh báo vừa thay đổi, hãy thử lại / the alert changed, try again")
            await conn.execute(INSERT_TRANSITION, [alert_id, alert["state"], alert["value"], body.comment])
            data = {"from_state": alert["state"]}
            await _record(conn, request, principal, alert_id, "resolve", body.comment, data, "alert.resolve")
            after = await _alert(conn, alert_id)
        return {"alert": after}

    return router


# -- shell helpers ---------------------------------------------------------------------------------


async def _alert(conn: Any, alert_id: int) -> dict[str, Any] | None:
    cur = await conn.execute(SELECT_ALERT, [alert_id])
    row = await cur.fetchone()
    return alert_row_to_dict(row) if row else None


async def _locked(conn: Any, principal: Principal, alert_id: int) -> dict[str, Any]:
    """The alert, locked until the transaction ends; 404 if absent, 403 if outside the scope."""
    cur = await conn.execute(LOCK_ALERT, [alert_id])
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"không tìm thấy / no alert {alert_id}")
    alert = {**alert_row_to_dict(row[:-1]), "version": int(row[-1])}
    ensure_writable(principal, alert_in_scope(principal.scope, alert), f"alert {alert_id}")
    return alert


def _wire(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k != "version"}


def _refuse_resolved(alert: dict[str, Any]) -> None:
    if alert["state"] == "resolved":
        raise HTTPException(409, f"cảnh báo đã đóng / alert {alert['id']} is resolved")


async def _record(
    conn: Any,
    request: Request,
    principal: Principal,
    alert_id: int,
    kind: str,
    comment: str,
    data: dict[str, Any],
    audit_action: str,
) -> dict[str, Any]:
    """One history line, one audit row and a live notification, in the caller's transaction."""
    cur = await conn.execute(INSERT_ACTIVITY, [alert_id, actor_name(principal), kind, comment, Jsonb(data)])
    row = await cur.fetchone()
    await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action=audit_action,
                       target=f"alert:{alert_id}", origin=client_origin(request),
                       details={"comment": comment[:500], **data})  # fmt: skip
    await notify_live(conn, "alert", "ids", [alert_id])
    return iso({"id": row[0], "at": row[1], "actor": actor_name(principal), "kind": kind, "comment": comment,
                "data": data})  # fmt: skip
