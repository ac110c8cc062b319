"""The rules file (YAML) loaded at start: validate it all, then apply it all, or nothing.

File shape: ``{"rules": [<rule spec>, ...]}`` (see default_rules.yaml). Every rule is validated
first; any error — with the rule's position and id and the field's path — stops the load before
anything is written. Then, in one transaction:

* a rule the table does not have is created (origin 'file');
* a rule whose origin is 'file' and whose definition (enabled included) differs is updated;
* a rule whose origin is 'api' — created, edited, disabled or deleted by an administrator — is
  left alone: the console's change wins over the file, until the rule is deleted from the table
  by other means. Rules in the table but not in the file are left alone too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alerts.rulebook.errors import FieldError, RuleSpecError
from alerts.rulebook.spec import RuleSpec, parse_rule, rule_to_json
from alerts.rulebook.store import create_rule, get_rule, update_rule
from ioc.db.pool import Conn

__all__ = ["LoadReport", "RulesFileError", "load_rules_file", "parse_rules_document"]


class RulesFileError(RuleSpecError):
    """The file cannot be read or a rule in it does not validate; nothing was applied."""


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_api: list[str] = field(default_factory=list)  # edited through the API: the file does not override


def parse_rules_document(document: object) -> tuple[RuleSpec, ...]:
    """Every rule of a parsed YAML/JSON document, or RulesFileError listing all problems."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list) or set(document) - {"rules"}:
        raise RulesFileError([FieldError("rules", "tệp dạng {rules: [...]}", "a file of the form {rules: [...]}")])
    errors: list[FieldError] = []
    specs: list[RuleSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(document["rules"]):
        rule_id = item.get("id") if isinstance(item, dict) else None
        prefix = f"rules[{i}]" + (f" (id={rule_id})" if isinstance(rule_id, str) else "")
        try:
            spec = parse_rule(item)
        except RuleSpecError as exc:
            errors.extend(e.prefixed(prefix) for e in exc.errors)
            continue
        if spec.id in seen:
            errors.append(FieldError(f"{prefix}.id", f"mã trùng với rules[{seen[spec.id]}]",
                                     f"duplicate of rules[{seen[spec.id]}]"))  # fmt: skip
        seen[spec.id] = i
        specs.append(spec)
    if errors:
        raise RulesFileError(errors)
    return tuple(specs)


def read_rules_file(path: Path | str) -> tuple[RuleSpec, ...]:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesFileError([FieldError("", "tệp YAML đọc được", f"a readable YAML file: {exc}")]) from exc
    return parse_rules_document(document)


async def load_rules_file(conn: Conn, path: Path | str, author: str = "file") -> LoadReport:
    """Validate the whole file, then create/update its rules in one transaction (see module doc)."""
    return await apply_specs(conn, read_rules_file(path), author)


async def apply_specs(conn: Conn, specs: Sequence[RuleSpec], author: str = "file") -> LoadReport:
    report = LoadReport()
    async with conn.transaction():
        for spec in specs:
            current = await get_rule(conn, spec.id)
            if current is None:
                await create_rule(conn, spec, author, origin="file")
                report.created.append(spec.id)
            elif current.origin == "api":
                report.kept_api.append(spec.id)
            elif current.deleted_at is None and rule_to_json(current.spec) == rule_to_json(spec):
                report.unchanged.append(spec.id)
            elif current.deleted_at is not None:
                await create_rule(conn, spec, author, origin="file")
                report.updated.append(spec.id)
            else:
                await update_rule(conn, spec, None, author, origin="file")
                report.updated.append(spec.id)
    return report
