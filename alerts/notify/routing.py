"""Who receives an alert: routes to contact points, and people's subscriptions.

Routes (``notification_route``) are walked in ``position`` order; every matching route sends to its
contact points, and a matching route with ``continue_matching`` false ends the walk.

A subscription (``alert_subscription``) selects alerts by provinces, communes, agencies, sectors
and severities (an empty list = any), always narrowed by the person's own scope; a disabled
person gets nothing. Quiet hours (local time, may wrap midnight) hold a notification back — a
critical one passes when ``quiet_allows_critical`` — and nothing is lost: the group's log is not
advanced while held, so at the end of the quiet hours the planner sends what is still relevant
(the alerts still firing, and those that resolved meanwhile). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from alerts.delivery.model import Channel
from alerts.notify.grouping import GroupTiming
from alerts.notify.matchers import Matcher, matches_all
from alerts.notify.silences import LOCAL_TZ
from ioc.auth.scope import Scope

__all__ = [
    "ContactPoint",
    "Person",
    "Route",
    "Subscription",
    "SubscriptionIndex",
    "in_quiet_hours",
    "person_addresses",
    "routes_for",
    "subscription_wants",
]


@dataclass(frozen=True)
class ContactPoint:
    id: str
    channel: Channel
    address: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        lang = self.options.get("language", "vi")
        return lang if lang in ("vi", "en") else "vi"


@dataclass(frozen=True)
class Route:
    id: str
    position: int
    matchers: tuple[Matcher, ...]
    contact_points: tuple[str, ...]
    group_by: tuple[str, ...] = ("rule", "province_code")
    timing: GroupTiming = field(default_factory=GroupTiming)
    continue_matching: bool = True


def routes_for(routes: Sequence[Route], labels: Mapping[str, str]) -> list[Route]:
    out = []
    for route in sorted(routes, key=lambda r: (r.position, r.id)):
        if matches_all(route.matchers, labels):
            out.append(route)
            if not route.continue_matching:
                break
    return out


@dataclass(frozen=True)
class Person:
    """An account as notifications need it: scope, language, addresses, live push subscriptions."""

    id: int
    username: str
    role: str
    scope: Scope
    language: str = "vi"
    enabled: bool = True
    contacts: Mapping[str, str] = field(default_factory=dict)  # channel → address
    push_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Subscription:
    id: int
    user_id: int
    provinces: frozenset[str] = frozenset()
    communes: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset({"warning", "critical"})
    channels: tuple[str, ...] = ()
    quiet_from: time | None = None
    quiet_to: time | None = None
    quiet_allows_critical: bool = True
    enabled: bool = True


def _any_or(values: frozenset[str], value: str | None) -> bool:
    return not values or (value is not None and value in values)


def subscription_wants(sub: Subscription, person: Person, labels: Mapping[str, str]) -> bool:
    """Whether the subscription selects the alert, inside the person's scope."""
    if not sub.enabled or not person.enabled:
        return False
    province, commune = labels.get("province_code"), labels.get("commune_code")
    agency, sector = labels.get("agency_code"), labels.get("sector")
    if not person.scope.allows(province, commune, agency, sector):
        return False
    return (
        _any_or(sub.provinces, province) and _any_or(sub.communes, commune) and _any_or(sub.agencies, agency)
        and _any_or(sub.sectors, sector) and _any_or(sub.severities, labels.get("severity"))
    )  # fmt: skip


