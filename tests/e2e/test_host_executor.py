"""The host backend's Lambda executor (tidewater.executor), end to end through LocalStack.

Each test deploys its own tiny function from a zip built here, invokes it through the Lambda API
and removes it again. Only meaningful when our executor runs the functions (the host backend with
LocalStack): several checks look at processes and paths on this machine. MiniStack runs functions
with its own runtime; what a function may import there is checked in test_emulator_api.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import textwrap
import time
import uuid
import zipfile

import pytest

from tests.stacks import wait_until
from tidewater.stack.procs import pid_alive

pytestmark = [pytest.mark.e2e]

ROLE = "arn:aws:iam::000000000000:role/test"
RUNTIME = "python3.13"


@pytest.fixture(scope="module")
def host_stack(stack):
    if stack.backend != "host" or stack.emulator != "localstack":
        pytest.skip(f"checks our LocalStack executor plugin; this stack is {stack.backend} with {stack.emulator}")
    return stack


@pytest.fixture
def lam(host_stack):
    return host_stack.client("lambda")


class Functions:
    """Creates functions (and event source mappings, queues) and removes them afterwards."""

    def __init__(self, stack):
        self.stack = stack
        self.lam = stack.client("lambda")
        self.names: list[str] = []
        self.mappings: list[str] = []
        self.queue_urls: list[str] = []

    def create(
        self, source: str, *, handler="app.handler", timeout=10, env=None, runtime=RUNTIME, extra_files=None, wait=True
    ) -> str:
        name = f"tw-exec-{uuid.uuid4().hex[:10]}"
        kwargs = {}
        if env:
            kwargs["Environment"] = {"Variables": env}
        self.lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": make_zip({"app.py": source, **(extra_files or {})})},
            Timeout=timeout,
            **kwargs,
        )
        self.names.append(name)
        if wait:
            state = self.wait_until_settled(name)
            assert state["State"] == "Active", state
        return name

    def wait_until_settled(self, name: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            config = self.lam.get_function_configuration(FunctionName=name)
            if config["State"] != "Pending" or time.monotonic() > deadline:
                return config
            time.sleep(0.1)

    def invoke(self, name: str, event=None) -> tuple[dict, object, str]:
        """(response, decoded payload, tail of the log)"""
        response = self.lam.invoke(
            FunctionName=name, Payload=json.dumps(event if event is not None else {}), LogType="Tail"
        )
        payload = json.loads(response["Payload"].read() or b"null")
        log_tail = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
        return response, payload, log_tail

    def cleanup(self):
        for uuid_ in self.mappings:
            try:
                self.lam.delete_event_source_mapping(UUID=uuid_)
            except Exception:
                pass
        for name in self.names:
            try:
                self.lam.delete_function(FunctionName=name)
            except Exception:
                pass
        sqs = self.stack.client("sqs")
        for url in self.queue_urls:
            try:
                sqs.delete_queue(QueueUrl=url)
            except Exception:
                pass


@pytest.fixture
def functions(host_stack):
    created = Functions(host_stack)
    yield created
    created.cleanup()


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, textwrap.dedent(text))
    return buffer.getvalue()



def wait_until_gone(pids, timeout=10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if pid_alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------


ECHO = """
import os
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    return {"event": event, "count": COUNT, "pid": os.getpid(),
            "request_id": context.aws_request_id, "function_name": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis()}
