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

__all__ = ["DEFAULT_INHIBIT_RULE", "InhibitRule", "inhibited_by", "parse_inhibit_rule"]


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
    """The id of the rule inhibiting this alert, or None. ``firing``: (fingerprint, labels) pairs."""
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        for source_fp, source_labels in firing:
            if source_fp == fingerprint or not matches_all(rule.source, source_labels):
                continue
            if all(labels.get(k, "") == source_labels.get(k, "") for k in rule.equal):
                return rule.id
    return None
