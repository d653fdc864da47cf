"""The environment of a function process: what LocalStack hands over, minus its internals, plus
what a host process needs. Standard library only, so it can be tested without LocalStack."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Private variables for bootstrap.py; it pops them before any function code runs.
ENV_RUNTIME_ENDPOINT = "_TIDEWATER_RUNTIME_ENDPOINT"
ENV_EXECUTOR_ID = "_TIDEWATER_EXECUTOR_ID"
ENV_PARENT_PID = "_TIDEWATER_PARENT_PID"
ENV_SPAWNED_AT = "_TIDEWATER_SPAWNED_AT"
ENV_CAPTURE_FD = "_TIDEWATER_CAPTURE_FD"
ENV_LOG_FD = "_TIDEWATER_LOG_FD"

# LocalStack passes LOCALSTACK_* variables for its Go init (runtime id and endpoint, chmod paths,
# user switching, ...). Function code must not see them. LOCALSTACK_HOSTNAME is the exception:
# it is LocalStack's documented way for function code to find LocalStack.
_LOCALSTACK_PUBLIC = {"LOCALSTACK_HOSTNAME"}

# The system part of PATH. Nothing of the host's own PATH is inherited: it may point into
# LocalStack's venv (or ours), and on AWS PATH is fixed too.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def is_localstack_internal(name: str) -> bool:
    return name.startswith("LOCALSTACK_") and name not in _LOCALSTACK_PUBLIC


def build_environment(
    localstack_vars: Mapping[str, object],
    function_vars: Mapping[str, str] | None,
    *,
    runtime: str,
    runtime_venv: str,
    task_root: str,
    tmp_dir: str,
    home_dir: str,
    runtime_endpoint: str,
    executor_id: str,
) -> dict[str, str]:
    """Environment for one execution environment's process.

    Built from scratch, never from os.environ: LocalStack's process has its venv in PATH,
    VIRTUAL_ENV, PYTHONPATH, proxies and its own settings, none of which a function sees on AWS.
    Order of precedence, lowest first: host defaults, LocalStack's variables (AWS_*, _HANDLER,
    credentials of the function role, AWS_ENDPOINT_URL, ...), this executor's paths, and the
    function's own variables, which win as they do on AWS.
    """
    env = {
        "PATH": f"{runtime_venv}/bin:{SYSTEM_PATH}",
        "LANG": "C.UTF-8",
        # AWS's Python runtime writes stdout unbuffered; without this, print() output sits in a
        # block buffer (fd 1 is a pipe) and shows up after later logging output.
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in localstack_vars.items() if not is_localstack_internal(k)})
    env.update(
        {
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": runtime_venv,
            "PYTHONPATH": task_root,
            "TMPDIR": tmp_dir,
            "HOME": home_dir,
            # LocalStack sets the value of its Go init; the AWS Python runtime replaces it with this.
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        }
    )
    env.update({k: str(v) for k, v in (function_vars or {}).items()})
    env.update(
        {
            ENV_RUNTIME_ENDPOINT: runtime_endpoint,
            ENV_EXECUTOR_ID: executor_id,
            ENV_PARENT_PID: str(os.getpid()),
        }
    )
    return env
