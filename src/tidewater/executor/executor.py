"""LocalStack runtime executor that runs each Lambda execution environment as a host process.

LocalStack's Docker executor starts a container whose Go init runs the AWS runtime. Here an
execution environment is one ``<runtime venv>/bin/python bootstrap.py`` process instead; it speaks
the same callback protocol, so LocalStack's own machinery (ExecutorEndpoint, futures, logs to
CloudWatch, retries, event source mappings) works unchanged. See docs/host-backend.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import (
    ShutdownDuringStartup,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from tidewater.executor import layout
from tidewater.executor.endpoint import LOOPBACK, ProcessExecutorEndpoint
from tidewater.executor.envvars import build_environment
from tidewater.executor.process import EnvironmentProcess, OutputTail, describe_exit

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")

# Everything this LocalStack process puts into the work dir is newer than this.
_LOADED_AT = time.time()


def _work_root() -> Path:
    return layout.work_root(config.dirs.tmp)


def _task_root(function_version: FunctionVersion) -> Path:
    """The function's code: the version's private copy, or the live folder for hot reloading."""
    code = function_version.config.code
    if code.is_hot_reloading():
        return Path(code.get_unzipped_code_location()).resolve()
    return _version_dir(function_version) / "task"


def _version_dir(function_version: FunctionVersion) -> Path:
    return layout.version_dir(
        _work_root(),
        function_version.id.function_name,
        function_version.id.qualifier,
        function_version.config.internal_revision,
    )


def _runtime_python(function_version: FunctionVersion) -> Path:
    """The runtime's interpreter; a missing one fails the invocation with an AWS-shaped error
    (FunctionError: Unhandled, errorType Runtime.Unsupported) that says where we looked."""
    try:
        return layout.runtime_python(function_version.config.runtime)
    except layout.RuntimeNotAvailable as exc:
        error = {"errorType": "Runtime.Unsupported", "errorMessage": str(exc)}
        raise StatusErrorException(str(exc), payload=json.dumps(error).encode()) from None


@dataclasses.dataclass(frozen=True, eq=False)
class _Invocation:
    """The invocation in flight. Identified by object, not by request id: async retries reuse
    the request id of the attempt before."""

    request_id: str
    started: float  # time.monotonic()
    log_offset: int  # where its output starts in the environment's OutputTail


class ProcessRuntimeExecutor(RuntimeExecutor):
    endpoint: ProcessExecutorEndpoint

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.endpoint = ProcessExecutorEndpoint(id)
        self._lock = threading.Lock()
        self._output = OutputTail()  # survives restarts: get_logs() shows the whole story
        self._process: EnvironmentProcess | None = None
        self._invocation: _Invocation | None = None
        self._stopped = False
        self._argv: list[str] = []
        self._env: dict[str, str] = {}
        self._cwd = ""
        self._env_dir = layout.environment_dir(_work_root(), id)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        python = _runtime_python(self.function_version)
        task_root = _task_root(self.function_version)
        self._argv = [str(python), str(BOOTSTRAP)]
        self._cwd = str(task_root)  # the working directory is /var/task on AWS
        self._env = build_environment(
            env_vars,
            self.function_version.config.environment,
            runtime=self.function_version.config.runtime,
            runtime_venv=str(python.parent.parent),
            task_root=str(task_root),
            tmp_dir=str(layout.make_private_dir(self._env_dir / "tmp")),
            home_dir=str(layout.make_private_dir(self._env_dir / "home")),
            runtime_endpoint=self.get_runtime_endpoint(),
            executor_id=self.id,
        )
        self._launch()

    def _launch(self) -> None:
        """Start the process and wait for its ready (or error) call."""
        self.endpoint.start()  # registers the routes and a fresh start-up future
        with self._lock:
            if self._stopped:
                raise ShutdownDuringStartup("Execution environment was stopped while starting")
            self._process = EnvironmentProcess(
                self._argv,
                self._env,
                self._cwd,
                self._output,
                on_unexpected_exit=self._on_unexpected_exit,
                name=f"lambda-{self.function_version.id.function_name}-{self.id[:8]}",
            )
        started = time.perf_counter()
        try:
            self.endpoint.wait_until_ready(timeout=config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        except TimeoutError:
            self._process.kill()
            raise LambdaRuntimeException(
                f"Lambda environment {self.id} did not start within "
                f"{config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT}s (LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)"
            ) from None
        except StatusErrorException:
            LOG.warning(
                "Lambda environment %s of %s failed to start; its output:\n%s",
                self.id,
                self.function_version.qualified_arn,
                self._output.text()[-4000:],
            )
            raise
        LOG.debug("Lambda environment %s ready in %.0f ms", self.id, (time.perf_counter() - started) * 1000)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            process = self._process
        if process is not None:
            process.kill()
        self.endpoint.shutdown()
        layout.remove_tree(self._env_dir)

    # -- invocations -----------------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        self._restart_if_needed()
        invocation = _Invocation(payload["invoke-id"], time.monotonic(), self._output.end)
        with self._lock:
            self._invocation = invocation
        # LocalStack itself waits up to 905 s for any invocation: the function's Timeout is ours
        # to enforce, from outside the process, because a handler stuck in C code cannot be
        # interrupted from inside.
        timer = threading.Timer(self.function_version.config.timeout, self._time_out, (invocation,))
        timer.daemon = True
        timer.start()
        try:
            return self.endpoint.invoke(payload)
        finally:
            timer.cancel()
            with self._lock:
                if self._invocation is invocation:
                    self._invocation = None

    def _restart_if_needed(self) -> None:
        """After a timeout or a crash the process is gone. Like AWS, the environment (its log
        stream, TMPDIR, HOME) stays and its runtime starts again: the next invoke has a cold start."""
        process = self._process
        if process is not None and process.alive:
            return
        LOG.debug("Restarting the runtime of Lambda environment %s", self.id)
        self._launch()

    def _time_out(self, invocation: _Invocation) -> None:
        with self._lock:
            if self._invocation is not invocation:
                return
            process = self._process
        process.kill()
        timeout = self.function_version.config.timeout
        message = f"Task timed out after {timeout:.2f} seconds"
        logs = (
            self._output.since(invocation.log_offset)
            + f"{_aws_timestamp()} {invocation.request_id} {message}\n"
            + self._end_and_report(invocation, status="timeout")
        )
        error = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {invocation.request_id} Error: {message}",
        }
        self.endpoint.settle_invocation(
            InvocationResult(invocation.request_id, json.dumps(error).encode(), is_error=True, logs=logs)
        )

    def _on_unexpected_exit(self, returncode: int) -> None:
        """The process ended by itself: fail what was waiting for it with Runtime.ExitError."""
        reason = f"Runtime exited with error: {describe_exit(returncode)}"
        with self._lock:
            invocation = self._invocation
        if self.endpoint.startup_pending():
            error = {"errorType": "Runtime.ExitError", "errorMessage": f"Error: {reason}"}
            self.endpoint.fail_startup(json.dumps(error).encode())
        elif invocation is not None:
            request_id = invocation.request_id
            error = {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {reason}"}
            logs = (
                self._output.since(invocation.log_offset)
                + f"RequestId: {request_id} Error: {reason}\nRuntime.ExitError\n"
                + self._end_and_report(invocation, status="error")
            )
            self.endpoint.settle_invocation(
                InvocationResult(request_id, json.dumps(error).encode(), is_error=True, logs=logs)
            )

    def _end_and_report(self, invocation: _Invocation, status: str) -> str:
        duration_ms = (time.monotonic() - invocation.started) * 1000
        return (
            f"END RequestId: {invocation.request_id}\n"
            f"REPORT RequestId: {invocation.request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms)} ms\t"
            f"Memory Size: {self.function_version.config.memory_size} MB\tStatus: {status}\n"
        )

    # -- addresses -------------------------------------------------------------------------------

    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        """LocalStack's gateway as the function process sees it: the same host."""
        host = config.GATEWAY_LISTEN[0].host
        # Compares against the wildcard addresses; binds nothing.
        return LOOPBACK if host in ("", "0.0.0.0", "::", "localhost") else host  # nosec B104

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}{self.endpoint.get_endpoint_prefix()}"

    def get_logs(self) -> str:
        return self._output.text()

    # -- versions --------------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Give the version its own read-only copy of the code.

        A missing runtime is only warned about here. Raising would mark the function
        State=Failed, and LocalStack 4.14 can then neither update nor delete it (500 "Unable to
        find version manager") until it restarts, which wedges `terraform destroy`. Instead every
        invocation fails with the reason (see _runtime_python)."""
        try:
            layout.runtime_python(function_version.config.runtime)
        except layout.RuntimeNotAvailable as exc:
            LOG.warning("Function %s cannot run here: %s", function_version.qualified_arn, exc)
        code = function_version.config.code
        if code is None:  # container image: the invocations fail with the reason above
            return
        if function_version.config.layers:
            LOG.warning("Lambda layers are not supported by the process executor; ignoring them")
        if code.is_hot_reloading():
            return
        code.prepare_for_execution()  # LocalStack's download + unzip, cached per code object
        layout.install_code(Path(code.get_unzipped_code_location()), _task_root(function_version))

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        code = function_version.config.code
        if code is not None and not code.is_hot_reloading():
            layout.remove_version_dir(_version_dir(function_version))

    @classmethod
    def validate_environment(cls) -> bool:
        """Called once when LocalStack's Lambda service starts."""
        for path in layout.sweep_leftovers(_work_root(), older_than=_LOADED_AT):
            LOG.info("Removed %s, left behind by an earlier LocalStack", path)
        runtimes_dir = os.environ.get(layout.RUNTIMES_DIR_VAR)
        if not runtimes_dir or not Path(runtimes_dir).is_dir():
            LOG.warning(
                "The tidewater process executor needs %s pointing at a folder of runtime venvs "
                "(<dir>/python3.13/bin/python); it is %r",
                layout.RUNTIMES_DIR_VAR,
                runtimes_dir,
            )
            return False
        LOG.info(
            "tidewater process executor: runtimes %s in %s",
            layout.available_runtimes(runtimes_dir),
            runtimes_dir,
        )
        return True


def _aws_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
