"""Runtime client of one Lambda execution environment on the host.

The process executor (executor.py, running inside LocalStack) starts this file as
``<runtime venv>/bin/python bootstrap.py`` in a new session, one process per execution
environment. It plays the part that LocalStack's Go init plus the AWS Python runtime interface
client play in a Lambda container:

* import the handler once (the "init" phase), then post ``/status/<executor id>/ready`` with the
  port it listens on, or ``/status/<executor id>/error`` with an AWS-shaped error;
* accept ``POST /invoke`` on 127.0.0.1 (answered at once), run the handler in the main thread,
  post the invocation's output to ``/invocations/<id>/logs`` and then the result to
  ``/invocations/<id>/response`` or ``/invocations/<id>/error``;
* capture fd 1 and 2, so print(), logging, C extensions and child processes all end up in the
  invocation's logs (and, copied through, in the executor's get_logs());
* kill itself and its children as soon as LocalStack goes away.

It must run with nothing but the standard library and the runtime venv (boto3): it never imports
tidewater or localstack, so the function sees exactly what it would see on AWS.
The timeout is enforced by the executor, not here: a handler stuck in C code holding the GIL could
not be interrupted from inside this process anyway.
"""

from __future__ import annotations

import contextlib
import decimal
import http.client
import importlib
import importlib.util
import json
import logging
import math
import os
import queue
import select
import signal
import socketserver
import stat
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

# Private variables the executor passes; popped before any function code runs.
ENV_RUNTIME_ENDPOINT = "_TIDEWATER_RUNTIME_ENDPOINT"
ENV_EXECUTOR_ID = "_TIDEWATER_EXECUTOR_ID"
ENV_PARENT_PID = "_TIDEWATER_PARENT_PID"
ENV_SPAWNED_AT = "_TIDEWATER_SPAWNED_AT"
ENV_CAPTURE_FD = "_TIDEWATER_CAPTURE_FD"  # read end of the pipe behind fd 1 and 2
ENV_LOG_FD = "_TIDEWATER_LOG_FD"  # write end of the executor's log pipe

# One invocation's output is kept up to this size; the rest is dropped with a note. CloudWatch
# would not take more in one go either, and it keeps a runaway print loop from eating memory.
MAX_CAPTURED_BYTES = 8 * 1024 * 1024

_BOOTSTRAP_FILE = os.path.abspath(__file__)


# --------------------------------------------------------------------------------------------
# Errors, shaped like the AWS Python runtime (awslambdaric) reports them
# --------------------------------------------------------------------------------------------


class FaultError(Exception):
    """An error the runtime reports with an AWS error type (Runtime.ImportModuleError, ...)."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def make_error(message: str, error_type: str, stack_trace: list[str], request_id: str = "") -> dict:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def user_stack_trace(tb) -> list[str]:
    """Format a traceback without the frames of this file and of importlib, as AWS does."""
    frames = [
        frame
        for frame in traceback.extract_tb(tb)
        if frame.filename not in (_BOOTSTRAP_FILE, importlib.__file__)
        and not frame.filename.startswith("<frozen importlib")
    ]
    return traceback.format_list(frames)


def error_from_exception(exc: BaseException, request_id: str = "") -> dict:
    """The error document for an exception raised by function code."""
    if isinstance(exc, FaultError):
        return make_error(exc.message, exc.error_type, exc.stack_trace, request_id)
    return make_error(str(exc), type(exc).__name__, user_stack_trace(exc.__traceback__), request_id)


def format_error_for_log(error: dict) -> str:
    """The "[ERROR] Type: message" block the AWS runtime writes to the function's log."""
    header = f"[ERROR] {error['errorType']}"
    if error["errorMessage"]:
        header += f": {error['errorMessage']}"
    lines = [header]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(frame.rstrip("\n") for frame in error["stackTrace"])
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Handler resolution (the init phase)
# --------------------------------------------------------------------------------------------


