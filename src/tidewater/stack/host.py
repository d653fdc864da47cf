"""The host backend: LocalStack as a host process, Lambda as host subprocesses, Postgres from initdb.

Layout of an instance directory (``.tidewater/`` for `make up`, another one for the test stack):

    stack.env          what clients source (see env.py)
    host.json          ports, password and pids of what this instance started
    localstack/        LocalStack's FILESYSTEM_ROOT, cache, tmp, lambda work dir, log
    postgres/          the initdb cluster and its log (as root: /tmp/tidewater-postgres-<hash>/)

The venvs are shared by all instances of a checkout, under ``.tidewater/venvs/``.
The stack is ephemeral like LocalStack community itself: `down` stops everything and deletes the
instance's data, so S3 and the database never disagree about what was loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from tidewater.stack.env import StackEnv, forget_instance, repo_root
from tidewater.stack.postgres import PostgresCluster, new_password
from tidewater.stack.procs import free_port, pid_alive, port_in_use, stop_process_group, wait_for
from tidewater.stack.venvs import ensure_localstack_venv, ensure_runtime_venvs

SERVICES = "s3,sqs,lambda,iam,sts,kms,logs,secretsmanager,events,sns,cloudwatch"
DEFAULT_LOCALSTACK_PORT = 4566


@dataclass
class HostState:
    localstack_port: int
    postgres_port: int
    postgres_password: str
    localstack_pid: int | None = None


class HostStack:
    def __init__(self, instance_dir: Path, localstack_port: int | None = None, postgres_port: int | None = None):
        self.dir = instance_dir.resolve()
        self.venvs_dir = repo_root() / ".tidewater" / "venvs"
        self._requested_ports = (localstack_port, postgres_port)

    # ---- state -------------------------------------------------------------------------------
    @property
    def _state_file(self) -> Path:
        return self.dir / "host.json"

    def _load_state(self) -> HostState | None:
        try:
            return HostState(**json.loads(self._state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save_state(self, state: HostState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps(asdict(state), indent=2))
        self._state_file.chmod(0o600)

    @property
    def postgres_dir(self) -> Path:
        """Inside the instance, except as root: the cluster then runs as `postgres`, which may not be
        able to enter the checkout (a clone under a 0700 mktemp dir), so it lives under /tmp."""
        if os.geteuid() != 0:
            return self.dir / "postgres"
        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"tidewater-postgres-{digest}"

    def _postgres(self, state: HostState) -> PostgresCluster:
        return PostgresCluster(self.postgres_dir / "data", state.postgres_port, state.postgres_password)

    def stack_env(self, state: HostState) -> StackEnv:
        return StackEnv(
            backend="host",
            endpoint_url=f"http://127.0.0.1:{state.localstack_port}",
            database_url=self._postgres(state).url,
            function_db_host="127.0.0.1",
            function_db_port=state.postgres_port,
        )

    # ---- lifecycle ---------------------------------------------------------------------------
    def started_pids(self) -> list[int]:
        """The LocalStack and PostgreSQL server pids this instance started (and `down` stops)."""
        state = self._load_state()
        if state is None:
            return []
        return [pid for pid in (state.localstack_pid, self._postgres(state).pid()) if pid]

    def running(self) -> bool:
        return self._running(self._load_state())

    def _running(self, state: HostState | None) -> bool:
        return bool(state and pid_alive(state.localstack_pid) and self._postgres(state).running()
                    and _healthy(state.localstack_port))  # fmt: skip

    def up(self) -> StackEnv:
        started = time.monotonic()
        state = self._load_state()
        if self._running(state):
            env = self.stack_env(state)
            env.write(self.dir / "stack.env")
            _say(f"host stack already running (LocalStack pid {state.localstack_pid}); nothing to do")
            return env
        if state is None:
            ls_port, pg_port = self._requested_ports
            state = HostState(
                localstack_port=ls_port or int(os.environ.get("TIDEWATER_LOCALSTACK_PORT", DEFAULT_LOCALSTACK_PORT)),
                postgres_port=pg_port or int(os.environ.get("TIDEWATER_POSTGRES_PORT", 0)) or free_port(),
                postgres_password=new_password(),
            )
            self._save_state(state)

        localstack_python = ensure_localstack_venv(self.venvs_dir)
        runtimes_dir = ensure_runtime_venvs(self.venvs_dir / "runtimes")

        postgres = self._postgres(state)
        postgres.init()
        postgres.start()
        _say(f"PostgreSQL ready on 127.0.0.1:{state.postgres_port} (data {postgres.data_dir})")

        if not pid_alive(state.localstack_pid):
            # A fresh LocalStack has no resources: forget the previous deploy's terraform state.
            shutil.rmtree(self.dir / "terraform", ignore_errors=True)
            state.localstack_pid = self._start_localstack(localstack_python, runtimes_dir, state.localstack_port)
            self._save_state(state)
        wait_for(lambda: _healthy(state.localstack_port), 120, f"LocalStack on port {state.localstack_port}",
                 interval=0.5)  # fmt: skip
        _say(f"LocalStack 4.14.0 ready on http://127.0.0.1:{state.localstack_port} (log {self._ls_log})")

        env = self.stack_env(state)
        env.write(self.dir / "stack.env")
        _say(f"stack up in {time.monotonic() - started:.1f}s; `source {self.dir / 'stack.env'}` to use it")
        return env

    def down(self) -> None:
        state = self._load_state()
        if state is None:
            _say("no host stack to stop")
            return
        if state.localstack_pid:
            stop_process_group(state.localstack_pid, timeout=30)
            _say(f"stopped LocalStack (pid {state.localstack_pid})")
        postgres = self._postgres(state)
        if postgres.running():
            pid = postgres.pid()
            postgres.stop()
            _say(f"stopped PostgreSQL (pid {pid})")
        for pid in leftover_pids(self.dir):
            # Lambda environments exit on their own when LocalStack dies; this is the safety net.
            stop_process_group(pid, timeout=5)
            _say(f"stopped leftover process {pid}")
        forget_instance(self.dir, self.dir / "localstack", self.postgres_dir)

    # ---- postgres control for failure tests -----------------------------------------------------
    def stop_postgres(self) -> None:
        state = self._load_state()
        if state:
            self._postgres(state).stop()

    def start_postgres(self) -> None:
        state = self._load_state()
        if state:
            self._postgres(state).start()

    # ---- LocalStack ------------------------------------------------------------------------------
    @property
    def _ls_log(self) -> Path:
        return self.dir / "localstack" / "localstack.log"

    def _start_localstack(self, python: Path, runtimes_dir: Path, port: int) -> int:
        if port_in_use(port):
            raise SystemExit(
                f"Port {port} is already in use by another program. Stop it, or pick another port with "
                f"TIDEWATER_LOCALSTACK_PORT=<port> make up."
            )
        base = self.dir / "localstack"
        for sub in ("fs", "cache", "lambda"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        env = _clean_environ(python)
        env.update({
            # This machine looks like a container to LocalStack; without this it ignores FILESYSTEM_ROOT
            # and wipes a shared temp directory on start/stop.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(base / "fs"),
            "XDG_CACHE_HOME": str(base / "cache"),
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            # URLs LocalStack hands out (queue URLs...) must be reachable: *.localhost.localstack.cloud
            # does not resolve everywhere.
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SQS_ENDPOINT_STRATEGY": "off",  # http://127.0.0.1:<port>/<account>/<queue>: the aws provider parses it
            "SERVICES": SERVICES,
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LAMBDA_RUNTIME_EXECUTOR": "process",
            "TIDEWATER_LAMBDA_RUNTIMES_DIR": str(runtimes_dir),
            "TIDEWATER_LAMBDA_WORK_DIR": str(base / "lambda"),
            # Fast feedback: poll SQS often, retry quickly.
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "0.2",
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.01",
            "LAMBDA_RETRY_BASE_DELAY": "1",
        })  # fmt: skip
        log = open(self._ls_log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                [str(python), "-m", "localstack.runtime.main"],
                cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: `down` stops it and all its children
            )  # fmt: skip
        finally:
            log.close()
        return proc.pid


def _clean_environ(python: Path) -> dict[str, str]:
    """Our environment minus anything that would leak our venv or AWS settings into LocalStack."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV", "LOCALSTACK_", "TF_"))
    }  # fmt: skip
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


def health(endpoint_url: str, timeout: float = 2) -> dict | None:
    """LocalStack's /_localstack/health document (version, services), or None when it does not answer."""
    try:
        # A fixed http:// URL of our own LocalStack (no user-supplied scheme).
        with urllib.request.urlopen(f"{endpoint_url}/_localstack/health", timeout=timeout) as resp:  # nosec B310
            return json.load(resp)
    except (OSError, ValueError):
        return None


def _healthy(port: int) -> bool:
    services = (health(f"http://127.0.0.1:{port}") or {}).get("services", {})
    wanted = SERVICES.split(",")
    return all(services.get(name) in ("available", "running") for name in wanted)


def leftover_pids(instance_dir: Path) -> list[int]:
    """Processes still working inside this instance's directories (cwd or command line)."""
    found = []
    marker = str(instance_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in cmdline or cwd.startswith(marker):
            found.append(int(entry.name))
    return found


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
