"""Small process helpers shared by the host backend: ports, pids, waiting."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens there."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def start_ticks(pid: int | None) -> int | None:
    """When a process started (clock ticks since boot, /proc/<pid>/stat): with the pid, it names one
    process for good - a pid reused after a reboot or a crash has another start time."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().split(") ", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def runs_in(pid: int | None, folder: Path) -> bool:
    """Whether a live process has its working directory in `folder`: how we know a pid from a pid file is
    still the process we started there (an emulator in its home, PostgreSQL in its data directory)."""
    if not pid_alive(pid):
        return False
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    folder = folder.resolve()
    return cwd == folder or folder in cwd.parents


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_process_group(pid: int, first_signal: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a process we started in its own session, and everything it spawned."""
    if not pid_alive(pid):
        return
    try:
        os.killpg(pid, first_signal)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, first_signal)
    try:
        wait_for(lambda: not pid_alive(pid), timeout, f"pid {pid} to exit")
    except TimeoutError:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(lambda: not pid_alive(pid), 10, f"pid {pid} to die")
