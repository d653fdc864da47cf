"""The one `stack` fixture the e2e tests share: a deployed pipeline on a real local stack.

TIDEWATER_TEST_STACK chooses where it comes from:
- ``auto`` (default): testcontainers when a Docker daemon answers, the host backend otherwise;
- ``host``: a private host-backend stack under .tidewater/test-stack, or $TIDEWATER_TEST_STATE_DIR
  (free ports; torn down after);
- ``docker``: testcontainers (LocalStackContainer + PostgresContainer on one Docker network);
- ``external``: the stack you started with `make up` (deployed again with the current code; kept).

TIDEWATER_TEST_DATABASE_URL=postgresql://... runs the database-only tests (tests/integration) against
that database without starting a stack.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.stacks import TestStack, start_test_stack


def pytest_collection_modifyitems(items):
    # Every test is unit or e2e; the folder decides, so `make unit` stays fast and `make e2e` complete.
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "e2e" in parts or "integration" in parts:
            item.add_marker(pytest.mark.e2e)
        elif "unit" in parts:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def stack() -> TestStack:
    mode = os.environ.get("TIDEWATER_TEST_STACK", "auto")
    with start_test_stack(mode) as running:
        yield running


@pytest.fixture(scope="session")
def postgres_dsn(request) -> str:
    """The database of the stack - or, for the tests that need only PostgreSQL (tests/integration),
    any database you name with TIDEWATER_TEST_DATABASE_URL (no stack is started then)."""
    if url := os.environ.get("TIDEWATER_TEST_DATABASE_URL"):
        return url
    return request.getfixturevalue("stack").database_url
