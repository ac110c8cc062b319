"""Notification configuration as data: contact points, routes, escalation policies, inhibit rules.

The same validators serve the API (ioc/api/notification_config.py) and the YAML file loaded at
start (``load_notify_file``, default ``alerts/notify/default_notify.yaml``). The file is validated
whole before anything is written; then, in one transaction, every object it names is created, or
replaced if the file still manages it. Objects an administrator added, edited or deleted through
the API are theirs: the file never overwrites or resurrects them (migration 022).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.notify.escalation import EscalationPolicy, parse_policy
from alerts.notify.inhibition import InhibitRule, parse_inhibit_rule
from alerts.notify.matchers import LABEL_NAME, MatcherError, parse_matchers
from alerts.notify.routing import ContactPoint, Route

__all__ = [
    "DEFAULT_NOTIFY_FILE",
    "FILE_ACTOR",
    "FORGET_DELETION",
    "REMEMBER_DELETION",
    "NotifyConfig",
    "NotifyConfigError",
    "load_notify_file",
    "parse_contact_point",
    "parse_notify_config",
    "parse_route",
    "save_contact_point",
    "save_inhibit_rule",
    "save_policy",
    "save_route",
]

DEFAULT_NOTIFY_FILE = Path(__file__).with_name("default_notify.yaml")
OBJECT_ID = re.compile(r"^[a-z][a-z0-9_-]{1,62}$")
CP_CHANNELS = ("email", "webhook", "telegram", "zalo")
_ADDRESS = {
    "email": re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$"),
    "webhook": re.compile(r"^https?://[^\s]{1,2000}$"),
    "telegram": re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$"),
    "zalo": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
}
AnyConn = AsyncConnection[Any]


class NotifyConfigError(ValueError):
    """Invalid configuration; ``errors`` lists every problem with the path to it."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not OBJECT_ID.match(value):
        raise MatcherError(f"{where}.id: chữ thường, số, _ hoặc - (2–63 ký tự) / lowercase id, 2–63 characters")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, where: str, low: int, high: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MatcherError(f"{where}.{key}: số nguyên {low}–{high} / an integer {low}..{high}")
    return value


def parse_contact_point(data: Mapping[str, Any], where: str = "contact_point") -> ContactPoint:
    from alerts.delivery.model import Channel

    unknown = set(data) - {"id", "channel", "address", "options"}
    if unknown:
        raise MatcherError(f"{where}: khóa không hợp lệ / unknown keys {sorted(unknown)}")
    cid = _id(data.get("id"), where)
    channel = data.get("channel")
    if channel not in CP_CHANNELS:
        raise MatcherError(f"{where}.channel: một trong {', '.join(CP_CHANNELS)} / one of {', '.join(CP_CHANNELS)}")
    address = data.get("address")
    if not isinstance(address, str) or not _ADDRESS[channel].match(address):
        raise MatcherError(f"{where}.address: địa chỉ {channel} không hợp lệ / invalid {channel} address")
    options = data.get("options", {}) or {}
    if not isinstance(options, Mapping) or len(options) > 20:
        raise MatcherError(f"{where}.options: đối tượng (≤ 20 khóa) / an object of at most 20 keys")
    for k, v in options.items():
        if not isinstance(k, str) or not isinstance(v, str | int | bool) or len(str(v)) > 2000:
            raise MatcherError(f"{where}.options.{k}: giá trị đơn (≤ 2000 ký tự) / a scalar value")
    if options.get("language", "vi") not in ("vi", "en"):
        raise MatcherError(f"{where}.options.language: vi hoặc en / vi or en")
    if channel == "webhook" and options.get("format", "ioc") not in ("ioc", "alertmanager"):
        raise MatcherError(f"{where}.options.format: ioc hoặc alertmanager / ioc or alertmanager")
    return ContactPoint(cid, Channel(channel), address, dict(options))