def load_handler(handler_spec: str):
    """Import the handler module and return the handler function.

    Import problems raise FaultError (reported as an init error, like AWS). A missing function
    does not: AWS starts the environment and fails every invocation with Runtime.HandlerNotFound.
    """
    module_name, _, function_name = handler_spec.rpartition(".")
    if not module_name or not function_name:
        raise FaultError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler_spec}': not enough values to unpack (expected 2, got 1)",
        )
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    module = import_handler_module(module_name)
    handler = getattr(module, function_name, None)
    if handler is None:
        return missing_handler(function_name, module_name)
    return handler


def import_handler_module(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {(exc.text or "").strip()}\n']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from exc
    except Exception as exc:  # any other exception at import time is an init error of its own type
        raise FaultError(type(exc).__name__, str(exc), user_stack_trace(exc.__traceback__)) from exc


def missing_handler(function_name: str, module_name: str):
    def handler(event, context):
        raise FaultError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")

    return handler


# --------------------------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------------------------


class _ResponseEncoder(json.JSONEncoder):
    # AWS's runtime encodes Decimal (what boto3's DynamoDB layer returns) as a JSON number.
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def unmarshal_event(payload: str):
    if not payload:
        return {}
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from exc


def marshal_response(result) -> bytes:
    try:
        return json.dumps(result, cls=_ResponseEncoder).encode()
    except (TypeError, ValueError) as exc:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


# --------------------------------------------------------------------------------------------
# The context object handed to the handler
# --------------------------------------------------------------------------------------------


class LambdaContext:
    """The attributes of awslambdaric's context object (memory_limit_in_mb is a string there too)."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: str) -> None:
        sys.stdout.write(message)


# --------------------------------------------------------------------------------------------
# Logging, like the AWS Python runtime sets it up
# --------------------------------------------------------------------------------------------

_current_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def install_lambda_log_handler() -> None:
    """Root handler with AWS's line format. Like on AWS, it makes a later basicConfig() a no-op
    and leaves the root level at WARNING unless the function changes it."""
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


# --------------------------------------------------------------------------------------------
# Output capture at the file-descriptor level
# --------------------------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class OutputCapture:
    """Reads the pipe that fd 1 and 2 point at.

    The executor creates that pipe and starts us with fd 1 and 2 on its write end, so everything
    (Python, C code, child processes, even the interpreter's own start-up errors) lands there. We
    read it continuously, keep the current invocation's share until collect(), and copy it through
    at once to the executor's log pipe (for get_logs() and for the logs of an invocation that
    times out or crashes). The executor also holds the pipe's read end: whatever we had not read
    yet when we died, it reads itself.
    """

    def __init__(self, read_fd: int | None = None, tee_fd: int | None = None) -> None:
        if read_fd is None:  # started by hand, not by the executor: make the pipe ourselves
            tee_fd = os.dup(1)
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, 1)
            os.dup2(write_fd, 2)
            os.close(write_fd)
        for fd in (read_fd, tee_fd):
            if fd is not None:  # the handler's child processes must not hold these
                os.set_inheritable(fd, False)
        os.set_blocking(read_fd, False)
        self._read_fd = read_fd
        self._tee_fd = tee_fd
        self._lock = threading.Lock()
        self._kept = bytearray()
        self._dropped = 0
        threading.Thread(target=self._pump, name="output-capture", daemon=True).start()

    def _pump(self) -> None:
        # Ends at EOF: every write end is closed (a handler that closes fds 1 and 2, and has no child
        # holding them), so nothing can come any more - and select() would report EOF forever.
        while True:
            select.select([self._read_fd], [], [])
            with self._lock:
                if self._read_available():
                    return

    def _read_available(self) -> bool:
        """Read what the pipe holds; True at EOF. Called with the lock held; the fd is non-blocking,
        so this stops when the pipe is empty."""
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            self._keep(chunk)
            self._copy_through(chunk)

    def _keep(self, chunk: bytes) -> None:
        room = MAX_CAPTURED_BYTES - len(self._kept)
        self._kept += chunk[:room]
        self._dropped += max(len(chunk) - room, 0)

    def _copy_through(self, chunk: bytes) -> None:
        if self._tee_fd is None:
            return
        try:
            _write_all(self._tee_fd, chunk)
        except OSError:  # LocalStack stopped reading; the parent watch ends us shortly
            self._tee_fd = None

    def collect(self) -> str:
        """Everything written since the last call. Flushes Python's buffers first, then drains the
        pipe under the lock, so nothing written before this call is missed."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        with self._lock:
            self._read_available()
            data = bytes(self._kept)
            dropped = self._dropped
            self._kept.clear()
            self._dropped = 0
        text = data.decode("utf-8", errors="replace")
        if dropped:
            text += f"\n[tidewater: {dropped} more bytes of output were dropped]\n"
        return text


def write_log_line(line: str) -> None:
    """Runtime lines (START/END/REPORT, errors) go through fd 1 like the function's own output,
    so they stay in order with it."""
    sys.stdout.flush()
    _write_all(1, (line if line.endswith("\n") else line + "\n").encode())


# --------------------------------------------------------------------------------------------
# Talking to LocalStack
# --------------------------------------------------------------------------------------------


class RuntimeApiClient:
    """Posts to the executor endpoint LocalStack serves under its gateway, over one kept-alive
    connection (no proxy handling on purpose: the function's HTTP_PROXY must not apply here)."""

    def __init__(self, runtime_endpoint: str, executor_id: str):
        url = urllib.parse.urlsplit(runtime_endpoint)
        self._host = url.hostname
        self._port = url.port or 80
        self._prefix = url.path.rstrip("/")
        self._executor_id = executor_id
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        for attempt in (1, 2):  # one retry on a fresh connection, if LocalStack closed ours
            try:
                self._post_once(path, body, content_type)
                return
            except (OSError, http.client.HTTPException):
                self._close()
                if attempt == 2:
                    raise

    def _post_once(self, path: str, body: bytes, content_type: str) -> None:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
        self._conn.request("POST", self._prefix + path, body, {"Content-Type": content_type})
        response = self._conn.getresponse()
        response.read()  # needed before the connection can be reused
        if response.status >= 400:
            raise OSError(f"LocalStack answered {response.status} to POST {path}")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ready(self, port: int) -> None:
        self.post(f"/status/{self._executor_id}/ready", json.dumps({"port": port}).encode())

    def init_error(self, error: dict) -> None:
        self.post(f"/status/{self._executor_id}/error", json.dumps(error).encode())

    def logs(self, request_id: str, logs: str) -> None:
        self.post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())

    def response(self, request_id: str, body: bytes) -> None:
        self.post(f"/invocations/{request_id}/response", body)

    def error(self, request_id: str, error: dict) -> None:
        self.post(f"/invocations/{request_id}/error", json.dumps(error).encode())


