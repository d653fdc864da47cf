"""The one `stack` fixture the e2e tests share: a deployed pipeline on a real local stack.

TIDEWATER_TEST_STACK chooses where it comes from:
- ``auto`` (default): testcontainers when a Docker daemon answers, the host backend otherwise;
- ``host``: a private host-backend stack under .tidewater/test-stack-<emulator>, or $TIDEWATER_TEST_STATE_DIR
  (free ports; torn down after);
- ``docker``: testcontainers (LocalStackContainer + PostgresContainer on one Docker network);
- ``external``: the stack you started with `make up` (deployed again with the current code; kept).

TIDEWATER_TEST_EMULATOR chooses the emulator of a new stack: ``localstack`` (default) or ``ministack``
(`make test` runs the e2e suite once with each). A test that needs what an emulator does not emulate
carries ``@pytest.mark.emulator_gap("ministack", "what is missing")``: it is skipped on that emulator
only, with that reason (docs/emulators.md lists them in its parity table).

TIDEWATER_TEST_DATABASE_URL=postgresql://... runs the database-only tests (tests/integration) against
that database without starting a stack.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.stacks import TestStack, start_test_stack
from tidewater.stack.env import load, state_dir


def test_emulator() -> str:
    """The emulator the e2e tests run against."""
    if os.environ.get("TIDEWATER_TEST_STACK") == "external":
        return load(state_dir()).emulator
    return os.environ.get("TIDEWATER_TEST_EMULATOR", "localstack")


test_emulator.__test__ = False  # a helper, despite the name


def pytest_collection_modifyitems(items):
    # Every test is unit or e2e; the folder decides, so `make unit` stays fast and `make e2e` complete.
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "e2e" in parts or "integration" in parts:
            item.add_marker(pytest.mark.e2e)
        elif "unit" in parts:
            item.add_marker(pytest.mark.unit)


def pytest_runtest_setup(item):
    for marker in item.iter_markers("emulator_gap"):
        emulator, reason = marker.args
        if emulator == test_emulator():
            pytest.skip(f"not emulated by {emulator}: {reason}")


@pytest.fixture(scope="session")
def stack() -> TestStack:
    mode = os.environ.get("TIDEWATER_TEST_STACK", "auto")
    with start_test_stack(mode, test_emulator()) as running:
        yield running


@pytest.fixture(scope="session")
def postgres_dsn(request) -> str:
    """The database of the stack - or, for the tests that need only PostgreSQL (tests/integration),
    any database you name with TIDEWATER_TEST_DATABASE_URL (no stack is started then)."""
    if url := os.environ.get("TIDEWATER_TEST_DATABASE_URL"):
        return url
    return request.getfixturevalue("stack").database_url
