"""The host backend: the emulator (LocalStack or MiniStack) as a host process, Lambda functions as
host subprocesses, Postgres from initdb.

Which emulator runs is the other axis (``tidewater.stack.emulators``); this file only asks it what
to run. Layout of an instance directory (``.tidewater/`` for `make up`, another one for the test
stack):

    stack.env          what clients source (see env.py)
    host.json          emulator, ports, password and pids of what this instance started
    <emulator>/        the emulator's home: its data, caches, log and temp folder (TMPDIR)
    postgres/          the initdb cluster and its log (as root: /tmp/tidewater-postgres-<hash>/)

The venvs are shared by all instances of a checkout, under ``.tidewater/venvs/``.
The stack is ephemeral like the emulators themselves: `down` stops everything and deletes the
instance's data (nothing of it stays in the system temp folder), so S3 and the database never
disagree about what was loaded.
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
from dataclasses import asdict, dataclass
from pathlib import Path

from tidewater.stack import emulators
from tidewater.stack.env import StackEnv, forget_instance, repo_root
from tidewater.stack.postgres import PostgresCluster, new_password
from tidewater.stack.procs import free_port, pid_alive, port_in_use, stop_process_group, wait_for
from tidewater.stack.venvs import ensure_runtime_venvs

DEFAULT_EMULATOR_PORT = 4566


@dataclass
class HostState:
    emulator: str
    emulator_port: int
    postgres_port: int
    postgres_password: str
    emulator_pid: int | None = None


class HostStack:
    def __init__(self, instance_dir: Path, emulator: str | None = None, emulator_port: int | None = None,
                 postgres_port: int | None = None):  # fmt: skip
        """`emulator`: None = the one this instance already runs, else the default (LocalStack)."""
        self.dir = instance_dir.resolve()
        self.venvs_dir = repo_root() / ".tidewater" / "venvs"
        self._requested = emulator
        self._requested_ports = (emulator_port, postgres_port)

    # ---- state -------------------------------------------------------------------------------
    @property
    def _state_file(self) -> Path:
        return self.dir / "host.json"

    def _load_state(self) -> HostState | None:
        try:
            recorded = json.loads(self._state_file.read_text())
            if "localstack_port" in recorded:  # written before there were two emulators
                recorded = {"emulator": "localstack", "emulator_port": recorded.pop("localstack_port"),
                            "emulator_pid": recorded.pop("localstack_pid", None), **recorded}  # fmt: skip
            return HostState(**recorded)
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
            emulator=state.emulator,
            endpoint_url=f"http://127.0.0.1:{state.emulator_port}",
            database_url=self._postgres(state).url,
            function_db_host="127.0.0.1",
            function_db_port=state.postgres_port,
        )

    # ---- lifecycle ---------------------------------------------------------------------------
    def started_pids(self) -> list[int]:
        """The emulator and PostgreSQL server pids this instance started (and `down` stops)."""
        state = self._load_state()
        if state is None:
            return []
        return [pid for pid in (state.emulator_pid, self._postgres(state).pid()) if pid]

    def running(self) -> bool:
        return self._running(self._load_state())

    def _running(self, state: HostState | None) -> bool:
        if not state or not pid_alive(state.emulator_pid) or not self._postgres(state).running():
            return False
        emulator = emulators.get(state.emulator)
        return emulator.healthy(emulator.health(f"http://127.0.0.1:{state.emulator_port}") or {})

    def _check_emulator(self, state: HostState) -> None:
        if self._requested and self._requested != state.emulator:
            raise SystemExit(
                f"This stack ({self.dir}) was started with {state.emulator}, not {self._requested}. "
                f"Run `make down` first to switch, or keep EMULATOR={state.emulator}."
            )

    def up(self) -> StackEnv:
        started = time.monotonic()
        state = self._load_state()
        if state is not None:
            self._check_emulator(state)
        if self._running(state):
            env = self.stack_env(state)
            env.write(self.dir / "stack.env")
            _say(f"host stack already running ({state.emulator} pid {state.emulator_pid}); nothing to do")
            return env
        if state is None:
            port, pg_port = self._requested_ports
            state = HostState(
                emulator=self._requested or emulators.DEFAULT,
                emulator_port=port or int(os.environ.get("TIDEWATER_EMULATOR_PORT", DEFAULT_EMULATOR_PORT)),
                postgres_port=pg_port or int(os.environ.get("TIDEWATER_POSTGRES_PORT", 0)) or free_port(),
                postgres_password=new_password(),
            )
            self._save_state(state)
        emulator = emulators.get(state.emulator)

        python = emulator.install(self.venvs_dir)
        runtimes_dir = ensure_runtime_venvs(self.venvs_dir / "runtimes")

        postgres = self._postgres(state)
        postgres.init()
        postgres.start()
        _say(f"PostgreSQL ready on 127.0.0.1:{state.postgres_port} (data {postgres.data_dir})")

        endpoint = f"http://127.0.0.1:{state.emulator_port}"
        if not pid_alive(state.emulator_pid):
            # A fresh emulator has no resources: forget the previous deploy's terraform state.
            shutil.rmtree(self.dir / "terraform", ignore_errors=True)
            state.emulator_pid = self._start_emulator(emulator, python, runtimes_dir, state.emulator_port)
            self._save_state(state)
        wait_for(lambda: emulator.healthy(emulator.health(endpoint) or {}), 120,
                 f"{emulator.label} on port {state.emulator_port}", interval=0.5)  # fmt: skip
        _say(f"{emulator.label} ready on {endpoint} (log {emulator.log_file(emulator.home(self.dir))})")

        env = self.stack_env(state)
        env.write(self.dir / "stack.env")
        _say(f"stack up in {time.monotonic() - started:.1f}s; `source {self.dir / 'stack.env'}` to use it")
        return env

    def down(self) -> None:
        state = self._load_state()
        if state is None:
            _say("no host stack to stop")
            return
        emulator = emulators.get(state.emulator)
        if state.emulator_pid:
            stop_process_group(state.emulator_pid, timeout=30)
            _say(f"stopped {emulator.label} (pid {state.emulator_pid})")
        postgres = self._postgres(state)
        if postgres.running():
            pid = postgres.pid()
            postgres.stop()
            _say(f"stopped PostgreSQL (pid {pid})")
        for pid in leftover_pids(self.dir):
            # Lambda environments exit on their own when the emulator dies; this is the safety net.
            stop_process_group(pid, timeout=5)
            _say(f"stopped leftover process {pid}")
        forget_instance(self.dir, emulator.home(self.dir), self.postgres_dir)

    # ---- postgres control for failure tests -----------------------------------------------------
    def stop_postgres(self) -> None:
        state = self._load_state()
        if state:
            self._postgres(state).stop()

    def start_postgres(self) -> None:
        state = self._load_state()
        if state:
            self._postgres(state).start()

    # ---- the emulator ----------------------------------------------------------------------------
    def _start_emulator(self, emulator: emulators.Emulator, python: Path, runtimes_dir: Path, port: int) -> int:
        if port_in_use(port):
            raise SystemExit(
                f"Port {port} is already in use by another program. Stop it, or pick another port with "
                f"TIDEWATER_EMULATOR_PORT=<port> make up."
            )
        home = emulator.home(self.dir)
        for folder in (home, *emulator.folders(home)):
            folder.mkdir(parents=True, exist_ok=True)
        env = _clean_environ(python)
        env.update(emulator.environ(port, home, runtimes_dir))
        log = open(emulator.log_file(home), "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                emulator.command(python),
                cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: `down` stops it and all its children
            )  # fmt: skip
        finally:
            log.close()
        return proc.pid


def _clean_environ(python: Path) -> dict[str, str]:
    """Our environment minus anything that would leak our venv or AWS settings into the emulator."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV", "LOCALSTACK_", "TF_"))
    }  # fmt: skip
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


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