class SubscriptionIndex:
    """``subscription_wants`` for every alert of a round, without testing every subscription.

    A subscription can only select alerts of its locality: the person's scope (unless national)
    names provinces and communes, else the subscription's own province or commune filter does.
    Subscriptions are indexed under those codes (or kept as "everywhere" when neither narrows),
    so an alert is tested only against the subscriptions of its province and commune plus the
    everywhere ones — the answer is still ``subscription_wants``, in the given order.
    """

    __slots__ = ("_by_commune", "_by_province", "_entries", "_everywhere", "_filters", "_local_memo")

    def __init__(self, subscriptions: Sequence[tuple[Subscription, Person]]) -> None:
        self._entries = tuple(subscriptions)
        self._by_province: dict[str, list[int]] = {}
        self._by_commune: dict[str, list[int]] = {}
        everywhere: list[int] = []
        for i, (sub, person) in enumerate(self._entries):
            if not sub.enabled or not person.enabled:
                continue
            scope = person.scope
            if not scope.national:
                provinces, communes = scope.provinces, scope.communes
            elif sub.provinces or sub.communes:
                # Both filters must hold, so either one alone is a sound (wider) index key.
                provinces, communes = (sub.provinces, frozenset()) if sub.provinces else (frozenset(), sub.communes)
            else:
                everywhere.append(i)
                continue
            for code in provinces:
                self._by_province.setdefault(code, []).append(i)
            for code in communes:
                self._by_commune.setdefault(code, []).append(i)
        self._everywhere = tuple(everywhere)
        self._local_memo: dict[tuple[str | None, str | None], tuple[int, ...]] = {}
        # The rest of subscription_wants, per subscription: the agencies, sectors and severities
        # allowed by both the person's scope and the subscription (None: any).
        self._filters = [
            (_required(p.scope.agencies, sub.agencies or None), _required(p.scope.sectors, sub.sectors or None),
             _required(sub.severities or None))
            for sub, p in self._entries
        ]  # fmt: skip

    def _local(self, province: str | None, commune: str | None) -> tuple[int, ...]:
        """The subscriptions whose locality part (scope and filters) selects this place, memoised:
        a round meets each province/commune pair once, not once per alert."""
        key = (province, commune)
        found = self._local_memo.get(key)
        if found is None:
            candidates = set(self._everywhere)
            if province is not None:
                candidates.update(self._by_province.get(province, ()))
            if commune is not None:
                candidates.update(self._by_commune.get(commune, ()))
            found = tuple(
                i for i in sorted(candidates)
                if self._entries[i][1].scope.allows_locality(province, commune)
                and _any_or(self._entries[i][0].provinces, province) and _any_or(self._entries[i][0].communes, commune)
            )  # fmt: skip
            self._local_memo[key] = found
        return found

    def wanting(self, labels: Mapping[str, str]) -> list[tuple[Subscription, Person]]:
        """The (subscription, person) pairs selecting these labels, in the given order: what
        ``subscription_wants`` answers — the locality part memoised, the rest checked here."""
        if not self._entries:
            return []
        agency, sector, severity = labels.get("agency_code"), labels.get("sector"), labels.get("severity")
        out = []
        for i in self._local(labels.get("province_code"), labels.get("commune_code")):
            agencies, sectors, severities = self._filters[i]
            if (
                (agencies is None or agency in agencies) and (sectors is None or sector in sectors)
                and (severities is None or severity in severities)
            ):  # fmt: skip
                out.append(self._entries[i])
        return out


def _required(*sets: frozenset[str] | None) -> frozenset[str] | None:
    """The values every given set allows (None: no set narrows). A value must be in each set —
    ``_any_or`` and ``Scope.allows`` both refuse a missing label (None) once a set narrows."""
    narrowing = [s for s in sets if s is not None]
    if not narrowing:
        return None
    return frozenset.intersection(*narrowing)


def in_quiet_hours(sub: Subscription, now: datetime) -> bool:
    """Whether ``now`` (local time) falls in [quiet_from, quiet_to); wraps midnight when from > to."""
    if sub.quiet_from is None or sub.quiet_to is None or sub.quiet_from == sub.quiet_to:
        return False
    local = now.astimezone(LOCAL_TZ).time().replace(tzinfo=None)
    if sub.quiet_from < sub.quiet_to:
        return sub.quiet_from <= local < sub.quiet_to
    return local >= sub.quiet_from or local < sub.quiet_to


def person_addresses(person: Person, channels: Sequence[str]) -> list[tuple[Channel, str]]:
    """Where to reach a person on the given channels; Web Push = every live push subscription."""
    out: list[tuple[Channel, str]] = []
    for name in channels:
        if name == Channel.WEBPUSH.value:
            out.extend((Channel.WEBPUSH, str(pid)) for pid in person.push_ids)
        elif name in person.contacts and name in {c.value for c in Channel}:
            out.append((Channel(name), person.contacts[name]))
    return out
