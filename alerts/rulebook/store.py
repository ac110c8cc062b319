"""The rule repository: alert_rule (current definition) and alert_rule_version (every change).

Every change — create, update, enable, disable, delete — bumps the rule's ``version`` and appends
a version row with the author, in the caller's transaction. Updates are compare-and-set on the
version the author last saw: a stale one raises ``VersionConflict`` (the API's 409) and writes
nothing. A deleted rule keeps its row (``deleted_at``) and history; creating the same id again
revives it as a new version.

``origin`` says who owns the current definition: 'file' (the rules file loaded at start) or 'api'
(an administrator). Any change through the API makes it 'api', and the file loader never
overwrites an 'api' rule (alerts/rulebook/loader.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb

from alerts.rulebook.spec import RuleSpec, parse_rule, rule_to_json
from ioc.db.pool import Conn

__all__ = [
    "RuleExists",
    "RuleNotFound",
    "RuleVersion",
    "StoredRule",
    "VersionConflict",
    "create_rule",
    "delete_rule",
    "enabled_specs",
    "get_rule",
    "list_rules",
    "rule_versions",
    "rules_stamp",
    "set_enabled",
    "update_rule",
]

Origin = Literal["file", "api"]
Change = Literal["create", "update", "enable", "disable", "delete"]

_COLUMNS = "id, kind, spec, enabled, version, origin, updated_by, updated_at, deleted_at"
SELECT_RULES = f"SELECT {_COLUMNS} FROM alert_rule WHERE (%(all)s OR deleted_at IS NULL) ORDER BY id"
SELECT_RULE = f"SELECT {_COLUMNS} FROM alert_rule WHERE id = %s"
SELECT_RULE_FOR_UPDATE = SELECT_RULE + " FOR UPDATE"
INSERT_RULE = f"""
INSERT INTO alert_rule (id, kind, spec, enabled, version, origin, updated_by, updated_at)
VALUES (%(id)s, %(kind)s, %(spec)s, %(enabled)s, 1, %(origin)s, %(author)s, now())
ON CONFLICT (id) DO NOTHING
RETURNING {_COLUMNS}
"""
UPDATE_RULE = f"""
UPDATE alert_rule SET kind = %(kind)s, spec = %(spec)s, enabled = %(enabled)s, version = version + 1,
       origin = %(origin)s, updated_by = %(author)s, updated_at = now(),
       deleted_at = CASE WHEN %(deleted)s THEN now() END
WHERE id = %(id)s AND version = %(version)s
RETURNING {_COLUMNS}
"""
INSERT_VERSION = """
INSERT INTO alert_rule_version (rule_id, version, kind, spec, enabled, change, author)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
SELECT_VERSIONS = """
SELECT version, kind, spec, enabled, change, author, at FROM alert_rule_version
WHERE rule_id = %s ORDER BY version DESC
"""
# Changes whenever any rule changes (versions only grow; a new rule adds to the count).
SELECT_STAMP = "SELECT count(*), coalesce(sum(version), 0), max(updated_at) FROM alert_rule"


class RuleNotFound(LookupError):
    pass


class RuleExists(ValueError):
    pass


class VersionConflict(ValueError):
    def __init__(self, rule_id: str, expected: int, current: int) -> None:
        self.current = current
        super().__init__(
            f"luật {rule_id} đã được sửa (phiên bản hiện tại {current}, bạn sửa từ {expected}) / "
            f"rule {rule_id} changed meanwhile (current version {current}, yours {expected})"
        )


@dataclass(frozen=True)
class StoredRule:
    spec: RuleSpec
    version: int
    origin: Origin
    updated_by: str
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def id(self) -> str:
        return self.spec.id

    def as_dict(self) -> dict[str, Any]:
        return {
            **rule_to_json(self.spec), "version": self.version, "origin": self.origin,
            "updated_by": self.updated_by, "updated_at": self.updated_at.isoformat(),
            "deleted": self.deleted_at is not None,
        }  # fmt: skip


@dataclass(frozen=True)
class RuleVersion:
    version: int
    kind: str
    spec: dict[str, Any]
    enabled: bool
    change: Change
    author: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "spec": self.spec, "enabled": self.enabled,
                "change": self.change, "author": self.author, "at": self.at.isoformat()}  # fmt: skip


def _stored(row: Any) -> StoredRule:
    _rule_id, _kind, spec, enabled, version, origin, updated_by, updated_at, deleted_at = row
    parsed = replace(parse_rule(spec), enabled=bool(enabled))
    return StoredRule(parsed, int(version), origin, str(updated_by), updated_at, deleted_at)