class _LoopbackHTTPServer(HTTPServer):
    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall the cold start
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class InvokeListener:
    """HTTP server on 127.0.0.1:<free port> taking LocalStack's ``POST /invoke``.

    It answers 200 at once and queues the invocation for the main thread, which runs the handler
    (so signal-based code in handlers works as it does on AWS)."""

    def __init__(self) -> None:
        self.invocations: queue.Queue[dict] = queue.Queue()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    invocation = json.loads(body) if self.path == "/invoke" else None
                except ValueError:
                    invocation = None
                self.send_response(200 if isinstance(invocation, dict) else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if isinstance(invocation, dict):
                    listener.invocations.put(invocation)

            def log_message(self, format, *args):  # keep the access log out of the function's logs
                pass

        self._server = _LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="invoke-listener", daemon=True).start()


# --------------------------------------------------------------------------------------------
# Never outlive LocalStack
# --------------------------------------------------------------------------------------------


def watch_parent(parent_pid: int) -> None:
    """End this environment (and the handler's child processes) when LocalStack is gone.

    stdin is a pipe only LocalStack holds open, so EOF arrives the moment it dies, even by
    SIGKILL. The parent pid check covers being started without that pipe. PR_SET_PDEATHSIG is
    not used: it fires when the *thread* that forked us exits, and LocalStack starts environments
    from short-lived threads."""
    watch_fd = None
    if stat.S_ISFIFO(os.fstat(0).st_mode):
        watch_fd = os.dup(0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # function code reading stdin gets EOF, as on AWS
        os.close(devnull)

    def watch() -> None:
        while os.getppid() == parent_pid:
            if watch_fd is None:
                time.sleep(1.0)
                continue
            readable, _, _ = select.select([watch_fd], [], [], 1.0)
            if readable and not os.read(watch_fd, 4096):
                break
        end_environment()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def end_environment() -> None:
    if os.getpgrp() == os.getpid():  # we lead our own session: take the children with us
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)


