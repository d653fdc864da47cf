"""One execution environment's operating-system process, and its output."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from tidewater.executor.envvars import ENV_CAPTURE_FD, ENV_LOG_FD, ENV_SPAWNED_AT

LOG = logging.getLogger(__name__)

# get_logs() and the logs of a timed-out or crashed invocation come from this much of the tail.
OUTPUT_TAIL_BYTES = 1024 * 1024


class OutputTail:
    """The last bytes an environment wrote, addressed by absolute offsets, so an invocation can
    ask for "everything since I started" even after the process is gone."""

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES):
        self._limit = limit
        self._lock = threading.Lock()
        self._data = bytearray()
        self._start = 0  # absolute offset of _data[0]

    def append(self, chunk: bytes) -> None:
        with self._lock:
            self._data += chunk
            excess = len(self._data) - self._limit
            if excess > 0:
                del self._data[:excess]
                self._start += excess

    @property
    def end(self) -> int:
        with self._lock:
            return self._start + len(self._data)

    def since(self, offset: int) -> str:
        with self._lock:
            return bytes(self._data[max(offset - self._start, 0) :]).decode("utf-8", errors="replace")

    def text(self) -> str:
        return self.since(0)


def describe_exit(returncode: int) -> str:
    """Exit status in the words AWS uses ("exit status 1", "signal: killed")."""
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


class EnvironmentProcess:
    """A bootstrap.py process in its own session, so that killing its process group also ends
    whatever the handler started.

    Two pipes carry its output. fd 1 and 2 point at the *capture* pipe, which bootstrap.py reads
    and copies through to the *log* pipe; a thread here drains the log pipe into an OutputTail.
    This side keeps the capture pipe's read end as well, but only reads it once the process is
    dead: output bootstrap.py never got to (a crash right after a print, a kill at the timeout,
    an interpreter that failed to start) is recovered from there. A second thread waits for the
    process and reports an exit nobody asked for.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        output: OutputTail,
        on_unexpected_exit: Callable[[int], None],
        name: str,
    ):
        self._output = output
        self._killed = False
        self._exited = threading.Event()
        self._log_closed = threading.Event()
        capture_read, capture_write = os.pipe()
        log_read, log_write = os.pipe()
        try:
            self._popen = subprocess.Popen(
                list(argv),
                env={
                    **env,
                    ENV_SPAWNED_AT: repr(time.time()),
                    ENV_CAPTURE_FD: str(capture_read),
                    ENV_LOG_FD: str(log_write),
                },
                cwd=cwd,
                # The write end of stdin stays here and is never written: bootstrap.py reads EOF
                # from it the moment LocalStack dies, and then ends itself.
                stdin=subprocess.PIPE,
                stdout=capture_write,
                stderr=capture_write,
                pass_fds=(capture_read, log_write),
                start_new_session=True,
            )
        except BaseException:
            os.close(capture_read)
            os.close(log_read)
            raise
        finally:
            # Only the child writes; our copies would keep the log pipe from ever reaching EOF.
            os.close(capture_write)
            os.close(log_write)
        self._capture_read = capture_read
        self.pid = self._popen.pid
        threading.Thread(target=self._drain_log, args=(log_read,), name=f"{name}-log", daemon=True).start()
        threading.Thread(target=self._watch_exit, args=(on_unexpected_exit,), name=f"{name}-exit", daemon=True).start()

    @property
    def alive(self) -> bool:
        return not (self._killed or self._exited.is_set())

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL the whole process group; return once its output is in the tail."""
        self._killed = True
        self._kill_group()
        if not self._exited.wait(timeout):
            LOG.warning("Lambda environment process %s did not die within %ss", self.pid, timeout)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)  # pgid == pid thanks to start_new_session
        except (ProcessLookupError, PermissionError):
            pass

    def _drain_log(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 65536):
                self._output.append(chunk)
        except OSError:
            pass
        finally:
            os.close(fd)
            self._log_closed.set()

    def _watch_exit(self, on_unexpected_exit: Callable[[int], None]) -> None:
        returncode = self._popen.wait()
        # Children of a runtime that died must not linger (AWS resets the whole sandbox).
        self._kill_group()
        # A child that left the process group may hold the log pipe open: don't wait forever.
        self._log_closed.wait(timeout=1.0)
        self._recover_unread_output()
        self._popen.stdin.close()
        self._exited.set()
        if not self._killed:
            on_unexpected_exit(returncode)

    def _recover_unread_output(self) -> None:
        """What was still in the capture pipe when bootstrap.py died, in order after the rest."""
        os.set_blocking(self._capture_read, False)
        try:
            while chunk := os.read(self._capture_read, 65536):
                self._output.append(chunk)
        except OSError:  # BlockingIOError: empty, and some escaped grandchild still holds it open
            pass
        finally:
            os.close(self._capture_read)
