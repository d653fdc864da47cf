"""bootstrap.py, the runtime client inside each host Lambda process, without LocalStack.

bootstrap.py is loaded by file path (as the executor runs it), never as part of the tidewater
package. The protocol tests start it as a real process against a fake LocalStack endpoint.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

EXECUTOR_DIR = Path(__file__).resolve().parents[2] / "src" / "tidewater" / "executor"
BOOTSTRAP_PATH = EXECUTOR_DIR / "bootstrap.py"


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = load_module(BOOTSTRAP_PATH, "tidewater_bootstrap_under_test")


@pytest.fixture
def code_dir(tmp_path, monkeypatch):
    """A task root on sys.path; module names are unique per test, so imports never hit the cache."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def write_module(code_dir: Path, source: str, relative: str | None = None) -> str:
    name = relative or f"mod_{uuid.uuid4().hex[:8]}"
    path = code_dir / (name.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return name


def fault_of(handler_spec: str) -> bootstrap.FaultError:
    with pytest.raises(bootstrap.FaultError) as info:
        bootstrap.load_handler(handler_spec)
    return info.value


# -- handler resolution ------------------------------------------------------------------------


def test_resolves_module_and_function(code_dir):
    module = write_module(code_dir, "def handler(event, context):\n    return event['x'] * 2\n")
    assert bootstrap.load_handler(f"{module}.handler")({"x": 21}, None) == 42


def test_resolves_handlers_in_packages_with_dots_or_slashes(code_dir):
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    (code_dir / package).mkdir()
    (code_dir / package / "__init__.py").write_text("")
    write_module(code_dir, "def go(event, context):\n    return 'deep'\n", f"{package}.sub.mod")
    assert bootstrap.load_handler(f"{package}.sub.mod.go")({}, None) == "deep"
    assert bootstrap.load_handler(f"{package}/sub/mod.go")({}, None) == "deep"


def test_handler_without_a_dot_is_malformed():
    fault = fault_of("handler")
    assert fault.error_type == "Runtime.MalformedHandlerName"
    assert "Bad handler 'handler'" in fault.message


def test_builtin_module_as_handler_module_is_refused():
    fault = fault_of("sys.handler")
    assert fault.error_type == "Runtime.BuiltInModuleConflict"
    assert fault.message == "Cannot use built-in module sys as a handler module"


def test_missing_module_is_an_import_module_error(code_dir):
    fault = fault_of("no_such_module_here.handler")
    assert fault.error_type == "Runtime.ImportModuleError"
    assert fault.message == ("Unable to import module 'no_such_module_here': No module named 'no_such_module_here'")


def test_missing_dependency_of_the_module_is_an_import_module_error(code_dir):
    module = write_module(code_dir, "import dependency_nobody_installed\ndef handler(e, c): pass\n")
    fault = fault_of(f"{module}.handler")
    assert fault.error_type == "Runtime.ImportModuleError"
    assert fault.message == (f"Unable to import module '{module}': No module named 'dependency_nobody_installed'")


def test_syntax_error_is_a_user_code_syntax_error(code_dir):
    module = write_module(code_dir, "def handler(event, context)\n    return 1\n")
    fault = fault_of(f"{module}.handler")
    assert fault.error_type == "Runtime.UserCodeSyntaxError"
    assert fault.message.startswith(f"Syntax error in module '{module}'")
    assert f"{module}.py" in fault.stack_trace[0]


def test_exception_at_import_keeps_its_own_type(code_dir):
    module = write_module(code_dir, "raise KeyError('DB_HOST')\n")
    fault = fault_of(f"{module}.handler")
    assert fault.error_type == "KeyError"
    assert fault.message == "'DB_HOST'"
    assert any(f"{module}.py" in frame for frame in fault.stack_trace)
    assert not any("importlib" in frame or "/bootstrap.py" in frame for frame in fault.stack_trace)


def test_missing_function_fails_at_invocation_with_handler_not_found(code_dir):
    module = write_module(code_dir, "def other(event, context):\n    pass\n")
    handler = bootstrap.load_handler(f"{module}.handler")  # init succeeds, as on AWS
    with pytest.raises(bootstrap.FaultError) as info:
        handler({}, None)
    assert info.value.error_type == "Runtime.HandlerNotFound"
    assert info.value.message == f"Handler 'handler' missing on module '{module}'"


# -- error documents ---------------------------------------------------------------------------


def test_handler_exception_document_has_aws_shape_and_user_frames_only(code_dir):
    module = write_module(
        code_dir,
        """
        class PipelineBroke(Exception):
            pass
        def handler(event, context):
            raise PipelineBroke("widget fell off")
    """,
    )
    handler = bootstrap.load_handler(f"{module}.handler")
    try:
        handler({}, None)
    except Exception as exc:
        error = bootstrap.error_from_exception(exc, "req-1")
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "PipelineBroke"
    assert error["errorMessage"] == "widget fell off"
    assert error["requestId"] == "req-1"
    assert "in handler" in error["stackTrace"][-1]
    assert not any("/bootstrap.py" in frame for frame in error["stackTrace"])


def test_fault_document_keeps_the_runtime_error_type():
    fault = bootstrap.FaultError("Runtime.MarshalError", "Unable to marshal response: x")
    assert bootstrap.error_from_exception(fault, "r") == {
        "errorMessage": "Unable to marshal response: x",
        "errorType": "Runtime.MarshalError",
        "requestId": "r",
        "stackTrace": [],
    }


def test_error_log_block_looks_like_the_aws_runtime():
    error = bootstrap.make_error("boom", "ValueError", ['  File "/x/app.py", line 2, in h\n    f()\n'])
    assert bootstrap.format_error_for_log(error) == (
        '[ERROR] ValueError: boom\nTraceback (most recent call last):\n  File "/x/app.py", line 2, in h\n    f()\n'
    )


# -- payloads and context ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"a": [1, "x", None]}, b'{"a": [1, "x", null]}'),
        ("text", b'"text"'),
        (None, b"null"),
        ({"n": decimal.Decimal("3"), "f": decimal.Decimal("2.5")}, b'{"n": 3, "f": 2.5}'),
    ],
)
def test_responses_are_json_encoded(result, expected):
    assert bootstrap.marshal_response(result) == expected


