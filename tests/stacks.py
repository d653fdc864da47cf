"""How the e2e tests get a deployed pipeline (see conftest.py for the modes)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tidewater.aws import Pipeline
from tidewater.deploy import deploy
from tidewater.stack.backends import get_stack
from tidewater.stack.compose import docker_available
from tidewater.stack.env import StackEnv, repo_root, state_dir
from tidewater.stack.host import HostStack
from tidewater.stack.procs import free_port

LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
POSTGRES_IMAGE = "postgres:16"
POSTGRES_ALIAS = "postgres"  # the database host as function containers see it
# Test stacks run the daily report every minute so tests/e2e/test_report.py sees the rule fire
# (deploy() passes os.environ to Terraform; `external` stacks keep their own schedule).
TEST_REPORT_SCHEDULE = "rate(1 minute)"


@dataclass
class TestStack:
    __test__ = False  # not a test class, despite the name

    backend: str
    state: Path
    pipeline: Pipeline
    _controller: object | None = None  # knows how to stop/start Postgres for failure tests

    @property
    def emulator(self) -> str:
        return self.pipeline.env.emulator

    @property
    def endpoint_url(self) -> str:
        return self.pipeline.env.endpoint_url

    @property
    def region(self) -> str:
        return self.pipeline.env.region

    @property
    def database_url(self) -> str:
        return self.pipeline.env.database_url

    @property
    def outputs(self) -> dict[str, str]:
        return self.pipeline.outputs

    def client(self, service: str):
        return self.pipeline.client(service)

    def stop_postgres(self) -> None:
        self._reset_db_connection()
        self._controller.stop_postgres()

    def start_postgres(self) -> None:
        self._controller.start_postgres()

    def _reset_db_connection(self) -> None:
        db = self.pipeline.__dict__.pop("db", None)
        if db is not None:
            db.close()


@contextlib.contextmanager
def start_test_stack(mode: str, emulator: str = "localstack") -> Iterator[TestStack]:
    if emulator != "localstack" and mode in ("auto", "docker"):
        if mode == "docker":
            raise ValueError(f"TIDEWATER_TEST_STACK=docker runs LocalStack only; use host for {emulator}")
        mode = "host"  # the testcontainers path is LocalStack's
    if mode == "auto":
        mode = "docker" if docker_available() else "host"
    if mode != "external":
        os.environ.setdefault("TF_VAR_report_schedule_expression", TEST_REPORT_SCHEDULE)
    if mode == "external":
        state = state_dir()
        deploy(state)
        # `make up`'s own stack knows how to stop and start its Postgres (host or compose).
        yield TestStack("external", state, Pipeline.from_state(state), get_stack(instance_dir=state))
    elif mode == "host":
        with from_host(emulator) as running:
            yield running
    elif mode == "docker":
        with from_testcontainers() as running:
            yield running
    else:
        raise ValueError(f"TIDEWATER_TEST_STACK={mode!r}: use auto, host, docker or external")


@contextlib.contextmanager
def from_host(emulator: str) -> Iterator[TestStack]:
    default = repo_root() / ".tidewater" / f"test-stack-{emulator}"
    state = Path(os.environ.get("TIDEWATER_TEST_STATE_DIR") or default)
    host = HostStack(state, emulator, emulator_port=free_port(), postgres_port=free_port())
    host.down()  # a previous run killed half-way leaves nothing behind
    try:
        host.up()
        deploy(state)
        yield TestStack("host", state, Pipeline.from_state(state), host)
    finally:
        host.down()


class _ContainerController:
    def __init__(self, postgres_container):
        self.container = postgres_container

    # Pausing keeps the container's address and published port; connections simply time out.
    def stop_postgres(self) -> None:
        self.container.get_wrapped_container().pause()

    def start_postgres(self) -> None:
        self.container.get_wrapped_container().unpause()


@contextlib.contextmanager
def from_testcontainers() -> Iterator[TestStack]:
    """LocalStack with its Docker Lambda executor + Postgres, on one network so functions reach the DB."""
    from testcontainers.core.network import Network
    from testcontainers.localstack import LocalStackContainer
    from testcontainers.postgres import PostgresContainer

    state = repo_root() / ".tidewater" / "test-stack-docker"
    state.mkdir(parents=True, exist_ok=True)
    with Network() as network:
        postgres = (
            PostgresContainer(POSTGRES_IMAGE, username="tidewater", password="tidewater", dbname="tidewater")
            .with_network(network)
            .with_network_aliases(POSTGRES_ALIAS)
        )
        localstack = (
            LocalStackContainer(LOCALSTACK_IMAGE)
            .with_network(network)
            .with_volume_mapping("/var/run/docker.sock", "/var/run/docker.sock", "rw")
            .with_env("LAMBDA_DOCKER_NETWORK", network.name)
            .with_env("LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC", "0.2")
            .with_env("LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC", "0.5")
            .with_env("LAMBDA_RETRY_BASE_DELAY", "1")
        )
        with postgres, localstack:
            env = StackEnv(
                backend="testcontainers",
                endpoint_url=localstack.get_url(),
                database_url=postgres.get_connection_url(driver=None),
                function_db_host=POSTGRES_ALIAS,
                function_db_port=5432,
            )
            env.write(state / "stack.env")
            deploy(state)
            yield TestStack("testcontainers", state, Pipeline.from_state(state), _ContainerController(postgres))


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    """Poll `predicate` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def s3_event(bucket: str, key: str, version_id: str | None = None) -> str:
    """The SQS message body S3 sends for an ObjectCreated event (keys unencoded: test keys are plain)."""
    obj = {"key": key, "size": 1}
    if version_id:
        obj["versionId"] = version_id
    record = {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }  # fmt: skip
    return json.dumps({"Records": [record]})