"""


def test_invoke_round_trips_the_payload_and_reuses_the_environment(functions):
    name = functions.create(ECHO)
    event = {"text": "héllo", "n": 3, "nested": {"list": [1, 2.5, None, True]}}

    started = time.monotonic()
    response, first, log_tail = functions.invoke(name, event)
    cold_s = time.monotonic() - started

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert first["event"] == event
    assert first["function_name"] == name
    assert 0 < first["remaining_ms"] <= 10_000
    assert f"START RequestId: {first['request_id']}" in log_tail
    assert f"REPORT RequestId: {first['request_id']}" in log_tail
    assert cold_s < 5, f"cold invoke took {cold_s:.2f}s"

    _, second, _ = functions.invoke(name, {"again": True})
    # warm: same process, module state kept (module-level clients are reused, as on AWS)
    assert second["pid"] == first["pid"]
    assert second["count"] == 2
    assert second["event"] == {"again": True}


def test_all_kinds_of_output_reach_cloudwatch_logs(functions, host_stack):
    marker = uuid.uuid4().hex[:8]
    name = functions.create(f"""
        import logging, os, subprocess, sys
        print("init-{marker}")
        def handler(event, context):
            print("print-{marker}")
            print("stderr-{marker}", file=sys.stderr)
            logging.getLogger("app").warning("logging-{marker}")
            os.write(1, b"fd1-{marker}\\n")
            os.write(2, b"fd2-{marker}\\n")
            subprocess.run([sys.executable, "-c", "print('child-{marker}')"], check=True)
            subprocess.run(["sh", "-c", "echo shell-{marker} >&2"], check=True)
            return "ok"
    """)
    _, payload, log_tail = functions.invoke(name)
    assert payload == "ok"
    expected = [f"{kind}-{marker}" for kind in ("init", "print", "stderr", "logging", "fd1", "fd2", "child", "shell")]
    for text in expected:
        assert text in log_tail

    logs = host_stack.client("logs")
    deadline = time.monotonic() + 20
    messages = ""
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        messages = "".join(e["message"] for e in events)
        if all(text in messages for text in expected):
            break
        time.sleep(0.3)
    missing = [text for text in expected if text not in messages]
    assert not missing, f"not in CloudWatch Logs: {missing}\n{messages}"
    # the logging line has the AWS runtime's format: [LEVEL]\ttimestamp\trequest id\tmessage
    assert "[WARNING]\t" in messages and f"\tlogging-{marker}" in messages


def test_unhandled_exception_is_a_function_error_named_after_the_exception(functions):
    name = functions.create("""
        class PipelineBroke(Exception):
            pass
        def handler(event, context):
            raise PipelineBroke("the widget fell off")
    """)
    response, payload, log_tail = functions.invoke(name)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "PipelineBroke"
    assert payload["errorMessage"] == "the widget fell off"
    assert any("app.py" in frame and "handler" in frame for frame in payload["stackTrace"])
    assert not any("/bootstrap.py" in frame for frame in payload["stackTrace"])
    assert "[ERROR] PipelineBroke: the widget fell off" in log_tail

    # the environment survives a handled error
    response, payload, _ = functions.invoke(name)
    assert payload["errorType"] == "PipelineBroke"


def test_missing_handler_module_is_an_import_module_error(functions):
    name = functions.create(ECHO, handler="nosuchmodule.handler")
    response, payload, _ = functions.invoke(name)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'nosuchmodule'" in payload["errorMessage"]


def test_missing_handler_function_is_handler_not_found(functions):
    name = functions.create(ECHO, handler="app.nosuchfunction")
    response, payload, _ = functions.invoke(name)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.HandlerNotFound"
    assert payload["errorMessage"] == "Handler 'nosuchfunction' missing on module 'app'"


def test_timeout_kills_the_handler_and_its_children_and_the_next_invoke_starts_fresh(functions):
    name = functions.create(
        """
        import os, subprocess, time
        CHILDREN = []
        def handler(event, context):
            if event.get("spawn"):
                CHILDREN.append(subprocess.Popen(["sleep", "300"]))
                return {"pid": os.getpid(), "child": CHILDREN[-1].pid}
            if event.get("hang"):
                print("about to hang")
                time.sleep(60)
            return {"pid": os.getpid()}
    """,
        timeout=1,
    )
    _, before, _ = functions.invoke(name, {"spawn": True})

    started = time.monotonic()
    response, payload, log_tail = functions.invoke(name, {"hang": True})
    elapsed = time.monotonic() - started
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    assert "about to hang" in log_tail
    assert elapsed < 6, f"timed-out invoke took {elapsed:.1f}s"

    assert wait_until_gone([before["pid"], before["child"]]) == []

    response, after, _ = functions.invoke(name, {})
    assert "FunctionError" not in response
    assert after["pid"] != before["pid"]


def test_runtime_exit_mid_invoke_is_an_exit_error_and_the_next_invoke_works(functions):
    name = functions.create("""
        import os
        def handler(event, context):
            if event.get("die"):
                print("going down")
                os._exit(3)
            return {"pid": os.getpid()}
    """)
    response, payload, log_tail = functions.invoke(name, {"die": True})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in payload["errorMessage"]
    assert "going down" in log_tail

    response, payload, _ = functions.invoke(name, {})
    assert "FunctionError" not in response
    assert payload["pid"] > 0


ENVIRONMENT_PROBE = """
import importlib.util, os, sys, tempfile
def handler(event, context):
    tmp = tempfile.gettempdir()
    with open(os.path.join(tmp, "probe.txt"), "w") as f:
        f.write("ok")
    root = os.environ["LAMBDA_TASK_ROOT"]
    try:
        open(os.path.join(root, "written-by-function"), "w").close()
        task_root_writable = True
    except OSError:
        task_root_writable = False
    return {
        "env": dict(os.environ),
        "tmp": tmp,
        "cwd": os.getcwd(),
        "task_root_files": sorted(os.listdir(root)),
        "task_root_writable": task_root_writable,
        "sys_path": sys.path,
        "sys_prefix": sys.prefix,
        "version": list(sys.version_info[:2]),
        "importable": {name: importlib.util.find_spec(name) is not None
                       for name in ("boto3", "localstack", "tidewater", "requests", "werkzeug", "pandas")},
    }
