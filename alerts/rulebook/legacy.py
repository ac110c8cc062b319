"""Bridges between rule specs and the rest of the engine: default specs, legacy rule objects, Policy.

``AlertEngine(rules=...)`` still accepts the rule objects of alerts/rules*.py (callers and tests
built before rules became data); ``spec_from_legacy`` turns each into the equivalent spec, so the
shell evaluates one kind of thing. ``default_specs()`` is the packaged default_rules.yaml, which
the engine uses when the alert_rule table has never held a rule.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from alerts.engine import Policy
from alerts.rulebook.spec import (
    CashlessShareParams,
    CccdCoverageParams,
    LateStep,
    LateWithoutApologyParams,
    OnTimeRateParams,
    OverdueParams,
    PayoutBehindScheduleParams,
    RuleSpec,
    TargetPaceParams,
)
from alerts.rules import DueSoonRule, MissingApologyRule, OnTimeRateRule, OverdueRule
from alerts.rules_id import CccdCoverageRule, L2PaceRule
from alerts.rules_payout import CashlessShareRule, PayoutBehindScheduleRule

__all__ = ["DEFAULT_RULES_FILE", "LegacyRule", "default_specs", "policy_for", "spec_from_legacy"]

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.yaml")

LegacyRule = (
    OverdueRule | DueSoonRule | MissingApologyRule | OnTimeRateRule | PayoutBehindScheduleRule | CashlessShareRule
    | CccdCoverageRule | L2PaceRule
)  # fmt: skip


def policy_for(spec: RuleSpec) -> Policy:
    flap = spec.flap_damping
    return Policy(
        hold=spec.hold,
        keep_firing_for=spec.keep_firing_for,
        flap_window=flap.window if flap else Policy().flap_window,
        flap_max_changes=flap.max_changes if flap else Policy().flap_max_changes,
    )


def spec_from_legacy(rule: LegacyRule | RuleSpec) -> RuleSpec:
    """The spec a rule object of alerts/rules*.py stands for (legacy objects had no flap damping)."""
    if isinstance(rule, RuleSpec):
        return rule
    if isinstance(rule, OverdueRule):
        return RuleSpec(rule.id, OverdueParams((LateStep(0, rule.severity),)), flap_damping=None)
    if isinstance(rule, DueSoonRule):
        return RuleSpec(rule.id, OverdueParams((), rule.within_working_days, rule.severity), flap_damping=None)
    if isinstance(rule, MissingApologyRule):
        params = LateWithoutApologyParams(rule.after_working_days, rule.severity)
        return RuleSpec(rule.id, params, flap_damping=None)
    if isinstance(rule, OnTimeRateRule):
        on_time = OnTimeRateParams(rule.target, rule.window, rule.min_resolved, rule.severity)
        return RuleSpec(rule.id, on_time, hold=rule.hold, flap_damping=None)
    if isinstance(rule, PayoutBehindScheduleRule):
        return RuleSpec(rule.id, PayoutBehindScheduleParams(rule.lag), hold=rule.hold, flap_damping=None)
    if isinstance(rule, CashlessShareRule):
        cashless = CashlessShareParams(rule.min_paid, rule.severity)
        return RuleSpec(rule.id, cashless, hold=rule.hold, flap_damping=None)
    if isinstance(rule, CccdCoverageRule):
        return RuleSpec(rule.id, CccdCoverageParams(), hold=rule.hold, flap_damping=None)
    return RuleSpec(rule.id, TargetPaceParams(rule.pace_days), hold=rule.hold, flap_damping=None)


@cache
def default_specs() -> tuple[RuleSpec, ...]:
    """The packaged default rules (validated; a broken packaged file is a bug, so it raises)."""
    from alerts.rulebook.loader import parse_rules_document

    return parse_rules_document(yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8")))
