"""LocalStack's executor endpoint, adapted to environments that are host processes."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError
from http import HTTPStatus

from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    ShutdownDuringStartup,
    StatusErrorException,
    executor_router,
)
from localstack.services.lambda_.invocation.lambda_models import InvocationResult
from werkzeug import Request

LOOPBACK = "127.0.0.1"


class ProcessExecutorEndpoint(ExecutorEndpoint):
    """Reuses LocalStack's routes, futures and log handling (the callbacks bootstrap.py posts to),
    with three changes for processes:

    * the environment picks a free port itself and reports it in its ready call, so there is no
      window in which another process could take a port chosen for it;
    * the executor can settle an invocation or a start-up itself (timeout, crash), and whatever
      arrives later for a settled future is ignored instead of raising inside LocalStack;
    * shutting down twice, or before start, is harmless.
    """

    def __init__(self, executor_id: str):
        super().__init__(executor_id, container_address=LOOPBACK, container_port=None)
        self._settle_lock = threading.Lock()

    # -- callbacks from bootstrap.py ------------------------------------------------------------

    def status_ready(self, request: Request, executor_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        if body.get("port"):
            self.container_port = int(body["port"])
        with self._settle_lock:
            if self.startup_future is None or self.startup_future.done():
                return Response(status=HTTPStatus.CONFLICT)
            self.startup_future.set_result(True)
        return Response(status=HTTPStatus.ACCEPTED)

    def status_error(self, request: Request, executor_id: str) -> Response:
        settled = self.fail_startup(request.data)
        return Response(status=HTTPStatus.ACCEPTED if settled else HTTPStatus.CONFLICT)

    def invocation_response(self, request: Request, req_id: str) -> Response:
        self.settle_invocation(InvocationResult(req_id, request.data, is_error=False, logs=self.logs))
        return Response(status=HTTPStatus.ACCEPTED)

    def invocation_error(self, request: Request, req_id: str) -> Response:
        self.settle_invocation(InvocationResult(req_id, request.data, is_error=True, logs=self.logs))
        return Response(status=HTTPStatus.ACCEPTED)

    # -- used by the executor -------------------------------------------------------------------

    def settle_invocation(self, result: InvocationResult) -> bool:
        """Complete the running invocation unless something else already did."""
        with self._settle_lock:
            future = self.invocation_future
            if future is None or future.done():
                return False
            future.set_result(result)
            return True

    def fail_startup(self, payload: bytes) -> bool:
        """Fail the start-up with an AWS error document, which LocalStack returns as the result
        of the invocation that triggered the start (FunctionError: Unhandled)."""
        with self._settle_lock:
            if self.startup_future is None or self.startup_future.done():
                return False
            self.startup_future.set_exception(StatusErrorException("Environment startup failed", payload=payload))
            return True

    def startup_pending(self) -> bool:
        return self.startup_future is not None and not self.startup_future.done()

    def wait_until_ready(self, timeout: float) -> None:
        """Like wait_for_startup, but bounded: a restart inside invoke() has no LocalStack timer
        watching it. Raises TimeoutError, StatusErrorException or ShutdownDuringStartup."""
        try:
            self.startup_future.result(timeout=timeout)
        except CancelledError as exc:
            raise ShutdownDuringStartup("Execution environment was stopped while starting") from exc

    def shutdown(self) -> None:
        try:
            executor_router().unregister_endpoint(self.executor_id)
        except KeyError:  # already shut down, or never started
            pass
        for future in (self.startup_future, self.invocation_future):
            if future is not None:
                future.cancel()  # a waiting start() or invoke() returns at once
