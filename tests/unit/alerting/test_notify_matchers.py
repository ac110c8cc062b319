"""Label matchers: the four ops, anchored regexes, missing labels, precise errors."""

from __future__ import annotations

import pytest

from alerts.notify.matchers import MatcherError, matches_all, parse_matchers, pinned_values

LABELS = {"rule": "overdue", "province_code": "01", "severity": "critical"}


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ([{"label": "province_code", "op": "=", "value": "01"}], True),
        ([{"label": "province_code", "op": "=", "value": "79"}], False),
        ([{"label": "province_code", "op": "!=", "value": "79"}], True),
        ([{"label": "province_code", "op": "=~", "value": "0[12]"}], True),
        ([{"label": "province_code", "op": "=~", "value": "1"}], False),  # anchored: no substring match
        ([{"label": "rule", "op": "=~", "value": "over"}], False),
        ([{"label": "rule", "op": "=~", "value": "over.*"}], True),
        ([{"label": "rule", "op": "!~", "value": "silent_source(_.+)?"}], True),
        ([{"label": "commune_code", "op": "=", "value": ""}], True),  # missing label reads as ""
        ([{"label": "commune_code", "op": "!=", "value": ""}], False),
        ([{"label": "severity", "op": "=", "value": "critical"}, {"label": "rule", "op": "=", "value": "x"}], False),
        ([], True),
    ],
)
def test_matching(matchers: list[dict[str, str]], expected: bool) -> None:
    assert matches_all(parse_matchers(matchers), LABELS) is expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("province_code=01", "matchers: "),
        ([{"label": "1x", "op": "=", "value": "a"}], "matchers[0].label"),
        ([{"label": "a", "op": "==", "value": "a"}], "matchers[0].op"),
        ([{"label": "a", "op": "=~", "value": "("}], "matchers[0].value"),
        ([{"label": "a", "op": "=", "value": 1}], "matchers[0].value"),
        ([{"label": "a", "op": "="}], "matchers[0]: thiếu / missing ['value']"),
        ([{"label": "a", "op": "=", "value": "b"}, {"label": "a", "op": "=", "value": "b", "x": 1}], "matchers[1]"),
    ],
)
def test_errors_name_the_element(data: object, message: str) -> None:
    with pytest.raises(MatcherError) as err:
        parse_matchers(data)
    assert message in str(err.value)


def test_empty_refused_when_required() -> None:
    with pytest.raises(MatcherError, match="ít nhất một"):
        parse_matchers([], allow_empty=False)


def test_pinned_values() -> None:
    ms = parse_matchers([{"label": "province_code", "op": "=", "value": "01"}])
    assert pinned_values(ms, "province_code") == frozenset({"01"})
    assert pinned_values(ms, "commune_code") is None
    assert (
        pinned_values(parse_matchers([{"label": "province_code", "op": "=~", "value": ".*"}]), "province_code") is None
    )
