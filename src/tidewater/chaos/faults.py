"""How each fault is caused: the mechanics only (trials.py says when, and with which files).

Every process signalled is found through /proc and must work in the chaos instance's folders (see
stack.py): a function's execution environment in its code folder, the emulator in its home.
PostgreSQL is stopped with its own `pg_ctl`, as the cluster's owner.
"""

from __future__ import annotations

import errno
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg2

from tidewater.chaos.flow import Harness
from tidewater.chaos.stack import wait_until_gone
from tidewater.stack.procs import start_ticks

# A kill lands this long (s) after the environment's process started, uniformly: its init (~0.6 s:
# pandas, pyarrow, Powertools), then the files of its batch (download, parse, COPY, outputs, commit).
KILL_AGE = (0.05, 3.0)
# Most of an environment's life is init and S3 round trips, so random moments alone rarely meet a
# COPY or a COMMIT: two kills in five wait for a loading transaction (after its ledger row was
# written), one in five for a COPY, and land within 50 ms of it.
TARGETS = {"random": 2, "transaction": 2, "copy": 1}
TARGET_WAIT_S = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The processor's database sessions: their client port (to find the process), whether a COPY runs,
# whether a loading transaction has written (backend_xid: its ledger row is claimed).
SESSIONS_SQL = """
    SELECT client_port, left(query, 4) = 'COPY' AND state = 'active',
           backend_xid IS NOT NULL AND state IN ('active', 'idle in transaction')
    FROM pg_stat_activity WHERE application_name = 'tidewater-processor'
"""


def process_age(pid: int) -> float | None:
    """Seconds since the process started (None when it is gone)."""
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / CLOCK_TICKS


def sessions(h: Harness) -> list[tuple[int, bool, bool]]:
    """(client port, copying, in a loading transaction) of each processor session."""
    try:
        return [tuple(row) for row in h.stack.query(SESSIONS_SQL)]
    except psycopg2.Error:
        h.stack.reset_connection()
        return []


def moment(h: Harness) -> str:
    """Where the functions were when a kill landed: in a COPY, in a loading transaction (parse,
    outputs, summary, commit), or outside one (init, download, the ledger check, idle)."""
    found = sessions(h)
    return ("copy" if any(s[1] for s in found) else "transaction" if any(s[2] for s in found)
            else "outside_transaction")  # fmt: skip


def socket_owner(port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the TCP socket with local port `port` (/proc/net/tcp, then its fds)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            if any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    return None


def target_pid(h: Harness, target: str, pids: list[int]) -> int | None:
    """The environment in the moment asked for (a COPY, a loading transaction), waited for up to
    TARGET_WAIT_S; else any environment at a random moment of its life."""
    if target != "random":
        deadline = time.monotonic() + TARGET_WAIT_S
        while time.monotonic() < deadline:
            for port, copying, in_transaction in sessions(h):
                if (copying if target == "copy" else in_transaction) and port:
                    pid = socket_owner(port, h.stack.function_pids(h.processor()))
                    if pid is not None:
                        time.sleep(h.rng.uniform(0, 0.05))
                        return pid
            time.sleep(0.005)
    pid = h.rng.choice(pids)
    wanted_age = h.rng.uniform(*KILL_AGE)
    age = process_age(pid)
    while age is not None and age < wanted_age:
        time.sleep(min(0.05, wanted_age - age))
        age = process_age(pid)
    return pid if age is not None else None


def kill_functions(h: Harness, kills: int, refill: Callable[[], None], timeout: float) -> Counter:
    """SIGKILL the processor's execution environments, one at a time, each in a moment of TARGETS,
    until `kills` landed (or `timeout`). When the queue runs dry, `refill` uploads more files.
    Returns the kills by the moment they met."""
    function = h.processor()
    code_dir = h.stack.code_dir(function)
    landed: Counter = Counter()
    deadline = time.monotonic() + timeout
    while sum(landed.values()) < kills and time.monotonic() < deadline:
        pids = h.stack.function_pids(function)
        if not pids:
            depths = h.stack.queue_depths()
            if depths["visible"] == 0 and depths["in_flight"] == 0:
                refill()
            time.sleep(0.1)
            continue
        target = h.rng.choices(list(TARGETS), weights=list(TARGETS.values()))[0]
        pid = target_pid(h, target, pids)
        if pid is None:
            continue
        when = moment(h)
        if h.stack.kill(pid, code_dir):
            landed[when] += 1
    return landed


def wait_for_copy(h: Harness, timeout: float) -> bool:
    """Poll until a function's COPY is running (pg_stat_progress_copy), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if h.stack.query("SELECT count(*) FROM pg_stat_progress_copy")[0][0]:
                return True
        except psycopg2.Error:
            h.stack.reset_connection()
        time.sleep(0.005)
    return False


def crash_postgres(h: Harness) -> None:
    """`pg_ctl stop -m immediate`: the server and every session die at once, like a crash."""
    h.stack.reset_connection()
    h.stack.postgres.crash()


def start_postgres(h: Harness) -> None:
    """Start it again; it recovers from its write-ahead log before it accepts connections."""
    h.stack.postgres.start()
    h.stack.reset_connection()


def fill_tmp(h: Harness) -> Path:
    """Take every free byte of the functions' tmpfs: their next write fails with ENOSPC. Greedily, a
    MiB and then a page at a time: a function writes there at the same moment."""
    ballast = h.stack.tmpfs / "chaos-ballast"
    fd = os.open(ballast, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        size = 0
        for step in (1 << 20, os.sysconf("SC_PAGE_SIZE")):
            while True:
                try:
                    os.posix_fallocate(fd, size, step)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                size += step
    finally:
        os.close(fd)
    return ballast


def kill_emulator(h: Harness) -> list[int]:
    """SIGKILL the emulator (an OOM kill, a crash); the pids of this instance still alive 15 s later
    (its functions' environments must end themselves when it dies: docs/host-backend.md)."""
    pid = h.stack.emulator_pid()
    h.stack.kill(pid, h.stack.emulator_home)
    return wait_until_gone(h.stack.instance_pids(), 15)