"""


def test_environment_is_private_and_task_root_is_the_unzipped_code(functions):
    first = functions.create(ENVIRONMENT_PROBE, extra_files={"pkg/__init__.py": "", "data.txt": "x"})
    second = functions.create(ENVIRONMENT_PROBE)
    _, a, _ = functions.invoke(first)
    _, b, _ = functions.invoke(second)
    env = a["env"]

    # TMPDIR and HOME: private to the environment, not the machine's
    assert env["TMPDIR"] == a["tmp"]
    assert os.path.realpath(a["tmp"]) != os.path.realpath("/tmp")
    assert env["HOME"] != os.path.expanduser("~")
    assert a["tmp"] != b["tmp"] and env["HOME"] != b["env"]["HOME"]
    assert os.path.isdir(env["HOME"])

    # LAMBDA_TASK_ROOT is the real, unzipped code, and the working directory, read-only as on AWS
    root = env["LAMBDA_TASK_ROOT"]
    assert os.path.isabs(root) and os.path.isfile(os.path.join(root, "app.py"))
    assert {"app.py", "data.txt", "pkg"} <= set(a["task_root_files"])
    assert os.path.realpath(a["cwd"]) == os.path.realpath(root)
    assert a["sys_path"][0] == root
    if os.geteuid() != 0:  # root ignores file modes
        assert a["task_root_writable"] is False

    # what LocalStack passes, and nothing of LocalStack's own process
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == first
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{RUNTIME}"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"):
        assert env.get(key), key
    leaked = [k for k in env if k.startswith(("LOCALSTACK_", "_TIDEWATER_")) and k != "LOCALSTACK_HOSTNAME"]
    assert leaked == []
    for key in (
        "VIRTUAL_ENV",
        "GATEWAY_LISTEN",
        "SERVICES",
        "LAMBDA_RUNTIME_EXECUTOR",
        "TIDEWATER_LAMBDA_RUNTIMES_DIR",
        "OVERRIDE_IN_DOCKER",
    ):
        assert key not in env, key
    assert a["version"] == [3, 13]
    assert a["importable"] == {
        "boto3": True,
        "localstack": False,
        "tidewater": False,
        "requests": False,
        "werkzeug": False,
        "pandas": False,
    }


def test_function_environment_variables_win(functions):
    name = functions.create(
        """
        import os
        def handler(event, context):
            return {k: os.environ.get(k) for k in ("TZ", "MY_SETTING", "AWS_ENDPOINT_URL", "PYTHONUNBUFFERED")}
    """,
        env={
            "TZ": "Europe/Paris",
            "MY_SETTING": "from-the-function",
            "AWS_ENDPOINT_URL": "http://example.invalid:1234",
            "PYTHONUNBUFFERED": "0",
        },
    )
    _, payload, _ = functions.invoke(name)
    assert payload == {
        "TZ": "Europe/Paris",
        "MY_SETTING": "from-the-function",
        "AWS_ENDPOINT_URL": "http://example.invalid:1234",
        "PYTHONUNBUFFERED": "0",
    }


def test_modules_outside_the_zip_and_the_runtime_venv_do_not_import(functions):
    name = functions.create("""
        import pandas
        def handler(event, context):
            return "pandas imported?!"
    """)
    response, payload, _ = functions.invoke(name)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'pandas'" in payload["errorMessage"]


def test_unsupported_runtime_fails_invocations_with_a_clear_reason(functions):
    # The function stays Active (a Failed function cannot even be deleted in LocalStack 4.14);
    # each invocation says what is missing and where the executor looked.
    name = functions.create(ECHO, runtime="nodejs22.x")
    response, payload, _ = functions.invoke(name)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.Unsupported"
    assert "nodejs22.x" in payload["errorMessage"]
    assert "TIDEWATER_LAMBDA_RUNTIMES_DIR" in payload["errorMessage"]
    functions.lam.delete_function(FunctionName=name)
    functions.names.remove(name)


def test_sqs_event_source_mapping_drives_the_function(functions, host_stack):
    sqs = host_stack.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    source_url = sqs.create_queue(QueueName=f"tw-exec-in-{suffix}")["QueueUrl"]
    functions.queue_urls.append(source_url)
    out_url = sqs.create_queue(QueueName=f"tw-exec-out-{suffix}")["QueueUrl"]
    functions.queue_urls.append(out_url)
    source_arn = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # The function forwards each record to another queue through LocalStack (AWS_ENDPOINT_URL),
    # with a module-level client, as real functions do.
    name = functions.create(
        """
        import os, boto3
        SQS = boto3.client("sqs")
        def handler(event, context):
            for record in event["Records"]:
                SQS.send_message(QueueUrl=os.environ["OUT_URL"], MessageBody="seen:" + record["body"])
            return {"batchItemFailures": []}
    """,
        env={"OUT_URL": out_url},
    )
    mapping = functions.lam.create_event_source_mapping(
        EventSourceArn=source_arn,
        FunctionName=name,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    functions.mappings.append(mapping["UUID"])

    sqs.send_message(QueueUrl=source_url, MessageBody=f"hello-{suffix}")
    deadline = time.monotonic() + 30
    bodies = []
    while time.monotonic() < deadline and not bodies:
        messages = sqs.receive_message(QueueUrl=out_url, WaitTimeSeconds=1).get("Messages", [])
        bodies = [m["Body"] for m in messages]
    assert bodies == [f"seen:hello-{suffix}"]


SLOW_FORWARDER = """
import json, os, time, boto3
SQS = boto3.client("sqs")
def handler(event, context):
    start = time.time()
    time.sleep(1.5)
    for record in event["Records"]:
        SQS.send_message(QueueUrl=os.environ["OUT_URL"], MessageBody=json.dumps(
            {"body": record["body"], "start": start, "end": time.time()}))
    return {"batchItemFailures": []}