# --------------------------------------------------------------------------------------------
# The invoke loop
# --------------------------------------------------------------------------------------------


def max_memory_used_mb() -> int:
    """Peak resident memory of this process and its largest child, in MB."""
    try:
        import resource
    except ImportError:  # not on this platform
        return 0
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    own_kib = _peak_rss_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # ru_maxrss is in bytes there
        return int(max(own_kib, children_kib) / (1024 * 1024))
    return int(max(own_kib, children_kib) / 1024)


def _peak_rss_kib() -> int:
    # On Linux, RUSAGE_SELF counts the memory of LocalStack's process we were forked from (the
    # high-water mark survives exec); VmHWM is this program's own peak.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Runtime:
    """State of one environment: the handler, the capture, the connection to LocalStack."""

    def __init__(self, handler, api: RuntimeApiClient, capture: OutputCapture, init_ms: float,
                 reloader: DevReloader | None = None):  # fmt: skip
        self.handler = handler
        self.reloader = reloader
        self.api = api
        self.capture = capture
        self.init_ms = init_ms  # reported on the first invocation only, as AWS does
        self.timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")

    def run(self, invocation: dict) -> None:
        global _current_request_id
        request_id = invocation.get("invoke-id") or ""
        _current_request_id = request_id
        trace_id = invocation.get("trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)

        write_log_line(f"START RequestId: {request_id} Version: {self.version}")
        started = time.monotonic()
        body, error = self.call_handler(invocation, request_id)
        self.write_report(request_id, (time.monotonic() - started) * 1000)

        self.api.logs(request_id, self.capture.collect())
        if error is None:
            self.api.response(request_id, body)
        else:
            self.api.error(request_id, error)

    def call_handler(self, invocation: dict, request_id: str) -> tuple[bytes, dict | None]:
        deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
        context = LambdaContext(request_id, invocation.get("invoked-function-arn", ""), deadline_ms)
        try:
            if self.reloader is not None:
                self.handler = self.reloader.current_handler(self.handler)
            event = unmarshal_event(invocation.get("payload", ""))
            return marshal_response(self.handler(event, context)), None
        except Exception as exc:
            error = error_from_exception(exc, request_id)
            write_log_line(format_error_for_log(error))
            return b"", error

    def write_report(self, request_id: str, duration_ms: float) -> None:
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {max_memory_used_mb()} MB\t"
        )
        if self.init_ms is not None:
            report += f"Init Duration: {self.init_ms:.2f} ms\t"
            self.init_ms = None
        write_log_line(f"END RequestId: {request_id}")
        write_log_line(report)


