"""LocalStack 4.14.0 (the last release without an auth token) as a host process.

Lambda functions run as host subprocesses through our runtime-executor plugin
(``tidewater.executor``, docs/host-backend.md); two start-up hooks (``tidewater.executor.hooks``)
come with it. Both are entry points of our package, which is installed into LocalStack's venv.
"""

from __future__ import annotations

from pathlib import Path

from tidewater.stack.emulators.base import Emulator

SERVICES = ("s3", "sqs", "lambda", "iam", "sts", "kms", "logs", "secretsmanager", "events", "sns", "cloudwatch")


class LocalStack(Emulator):
    name = "localstack"
    label = "LocalStack 4.14.0"
    health_path = "/_localstack/health"
    services = SERVICES

    def command(self, python: Path) -> list[str]:
        return [str(python), "-m", "localstack.runtime.main"]

    def folders(self, home: Path) -> list[Path]:
        return [*super().folders(home), home / "fs", home / "cache", home / "lambda"]

    def settings(self, port: int, home: Path, runtimes_dir: Path) -> dict[str, str]:
        return {
            # This machine looks like a container to LocalStack; without this it ignores FILESYSTEM_ROOT
            # and wipes a shared temp directory on start/stop.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(home / "fs"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            # LocalStack's default server (twisted) listens on 0.0.0.0 whatever GATEWAY_LISTEN says:
            # hypercorn listens where it is told, so the emulator is reachable from this machine only.
            "GATEWAY_SERVER": "hypercorn",
            # URLs LocalStack hands out (queue URLs...) must be reachable: *.localhost.localstack.cloud
            # does not resolve everywhere.
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SQS_ENDPOINT_STRATEGY": "off",  # http://127.0.0.1:<port>/<account>/<queue>: the aws provider parses it
            "SERVICES": ",".join(SERVICES),
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LAMBDA_RUNTIME_EXECUTOR": "process",
            "TIDEWATER_LAMBDA_RUNTIMES_DIR": str(runtimes_dir),
            "TIDEWATER_LAMBDA_WORK_DIR": str(home / "lambda"),
            # Fast feedback: poll SQS often, retry quickly.
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "0.2",
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.01",
            "LAMBDA_RETRY_BASE_DELAY": "1",
            # Queue metrics (the DLQ alarm's) every 10 s instead of every minute.
            "SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL": "10",
        }
