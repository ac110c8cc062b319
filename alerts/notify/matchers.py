"""Label matchers, Alertmanager style: ``=``, ``!=``, ``=~``, ``!~``; regexes fully anchored.

The JSON shape everywhere (silences, routes, inhibit rules, escalation policies) is
``[{"label": "province_code", "op": "=", "value": "01"}]``. A missing label reads as the empty
string, as in Alertmanager, so ``{"label": "commune_code", "op": "=", "value": ""}`` matches
alerts without a commune. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["OPS", "Matcher", "MatcherError", "matchers_to_json", "matches_all", "parse_matchers", "pinned_values"]

Op = Literal["=", "!=", "=~", "!~"]
OPS: tuple[Op, ...] = ("=", "!=", "=~", "!~")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
MAX_VALUE = 1024
MAX_MATCHERS = 32


class MatcherError(ValueError):
    """A matcher list that cannot be used; the message names the offending element."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, label: str, op: str, value: str, where: str = "matcher") -> Matcher:
        if not isinstance(label, str) or not LABEL_NAME.match(label):
            raise MatcherError(f"{where}.label: tên nhãn không hợp lệ / invalid label name {label!r}")
        if op not in OPS:
            raise MatcherError(f"{where}.op: phép so khớp phải là một trong {', '.join(OPS)} / unknown op {op!r}")
        if not isinstance(value, str) or len(value) > MAX_VALUE or "\x00" in value:
            raise MatcherError(f"{where}.value: giá trị phải là chuỗi ≤ {MAX_VALUE} ký tự / value must be a string")
        regex = None
        if op in ("=~", "!~"):
            try:
                # Anchored like Alertmanager: "0[12]" matches "01", never "101".
                regex = re.compile(f"^(?:{value})$")
            except re.error as exc:
                raise MatcherError(f"{where}.value: biểu thức chính quy sai / invalid regex {value!r}: {exc}") from exc
        return cls(label, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.match(actual) is not None
        return found if self.op == "=~" else not found

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "op": self.op, "value": self.value}


def parse_matchers(data: Any, where: str = "matchers", *, allow_empty: bool = True) -> tuple[Matcher, ...]:
    """Validate the JSON list; errors say which element and which field is wrong."""
    if not isinstance(data, list):
        raise MatcherError(f"{where}: phải là một danh sách / must be a list of matchers")
    if not data and not allow_empty:
        raise MatcherError(f"{where}: cần ít nhất một điều kiện / at least one matcher is required")
    if len(data) > MAX_MATCHERS:
        raise MatcherError(f"{where}: tối đa {MAX_MATCHERS} điều kiện / at most {MAX_MATCHERS} matchers")
    out = []
    for i, item in enumerate(data):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise MatcherError(f"{here}: phải là đối tượng label/op/value / must be an object")
        unknown = set(item) - {"label", "op", "value"}
        if unknown:
            raise MatcherError(f"{here}: khóa không hợp lệ / unknown keys {sorted(unknown)}")
        missing = {"label", "op", "value"} - set(item)
        if missing:
            raise MatcherError(f"{here}: thiếu / missing {sorted(missing)}")
        out.append(Matcher.of(item["label"], item["op"], item["value"], here))
    return tuple(out)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    for m in matchers:  # noqa: SIM110 -- a plain loop: called per alert per rule, cheaper than all(<genexpr>)
        if not m.matches(labels):
            return False
    return True


def matchers_to_json(matchers: Sequence[Matcher]) -> list[dict[str, str]]:
    return [m.to_json() for m in matchers]


def pinned_values(matchers: Iterable[Matcher], label: str) -> frozenset[str] | None:
    """The values an equality matcher pins ``label`` to (None when no ``=`` matcher names it)."""
    pinned = [m.value for m in matchers if m.label == label and m.op == "="]
    if not pinned:
        return None
    return frozenset(pinned) if len(set(pinned)) == 1 else frozenset()  # two different "=" never match
