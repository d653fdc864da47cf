"""A private PostgreSQL cluster from ``initdb``, on a free port, for the host backend."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from tidewater.stack.procs import runs_in, stop_process_group, wait_for

DB_NAME = "tidewater"
DB_USER = "tidewater"
# TIDEWATER_POSTGRES_DURABLE=1 at `make up`: PostgreSQL's own crash-safe defaults instead of FAST_SETTINGS.
DURABLE_VAR = "TIDEWATER_POSTGRES_DURABLE"
# A throwaway dev database: PostgreSQL never waits for the disk (docs/chaos.md measures what that
# saves). A commit is still written to the OS before it is acknowledged, so it survives a crash of
# PostgreSQL or of any function; a crash of the machine (power loss, kernel panic) can lose it or
# corrupt the cluster. synchronous_commit stays on: with it off, PostgreSQL acknowledges a COMMIT
# before writing it at all, and a crash of PostgreSQL alone loses it - a file then has no ledger row
# although its message was deleted (found by `make chaos`, postgres_crash).
FAST_SETTINGS = ("fsync=off", "full_page_writes=off")


def pg_bin(name: str) -> str:
    """initdb/pg_ctl are often not on PATH (Debian keeps them in /usr/lib/postgresql/<v>/bin)."""
    if found := shutil.which(name):
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return candidates[-1]
    raise SystemExit(
        f"PostgreSQL server binary `{name}` not found. Install the PostgreSQL server "
        "(Debian/Ubuntu: apt-get install postgresql) or use the compose backend."
    )


def _as_cluster_owner() -> list[str]:
    """initdb and postgres refuse to run as root; on a root CI machine run them as `postgres`."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresCluster:
    data_dir: Path
    port: int
    password: str
    durable: bool = False  # PostgreSQL's defaults instead of FAST_SETTINGS (fsync, full_page_writes on)

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def pid(self) -> int | None:
        """The server's pid - only if that process really is this cluster's server (it works in the data
        directory): a stale postmaster.pid whose pid now belongs to another process names nothing."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if runs_in(pid, self.data_dir) else None

    def running(self) -> bool:
        return self.pid() is not None

    def init(self) -> None:
        """Create the cluster once; password auth over TCP so the functions use a real secret."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir.parent / "pgpass.init"
        pwfile.write_text(self.password + "\n")
        owner = _as_cluster_owner()
        if owner:
            for path in (self.data_dir.parent, self.data_dir, pwfile):
                shutil.chown(path, "postgres", "postgres")
        try:
            subprocess.run(
                [*owner, pg_bin("initdb"), "-D", str(self.data_dir), "-U", DB_USER, "--pwfile", str(pwfile),
                 "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                check=True, capture_output=True, text=True, cwd="/",
            )  # fmt: skip
        except subprocess.CalledProcessError as err:
            raise SystemExit(f"initdb failed:\n{err.stderr}") from err
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        if self.running():
            return
        owner = _as_cluster_owner()
        self.log_file.touch()
        if owner:
            shutil.chown(self.log_file, "postgres", "postgres")
        result = subprocess.run(
            [*owner, pg_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-o", self.options(),
             "-w", "-t", "60", "start"],
            capture_output=True, text=True, cwd="/",
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"PostgreSQL did not start:\n{result.stderr}\n{self._log_tail()}")
        wait_for(self._accepts_connections, 30, f"PostgreSQL on port {self.port}")
        self._create_database()

    def options(self) -> str:
        """The server's command-line options (`pg_ctl -o`)."""
        settings = ["listen_addresses=127.0.0.1", "max_connections=200", *(() if self.durable else FAST_SETTINGS)]
        return f"-p {self.port} -k {self.data_dir} " + " ".join(f"-c {setting}" for setting in settings)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            # SIGINT = PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            stop_process_group(pid, first_signal=signal.SIGINT, timeout=30)

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: every server process quits at once, without a checkpoint or a
        rollback - what a crash does. The next start recovers from the write-ahead log."""
        if self.pid() is None:
            return
        subprocess.run(
            [*_as_cluster_owner(), pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
            capture_output=True, text=True, cwd="/", check=True,
        )  # fmt: skip

    def setting(self, name: str) -> str:
        """A server setting as the running server has it (`SHOW`)."""
        conn = self._connect(DB_NAME)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting(%s)", (name,))
                return cur.fetchone()[0]
        finally:
            conn.close()

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-20:])
        except OSError:
            return ""

    def _connect(self, dbname: str):
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=DB_USER, password=self.password, dbname=dbname, connect_timeout=3
        )

    def _accepts_connections(self) -> bool:
        try:
            self._connect("postgres").close()
            return True
        except psycopg2.OperationalError:
            return False

    def _create_database(self) -> None:
        conn = self._connect("postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            conn.close()


def new_password() -> str:
    return secrets.token_urlsafe(18)


def durable_requested() -> bool:
    """Whether TIDEWATER_POSTGRES_DURABLE asks for PostgreSQL's crash-safe defaults (1/true/yes)."""
    return os.environ.get(DURABLE_VAR, "").strip().lower() in ("1", "true", "yes", "on")