"""


def most_at_once(functions, host_stack, *, messages: int, fifo: bool = False, maximum_concurrency=None) -> int:
    """Send `messages` to a queue whose mapping (batch size 1) drives a function that takes 1.5 s;
    how many invocations ran at the same time, at most."""
    sqs = host_stack.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
    source_url = sqs.create_queue(QueueName=f"tw-exec-in-{suffix}" + (".fifo" if fifo else ""),
                                  Attributes=attributes)["QueueUrl"]  # fmt: skip
    functions.queue_urls.append(source_url)
    out_url = sqs.create_queue(QueueName=f"tw-exec-out-{suffix}")["QueueUrl"]
    functions.queue_urls.append(out_url)
    source_arn = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = functions.create(SLOW_FORWARDER, env={"OUT_URL": out_url})
    scaling = {"ScalingConfig": {"MaximumConcurrency": maximum_concurrency}} if maximum_concurrency else {}
    mapping = functions.lam.create_event_source_mapping(EventSourceArn=source_arn, FunctionName=name, BatchSize=1,
                                                       **scaling)  # fmt: skip
    functions.mappings.append(mapping["UUID"])
    wait_until(lambda: functions.lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled", 30,
               "the mapping enabled")  # fmt: skip

    for i in range(messages):
        group = {"MessageGroupId": "one"} if fifo else {}
        sqs.send_message(QueueUrl=source_url, MessageBody=f"m{i}", **group)
    seen: dict[str, dict] = {}

    def all_forwarded() -> bool:
        for m in sqs.receive_message(QueueUrl=out_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            record = json.loads(m["Body"])
            seen[record["body"]] = record
            sqs.delete_message(QueueUrl=out_url, ReceiptHandle=m["ReceiptHandle"])
        return len(seen) == messages

    wait_until(all_forwarded, 90, f"{messages} messages through the function")
    if fifo:
        in_order = [r["body"] for r in sorted(seen.values(), key=lambda r: r["start"])]
        assert in_order == [f"m{i}" for i in range(messages)]
    edges = sorted([(r["start"], 1) for r in seen.values()] + [(r["end"], -1) for r in seen.values()])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


def test_a_standard_queues_mapping_invokes_several_batches_at_once(functions, host_stack):
    # AWS starts five pollers per SQS mapping; LocalStack ran one (the several_sqs_pollers hook)
    assert most_at_once(functions, host_stack, messages=8) >= 3


def test_maximum_concurrency_caps_the_invocations_at_once(functions, host_stack):
    assert most_at_once(functions, host_stack, messages=6, maximum_concurrency=2) == 2


def test_a_fifo_queues_mapping_keeps_one_poller_and_the_order(functions, host_stack):
    assert most_at_once(functions, host_stack, messages=4, fifo=True) == 1
