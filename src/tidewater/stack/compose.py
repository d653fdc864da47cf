"""The compose backend: `docker compose` runs LocalStack (with our `process` Lambda executor) and Postgres.

Both containers use the host's network and listen on 127.0.0.1 only, on the ports of the settings
TIDEWATER_EMULATOR_PORT and TIDEWATER_POSTGRES_PORT (defaults 4566 and 5432); the functions run
inside the LocalStack container and reach Postgres there too. Names, credentials and settings must
agree with docker-compose.yml; tests/unit/test_compose_parity.py checks that they do.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from tidewater.stack import emulators
from tidewater.stack.env import StackEnv, forget_instance, repo_root
from tidewater.stack.procs import port_in_use, wait_for

DEFAULT_EMULATOR_PORT = 4566
DEFAULT_POSTGRES_PORT = 5432
EMULATOR_PORT_SETTING = "TIDEWATER_EMULATOR_PORT"
POSTGRES_PORT_SETTING = "TIDEWATER_POSTGRES_PORT"
POSTGRES_SERVICE = "postgres"
LOCALSTACK_SERVICE = "localstack"
POSTGRES_USER = "tidewater"
# A local throwaway database, never used outside compose.
POSTGRES_PASSWORD = "tidewater"  # nosec B105
POSTGRES_DB = "tidewater"
# The images (official by default; docker/images.sh builds stand-ins where they cannot be pulled).
LOCALSTACK_IMAGE_SETTING = "TIDEWATER_LOCALSTACK_IMAGE"
POSTGRES_IMAGE_SETTING = "TIDEWATER_POSTGRES_IMAGE"
# Where the LocalStack container mounts the work tree's functions/: the same path as here, for `tidewater dev`.
FUNCTIONS_DIR_SETTING = "TIDEWATER_FUNCTIONS_DIR"
DEFAULT_LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
DEFAULT_POSTGRES_IMAGE = "postgres:16"
# What docker-compose.yml tags the LocalStack image built on top of TIDEWATER_LOCALSTACK_IMAGE.
TIDEWATER_LOCALSTACK_IMAGE = "tidewater-localstack:4.14.0"
# With host networking a container's port is a host port: stay below the kernel's ephemeral range
# (32768-60999 on Linux), where outgoing connections may already hold it.
HIGHEST_PORT = 32767


def docker_available() -> bool:
    """True when a Docker daemon answers (not merely when the client is installed)."""
    if shutil.which("docker") is None:
        return False
    try:
        # The docker CLI comes from PATH on purpose (shutil.which above).
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0  # nosec B607
    except subprocess.TimeoutExpired:
        return False


def setting_port(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or not 1024 <= int(raw) <= HIGHEST_PORT:
        raise SystemExit(f"{name}={raw} is not a port between 1024 and {HIGHEST_PORT}; pick another one.")
    return int(raw)


def docker_architecture() -> str:
    """The Lambda architecture of the daemon's containers (x86_64, or arm64 on Apple silicon and Graviton)."""
    result = subprocess.run(["docker", "info", "--format", "{{.Architecture}}"],  # nosec B607
                            capture_output=True, text=True)  # fmt: skip
    return "arm64" if result.stdout.strip() in ("aarch64", "arm64") else "x86_64"


def compose_v2_available() -> bool:
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0  # nosec B607


def free_low_port() -> int:
    """A port free on 127.0.0.1 below the ephemeral range (see HIGHEST_PORT)."""
    for port in random.sample(range(20000, HIGHEST_PORT + 1), 200):  # nosec B311 - not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found between 20000 and {HIGHEST_PORT}")


