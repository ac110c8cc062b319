"""Status by locality is answered from the daily rollup and the partial indexes on open and late
dossiers: never from the event log, and never by scanning every dossier.

Tables in a test are tiny, so the planner would rightly pick sequential scans; with them
disabled, a plan that still scans `dossier` sequentially would mean no index can answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from ioc.auth.scope import Scope
from ioc.status import COMMUNE_STATUS, COMMUNE_STATUS_SCOPED, PROVINCE_STATUS, PROVINCE_STATUS_SCOPED

PARTIAL_INDEXES = {"dossier_open_province_idx", "dossier_open_commune_idx", "dossier_missing_apology_idx"}


def plan_nodes(plan: dict[str, Any], heap: str = "") -> list[tuple[str, str, str]]:
    """(node type, relation, index) of every node. A bitmap index scan names no relation: it is
    given that of the bitmap heap scan above it, which itself is listed with the index it used."""
    kind, relation = plan["Node Type"], plan.get("Relation Name", "")
    if kind == "Bitmap Heap Scan":
        return [node for child in plan.get("Plans", []) for node in plan_nodes(child, relation)]
    nodes = [(kind, relation or (heap if kind == "Bitmap Index Scan" else ""), plan.get("Index Name", ""))]
    for child in plan.get("Plans", []):
        nodes += plan_nodes(child, heap)
    return nodes


PROVINCE_AND_SECTOR = Scope(provinces=frozenset({"01"}), sectors=frozenset({"Hộ tịch"}))
ONE_COMMUNE = Scope(communes=frozenset({"00004"}))
NATIONAL_SECTOR = Scope(national=True, sectors=frozenset({"Đất đai"}))
PROVINCE_AND_AGENCIES = Scope(provinces=frozenset({"01", "79"}), agencies=frozenset({"UBND-00004"}))


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (PROVINCE_STATUS, {"codes": None}),
        (PROVINCE_STATUS, {"codes": ["01", "79"]}),
        (COMMUNE_STATUS, {"province": "01"}),
        (PROVINCE_STATUS_SCOPED, {"codes": None, **PROVINCE_AND_SECTOR.sql_params()}),
        (PROVINCE_STATUS_SCOPED, {"codes": None, **ONE_COMMUNE.sql_params()}),
        (PROVINCE_STATUS_SCOPED, {"codes": None, **NATIONAL_SECTOR.sql_params()}),
        (PROVINCE_STATUS_SCOPED, {"codes": ["79"], **PROVINCE_AND_AGENCIES.sql_params()}),
        (COMMUNE_STATUS_SCOPED, {"province": "01", **PROVINCE_AND_SECTOR.sql_params()}),
        (COMMUNE_STATUS_SCOPED, {"province": "01", **ONE_COMMUNE.sql_params()}),
    ],
    ids=[
        "all provinces", "some provinces", "communes of one province",
        "provinces, province and sector scope", "provinces, one commune scope", "provinces, national sector scope",
        "some provinces, provinces and agency scope",
        "communes, province and sector scope", "communes, one commune scope",
    ],
)  # fmt: skip
def test_status_queries_use_rollups_and_indexes(db_url: str, sql: str, params: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    bound = {"from_day": (now - timedelta(days=29)).date(), "now": now, "soon": now + timedelta(hours=9), **params}
    with psycopg.connect(db_url) as conn:
        conn.execute("SET enable_seqscan = off")
        row = conn.execute(b"EXPLAIN (FORMAT JSON) " + sql.encode(), bound).fetchone()
    assert row is not None
    nodes = plan_nodes(row[0][0]["Plan"])
    assert not any(relation.startswith("dossier_event") for _, relation, _ in nodes), nodes
    assert not any(kind == "Seq Scan" and relation.startswith("dossier") for kind, relation, _ in nodes), nodes
    # Dossiers are reached only through the partial indexes that hold open or late ones.
    assert {index for _, relation, index in nodes if relation == "dossier"} <= PARTIAL_INDEXES, nodes
