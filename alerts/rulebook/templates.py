"""Optional summary templates of a rule: ``"{locality_name}: {value}"`` with named fields only.

A template may name the alert's labels (``province_code``, ``stream``...), ``value`` (already
formatted for the language), ``rule`` and the signal's details (``locality_name``, ``count``...).
Only plain names are allowed — no attribute access, indexing or format specs — so a template can
neither reach into Python objects nor fail on a value's type. A name the alert does not have is
left as ``{name}`` in the text rather than failing the evaluation.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

__all__ = ["TemplateError", "check_template", "render_template"]

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_TEMPLATE = 500


class TemplateError(ValueError):
    """A template that is not plain text with ``{name}`` fields."""


def check_template(text: str) -> None:
    if len(text) > MAX_TEMPLATE:
        raise TemplateError(f"at most {MAX_TEMPLATE} characters")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"unbalanced braces ({exc})") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _NAME.match(name) or spec or conversion:
            raise TemplateError(f"field {{{name}}} must be a plain lowercase name, without format or conversion")


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_template(text: str, fields: Mapping[str, object]) -> str:
    values = _Missing({k: "" if v is None else str(v) for k, v in fields.items()})
    return text.format_map(values)
