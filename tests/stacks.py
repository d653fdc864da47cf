"""How the e2e tests get a deployed pipeline (see conftest.py for the modes)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from tidewater.aws import Pipeline
from tidewater.deploy import deploy, recorded_var_files
from tidewater.stack.backends import get_stack
from tidewater.stack.compose import (
    LOCALSTACK_SERVICE,
    POSTGRES_SERVICE,
    ComposeStack,
    docker_architecture,
    docker_available,
    free_low_port,
    postgres_ready,
)
from tidewater.stack.env import forget_instance, repo_root, state_dir
from tidewater.stack.host import HostStack
from tidewater.stack.procs import free_port

# The test stacks' Terraform settings (a report every minute, quick retries); `external` stacks
# keep the settings they were deployed with.
TEST_VAR_FILES = [repo_root() / "tests" / "stack.tfvars"]


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
    if mode == "external":
        state = state_dir()
        deploy(state, var_files=recorded_var_files(state / "terraform"))
        # The stack `make up` started knows how to stop and start its own Postgres (outage tests).
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
        deploy(state, var_files=TEST_VAR_FILES)
        yield TestStack("host", state, Pipeline.from_state(state), host)
    finally:
        host.down()


class _ContainerController:
    def __init__(self, postgres_container, database_url: str):
        self.container = postgres_container
        self.database_url = database_url

    # Stopped, not paused: on the host's network a paused server still accepts connections (the kernel
    # does), which then hang instead of failing.
    def stop_postgres(self) -> None:
        self.container.get_wrapped_container().stop()

    def start_postgres(self) -> None:
        self.container.get_wrapped_container().start()
        wait_until(lambda: postgres_ready(self.database_url), 60, "PostgreSQL to accept connections")


@contextlib.contextmanager
def from_testcontainers() -> Iterator[TestStack]:
    """LocalStack (the functions run inside it, by our process executor) and Postgres as testcontainers on
    the host's network, started from docker-compose.yml's own service definitions (images, environment,
    command) with ports of their own, so this runs exactly what the compose backend runs."""
    from testcontainers.core.container import DockerContainer

    state = repo_root() / ".tidewater" / "test-stack-docker"
    forget_instance(state)  # a run killed half-way leaves Terraform state for a LocalStack that is gone
    compose = ComposeStack(state, localstack_port=free_low_port(), postgres_port=free_low_port())
    services = compose.services()

    def container(name: str):
        service = services[name]
        started = DockerContainer(service["image"]).with_kwargs(network_mode="host")
        for key, value in service["environment"].items():
            started.with_env(key, value)
        if service.get("command"):
            started.with_command(service["command"])
        return started

    env = replace(compose.stack_env(docker_architecture()), backend="testcontainers")
    postgres, localstack = container(POSTGRES_SERVICE), container(LOCALSTACK_SERVICE)
    try:
        with postgres:
            wait_until(lambda: postgres_ready(env.database_url), 120, "PostgreSQL to accept connections")
            with localstack:
                compose.wait_until_reachable(env)
                env.write(state / "stack.env")
                deploy(state, var_files=TEST_VAR_FILES)
                yield TestStack("testcontainers", state, Pipeline.from_state(state),
                                _ContainerController(postgres, env.database_url))  # fmt: skip
    finally:
        forget_instance(state)


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