def parse_route(data: Mapping[str, Any], where: str = "route") -> Route:
    from alerts.notify.grouping import GroupTiming

    known = {"id", "position", "matchers", "contact_points", "group_by", "group_wait_s", "group_interval_s",
             "repeat_interval_s", "continue_matching"}  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise MatcherError(f"{where}: khóa không hợp lệ / unknown keys {sorted(unknown)}")
    rid = _id(data.get("id"), where)
    cps = data.get("contact_points")
    if not isinstance(cps, list) or not cps or len(cps) > 20 or any(not isinstance(c, str) for c in cps):
        raise MatcherError(f"{where}.contact_points: 1–20 mã điểm liên lạc / 1 to 20 contact point ids")
    group_by = data.get("group_by", ["rule", "province_code"])
    if (
        not isinstance(group_by, list)
        or len(group_by) > 10
        or any(not isinstance(g, str) or not LABEL_NAME.match(g) for g in group_by)
    ):
        raise MatcherError(f"{where}.group_by: danh sách tên nhãn / a list of label names")
    cont = data.get("continue_matching", True)
    if not isinstance(cont, bool):
        raise MatcherError(f"{where}.continue_matching: true/false")
    timing = GroupTiming(
        group_wait=_seconds(_int(data, "group_wait_s", 1, where, 0, 86_400)),
        group_interval=_seconds(_int(data, "group_interval_s", 300, where, 0, 86_400)),
        repeat_interval=_seconds(_int(data, "repeat_interval_s", 14_400, where, 1, 30 * 86_400)),
    )
    return Route(
        rid, _int(data, "position", 0, where, -1_000_000, 1_000_000),
        parse_matchers(data.get("matchers", []), f"{where}.matchers"), tuple(cps), tuple(group_by), timing, cont,
    )  # fmt: skip


def _seconds(n: int) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


