"""Inhibition: a firing source alert mutes the target alerts that depend on it (Alertmanager style).

A rule mutes an alert when the alert matches ``target``, and another *firing* alert matches
``source`` and has the same values for every ``equal`` label (a label missing on both sides counts
as equal, as in Alertmanager). The default rule: a silent source (no data from a stream within its
expected cadence) mutes the indicator and threshold alerts of the same stream and province — their
numbers are stale, not alarming. Rules are stored in table ``inhibit_rule`` (migration 018) and
edited through the notification-config API. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.notify.matchers import Matcher, MatcherError, matches_all, parse_matchers

__all__ = ["DEFAULT_INHIBIT_RULE", "InhibitIndex", "InhibitRule", "inhibited_by", "parse_inhibit_rule"]


@dataclass(frozen=True)
class InhibitRule:
    id: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "source_matchers": [m.to_json() for m in self.source],
            "target_matchers": [m.to_json() for m in self.target], "equal": list(self.equal),
        }  # fmt: skip


def parse_inhibit_rule(data: Mapping[str, Any], where: str = "inhibit_rule") -> InhibitRule:
    from alerts.notify.matchers import LABEL_NAME

    unknown = set(data) - {"id", "source_matchers", "target_matchers", "equal"}
    if unknown:
        raise MatcherError(f"{where}: khóa không hợp lệ / unknown keys {sorted(unknown)}")
    equal = data.get("equal", [])
    if not isinstance(equal, list) or any(not isinstance(e, str) or not LABEL_NAME.match(e) for e in equal):
        raise MatcherError(f"{where}.equal: danh sách tên nhãn / must be a list of label names")
    return InhibitRule(
        id=str(data.get("id", "")),
        source=parse_matchers(data.get("source_matchers"), f"{where}.source_matchers", allow_empty=False),
        target=parse_matchers(data.get("target_matchers"), f"{where}.target_matchers", allow_empty=False),
        equal=tuple(equal),
    )


# Every rulebook alert carries its rule's kind as the `kind` label (alerts/rulebook/collect.py).
DEFAULT_INHIBIT_RULE = parse_inhibit_rule({
    "id": "silent-source-mutes-indicators",
    "source_matchers": [{"label": "kind", "op": "=", "value": "silent_source"}],
    "target_matchers": [{"label": "kind", "op": "!=", "value": "silent_source"}],
    "equal": ["stream", "province_code"],
})  # fmt: skip


def inhibited_by(
    labels: Mapping[str, str],
    fingerprint: str,
    firing: Sequence[tuple[str, Mapping[str, str]]],
    rules: Iterable[InhibitRule],
) -> str | None:
    """The id of the rule inhibiting this alert, or None. ``firing``: (fingerprint, labels) pairs.

    One-off question; a planning round asks it for every alert and builds an ``InhibitIndex``.
    """
    return InhibitIndex(rules, firing).inhibited_by(labels, fingerprint)


def _equal_key(equal: tuple[str, ...], labels: Mapping[str, str]) -> tuple[str, ...]:
    # A missing label reads as "" on both sides, so "missing on both" compares equal.
    return tuple(labels.get(k, "") for k in equal)


class InhibitIndex:
    """The firing inhibit sources of one round, indexed as Alertmanager caches them.

    Per rule, a dict from the values of the rule's ``equal`` labels to the fingerprints of the
    firing alerts matching its ``source``: built in one pass over the firing alerts (O(alerts ×
    rules)), after which whether an alert is inhibited costs one dict look-up per rule whose
    ``target`` it matches, instead of a scan of every firing alert. Same answers as the scan: the
    first rule (in the given order) with a source of the same ``equal`` values that is not the
    alert itself.
    """

    __slots__ = ("_rules", "_targets")

    def __init__(self, rules: Iterable[InhibitRule], firing: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        rules = tuple(rules)
        sources: list[dict[tuple[str, ...], set[str]]] = [{} for _ in rules]
        source_match = [_MatchMemo(rule.source) for rule in rules]
        for fingerprint, labels in firing:
            for rule, by_key, memo in zip(rules, sources, source_match, strict=True):
                if memo(labels):
                    by_key.setdefault(_equal_key(rule.equal, labels), set()).add(fingerprint)
        # Rules without a firing source cannot inhibit anything this round: leave them out.
        self._rules = tuple((rule, by_key) for rule, by_key in zip(rules, sources, strict=True) if by_key)
        self._targets = tuple(_MatchMemo(rule.target) for rule, _ in self._rules)

    @property
    def active(self) -> bool:
        """Whether any rule has a firing source (else nothing is inhibited)."""
        return bool(self._rules)

    def inhibited_by(self, labels: Mapping[str, str], fingerprint: str) -> str | None:
        """The id of the first rule inhibiting this alert, or None."""
        for (rule, by_key), target in zip(self._rules, self._targets, strict=True):
            if not target(labels):
                continue
            fps = by_key.get(_equal_key(rule.equal, labels))
            # An alert never inhibits itself: another source fingerprint must be in the bucket.
            if fps and (len(fps) > 1 or fingerprint not in fps):
                return rule.id
        return None


class _MatchMemo:
    """``matches_all(matchers, labels)`` memoised by the values of the labels the matchers read
    (rules name a few labels, such as ``kind``, with a handful of values across all alerts)."""

    __slots__ = ("_matchers", "_memo", "_names")

    def __init__(self, matchers: tuple[Matcher, ...]) -> None:
        self._matchers = matchers
        self._names = tuple(sorted({m.label for m in matchers}))
        self._memo: dict[tuple[str, ...], bool] = {}

    def __call__(self, labels: Mapping[str, str]) -> bool:
        key = tuple([labels.get(n, "") for n in self._names])
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = matches_all(self._matchers, labels)
        return found
