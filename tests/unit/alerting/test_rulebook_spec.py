"""Rule specs as data: parsing, precise errors, canonical JSON, the shipped defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from alerts.model import Severity
from alerts.rulebook.durations import format_duration, parse_duration
from alerts.rulebook.errors import RuleSpecError
from alerts.rulebook.legacy import default_specs, spec_from_legacy
from alerts.rulebook.loader import RulesFileError, parse_rules_document
from alerts.rulebook.spec import LateStep, OverdueParams, SeverityStep, ThresholdParams, parse_rule, rule_to_json
from alerts.rules import default_rules
from alerts.stream_inputs import default_stream_rules


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (600, 600), ("0", 0)]
)
def test_durations_round_trip(text: Any, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


def test_threshold_with_steps_parses_and_round_trips() -> None:
    spec = parse_rule({
        "id": "on_time_low", "kind": "threshold", "indicator": "on_time_rate", "op": "<", "for": "30m",
        "keep_firing_for": "10m", "labels": {"team": "ttphvhc"},
        "steps": [{"threshold": 0.9, "severity": "warning"}, {"threshold": 0.7, "severity": "critical"}],
    })  # fmt: skip
    assert spec.params == ThresholdParams(
        "on_time_rate", "<", (SeverityStep(0.9, Severity.WARNING), SeverityStep(0.7, Severity.CRITICAL))
    )
    assert (spec.hold, spec.keep_firing_for, spec.labels) == (timedelta(minutes=30), timedelta(minutes=10),
                                                              (("team", "ttphvhc"),))  # fmt: skip
    assert parse_rule(rule_to_json(spec)) == spec


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"id": "x", "kind": "threshold"}, {"id", "indicator", "op", "threshold"}),
        ({"id": "ok_id", "kind": "nope"}, {"kind"}),
        ({"id": "ok_id", "kind": "threshold", "indicator": "no_such", "op": "!", "threshold": "a"},
         {"indicator", "op", "threshold"}),
        ({"id": "ok_id", "kind": "overdue", "steps": [{"days_late": 3, "severity": "loud"},
                                                      {"days_late": 1, "severity": "critical"}]},
         {"steps[0].severity", "steps"}),
        ({"id": "ok_id", "kind": "silent_source", "stream": "dossier", "silent_for": "2 hours", "colour": 1},
         {"silent_for", "colour"}),
        ({"id": "ok_id", "kind": "cccd_coverage", "labels": {"severity": "x"}, "for": "-1m",
          "flap_damping": {"window": "1h", "max_changes": 1}}, {"labels.severity", "for", "flap_damping.max_changes"}),
        ({"id": "ok_id", "kind": "threshold", "indicator": "overdue_count", "op": ">", "threshold": 1,
          "summary_vi": "{value.__class__}"}, {"summary_vi"}),
    ],
)  # fmt: skip
def test_errors_name_every_field(body: dict[str, Any], paths: set[str]) -> None:
    with pytest.raises(RuleSpecError) as err:
        parse_rule(body)
    assert {e.path for e in err.value.errors} == paths
    assert all(e.expected_vi and e.expected_en for e in err.value.errors)


def test_defaults_keep_todays_thresholds() -> None:
    specs = {s.id: s for s in default_specs()}
    legacy = {r.id: spec_from_legacy(r) for r in (*default_rules(), *default_stream_rules())}
    assert set(legacy) <= set(specs)
    # Deliberately changed (issue 11): due-soon is information, alerted only for an agency with an
    # unusual backlog (30 or more) that lasts 30 minutes; the legacy object alerted every group.
    legacy_due_soon = legacy.pop("due_soon").params
    assert isinstance(legacy_due_soon, OverdueParams)
    assert specs["due_soon"].params == replace(legacy_due_soon, pre_due_min_count=30)
    assert specs["due_soon"].hold == timedelta(minutes=30)
    for rule_id, spec in legacy.items():
        assert specs[rule_id].params == spec.params, rule_id
        assert specs[rule_id].hold == spec.hold, rule_id
        assert specs[rule_id].enabled
    assert specs["overdue"].params == OverdueParams((LateStep(0, Severity.CRITICAL),), 0)


def test_a_bad_file_names_rule_and_field() -> None:
    doc = {"rules": [
        {"id": "good_rule", "kind": "cccd_coverage"},
        {"id": "bad_rule", "kind": "target_pace", "pace_days": 0},
        {"id": "good_rule", "kind": "cccd_coverage"},
    ]}  # fmt: skip
    with pytest.raises(RulesFileError) as err:
        parse_rules_document(doc)
    assert [e.path for e in err.value.errors] == ["rules[1] (id=bad_rule).pace_days", "rules[2] (id=good_rule).id"]
