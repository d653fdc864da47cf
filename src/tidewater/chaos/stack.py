"""The chaos harness's own stack instance (.tidewater/chaos) and the handles faults need on it: its
processes found through /proc (never anything outside the instance), a tmpfs for the functions'
temporary storage, its PostgreSQL cluster, the S3 error switch.

It is the bench's private-stack machinery (free ports, its own instance folder, commands with logs)
with a different instance name and a few settings of its own in the environment of every command:
TIDEWATER_CHAOS_S3_FAULTS (the start-up hook of s3_faults.py reads it) and
TIDEWATER_POSTGRES_DURABLE.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tidewater.bench.stack import BenchFailure, BenchStack
from tidewater.chaos.s3_faults import CONTROL_VAR
from tidewater.stack.host import HostStack
from tidewater.stack.postgres import DURABLE_VAR, PostgresCluster

CHAOS_VAR_FILE = "bench/chaos.tfvars"
TMPFS_MB = 160  # the functions' /tmp during a run: room for ENOSPC's file (admitted up to half of it)


class ChaosFailure(BenchFailure):
    """The harness itself could not go on (a deploy failed, the stack did not come back)."""


@dataclass
class ChaosStack(BenchStack):
    instance: str = "chaos"
    durable: bool = False

    @property
    def s3_control(self) -> Path:
        """The control file of the S3 error hook (outside what `up`/`down` delete)."""
        return self.state / "s3-faults.json"

    def environ(self) -> dict[str, str]:
        return {**super().environ(), CONTROL_VAR: str(self.s3_control), DURABLE_VAR: "1" if self.durable else "0"}

    # ---- lifecycle --------------------------------------------------------------------------------
    def up(self) -> None:
        """`make up` for this instance (LocalStack on the host backend), then a tmpfs for the functions'
        temporary storage, mounted before any function runs."""
        self.close()
        self.run(["make", "-s", "up", "BACKEND=host", "EMULATOR=localstack"], "make-up")
        self.mount_tmpfs()

    def deploy(self) -> float:
        return self.run(["make", "-s", "deploy", f"DEPLOY_ARGS=--var-file {CHAOS_VAR_FILE}"], "make-deploy")

    def down(self) -> None:
        self.unmount_tmpfs()
        super().down()

    @property
    def host(self) -> HostStack:
        return HostStack(self.state)

    @property
    def postgres(self) -> PostgresCluster:
        cluster = self.host.postgres()
        if cluster is None:
            raise ChaosFailure(f"no host stack recorded in {self.state}")
        return cluster

    def reset_connection(self) -> None:
        """Forget the harness's database connection (PostgreSQL restarted under it)."""
        if self._pipeline is not None:
            db = self._pipeline.__dict__.pop("db", None)
            if db is not None:
                db.close()

    # ---- processes ----------------------------------------------------------------------------------
    @property
    def emulator_home(self) -> Path:
        return self.state / "localstack"

    def code_dir(self, function: str) -> Path:
        """Where the executor runs a function's environments (their working directory): layout.version_dir."""
        return self.emulator_home / "lambda" / "code" / function

    def function_pids(self, function: str) -> list[int]:
        """The execution environments of `function` in this instance: processes working in its code folder."""
        return pids_working_in(self.code_dir(function))

    def instance_pids(self) -> list[int]:
        """Every process working in this instance's emulator home (the emulator and its functions)."""
        return pids_working_in(self.emulator_home)

    def emulator_pid(self) -> int:
        pid = json.loads((self.state / "host.json").read_text())["emulator_pid"]
        if working_in(pid) is None or not is_under(working_in(pid), self.emulator_home):
            raise ChaosFailure(f"the emulator (pid {pid}) of {self.state} is not running")
        return pid

    def kill(self, pid: int, folder: Path) -> bool:
        """SIGKILL `pid` if it still works in `folder`; False when it was gone (or is someone else)."""
        return kill_if_working_in(pid, folder)

    def rss_mb(self, pids: list[int]) -> float:
        return round(sum(rss_kb(pid) for pid in pids) / 1024, 1)

    # ---- the functions' temporary storage -------------------------------------------------------------
    @property
    def tmpfs(self) -> Path:
        """The executor puts each environment's TMPDIR and HOME under this folder (layout.environment_dir)."""
        return self.emulator_home / "lambda" / "environments"

    def mount_tmpfs(self, size_mb: int = TMPFS_MB) -> None:
        """A small tmpfs under the environments (root only), so a test can fill it: ENOSPC."""
        if os.geteuid() != 0:
            return
        self.tmpfs.mkdir(parents=True, exist_ok=True)
        if not os.path.ismount(self.tmpfs):
            subprocess.run([tool("mount"), "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(self.tmpfs)],
                           check=True, capture_output=True)  # fmt: skip

    def unmount_tmpfs(self) -> None:
        """Lazily: it goes when the last process using it lets go (a function being stopped)."""
        if os.path.ismount(self.tmpfs):
            subprocess.run([tool("umount"), "--lazy", str(self.tmpfs)], check=True, capture_output=True)

    @property
    def has_tmpfs(self) -> bool:
        return os.path.ismount(self.tmpfs)

    def workspaces_reading(self) -> list[Path]:
        """Source files being spooled or read by a function right now (pipeline/ingest.py's workspaces)."""
        return list(self.tmpfs.glob("*/tmp/tidewater-*/source"))

    # ---- S3 errors ------------------------------------------------------------------------------------
    def s3_errors(self, rate: float, operations: dict[str, list[str]]) -> None:
        """Turn the S3 error hook on (rate > 0) or off. Written whole, then renamed: the hook never
        reads half a file."""
        if rate <= 0:
            self.s3_control.unlink(missing_ok=True)
            return
        partial = self.s3_control.with_name(self.s3_control.name + ".partial")
        partial.write_text(json.dumps({"rate": rate, "operations": operations}))
        partial.replace(self.s3_control)

    @property
    def s3_error_log(self) -> Path:
        return self.s3_control.with_name(self.s3_control.name + ".log")

    def s3_errors_injected(self) -> int:
        try:
            return len(self.s3_error_log.read_text().splitlines())
        except FileNotFoundError:
            return 0


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ChaosFailure(f"`{name}` is not on the PATH (util-linux): the enospc fault needs it to mount a tmpfs")
    return found


# ---- /proc ---------------------------------------------------------------------------------------------


def working_in(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def is_under(path: Path, folder: Path) -> bool:
    folder = folder.resolve()
    return path == folder or folder in path.parents


def pids_working_in(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cwd = working_in(int(entry.name))
            if cwd is not None and is_under(cwd, folder):
                found.append(int(entry.name))
    return sorted(found)


def kill_if_working_in(pid: int, folder: Path) -> bool:
    """A pidfd pins the process: the check and the signal reach the same one, even if the pid is
    reused in between."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        cwd = working_in(pid)
        if cwd is None or not is_under(cwd, folder):
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not is_zombie(pid)]
    return alive


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