def postgres_ready(database_url: str) -> bool:
    try:
        psycopg2.connect(database_url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


class ComposeStack:
    def __init__(self, instance_dir: Path, localstack_port: int | None = None, postgres_port: int | None = None):
        self.dir = instance_dir.resolve()
        # One Compose project per instance directory: two checkouts, or your stack and a test stack, never
        # take each other's containers for their own.
        self.project = f"tidewater-{hashlib.sha256(str(self.dir).encode()).hexdigest()[:8]}"
        self.emulator = emulators.get(LOCALSTACK_SERVICE)  # the one docker-compose.yml runs
        self._requested_ports = (localstack_port, postgres_port)

    def _ports(self) -> tuple[int, int]:
        localstack_port, postgres_port = self._requested_ports
        return (localstack_port or setting_port(EMULATOR_PORT_SETTING, DEFAULT_EMULATOR_PORT),
                postgres_port or setting_port(POSTGRES_PORT_SETTING, DEFAULT_POSTGRES_PORT))  # fmt: skip

    def _compose(self, *args: str, capture: bool = False) -> str:
        localstack_port, postgres_port = self._ports()
        env = {**os.environ, EMULATOR_PORT_SETTING: str(localstack_port), POSTGRES_PORT_SETTING: str(postgres_port),
               FUNCTIONS_DIR_SETTING: str(repo_root() / "functions")}  # fmt: skip
        cmd = ["docker", "compose", "--project-name", self.project, "--project-directory", str(repo_root()),
               "--file", str(repo_root() / "docker-compose.yml"), *args]  # fmt: skip
        if not capture:
            _say(" ".join(cmd))
        # The docker CLI comes from PATH on purpose: it is the user's Docker.
        result = subprocess.run(cmd, env=env, text=True, capture_output=capture)
        if result.returncode != 0:
            detail = f":\n{result.stderr.strip()}" if capture and result.stderr else " (its output is above)"
            raise SystemExit(f"`docker compose {args[0]}` failed (exit {result.returncode}){detail}")
        return result.stdout if capture else ""

    def services(self) -> dict[str, dict]:
        """The services of docker-compose.yml with this stack's ports filled in, after building the LocalStack
        image: what the testcontainers fixture starts, so it runs exactly what `make up` runs."""
        self._compose("build", LOCALSTACK_SERVICE)
        return json.loads(self._compose("config", "--format", "json", capture=True))["services"]

    def running_services(self) -> list[str]:
        return self._compose("ps", "--status", "running", "--services", capture=True).split()

    def stack_env(self, lambda_architecture: str = "x86_64") -> StackEnv:
        localstack_port, postgres_port = self._ports()
        return StackEnv(
            backend="compose",
            endpoint_url=f"http://127.0.0.1:{localstack_port}",
            database_url=f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{postgres_port}/{POSTGRES_DB}",
            # Host networking: the functions, inside the LocalStack container, see what this machine sees.
            function_db_host="127.0.0.1",
            function_db_port=postgres_port,
            lambda_architecture=lambda_architecture,
        )

    def up(self) -> StackEnv:
        if not docker_available():
            raise SystemExit("BACKEND=compose needs a running Docker daemon; start Docker, or use BACKEND=host.")
        if not compose_v2_available():
            raise SystemExit("BACKEND=compose needs Docker Compose v2 (`docker compose`); install the compose "
                             "plugin, or use BACKEND=host.")
        started = time.monotonic()
        env = self.stack_env(docker_architecture())
        if not self.running_services():
            self._check_ports_free()
            # A fresh LocalStack has no resources: forget the previous deploy's terraform state.
            forget_instance(self.dir)
        # --build: the LocalStack image carries our executor; an unchanged checkout builds from cache.
        self._compose("up", "--detach", "--wait", "--build")
        self.wait_until_reachable(env)
        env.write(self.dir / "stack.env")
        _say(f"compose stack `{self.project}` up in {time.monotonic() - started:.1f}s: LocalStack "
             f"{env.endpoint_url}, PostgreSQL 127.0.0.1:{env.function_db_port}; `source {self.dir / 'stack.env'}`")
        return env

    def _check_ports_free(self) -> None:
        localstack_port, postgres_port = self._ports()
        settings = {EMULATOR_PORT_SETTING: localstack_port, POSTGRES_PORT_SETTING: postgres_port}
        busy = [(name, port) for name, port in settings.items() if port_in_use(port)]
        if busy:
            lines = [f"port {port} ({name}) is already in use by another program on 127.0.0.1" for name, port in busy]
            example = " ".join(f"{name}=<free port>" for name, _ in busy)
            raise SystemExit("Cannot start the compose stack: " + "; ".join(lines) + ". Stop that program, or pick "
                             f"another port below {HIGHEST_PORT + 1}: {example} make up")

    def wait_until_reachable(self, env: StackEnv) -> None:
        """The containers are healthy inside; a Docker without host networking (Docker Desktop before you
        enable it) still does not show their ports on this machine's 127.0.0.1."""
        deadline = time.monotonic() + 60
        while True:
            if self.emulator.healthy(self.emulator.health(env.endpoint_url) or {}):
                return
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"LocalStack is healthy in its container but does not answer on {env.endpoint_url} here. The "
                    "containers use host networking: on Docker Desktop enable it (Settings > Resources > Network > "
                    "Enable host networking) and run `make up` again; or use BACKEND=host."
                )
            time.sleep(0.5)

    def down(self) -> None:
        self._compose("down", "--volumes", "--remove-orphans")
        forget_instance(self.dir)

    def stop_postgres(self) -> None:
        self._compose("stop", POSTGRES_SERVICE)

    def start_postgres(self) -> None:
        self._compose("start", POSTGRES_SERVICE)
        wait_for(lambda: postgres_ready(self.stack_env().database_url), 60, "PostgreSQL to accept connections")


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
