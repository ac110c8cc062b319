"""Schemathesis against the OpenAPI document, with valid credentials: no 5xx, nothing off-spec.

The schema is the app's own (built without a server); the requests go to a real server over a
real database of its own, since the fuzzer creates and disables accounts, rotates keys and posts
batches. Each generated request gets a fresh admin token — a generated PATCH may change the
admin's own password, which ends its sessions — and the ingest route gets a source key instead,
since only sources may write there. Every operation runs positive (valid by the schema) and
negative (invalid) cases; `call_and_validate` applies schemathesis' checks: no server error,
documented status codes, content types and headers, and bodies that match their schemas.

(Schemathesis' own pytest plugin does not run under pytest 9, so the operations are
parametrised here and each one runs its hypothesis strategy directly.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from ioc.app import create_app
from ioc.settings import Settings
from tests.auth_support import access_token, bearer, create_user
from tests.conftest import LiveServer, fresh_database, running_app

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(), "postgresql://unused").openapi())
OPERATIONS: list[Any] = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]
EXAMPLES_PER_MODE = 25
# Not run: "a schema-valid request must succeed". Valid-by-schema is not valid-by-meaning here —
# a scope naming no locality, an unknown commune, a taken username — and those answer a
# documented 422 or 409. Everything else schemathesis checks stays on, 5xx first.
EXCLUDED_CHECKS = [positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzz_server(pg_server: Any) -> Iterator[tuple[LiveServer, int]]:
    with running_app(fresh_database(pg_server)) as server:
        yield server, create_user(server.db_url, "fuzz-admin", "admin")


def test_the_schema_covers_the_api() -> None:
    labels = {op.label for op in OPERATIONS}
    assert {"POST /api/v1/ingest/dossier-events", "POST /api/v1/admin/users", "GET /api/v1/alerts"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_api_conforms_to_its_spec(fuzz_server: tuple[LiveServer, int], operation: Any, mode: GenerationMode) -> None:
    server, admin_id = fuzz_server

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)  # fmt: skip
    def run(case: Any) -> None:
        if case.path.startswith(("/api/v1/ingest/", "/api/v2/")):
            headers = bearer(server.api_key)
        else:
            headers = bearer(access_token(server.db_url, admin_id))
        case.call_and_validate(base_url=server.url, headers=headers, excluded_checks=EXCLUDED_CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Nothing in the request can be made invalid (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE, "positive cases must always be possible"
        pytest.skip(f"{operation.label} takes no input to make invalid")
