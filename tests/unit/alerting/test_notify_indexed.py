"""The planner's indexes give the answers of the straightforward scans they replaced.

Each test keeps the old scan as its oracle (copied here as it was) and compares decisions on
thousands of generated cases (fixed seeds): inhibition (``InhibitIndex`` against the scan of every
firing alert), silences (``SilenceRound``, with and without the cross-round cache, against the scan
of every silence, recurring windows included), subscriptions (``SubscriptionIndex`` against
``subscription_wants``) and the planner's mute decisions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.notify.inhibition import InhibitIndex, InhibitRule, parse_inhibit_rule
from alerts.notify.matchers import matches_all, parse_matchers
from alerts.notify.planner import AlertRecord, PlannerInput, _mutes
from alerts.notify.routing import Person, Subscription, SubscriptionIndex, subscription_wants
from alerts.notify.silences import (
    Silence,
    SilenceHit,
    SilenceMatchCache,
    SilenceRound,
    active_window,
    parse_recurrence,
)
from ioc.auth.scope import Scope

# --------------------------------------------------------------------------- oracles (the old scans)


def old_inhibited_by(
    labels: Mapping[str, str],
    fingerprint: str,
    firing: Sequence[tuple[str, Mapping[str, str]]],
    rules: Iterable[InhibitRule],
) -> str | None:
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        for source_fp, source_labels in firing:
            if source_fp == fingerprint or not matches_all(rule.source, source_labels):
                continue
            if all(labels.get(k, "") == source_labels.get(k, "") for k in rule.equal):
                return rule.id
    return None


def old_is_silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> SilenceHit | None:
    best: SilenceHit | None = None
    for s in silences:
        if not matches_all(s.matchers, labels):
            continue
        w = active_window(s, now)
        if w is None:
            continue
        if best is None or (best.ends_at is not None and (w.end is None or w.end > best.ends_at)):
            best = SilenceHit(s.id, w.end)
    return best


# --------------------------------------------------------------------------- generators

# A small vocabulary, so that equal values, missing labels and "" meet often.
VALUES: dict[str, list[str]] = {
    "kind": ["silent_source", "threshold", "indicator"],
    "stream": ["dossier", "payout", "id_issuance"],
    "province_code": ["01", "79", "48"],
    "commune_code": ["00004", "00007", ""],
    "rule": ["overdue", "backlog", "silence"],
    "severity": ["warning", "critical"],
}
NAMES = sorted(VALUES)
BASE = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # a Tuesday, 00:00 local


def gen_labels(rng: random.Random) -> dict[str, str]:
    # Each label is missing a fifth of the time ("missing on both sides counts as equal").
    return {n: rng.choice(VALUES[n]) for n in NAMES if rng.random() > 0.2}


def gen_matcher(rng: random.Random) -> dict[str, str]:
    name = rng.choice(NAMES)
    op = rng.choice(["=", "=", "!=", "=~", "!~"])
    if op in ("=~", "!~"):
        value = "|".join(rng.sample(VALUES[name], rng.randint(1, 2)))
    else:
        value = rng.choice([*VALUES[name], ""])
    return {"label": name, "op": op, "value": value}


def gen_rules(rng: random.Random) -> list[InhibitRule]:
    return [
        parse_inhibit_rule(
            {
                "id": f"r{i}",
                "source_matchers": [gen_matcher(rng) for _ in range(rng.randint(1, 2))],
                "target_matchers": [gen_matcher(rng) for _ in range(rng.randint(1, 2))],
                "equal": rng.sample(NAMES, rng.randint(0, 3)),
            }
        )
        for i in range(rng.randint(1, 4))
    ]


def gen_silence(rng: random.Random, sid: int) -> Silence:
    matchers = parse_matchers([gen_matcher(rng) for _ in range(rng.randint(1, 3))])
    starts = BASE + timedelta(hours=rng.randint(-48, 48))
    expired = starts + timedelta(hours=rng.randint(1, 200)) if rng.random() < 0.2 else None
    if rng.random() < 0.5:
        return Silence(sid, matchers, starts, starts + timedelta(hours=rng.randint(1, 72)), expired_at=expired)
    day = rng.randint(1, 7)
    start_h, end_h = rng.randint(0, 23), rng.randint(0, 24)
    if end_h == start_h:
        end_h = (start_h + 3) % 24
    recurrence = parse_recurrence({"weekly": [{"days": [day, day % 7 + 1], "from": f"{start_h:02d}:00",
                                               "to": f"{end_h:02d}:00"}]})  # fmt: skip
    ends = starts + timedelta(days=rng.randint(1, 20)) if rng.random() < 0.5 else None
    return Silence(sid, matchers, starts, ends, recurrence, expired_at=expired)


# --------------------------------------------------------------------------- inhibition


def test_inhibit_index_decides_as_the_scan_of_every_firing_alert() -> None:
    rng = random.Random(20261208)
    decisions = inhibited = 0
    for _ in range(400):
        rules = gen_rules(rng)
        # Fingerprints from a small pool: the same fingerprint firing twice, and an alert that
        # is its own only source, both occur.
        firing = [(f"fp{rng.randrange(12)}", gen_labels(rng)) for _ in range(rng.randint(0, 15))]
        index = InhibitIndex(rules, firing)
        for _ in range(20):
            if firing and rng.random() < 0.4:
                fp, labels = rng.choice(firing)  # a firing alert asking about itself
            else:
                fp, labels = f"fp{rng.randrange(12)}", gen_labels(rng)
            expected = old_inhibited_by(labels, fp, firing, rules)
            assert index.inhibited_by(labels, fp) == expected, (labels, fp, firing, rules)
            decisions += 1
            inhibited += expected is not None
    # The generated cases exercise both answers, not only "not inhibited".
    assert decisions == 8000 and 1000 < inhibited < 7000


def test_an_alert_never_inhibits_itself_but_a_twin_does() -> None:
    rule = parse_inhibit_rule({"id": "r", "source_matchers": [{"label": "kind", "op": "=", "value": "a"}],
                               "target_matchers": [{"label": "kind", "op": "=~", "value": ".*"}],
                               "equal": ["province_code"]})  # fmt: skip
    me = ("fp1", {"kind": "a"})
    assert InhibitIndex([rule], [me]).inhibited_by(me[1], "fp1") is None
    twin = ("fp2", {"kind": "a", "province_code": ""})  # "" and missing compare equal
    assert InhibitIndex([rule], [me, twin]).inhibited_by(me[1], "fp1") == "r"


# --------------------------------------------------------------------------- silences


def test_silence_round_decides_as_the_scan_of_every_silence() -> None:
    rng = random.Random(7)
    decisions = silenced = 0
    for _ in range(150):
        silences = [gen_silence(rng, i + 1) for i in range(rng.randint(0, 12))]
        now = BASE + timedelta(minutes=rng.randint(-3000, 10000))
        alerts = [(f"fp{rng.randrange(30)}", gen_labels(rng)) for _ in range(30)]
        plain = SilenceRound(silences, now)
        for fp, labels in alerts:
            expected = old_is_silenced(labels, silences, now)
            assert plain.hit(fp, labels) == expected, (labels, silences, now)
            decisions += 1
            silenced += expected is not None
    assert decisions == 4500 and 300 < silenced < 4000


def test_the_cache_follows_time_and_forgets_when_the_silences_change() -> None:
    """One cache across many rounds: windows are judged at each round's ``now`` (recurring ones
    open and close while the label matches are reused), and a changed silence set starts over."""
    rng = random.Random(11)
    cache = SilenceMatchCache()
    silences = [gen_silence(rng, i + 1) for i in range(10)]
    alerts = [(f"fp{i}", gen_labels(rng)) for i in range(60)]
    now = BASE
    decisions = 0
    for round_no in range(300):
        now += timedelta(minutes=rng.randint(1, 180))
        if round_no % 25 == 24:
            # A silence created, edited or ended: the matchers change.
            silences[rng.randrange(len(silences))] = gen_silence(rng, 100 + round_no)
        if round_no % 10 == 9:
            # An alert's labels change under the same fingerprint (e.g. its severity).
            i = rng.randrange(len(alerts))
            alerts[i] = (alerts[i][0], gen_labels(rng))
        current = SilenceRound(silences, now, cache)
        for fp, labels in alerts:
            assert current.hit(fp, labels) == old_is_silenced(labels, silences, now), (round_no, fp)
            decisions += 1
        current.close()
    assert decisions == 18000
    assert cache.hits > cache.misses  # reused across rounds, not recomputed


# --------------------------------------------------------------------------- subscriptions


def gen_scope(rng: random.Random) -> Scope:
    data: dict[str, Any] = {}
    if rng.random() < 0.3:
        data["national"] = True
    else:
        data["provinces"] = rng.sample(VALUES["province_code"], rng.randint(0, 2))
        data["communes"] = rng.sample(["00004", "00007"], rng.randint(0, 2))
        if not data["provinces"] and not data["communes"]:
            data["provinces"] = ["01"]
    if rng.random() < 0.3:
        data["agencies"] = rng.sample(["A1", "A2", "A3"], rng.randint(1, 2))
    if rng.random() < 0.3:
        data["sectors"] = rng.sample(["S1", "S2"], rng.randint(1, 2))
    return Scope.from_dict(data)


def some(rng: random.Random, values: Sequence[str]) -> frozenset[str]:
    return frozenset(rng.sample(list(values), rng.randint(0, 2))) if rng.random() < 0.5 else frozenset()


def test_subscription_index_selects_as_subscription_wants() -> None:
    rng = random.Random(5)
    decisions = wanted = 0
    for _ in range(200):
        pairs = []
        for uid in range(rng.randint(0, 10)):
            person = Person(uid, f"u{uid}", "operator", gen_scope(rng), enabled=rng.random() > 0.1)
            sub = Subscription(
                uid,
                uid,
                provinces=some(rng, VALUES["province_code"]),
                communes=some(rng, ["00004", "00007"]),
                agencies=some(rng, ["A1", "A2"]),
                sectors=some(rng, ["S1", "S2"]),
                severities=some(rng, VALUES["severity"]) or frozenset({"warning", "critical"}),
                enabled=rng.random() > 0.1,
            )
            pairs.append((sub, person))
        index = SubscriptionIndex(pairs)
        for _ in range(25):
            labels = gen_labels(rng)
            if rng.random() < 0.7:
                labels["agency_code"] = rng.choice(["A1", "A2", "A3"])
            if rng.random() < 0.7:
                labels["sector"] = rng.choice(["S1", "S2"])
            expected = [(s, p) for s, p in pairs if subscription_wants(s, p, labels)]
            assert index.wanting(labels) == expected, labels
            decisions += 1
            wanted += bool(expected)
    assert decisions == 5000 and 500 < wanted < 4500


# --------------------------------------------------------------------------- the planner's mutes


def test_planner_mutes_match_the_old_scans() -> None:
    rng = random.Random(3)
    checked = 0
    for _ in range(60):
        rules = gen_rules(rng)
        silences = [gen_silence(rng, i + 1) for i in range(rng.randint(0, 8))]
        now = BASE + timedelta(minutes=rng.randint(0, 5000))
        alerts = [
            AlertRecord(
                i + 1,
                f"fp{rng.randrange(40)}",
                "overdue",
                gen_labels(rng),
                "warning",
                rng.random() < 0.8,
                1.0,
                "",
                "",
                now - timedelta(hours=1),
            )
            for i in range(40)
        ]
        cache = SilenceMatchCache()
        for _ in range(2):  # the second round reuses the cache
            mutes = _mutes(PlannerInput(alerts, silences, rules, silence_cache=cache), now)
            firing = [(a.fingerprint, a.labels) for a in alerts if a.firing]
            for a in alerts:
                hit = old_is_silenced(a.labels, silences, now)
                rule = old_inhibited_by(a.labels, a.fingerprint, firing, rules)
                m = mutes[a.id]
                assert m.silence_id == (hit.silence_id if hit else None)
                assert m.silenced == (hit is not None or rule is not None)
                assert m.reason == (f"silence:{hit.silence_id}" if hit else f"inhibit:{rule}" if rule else None)
                checked += 1
    assert checked == 4800
