"""The rule repository and the rules file against the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from alerts.rulebook import store
from alerts.rulebook.legacy import DEFAULT_RULES_FILE, default_specs
from alerts.rulebook.loader import RulesFileError, load_rules_file
from alerts.rulebook.spec import TargetPaceParams, parse_rule
from ioc.db.pool import Conn


@asynccontextmanager
async def connect(db_url: str) -> AsyncIterator[Conn]:
    conn: Conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def test_every_change_is_a_version_and_a_stale_update_conflicts(db_url: str) -> None:
    spec = parse_rule({"id": "pace", "kind": "target_pace", "pace_days": 7})
    async with connect(db_url) as conn:
        created = await store.create_rule(conn, spec, "an")
        assert created.version == 1 and created.origin == "api"
        with pytest.raises(store.RuleExists):
            await store.create_rule(conn, spec, "an")
        updated = await store.update_rule(conn, replace(spec, params=TargetPaceParams(14)), 1, "binh")
        assert updated.version == 2
        with pytest.raises(store.VersionConflict):
            await store.update_rule(conn, replace(spec, params=TargetPaceParams(3)), 1, "chi")
        await store.set_enabled(conn, "pace", False, "binh")
        assert await store.enabled_specs(conn) == []
        await store.delete_rule(conn, "pace", "an")
        assert await store.list_rules(conn) == []
        versions = await store.rule_versions(conn, "pace")
        assert [(v.version, v.change, v.author) for v in versions] == [
            (4, "delete", "an"), (3, "disable", "binh"), (2, "update", "binh"), (1, "create", "an"),
        ]  # fmt: skip
        assert versions[2].spec["pace_days"] == 14
        revived = await store.create_rule(conn, spec, "an")
        assert revived.version == 5 and revived.deleted_at is None


async def test_default_file_loads_once_and_api_edits_survive_a_reload(db_url: str, tmp_path: Path) -> None:
    async with connect(db_url) as conn:
        report = await load_rules_file(conn, DEFAULT_RULES_FILE)
        assert sorted(report.created) == sorted(s.id for s in default_specs())
        again = await load_rules_file(conn, DEFAULT_RULES_FILE)
        assert again.created == [] and again.updated == []
        await store.set_enabled(conn, "overdue", False, "admin")  # now origin 'api'
        changed = tmp_path / "rules.yaml"
        changed.write_text(
            DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace("pace_days: 7", "pace_days: 10"), encoding="utf-8"
        )
        report = await load_rules_file(conn, changed)
        assert report.updated == ["vneid_l2_pace_too_slow"] and "overdue" in report.kept_api
        overdue = await store.get_rule(conn, "overdue")
        assert overdue is not None and not overdue.spec.enabled


async def test_a_bad_file_applies_nothing_and_names_rule_and_field(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - {id: fine_rule, kind: cccd_coverage}\n"
        "  - {id: broken, kind: overdue, steps: [{days_late: 1, severity: loud}]}\n",
        encoding="utf-8",
    )
    async with connect(db_url) as conn:
        with pytest.raises(RulesFileError) as err:
            await load_rules_file(conn, bad)
        assert [e.path for e in err.value.errors] == ["rules[1] (id=broken).steps[0].severity"]
        assert await store.list_rules(conn, include_deleted=True) == []