def put_task_root_first() -> None:
    """sys.path[0] is this file's directory (tidewater's own package): the function must not see
    it. The task root comes first, as /var/task does on AWS - after the work tree's source folders
    in `tidewater dev` (DEV_SOURCES_VARIABLE), so its modules win over the zip's copies while the
    dependencies still come from the zip."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    own_dir = os.path.dirname(_BOOTSTRAP_FILE)
    sources = dev_sources()
    sys.path[:] = [*sources, task_root] + [p for p in sys.path if p not in (own_dir, task_root, "", *sources)]


# --------------------------------------------------------------------------------------------
# `tidewater dev`: the function's own code straight from the work tree, reloaded when it changes
# --------------------------------------------------------------------------------------------

DEV_SOURCES_VARIABLE = "TIDEWATER_DEV_SOURCES"  # a function environment variable: folders, os.pathsep-separated
DEV_SUFFIXES = (".py", ".sql", ".json", ".yaml", ".yml")


def dev_sources() -> list[str]:
    return [path for path in os.environ.get(DEV_SOURCES_VARIABLE, "").split(os.pathsep) if path]


def sources_fingerprint(sources: list[str]) -> tuple:
    """Name, mtime and size of every source file under the folders: changes when a file is saved."""
    found = []
    for source in sources:
        for folder, dirs, files in os.walk(source):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
            for name in files:
                if name.endswith(DEV_SUFFIXES):
                    path = os.path.join(folder, name)
                    try:
                        stat = os.stat(path)
                    except OSError:
                        continue
                    found.append((path, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


class DevReloader:
    """Before each invocation: when a file under the source folders was saved since the handler was
    imported, forget every module imported from them and import the handler again. What the sources
    import from the zip (pandas, pyarrow, Powertools) stays imported, so a reload costs only the
    function's own modules."""

    def __init__(self, sources: list[str], handler_spec: str) -> None:
        self.sources = [os.path.realpath(source) for source in sources]
        self.handler_spec = handler_spec
        self.fingerprint = sources_fingerprint(self.sources)
        # Python trusts cached bytecode whose source has the same mtime in whole seconds and the same
        # size: a second save of the same length within a second would run the first one's code. So
        # the work tree's sources are never cached (and a changed file's cache is dropped below).
        sys.dont_write_bytecode = True

    def current_handler(self, handler):
        fingerprint = sources_fingerprint(self.sources)
        if fingerprint == self.fingerprint:
            return handler
        changed = sorted({path for path, *_ in set(fingerprint) ^ set(self.fingerprint)})
        for path in changed:
            if path.endswith(".py"):
                with contextlib.suppress(OSError, ValueError):
                    os.remove(importlib.util.cache_from_source(path))
        for name, module in list(sys.modules.items()):
            path = os.path.realpath(getattr(module, "__file__", None) or "")
            if any(path.startswith(source + os.sep) for source in self.sources):
                del sys.modules[name]
        importlib.invalidate_caches()
        handler = load_handler(self.handler_spec)  # an error in the saved code fails this invocation (and the next)
        self.fingerprint = fingerprint
        write_log_line(f"tidewater dev: reloaded the function's code ({', '.join(map(os.path.basename, changed))})")
        return handler


def _fd_from_env(name: str) -> int | None:
    value = os.environ.pop(name, "")
    return int(value) if value else None


def main() -> int:
    runtime_endpoint = os.environ.pop(ENV_RUNTIME_ENDPOINT)
    executor_id = os.environ.pop(ENV_EXECUTOR_ID)
    parent_pid = int(os.environ.pop(ENV_PARENT_PID, "0") or 0) or os.getppid()
    # wall clock of the spawn, so Init Duration includes the interpreter's own start-up
    spawned_at = float(os.environ.pop(ENV_SPAWNED_AT, "0") or 0) or time.time()

    watch_parent(parent_pid)
    put_task_root_first()
    capture = OutputCapture(_fd_from_env(ENV_CAPTURE_FD), _fd_from_env(ENV_LOG_FD))
    install_lambda_log_handler()
    api = RuntimeApiClient(runtime_endpoint, executor_id)
    listener = InvokeListener()

    reloader = DevReloader(dev_sources(), os.environ.get("_HANDLER", "")) if dev_sources() else None
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as fault:
        error = error_from_exception(fault)
        write_log_line(format_error_for_log(error))
        capture.collect()  # copies the output through to the executor before we go
        api.init_error(error)
        return 1

    runtime = Runtime(handler, api, capture, init_ms=(time.time() - spawned_at) * 1000, reloader=reloader)
    api.ready(listener.port)
    try:
        while True:
            runtime.run(listener.invocations.get())
    finally:
        # sys.exit() in a handler ends up here: copy the last output through to the executor,
        # which reports the invocation as Runtime.ExitError with these logs.
        capture.collect()


if __name__ == "__main__":
    sys.exit(main())