async def list_rules(conn: Conn, *, include_deleted: bool = False) -> list[StoredRule]:
    cur = await conn.execute(SELECT_RULES, {"all": include_deleted})
    return [_stored(r) for r in await cur.fetchall()]


async def get_rule(conn: Conn, rule_id: str) -> StoredRule | None:
    cur = await conn.execute(SELECT_RULE, [rule_id])
    row = await cur.fetchone()
    return _stored(row) if row else None


async def rule_versions(conn: Conn, rule_id: str) -> list[RuleVersion]:
    cur = await conn.execute(SELECT_VERSIONS, [rule_id])
    return [RuleVersion(int(r[0]), str(r[1]), r[2], bool(r[3]), r[4], str(r[5]), r[6])  # type: ignore[arg-type, call-overload]
            for r in await cur.fetchall()]  # fmt: skip


async def rules_stamp(conn: Conn) -> tuple[Any, ...]:
    """A value that changes whenever any rule does (the engine's cache key)."""
    cur = await conn.execute(SELECT_STAMP)
    row = await cur.fetchone()
    return tuple(row) if row else ()


async def enabled_specs(conn: Conn) -> list[RuleSpec]:
    return [r.spec for r in await list_rules(conn) if r.spec.enabled]


async def _version_row(conn: Conn, rule: StoredRule, change: Change, author: str) -> None:
    await conn.execute(INSERT_VERSION, [rule.id, rule.version, rule.spec.kind, Jsonb(rule_to_json(rule.spec)),
                                        rule.spec.enabled, change, author])  # fmt: skip


async def create_rule(conn: Conn, spec: RuleSpec, author: str, origin: Origin = "api") -> StoredRule:
    """A new rule (version 1), or a deleted one revived; RuleExists if it is live."""
    async with conn.transaction():
        params = {"id": spec.id, "kind": spec.kind, "spec": Jsonb(rule_to_json(spec)), "enabled": spec.enabled,
                  "origin": origin, "author": author}  # fmt: skip
        cur = await conn.execute(INSERT_RULE, params)
        row = await cur.fetchone()
        if row is None:
            current = await _locked(conn, spec.id)
            if current.deleted_at is None:
                raise RuleExists(f"luật {spec.id} đã có / rule {spec.id} exists")
            row = await _write(conn, spec, current.version, author, origin, deleted=False)
        stored = _stored(row)
        await _version_row(conn, stored, "create", author)
        return stored


async def _locked(conn: Conn, rule_id: str) -> StoredRule:
    cur = await conn.execute(SELECT_RULE_FOR_UPDATE, [rule_id])
    row = await cur.fetchone()
    if row is None:
        raise RuleNotFound(f"không có luật {rule_id} / no rule {rule_id}")
    return _stored(row)


async def _write(conn: Conn, spec: RuleSpec, version: int, author: str, origin: Origin, *, deleted: bool) -> Any:
    cur = await conn.execute(UPDATE_RULE, {
        "id": spec.id, "kind": spec.kind, "spec": Jsonb(rule_to_json(spec)), "enabled": spec.enabled,
        "version": version, "origin": origin, "author": author, "deleted": deleted,
    })  # fmt: skip
    row = await cur.fetchone()
    assert row is not None, "the row is locked"
    return row


async def _change(
    conn: Conn, rule_id: str, expected_version: int | None, author: str, origin: Origin, change: Change,
    make: Any,
) -> StoredRule:  # fmt: skip
    async with conn.transaction():
        current = await _locked(conn, rule_id)
        if current.deleted_at is not None:
            raise RuleNotFound(f"luật {rule_id} đã bị xóa / rule {rule_id} was deleted")
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict(rule_id, expected_version, current.version)
        spec = make(current.spec)
        stored = _stored(await _write(conn, spec, current.version, author, origin, deleted=change == "delete"))
        await _version_row(conn, stored, change, author)
        return stored


async def update_rule(
    conn: Conn, spec: RuleSpec, expected_version: int | None, author: str, origin: Origin = "api"
) -> StoredRule:
    """Replace a rule's definition; ``expected_version`` None skips the check (the file loader)."""
    return await _change(conn, spec.id, expected_version, author, origin, "update", lambda _: spec)


async def set_enabled(
    conn: Conn, rule_id: str, enabled: bool, author: str, expected_version: int | None = None
) -> StoredRule:
    change: Change = "enable" if enabled else "disable"
    return await _change(conn, rule_id, expected_version, author, "api", change,
                         lambda s: replace(s, enabled=enabled))  # fmt: skip


async def delete_rule(conn: Conn, rule_id: str, author: str, expected_version: int | None = None) -> StoredRule:
    return await _change(conn, rule_id, expected_version, author, "api", "delete", lambda s: s)