@dataclass(frozen=True)
class NotifyConfig:
    contact_points: tuple[ContactPoint, ...] = ()
    routes: tuple[Route, ...] = ()
    escalation_policies: tuple[EscalationPolicy, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()


def parse_notify_config(data: Any, known_contact_points: frozenset[str] = frozenset()) -> NotifyConfig:
    """Validate a whole configuration document; every problem is reported, not just the first."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise NotifyConfigError(["tệp cấu hình phải là một đối tượng / the file must be a mapping"])
    errors: list[str] = []
    unknown = set(data) - {"contact_points", "routes", "escalation_policies", "inhibit_rules"}
    if unknown:
        errors.append(f"khóa không hợp lệ / unknown keys {sorted(unknown)}")
    sections: dict[str, list[Any]] = {}
    for name in ("contact_points", "routes", "escalation_policies", "inhibit_rules"):
        value = data.get(name) or []
        if not isinstance(value, list):
            errors.append(f"{name}: phải là danh sách / must be a list")
            value = []
        sections[name] = value
    parsers: dict[str, Any] = {
        "contact_points": parse_contact_point, "routes": parse_route,
        "escalation_policies": lambda d, w: parse_policy({**d, "id": _id(d.get("id"), w)}, w),
        "inhibit_rules": lambda d, w: parse_inhibit_rule({**d, "id": _id(d.get("id"), w)}, w),
    }  # fmt: skip
    parsed: dict[str, list[Any]] = {name: [] for name in sections}
    for name, items in sections.items():
        seen: set[str] = set()
        for i, item in enumerate(items):
            where = f"{name}[{i}]"
            if not isinstance(item, Mapping):
                errors.append(f"{where}: phải là đối tượng / must be a mapping")
                continue
            try:
                obj = parsers[name](item, where)
            except MatcherError as exc:
                errors.append(str(exc))
                continue
            if obj.id in seen:
                errors.append(f"{where}.id: trùng mã / duplicate id {obj.id!r}")
            seen.add(obj.id)
            parsed[name].append(obj)
    cp_ids = known_contact_points | {c.id for c in parsed["contact_points"]}
    for i, route in enumerate(parsed["routes"]):
        missing = sorted(set(route.contact_points) - cp_ids)
        if missing:
            errors.append(f"routes[{i}].contact_points: không có điểm liên lạc / unknown contact points {missing}")
    if errors:
        raise NotifyConfigError(errors)
    return NotifyConfig(tuple(parsed["contact_points"]), tuple(parsed["routes"]),
                        tuple(parsed["escalation_policies"]), tuple(parsed["inhibit_rules"]))  # fmt: skip


# --------------------------------------------------------------------------- writing


FILE_ACTOR = "file"
DELETED_IDS = "SELECT kind, id FROM notify_config_deleted"
FORGET_DELETION = "DELETE FROM notify_config_deleted WHERE kind = %s AND id = %s"
REMEMBER_DELETION = (
    "INSERT INTO notify_config_deleted (kind, id, deleted_by) VALUES (%s, %s, %s)"
    " ON CONFLICT (kind, id) DO UPDATE SET deleted_by = EXCLUDED.deleted_by, deleted_at = now()"
)


def _file_guard(table: str, actor: str) -> str:
    """The file replaces only what it manages; an administrator's edit is left alone."""
    return f" WHERE {table}.updated_by = '{FILE_ACTOR}'" if actor == FILE_ACTOR else ""


async def save_contact_point(conn: AnyConn, cp: ContactPoint, actor: str) -> None:
    await conn.execute(
        "INSERT INTO contact_point (id, channel, address, options, created_by, updated_by)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET channel = EXCLUDED.channel, address = EXCLUDED.address,"
        " options = EXCLUDED.options, updated_by = EXCLUDED.updated_by, updated_at = now()"
        + _file_guard("contact_point", actor),
        [cp.id, cp.channel.value, cp.address, Jsonb(dict(cp.options)), actor, actor],
    )


async def save_route(conn: AnyConn, route: Route, actor: str) -> None:
    await conn.execute(
        "INSERT INTO notification_route (id, position, matchers, contact_points, group_by, group_wait_s,"
        " group_interval_s, repeat_interval_s, continue_matching, updated_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, matchers = EXCLUDED.matchers,"
        " contact_points = EXCLUDED.contact_points, group_by = EXCLUDED.group_by,"
        " group_wait_s = EXCLUDED.group_wait_s, group_interval_s = EXCLUDED.group_interval_s,"
        " repeat_interval_s = EXCLUDED.repeat_interval_s, continue_matching = EXCLUDED.continue_matching,"
        " updated_by = EXCLUDED.updated_by, updated_at = now()" + _file_guard("notification_route", actor),
        [route.id, route.position, Jsonb([m.to_json() for m in route.matchers]), list(route.contact_points),
         list(route.group_by), int(route.timing.group_wait.total_seconds()),
         int(route.timing.group_interval.total_seconds()), int(route.timing.repeat_interval.total_seconds()),
         route.continue_matching, actor],
    )  # fmt: skip


async def save_policy(conn: AnyConn, policy: EscalationPolicy, actor: str) -> None:
    await conn.execute(
        "INSERT INTO escalation_policy (id, position, matchers, steps, repeat, updated_by)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, matchers = EXCLUDED.matchers,"
        " steps = EXCLUDED.steps, repeat = EXCLUDED.repeat, updated_by = EXCLUDED.updated_by, updated_at = now()"
        + _file_guard("escalation_policy", actor),
        [policy.id, policy.position, Jsonb([m.to_json() for m in policy.matchers]),
         Jsonb([s.to_json() for s in policy.steps]), policy.repeat, actor],
    )  # fmt: skip


async def save_inhibit_rule(conn: AnyConn, rule: InhibitRule, actor: str) -> None:
    await conn.execute(
        "INSERT INTO inhibit_rule (id, source_matchers, target_matchers, equal, updated_by)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET source_matchers = EXCLUDED.source_matchers,"
        " target_matchers = EXCLUDED.target_matchers, equal = EXCLUDED.equal,"
        " updated_by = EXCLUDED.updated_by, updated_at = now()" + _file_guard("inhibit_rule", actor),
        [rule.id, Jsonb([m.to_json() for m in rule.source]), Jsonb([m.to_json() for m in rule.target]),
         list(rule.equal), actor],
    )  # fmt: skip


async def load_notify_file(
    conn: AnyConn, path: Path | str = DEFAULT_NOTIFY_FILE, actor: str = FILE_ACTOR
) -> NotifyConfig:
    """Validate the whole file, then, in one transaction, create every object it names that does
    not exist and replace those the file still manages (never edited or deleted through the API)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise NotifyConfigError([f"{path}: YAML không hợp lệ / invalid YAML: {exc}"]) from exc
    cur = await conn.execute("SELECT id FROM contact_point")
    known = frozenset(str(r[0]) for r in await cur.fetchall())
    config = parse_notify_config(data, known)
    async with conn.transaction():
        cur = await conn.execute(DELETED_IDS)
        deleted = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
        # Objects an administrator deleted through the API stay deleted.
        for cp in config.contact_points:
            if ("contact_point", cp.id) not in deleted:
                await save_contact_point(conn, cp, actor)
        for route in config.routes:
            if ("notification_route", route.id) not in deleted:
                await save_route(conn, route, actor)
        for policy in config.escalation_policies:
            if ("escalation_policy", policy.id) not in deleted:
                await save_policy(conn, policy, actor)
        for rule in config.inhibit_rules:
            if ("inhibit_rule", rule.id) not in deleted:
                await save_inhibit_rule(conn, rule, actor)
    return config
