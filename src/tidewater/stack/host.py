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

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg2

from tidewater.stack import emulators
from tidewater.stack.env import StackEnv, forget_instance, repo_root
from tidewater.stack.postgres import DURABLE_VAR, PostgresCluster, durable_requested, new_password
from tidewater.stack.procs import free_port, port_in_use, runs_in, start_ticks, stop_process_group, wait_for
from tidewater.stack.venvs import ensure_runtime_venvs

DEFAULT_EMULATOR_PORT = 4566
LOCK_WAIT_SECONDS = 600  # an `up` installs the emulator the first time (~50 s); more means it hangs


@dataclass
class HostState:
    emulator: str
    emulator_port: int
    postgres_port: int
    postgres_password: str
    emulator_pid: int | None = None
    emulator_started: int | None = None  # the process's start time (procs.start_ticks): pid + this = it
    # TIDEWATER_POSTGRES_DURABLE at the `up` that created the instance; kept until `down`.
    postgres_durable: bool = False


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
        return PostgresCluster(self.postgres_dir / "data", state.postgres_port, state.postgres_password,
                               durable=state.postgres_durable)  # fmt: skip

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
        return [pid for pid in (self._emulator_pid(state), self._postgres(state).pid()) if pid]

    def _emulator_pid(self, state: HostState) -> int | None:
        """The recorded emulator pid, if that process still is the emulator this instance started: the
        same start time, working in its home. A pid reused by another program is never signalled."""
        pid = state.emulator_pid
        if not pid or (state.emulator_started is not None and start_ticks(pid) != state.emulator_started):
            return None
        return pid if runs_in(pid, emulators.get(state.emulator).home(self.dir)) else None

    def running(self) -> bool:
        return self._running(self._load_state())

    def _running(self, state: HostState | None) -> bool:
        if not state or not self._emulator_pid(state) or not self._postgres(state).running():
            return False
        emulator = emulators.get(state.emulator)
        return emulator.healthy(emulator.health(f"http://127.0.0.1:{state.emulator_port}") or {})

    def _check_emulator(self, state: HostState) -> None:
        if self._requested and self._requested != state.emulator:
            raise SystemExit(
                f"This stack ({self.dir}) was started with {state.emulator}, not {self._requested}. "
                f"Run `make down` first to switch, or keep EMULATOR={state.emulator}."
            )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One `up` or `down` of this instance at a time (`make up` while `make test` starts its stack in
        the same checkout): the second waits for the first, and says so."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "stack.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _say(f"another `tidewater up` or `down` is working on this stack ({self.dir}); waiting for it")
                wait_for(lambda: _try_lock(handle), LOCK_WAIT_SECONDS, "the other `up`/`down` of this stack")
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def up(self) -> StackEnv:
        with self._lock():
            return self._up()

    def _up(self) -> StackEnv:
        started = time.monotonic()
        state = self._load_state()
        if state is not None:
            self._check_emulator(state)
        if self._running(state):
            env = self.stack_env(state)
            env.write(self.dir / "stack.env")
            _say(f"host stack already running ({state.emulator} pid {state.emulator_pid}); nothing to do")
            if durable_requested() != state.postgres_durable:
                _say(f"note: {DURABLE_VAR} is kept from the `up` that created this stack "
                     f"({_durability(state.postgres_durable)}); `make down` first to change it")  # fmt: skip
            return env
        if state is not None and self._emulator_pid(state) is None:
            self._start_over(state)
            state = None
        created = state is None
        if state is None:
            state = self._new_state()
        try:
            env = self._start(state)
        except BaseException:
            if created:  # a failed `up` leaves nothing started and nothing recorded
                self._stop_everything(state, quiet=True)
                forget_instance(self.dir, emulators.get(state.emulator).home(self.dir), self.postgres_dir)
            raise
        _say(f"stack up in {time.monotonic() - started:.1f}s; `source {self.dir / 'stack.env'}` to use it")
        return env

    def _new_state(self) -> HostState:
        """Ports from the arguments, else the settings; refused before anything starts when in use."""
        port, pg_port = self._requested_ports
        state = HostState(
            emulator=self._requested or emulators.DEFAULT,
            emulator_port=port or int(os.environ.get("TIDEWATER_EMULATOR_PORT", DEFAULT_EMULATOR_PORT)),
            postgres_port=pg_port or int(os.environ.get("TIDEWATER_POSTGRES_PORT", 0)) or free_port(),
            postgres_password=new_password(),
            postgres_durable=durable_requested(),
        )
        busy = [(setting, value) for setting, value in (("TIDEWATER_EMULATOR_PORT", state.emulator_port),
                                                        ("TIDEWATER_POSTGRES_PORT", state.postgres_port))
                if port_in_use(value)]  # fmt: skip
        if busy:
            raise SystemExit(
                "Cannot start the stack: "
                + "; ".join(f"port {value} ({setting}) is already in use by another program" for setting, value in busy)
                + ". Stop that program, or pick another port: "
                + " ".join(f"{setting}=<free port>" for setting, _ in busy) + " make up"
            )
        return state

    def _start(self, state: HostState) -> StackEnv:
        self._save_state(state)
        emulator = emulators.get(state.emulator)
        python = emulator.install(self.venvs_dir)
        runtimes_dir = ensure_runtime_venvs(self.venvs_dir / "runtimes")

        postgres = self._postgres(state)
        postgres.init()
        postgres.start()
        _say(f"PostgreSQL ready on 127.0.0.1:{state.postgres_port} (data {postgres.data_dir}; "
             f"{_durability(state.postgres_durable)})")

        endpoint = f"http://127.0.0.1:{state.emulator_port}"
        if self._emulator_pid(state) is None:
            # A fresh emulator has no resources: forget the previous deploy's terraform state.
            shutil.rmtree(self.dir / "terraform", ignore_errors=True)
            state.emulator_pid = self._start_emulator(emulator, python, runtimes_dir, state.emulator_port)
            state.emulator_started = start_ticks(state.emulator_pid)
            self._save_state(state)
        wait_for(lambda: emulator.healthy(emulator.health(endpoint) or {}), 120,
                 f"{emulator.label} on port {state.emulator_port}", interval=0.5)  # fmt: skip
        _say(f"{emulator.label} ready on {endpoint} (log {emulator.log_file(emulator.home(self.dir))})")
        env = self.stack_env(state)
        env.write(self.dir / "stack.env")
        return env

    def _start_over(self, state: HostState) -> None:
        """The emulator died without `down` (killed, or the machine restarted): its buckets, queues and
        functions are gone. Keeping the database, the deploy state and the upload log would make the
        stack disagree with itself (uploads to buckets that no longer exist, files recorded as loaded
        whose outputs are gone), so everything of the old stack goes and the new one starts empty."""
        label = emulators.get(state.emulator).label
        rows = self._ledger_rows(state)
        self._stop_everything(state, quiet=True)
        forget_instance(self.dir, emulators.get(state.emulator).home(self.dir), self.postgres_dir)
        forgotten = f" and its ledger of {rows:,} file(s)" if rows else ""
        _say(f"{label} of this stack had stopped without `make down` (killed, or the machine restarted), so its "
             f"buckets, queues and functions are gone. Starting over with an empty stack: the old database"
             f"{forgotten}, the deploy state and the upload log are deleted too, so S3 and the database agree. "
             "Run `make deploy` next.")  # fmt: skip

    def _ledger_rows(self, state: HostState) -> int:
        postgres = self._postgres(state)
        if not postgres.running():
            return 0
        try:
            with psycopg2.connect(postgres.url, connect_timeout=3) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM ingested_files")
                return cur.fetchone()[0]
        except psycopg2.Error:
            return 0

    def _stop_everything(self, state: HostState, quiet: bool = False) -> None:
        emulator = emulators.get(state.emulator)
        pid = self._emulator_pid(state)
        if pid:
            stop_process_group(pid, timeout=30)
            _say(f"stopped {emulator.label} (pid {pid})")
        elif state.emulator_pid and not quiet:
            _say(f"{emulator.label} (pid {state.emulator_pid}) had already exited")
        postgres = self._postgres(state)
        pg_pid = postgres.pid()
        if pg_pid is not None:
            postgres.stop()
            _say(f"stopped PostgreSQL (pid {pg_pid})")
        for leftover in leftover_pids(self.dir):
            # Lambda environments exit on their own when the emulator dies; this is the safety net.
            stop_process_group(leftover, timeout=5)
            _say(f"stopped leftover process {leftover}")

    def down(self) -> None:
        with self._lock():
            state = self._load_state()
            if state is None:
                _say("no host stack to stop")
                return
            self._stop_everything(state)
            forget_instance(self.dir, emulators.get(state.emulator).home(self.dir), self.postgres_dir)

    # ---- postgres control for failure tests -----------------------------------------------------
    def stop_postgres(self) -> None:
        state = self._load_state()
        if state:
            self._postgres(state).stop()

    def start_postgres(self) -> None:
        state = self._load_state()
        if state:
            self._postgres(state).start()

    def postgres(self) -> PostgresCluster | None:
        """This instance's cluster (to crash and restart it: `make chaos`)."""
        state = self._load_state()
        return self._postgres(state) if state else None

    # ---- the emulator ----------------------------------------------------------------------------
    def _start_emulator(self, emulator: emulators.Emulator, python: Path, runtimes_dir: Path, port: int) -> int:
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


def _try_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _durability(durable: bool) -> str:
    if durable:
        return f"{DURABLE_VAR}=1: fsync and full_page_writes on, crash-safe for the machine too"
    return (f"fsync and full_page_writes off: fast; a commit survives crashes of processes, not of the machine "
            f"({DURABLE_VAR}=1 turns them on)")


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
