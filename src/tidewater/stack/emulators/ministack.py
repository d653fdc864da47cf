"""MiniStack (pure Python, MIT) as a host process.

MiniStack runs a Python function's execution environment as a subprocess of its own interpreter,
so its venv's packages (hypercorn, PyYAML, its pinned botocore 1.43) would be importable by every
function. Our start-up patches (``tidewater.ministack_patches``, which also fix three of its API
bugs) make it start that subprocess with the Lambda runtime venv's Python instead — the same venv
that runs functions on LocalStack, holding nothing but the runtime's boto3 — and the PATH it
hands to functions starts with that venv's bin/.
"""

from __future__ import annotations

from pathlib import Path

from tidewater.stack.emulators.base import Emulator

# The names in MiniStack's health document (CloudWatch is "monitoring" there).
SERVICES = ("s3", "sqs", "lambda", "iam", "sts", "kms", "logs", "secretsmanager", "events", "sns", "monitoring")


class MiniStack(Emulator):
    name = "ministack"
    label = "MiniStack 1.5.33"
    health_path = "/_ministack/health"
    services = SERVICES

    def command(self, python: Path) -> list[str]:
        return [str(python), "-m", "tidewater.ministack_patches"]

    def settings(self, port: int, home: Path, runtimes_dir: Path) -> dict[str, str]:
        return {
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",  # its default is every interface
            "MINISTACK_HOST": "127.0.0.1",  # the host in the URLs it hands out (queue URLs)
            "LAMBDA_EXECUTOR": "local",  # functions as subprocesses, even where Docker answers
            "TIDEWATER_LAMBDA_RUNTIMES_DIR": str(runtimes_dir),  # read by our patch
            # Functions inherit MiniStack's environment: no tool of its venv on their PATH.
            "PATH": f"{runtimes_dir / 'python3.13' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        }
