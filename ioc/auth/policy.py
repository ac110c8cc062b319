"""Roles, actions and the permission matrix: who may do what, before scope is considered.

Every route declares a `Policy`: the action it performs and how scope applies to it (a list
filtered to the scope, one object whose locality is checked, a write to such an object, or
nothing locality-bound). The app refuses to start with a route that declares none, and the
permission-matrix test walks the same declarations. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    OPERATOR = "operator"
    SUBSCRIBER = "subscriber"
    DISPLAY = "display"  # wall screens, through a display token
    SOURCE = "source"  # data sources, through a source API key


class Action(StrEnum):
    STATUS_READ = "status.read"
    ALERTS_READ = "alerts.read"
    ALERTS_ACK = "alerts.ack"
    DOSSIERS_READ = "dossiers.read"
    DOSSIERS_EXPORT = "dossiers.export"
    CALENDAR_READ = "calendar.read"
    CALENDAR_WRITE = "calendar.write"
    INGEST_DOSSIER = "ingest.dossier"
    INGEST_PAYOUT = "ingest.payout"
    INGEST_ID_ISSUANCE = "ingest.id_issuance"
    IMPORT_FILE = "import.file"  # a department's CSV/XLSX report, uploaded at the command centre
    INDICATORS_READ = "indicators.read"  # indicators, history, rankings, the 766 scorecard
    TARGETS_WRITE = "targets.write"  # ID-issuance targets and deadlines per locality
    REPORTS_READ = "reports.read"  # monthly late lists and briefings (XLSX, PDF)
    PROGRAMMES_MANAGE = "programmes.manage"  # the list of payout programmes
    CONNECTORS_MANAGE = "connectors.manage"  # polling connectors to sources' REST APIs
    ACCOUNT_SELF = "account.self"  # one's own identity, signing out
    ACCOUNT_PASSWORD = "account.password"  # changing one's own password (people, not screens)
    USERS_MANAGE = "users.manage"
    DISPLAYS_MANAGE = "displays.manage"
    SOURCES_MANAGE = "sources.manage"
    AUDIT_READ = "audit.read"
    ALERT_RULES_READ = "alert_rules.read"  # alert rules as data and their versions
    ALERT_RULES_WRITE = "alert_rules.write"
    SILENCES_READ = "silences.read"
    SILENCES_WRITE = "silences.write"  # one-off and recurring silences (maintenance windows)
    ROUTING_MANAGE = "routing.manage"  # routes, contact points, escalation policies, test messages
    SUBSCRIPTIONS_OWN = "subscriptions.own"  # one's own subscriptions, contacts and phones (Web Push)
    DELIVERIES_READ = "deliveries.read"  # the delivery outbox and its dead letters
    ALERTS_EXTERNAL_INGEST = "alerts.external_ingest"  # alerts posted in Alertmanager's API format


_PEOPLE = frozenset({Role.ADMIN, Role.LEADER, Role.OPERATOR, Role.SUBSCRIBER})
_STAFF = frozenset({Role.ADMIN, Role.LEADER, Role.OPERATOR})
_ADMIN = frozenset({Role.ADMIN})

# The matrix the README prints. Scope narrows every row further (see ioc/auth/scope.py).
MATRIX: dict[Action, frozenset[Role]] = {
    Action.STATUS_READ: _PEOPLE | {Role.DISPLAY},
    Action.ALERTS_READ: _PEOPLE | {Role.DISPLAY},
    Action.ALERTS_ACK: _PEOPLE,
    Action.DOSSIERS_READ: _STAFF,
    Action.DOSSIERS_EXPORT: _STAFF,
    Action.CALENDAR_READ: _STAFF,
    Action.CALENDAR_WRITE: _ADMIN,
    Action.INGEST_DOSSIER: frozenset({Role.SOURCE}),
    Action.INGEST_PAYOUT: frozenset({Role.SOURCE}),
    Action.INGEST_ID_ISSUANCE: frozenset({Role.SOURCE}),
    Action.IMPORT_FILE: frozenset({Role.ADMIN, Role.OPERATOR}),
    Action.INDICATORS_READ: _PEOPLE | {Role.DISPLAY},
    Action.TARGETS_WRITE: frozenset({Role.ADMIN, Role.LEADER}),
    Action.REPORTS_READ: _STAFF,
    Action.PROGRAMMES_MANAGE: _ADMIN,
    Action.CONNECTORS_MANAGE: _ADMIN,
    Action.ACCOUNT_SELF: _PEOPLE | {Role.DISPLAY},
    Action.ACCOUNT_PASSWORD: _PEOPLE,
    Action.USERS_MANAGE: _ADMIN,
    Action.DISPLAYS_MANAGE: _ADMIN,
    Action.SOURCES_MANAGE: _ADMIN,
    Action.AUDIT_READ: _ADMIN,
    Action.ALERT_RULES_READ: _STAFF,
    Action.ALERT_RULES_WRITE: _ADMIN,
    Action.SILENCES_READ: _STAFF,
    Action.SILENCES_WRITE: frozenset({Role.ADMIN, Role.OPERATOR}),
    Action.ROUTING_MANAGE: _ADMIN,
    Action.SUBSCRIPTIONS_OWN: _PEOPLE,
    Action.DELIVERIES_READ: _ADMIN,
    Action.ALERTS_EXTERNAL_INGEST: frozenset({Role.SOURCE}),
}

# How scope applies to a route:
#   public  — no credentials needed (the login page, health, static files, public geography)
#   global  — not locality-bound (an admin action, one's own account)
#   list    — answers with in-scope items only (an out-of-scope filter gives an empty list or 404)
#   read    — reads one object: out of scope answers 404, as if it did not exist
#   write   — changes one object: out of scope answers 403
#   items   — a batch whose items are checked one by one: an out-of-scope item is rejected in the
#             per-item results and writes nothing, while the rest of the batch goes through
Target = Literal["public", "global", "list", "read", "write", "items"]


@dataclass(frozen=True)
class Policy:
    action: Action | None
    target: Target

    def __post_init__(self) -> None:
        if (self.action is None) != (self.target == "public"):
            raise ValueError("a public policy has no action, and every other policy has one")

    @property
    def public(self) -> bool:
        return self.action is None

    def allows_role(self, role: Role) -> bool:
        return self.action is None or role in MATRIX[self.action]


PUBLIC = Policy(None, "public")


def allowed(role: Role, action: Action) -> bool:
    return role in MATRIX[action]
