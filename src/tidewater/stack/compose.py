"""The compose backend: `docker compose` runs LocalStack (with its Docker Lambda executor) and Postgres.

Ports, credentials and the Postgres hostname as seen by function containers must agree with
docker-compose.yml; tests/unit/test_compose_parity.py checks that they do.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tidewater.stack.env import StackEnv, forget_instance, repo_root

LOCALSTACK_PORT = 4566
POSTGRES_PORT = 5432  # published on the host
POSTGRES_SERVICE = "postgres"  # the hostname function containers use (LAMBDA_DOCKER_NETWORK)
POSTGRES_USER = "tidewater"
# A local throwaway database, never used outside compose.
POSTGRES_PASSWORD = "tidewater"  # nosec B105
POSTGRES_DB = "tidewater"


def docker_available() -> bool:
    """True when a Docker daemon answers (not merely when the client is installed)."""
    if shutil.which("docker") is None:
        return False
    try:
        # The docker CLI comes from PATH on purpose (shutil.which above).
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0  # nosec B607
    except subprocess.TimeoutExpired:
        return False


class ComposeStack:
    def __init__(self, instance_dir: Path):
        self.dir = instance_dir.resolve()

    def _compose(self, *args: str) -> None:
        cmd = ["docker", "compose", "--project-name", "tidewater", "--project-directory", str(repo_root()), *args]
        print(f"==> {' '.join(cmd)}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)

    def stack_env(self) -> StackEnv:
        return StackEnv(
            backend="compose",
            endpoint_url=f"http://127.0.0.1:{LOCALSTACK_PORT}",
            database_url=f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{POSTGRES_PORT}/{POSTGRES_DB}",
            function_db_host=POSTGRES_SERVICE,
            function_db_port=5432,
        )

    def up(self) -> StackEnv:
        if not docker_available():
            raise SystemExit("BACKEND=compose needs a running Docker daemon; use BACKEND=host without Docker.")
        self._compose("up", "--detach", "--wait")
        env = self.stack_env()
        env.write(self.dir / "stack.env")
        return env

    def down(self) -> None:
        self._compose("down", "--volumes", "--remove-orphans")
        forget_instance(self.dir)

    def stop_postgres(self) -> None:
        self._compose("stop", POSTGRES_SERVICE)

    def start_postgres(self) -> None:
        self._compose("start", POSTGRES_SERVICE)
