"""The last touch on every signal a rule finds: its stream, the rule's extra labels, its templates.

Labels every alert carries (contract of issue 5): rule, severity, province_code, commune_code and
agency_code when known, sector when known, stream. The kind's signal function sets the locality
labels; this adds ``stream`` when the kind did not, then the rule's own labels, re-fingerprints,
and renders the optional summary templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from alerts.model import Labels, Signal, fingerprint
from alerts.rulebook.templates import render_template

__all__ = ["decorate", "relabel"]


def relabel(signal: Signal, extra: Mapping[str, str | None]) -> Signal:
    """The same signal with labels added (``None`` drops one), fingerprinted again."""
    labels = Labels.of({**signal.labels.as_dict(), **extra})
    return replace(signal, labels=labels, fingerprint=fingerprint(signal.rule_id, labels))


def template_fields(signal: Signal, value_vi: str, value_en: str) -> dict[str, object]:
    fields: dict[str, object] = {k: v for k, v in signal.details.items() if isinstance(v, str | int | float)}
    fields.update(signal.labels.as_dict())
    fields.update({"value": value_vi, "value_en": value_en, "summary": signal.summary_vi,
                   "summary_en": signal.summary_en})  # fmt: skip
    return fields


def decorate(
    signals: Iterable[Signal],
    *,
    stream: str,
    labels: Iterable[tuple[str, str]] = (),
    summary_vi: str | None = None,
    summary_en: str | None = None,
) -> list[Signal]:
    out = []
    extra = dict(labels)
    for s in signals:
        added: dict[str, str | None] = dict(extra)
        if "stream" not in s.labels:
            added["stream"] = stream
        if added:
            s = relabel(s, added)
        if summary_vi or summary_en:
            value = f"{s.value:g}"
            fields = template_fields(s, value, value)
            s = replace(
                s,
                summary_vi=render_template(summary_vi, fields) if summary_vi else s.summary_vi,
                summary_en=render_template(summary_en, fields) if summary_en else s.summary_en,
            )
        out.append(s)
    return out
