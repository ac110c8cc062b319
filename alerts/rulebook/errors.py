"""Validation errors of rule specs: each names the field (a path) and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FieldError", "RuleSpecError"]


@dataclass(frozen=True)
class FieldError:
    """One problem: ``path`` like ``steps[1].severity``; what is expected, in Vietnamese and English."""

    path: str
    expected_vi: str
    expected_en: str

    def prefixed(self, prefix: str) -> FieldError:
        path = f"{prefix}.{self.path}" if self.path and not self.path.startswith("[") else f"{prefix}{self.path}"
        return FieldError(path, self.expected_vi, self.expected_en)

    def message(self) -> str:
        return f"{self.path or '(rule)'}: {self.expected_vi} / {self.expected_en}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "expected_vi": self.expected_vi, "expected_en": self.expected_en,
                "message": self.message()}  # fmt: skip


class RuleSpecError(ValueError):
    """A spec (or a rules file) that does not validate; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(e.message() for e in self.errors))