def test_unserializable_response_is_a_marshal_error():
    with pytest.raises(bootstrap.FaultError) as info:
        bootstrap.marshal_response({"when": object()})
    assert info.value.error_type == "Runtime.MarshalError"
    assert info.value.message.startswith("Unable to marshal response:")


def test_events_are_json_decoded_and_an_empty_payload_is_an_empty_event():
    assert bootstrap.unmarshal_event('{"Records": []}') == {"Records": []}
    assert bootstrap.unmarshal_event("") == {}
    with pytest.raises(bootstrap.FaultError) as info:
        bootstrap.unmarshal_event("{not json")
    assert info.value.error_type == "Runtime.UnmarshalError"


def test_context_reports_remaining_time_and_function_settings(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "processor")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    context = bootstrap.LambdaContext("req", "arn:fn", deadline_ms=int(time.time() * 1000) + 2000)
    assert 1000 < context.get_remaining_time_in_millis() <= 2000
    assert context.function_name == "processor"
    assert context.memory_limit_in_mb == "512"  # a string, as in the AWS runtime
    assert bootstrap.LambdaContext("r", "a", deadline_ms=0).get_remaining_time_in_millis() == 0


# -- output capture (in a child process: it rewires fd 1 and 2) ----------------------------------


def test_output_capture_catches_print_logging_fd_writes_and_child_processes(tmp_path):
    result_file = tmp_path / "collected.json"
    script = textwrap.dedent(f"""
        import importlib.util, json, logging, os, subprocess, sys
        spec = importlib.util.spec_from_file_location("b", {str(BOOTSTRAP_PATH)!r})
        b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
        capture = b.OutputCapture()
        b.install_lambda_log_handler()
        print("from print")
        logging.warning("from logging")
        os.write(2, b"from fd 2\\n")
        subprocess.run([sys.executable, "-c", "print('from a child')"], check=True)
        first = capture.collect()
        print("second invocation")
        second = capture.collect()
        with open({str(result_file)!r}, "w") as f:
            json.dump([first, second], f)
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    first, second = json.loads(result_file.read_text())
    for text in ("from print", "from logging", "from fd 2", "from a child"):
        assert text in first
        assert text in completed.stdout  # also copied through to the original stdout
    assert "[WARNING]\t" in first
    assert second == "second invocation\n"


def test_output_capture_stops_reading_when_the_handler_closes_stdout_and_stderr(tmp_path):
    # A handler that closes fds 1 and 2 leaves the pipe at EOF: the capture must not spin on it.
    result_file = tmp_path / "cpu.json"
    script = textwrap.dedent(f"""
        import importlib.util, json, os, resource, threading, time
        spec = importlib.util.spec_from_file_location("b", {str(BOOTSTRAP_PATH)!r})
        b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
        capture = b.OutputCapture()
        print("before", flush=True)
        os.close(1); os.close(2)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = usage.ru_utime + usage.ru_stime
        time.sleep(1.5)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        pumping = any(t.name == "output-capture" for t in threading.enumerate())
        with open({str(result_file)!r}, "w") as f:
            json.dump([usage.ru_utime + usage.ru_stime - started, pumping, capture.collect()], f)
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    cpu_seconds, pumping, collected = json.loads(result_file.read_text())
    assert collected == "before\n" and not pumping
    assert cpu_seconds < 0.5, f"the capture thread spun: {cpu_seconds:.2f} s of CPU in 1.5 s"


# -- the whole protocol, against a fake LocalStack -----------------------------------------------


class FakeLocalStack:
    """Records what bootstrap.py posts under /_localstack_lambda/<id>/..."""

    def __init__(self):
        self.posts: queue.Queue[tuple[str, bytes]] = queue.Queue()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like LocalStack's gateway

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.posts.put((self.path, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/_localstack_lambda/exec1"

    def next_post(self, timeout=10.0) -> tuple[str, bytes]:
        return self.posts.get(timeout=timeout)


@pytest.fixture
def fake_localstack():
    fake = FakeLocalStack()
    yield fake
    fake.server.shutdown()


def start_bootstrap(task_root: Path, handler: str, fake: FakeLocalStack, extra_env=None):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "3",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        bootstrap.ENV_RUNTIME_ENDPOINT: fake.endpoint,
        bootstrap.ENV_EXECUTOR_ID: "exec1",
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, str(BOOTSTRAP_PATH)],
        env=env,
        cwd=task_root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def post_invoke(port: int, request_id: str, event) -> int:
    body = json.dumps(
        {
            "invoke-id": request_id,
            "invoked-function-arn": "arn:fn",
            "payload": json.dumps(event),
            "trace-id": "Root=1-abc",
        }
    ).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invoke", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_protocol_ready_invoke_logs_response_and_error(tmp_path, fake_localstack):
    (tmp_path / "app.py").write_text(
        textwrap.dedent("""
        import os, sys
        print("init output")
        def handler(event, context):
            print("got", event["n"], os.environ["_X_AMZN_TRACE_ID"])
            if event["n"] < 0:
                raise ValueError("negative")
            return {"double": event["n"] * 2, "private_vars": [k for k in os.environ if k.startswith("_TIDEWATER")],
                    "path0": sys.path[0]}
    """)
    )
    process = start_bootstrap(tmp_path, "app.handler", fake_localstack)
    try:
        path, body = fake_localstack.next_post()
        assert path == "/_localstack_lambda/exec1/status/exec1/ready"
        port = json.loads(body)["port"]

        assert post_invoke(port, "req-1", {"n": 21}) == 200
        path, body = fake_localstack.next_post()
        assert path == "/_localstack_lambda/exec1/invocations/req-1/logs"
        logs = json.loads(body)["logs"]
        assert logs.index("init output") < logs.index("START RequestId: req-1") < logs.index("got 21 Root=1-abc")
        assert "END RequestId: req-1" in logs and "REPORT RequestId: req-1\tDuration: " in logs
        assert "Init Duration: " in logs
        path, body = fake_localstack.next_post()
        assert path == "/_localstack_lambda/exec1/invocations/req-1/response"
        assert json.loads(body) == {"double": 42, "private_vars": [], "path0": str(tmp_path)}

        post_invoke(port, "req-2", {"n": -1})
        path, body = fake_localstack.next_post()
        logs = json.loads(body)["logs"]
        assert "init output" not in logs and "Init Duration" not in logs
        assert "[ERROR] ValueError: negative" in logs
        path, body = fake_localstack.next_post()
        assert path == "/_localstack_lambda/exec1/invocations/req-2/error"
        error = json.loads(body)
        assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("ValueError", "negative", "req-2")
    finally:
        process.kill()
        process.wait()


def test_protocol_init_error_is_posted_and_the_process_exits(tmp_path, fake_localstack):
    (tmp_path / "app.py").write_text("import not_in_the_zip\n")
    process = start_bootstrap(tmp_path, "app.handler", fake_localstack)
    path, body = fake_localstack.next_post()
    assert path == "/_localstack_lambda/exec1/status/exec1/error"
    error = json.loads(body)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'not_in_the_zip'"
    assert process.wait(timeout=10) == 1
    assert b"[ERROR] Runtime.ImportModuleError" in process.stdout.read()


def test_environment_ends_itself_and_its_children_when_localstack_goes_away(tmp_path, fake_localstack):
    (tmp_path / "app.py").write_text(
        textwrap.dedent("""
        import subprocess
        CHILD = subprocess.Popen(["sleep", "300"])
        def handler(event, context):
            return CHILD.pid
    """)
    )
    process = start_bootstrap(tmp_path, "app.handler", fake_localstack)
    path, body = fake_localstack.next_post()
    port = json.loads(body)["port"]
    post_invoke(port, "req-1", {})
    fake_localstack.next_post()  # logs
    _, body = fake_localstack.next_post()
    child_pid = json.loads(body)

    process.stdin.close()  # what LocalStack dying looks like from the environment
    assert process.wait(timeout=10) != 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.05)
    assert not _alive(child_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its reaper counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return True


# -- the environment the executor builds (envvars.py is standard library only) -------------------

envvars = load_module(EXECUTOR_DIR / "envvars.py", "tidewater_envvars_under_test")


def build(localstack_vars, function_vars=None):
    return envvars.build_environment(
        localstack_vars,
        function_vars,
        runtime="python3.13",
        runtime_venv="/rt/python3.13",
        task_root="/work/task",
        tmp_dir="/env/tmp",
        home_dir="/env/home",
        runtime_endpoint="http://127.0.0.1:4566/_localstack_lambda/e1",
        executor_id="e1",
    )


def test_environment_keeps_aws_variables_and_drops_localstack_internals():
    env = build(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 256,
            "_HANDLER": "app.handler",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "LOCALSTACK_HOSTNAME": "127.0.0.1",
            "LOCALSTACK_RUNTIME_ENDPOINT": "x",
            "LOCALSTACK_RUNTIME_ID": "y",
            "LOCALSTACK_CHMOD_PATHS": "[]",
            "LAMBDA_TASK_ROOT": "/var/task",
            "AWS_EXECUTION_ENV": "AWS_Lambda_rapid",
        }
    )
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"  # LocalStack passes some ints
    assert env["LOCALSTACK_HOSTNAME"] == "127.0.0.1"
    assert not {"LOCALSTACK_RUNTIME_ENDPOINT", "LOCALSTACK_RUNTIME_ID", "LOCALSTACK_CHMOD_PATHS"} & set(env)
    assert env["LAMBDA_TASK_ROOT"] == env["PYTHONPATH"] == "/work/task"
    assert (env["TMPDIR"], env["HOME"]) == ("/env/tmp", "/env/home")
    assert env["PATH"].startswith("/rt/python3.13/bin:")
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env[envvars.ENV_RUNTIME_ENDPOINT] == "http://127.0.0.1:4566/_localstack_lambda/e1"


def test_environment_never_inherits_the_host_process(monkeypatch):
    monkeypatch.setenv("VIRTUAL_ENV", "/ls/venv")
    monkeypatch.setenv("PYTHONPATH", "/ls/site-packages")
    env = build({})
    assert "VIRTUAL_ENV" not in env
    assert env["PYTHONPATH"] == "/work/task"
    assert "/ls/" not in env["PATH"]


def test_function_variables_win():
    env = build(
        {"TZ": ":UTC", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
        {"TZ": "Europe/Paris", "AWS_ENDPOINT_URL": "http://other:1", "TMPDIR": "/mine"},
    )
    assert (env["TZ"], env["AWS_ENDPOINT_URL"], env["TMPDIR"]) == ("Europe/Paris", "http://other:1", "/mine")


def test_bootstrap_and_executor_agree_on_the_private_variables():
    for name in (
        "ENV_RUNTIME_ENDPOINT",
        "ENV_EXECUTOR_ID",
        "ENV_PARENT_PID",
        "ENV_SPAWNED_AT",
        "ENV_CAPTURE_FD",
        "ENV_LOG_FD",
    ):
        assert getattr(bootstrap, name) == getattr(envvars, name), name


# -- tidewater dev: the function's code from the work tree, reloaded when saved ------------------


def test_a_saved_change_takes_effect_on_the_next_invocation_and_a_broken_one_keeps_failing(tmp_path, monkeypatch):
    source = tmp_path / "functions"
    (source / "devpkg").mkdir(parents=True)
    (source / "devpkg" / "__init__.py").write_text("")
    (source / "devpkg" / "answer.py").write_text("VALUE = 'first'\n")
    (source / "devapp.py").write_text("from devpkg.answer import VALUE\n\ndef handler(event, context):\n"
                                      "    return VALUE\n")  # fmt: skip
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)  # the reloader turns it on
    reloader = bootstrap.DevReloader([str(source)], "devapp.handler")
    handler = bootstrap.load_handler("devapp.handler")
    assert reloader.current_handler(handler) is handler and handler({}, None) == "first"

    # WHEN a module the handler imports is saved THEN the next call runs the new code
    (source / "devpkg" / "answer.py").write_text("VALUE = 'second, edited'\n")
    handler = reloader.current_handler(handler)
    assert handler({}, None) == "second, edited"

    # WHEN a save breaks the code THEN every call fails until it is fixed, then the fix runs
    (source / "devapp.py").write_text("def handler(event, context):\n    return (\n")
    for _ in range(2):
        with pytest.raises(bootstrap.FaultError, match="Syntax error in module 'devapp'"):
            reloader.current_handler(handler)
    (source / "devapp.py").write_text("def handler(event, context):\n    return 'fixed'\n")
    assert reloader.current_handler(handler)({}, None) == "fixed"
    for name in ("devapp", "devpkg", "devpkg.answer"):
        sys.modules.pop(name, None)


def test_two_saves_of_the_same_size_within_one_second_both_take_effect(tmp_path, monkeypatch):
    """Python's bytecode cache checks a source by its mtime in whole seconds and its size: a second
    save of the same length within the same second would import the first save's bytecode (make
    bench's edit group found it: the edited log line of the 4th quick edit never appeared)."""
    source = tmp_path / "functions"
    source.mkdir()
    app = source / "devsame.py"
    app.write_text("def handler(event, context):\n    return 'edit 1'\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as in a function's environment
    monkeypatch.syspath_prepend(str(source))
    reloader = bootstrap.DevReloader([str(source)], "devsame.handler")
    handler = bootstrap.load_handler("devsame.handler")
    second = int(app.stat().st_mtime)
    for edit in range(2, 6):
        app.write_text(f"def handler(event, context):\n    return 'edit {edit}'\n")
        os.utime(app, ns=(second * 10**9 + edit * 1000, second * 10**9 + edit * 1000))  # same second, same size
        handler = reloader.current_handler(handler)
        assert handler({}, None) == f"edit {edit}"
    sys.modules.pop("devsame", None)


def test_dev_sources_come_before_the_task_root(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path / "task"))
    monkeypatch.setenv(bootstrap.DEV_SOURCES_VARIABLE, os.pathsep.join([str(tmp_path / "fn"), str(tmp_path / "sh")]))
    monkeypatch.setattr(sys, "path", [os.path.dirname(bootstrap.__file__), "/usr/lib/python3.13"])
    bootstrap.put_task_root_first()
    assert sys.path == [str(tmp_path / "fn"), str(tmp_path / "sh"), str(tmp_path / "task"), "/usr/lib/python3.13"]
