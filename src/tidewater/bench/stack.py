"""The bench's own stack instance (.tidewater/bench) and what every measurement needs from it:
progress lines, make/CLI runs in its environment, the database, the ledger, fresh execution
environments and the REPORT lines of the function logs."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidewater.aws import Pipeline
from tidewater.logs import log_events
from tidewater.stack import emulators
from tidewater.stack.env import repo_root
from tidewater.stack.procs import free_port

FINAL_STATUSES = ("loaded", "duplicate", "quarantined")
BENCH_VAR_FILE = "bench/bench.tfvars"
REPORT_LINE = re.compile(r"^REPORT RequestId: (?P<request_id>\S+)\s+Duration: (?P<duration>[\d.]+) ms")
REPORT_FIELDS = {
    "max_memory_mb": re.compile(r"Max Memory Used: (\d+) MB"),
    "init_ms": re.compile(r"Init Duration: ([\d.]+) ms"),
}


class BenchFailure(RuntimeError):
    """A measurement could not be taken (wrong row count, a file not loaded, a timeout...)."""


def interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) ends a run like Ctrl-C does: its private stack is still torn down."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def one_run_at_a_time(state: Path, what: str) -> object:
    """Hold `<state>.run.lock` for the life of the process: a second `make bench` or `make chaos` of
    the same private stack would tear the first one's stack down under it. Refused with exit status
    2, naming the running one's pid, when another run holds it. The open file is returned: keep it."""
    state.parent.mkdir(parents=True, exist_ok=True)
    lock = open(state.parent / f"{state.name}.run.lock", "a+")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        print(f"{what}: another run is using its stack {state} (pid {holder}); wait for it to end, "
              f"or stop it with `kill -TERM {holder}` (it tears its stack down)", file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


class Progress:
    """`[  12.3s] message` lines on stdout, elapsed since the bench started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        print(f"[{self.elapsed:7.1f}s] {message}", flush=True)


@dataclass
class BenchStack:
    """The private stack instance under <repo>/.tidewater/bench (never the user's .tidewater); with
    another emulator than LocalStack, .tidewater/bench-<emulator>. `make chaos` has its own
    (`instance="chaos"`)."""

    progress: Progress
    root: Path = field(default_factory=repo_root)
    emulator: str = "localstack"
    _pipeline: Pipeline | None = None
    _ports: dict[str, str] = field(default_factory=dict)
    instance: str = "bench"

    @property
    def state(self) -> Path:
        suffix = "" if self.emulator == "localstack" else f"-{self.emulator}"
        return self.root / ".tidewater" / f"{self.instance}{suffix}"

    @property
    def data_dir(self) -> Path:
        return self.state / "data"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    def environ(self) -> dict[str, str]:
        """Our environment with the bench's instance dir (and, for a new stack, its free ports)."""
        env = {**os.environ, "TIDEWATER_STATE_DIR": str(self.state), "TIDEWATER_ROOT": str(self.root)}
        env.update(self._ports)
        return env

    def pick_ports(self) -> None:
        """Free ports for the next `up` of a fresh stack (the default 4566 may be the user's)."""
        self._ports = {"TIDEWATER_EMULATOR_PORT": str(free_port()), "TIDEWATER_POSTGRES_PORT": str(free_port())}

    # ---- commands -------------------------------------------------------------------------------
    def run(self, cmd: list[str], log_name: str, timeout: float = 1200) -> float:
        """Run a command in the bench environment; its output goes to logs/<log_name>.log. Returns
        its wall time in seconds; raises BenchFailure (with the log's tail) when it fails."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{log_name}.log"
        started = time.monotonic()
        with log_path.open("w") as log:
            result = subprocess.run(cmd, cwd=self.root, env=self.environ(), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, timeout=timeout)  # fmt: skip
        seconds = time.monotonic() - started
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise BenchFailure(f"`{' '.join(cmd)}` failed (exit {result.returncode}); {log_path}:\n{tail}")
        return seconds

    def emulator_rss_mb(self) -> float:
        """The resident memory of the emulator process alone (not its functions), from /proc."""
        pid = json.loads((self.state / "host.json").read_text())["emulator_pid"]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        raise BenchFailure(f"no VmRSS for the {self.emulator} process {pid}")

    def tidewater(self, *args: str, log_name: str) -> float:
        return self.run([sys.executable, "-m", "tidewater", *args], log_name)

    def down(self) -> None:
        self.close()
        self.tidewater("down", log_name="down")

    # ---- clients --------------------------------------------------------------------------------
    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = Pipeline.from_state(self.state)
        return self._pipeline

    def close(self) -> None:
        if self._pipeline is not None and "db" in self._pipeline.__dict__:
            self._pipeline.db.close()
        self._pipeline = None

    @property
    def outputs(self) -> dict[str, str]:
        return self.pipeline.outputs

    def client(self, service: str):
        return self.pipeline.client(service)

    def execute(self, sql: str, params: tuple | dict = ()) -> None:
        with self.pipeline.db.cursor() as cur:
            cur.execute(sql, params)

    def query(self, sql: str, params: tuple | dict = ()) -> list[tuple]:
        with self.pipeline.db.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def ensure_schema(self) -> None:
        """The processor creates the schema on its first database connection; the bench may need the
        tables before that (`--only floor`): the same function does it here."""
        from pipeline import db

        db.ensure_schema(self.pipeline.db)

    def reset_events(self) -> None:
        """The same starting state for every events run: no events, no counts, no events ledger rows
        (it is the bench's own database)."""
        self.execute("TRUNCATE events, event_counts_by_type")
        self.execute("DELETE FROM ingested_files WHERE dataset = 'events'")

    def reset_housing(self) -> None:
        """No housing rows, summary or housing ledger rows: the latency runs start from the same state
        whatever ran before (and re-uploading the same bytes is not a duplicate)."""
        # the summary's state table too (tables.py: the sums behind its averages)
        self.execute("TRUNCATE housing, housing_summary_statistics, housing_summary_statistics__sums")
        self.execute("DELETE FROM ingested_files WHERE dataset = 'housing'")

    def insert_ledger_row(self, key: str) -> int:
        """A ledger row for rows the bench loads itself (floor, naive baseline): events.file_id needs one."""
        return self.query(
            "INSERT INTO ingested_files (bucket, s3_key, version_id, dataset, status, started_at, finished_at)"
            " VALUES ('bench', %s, %s, 'events', 'loaded', now(), now()) RETURNING id",
            (key, uuid.uuid4().hex),
        )[0][0]

    def events_count(self) -> int:
        return self.query("SELECT count(*) FROM events")[0][0]

    # ---- the ledger -------------------------------------------------------------------------------
    def ledger(self, key: str) -> dict[str, Any] | None:
        """The newest ledger row of an object key, or None."""
        rows = self.query(
            "SELECT status, rows_loaded, rows_quarantined, error, error_detail, started_at, finished_at"
            " FROM ingested_files WHERE s3_key = %s ORDER BY id DESC LIMIT 1",
            (key,),
        )
        if not rows:
            return None
        names = ("status", "rows_loaded", "rows_quarantined", "error", "error_detail", "started_at", "finished_at")
        return dict(zip(names, rows[0], strict=True))

    def wait_final(self, key: str, timeout: float, what: str, interval: float = 0.2,
                   report_every: float = 15) -> tuple[dict[str, Any], float]:
        """Poll until the key's ledger row is final; (row, monotonic time it was observed)."""
        started = time.monotonic()
        last_report = started
        while True:
            row = self.ledger(key)
            now = time.monotonic()
            if row and row["status"] in FINAL_STATUSES:
                return row, now
            if now - started > timeout:
                raise BenchFailure(f"{what}: no final ledger row for {key} after {timeout:.0f}s "
                                   f"(queue {self.queue_depths()})")  # fmt: skip
            if now - last_report > report_every:
                self.progress.say(f"  {what}: waiting for {key} ({now - started:.0f}s)")
                last_report = now
            time.sleep(interval)

    def queue_depths(self) -> dict[str, int]:
        visible, in_flight = self.pipeline.queue_depth(self.outputs["ingest_queue_url"])
        dlq_visible, dlq_in_flight = self.pipeline.queue_depth(self.outputs["dlq_url"])
        return {"visible": visible, "in_flight": in_flight, "dlq": dlq_visible + dlq_in_flight}

    # ---- functions ----------------------------------------------------------------------------------
    def fresh_environment(self, function: str) -> None:
        """Force the next invoke into a new execution environment: a changed environment variable
        is a new configuration revision, and LocalStack stops the environments of the old one.
        The function's own variables are kept."""
        lam = self.client("lambda")
        config = lam.get_function_configuration(FunctionName=function)
        variables = dict(config.get("Environment", {}).get("Variables", {}))
        variables["BENCH_NONCE"] = uuid.uuid4().hex
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
        deadline = time.monotonic() + 60
        while True:
            config = lam.get_function_configuration(FunctionName=function)
            status = config.get("LastUpdateStatus")
            if status == "Successful" and config.get("State") == "Active":
                return
            if status == "Failed" or time.monotonic() > deadline:
                raise BenchFailure(f"updating {function} for a fresh environment: {status} "
                                   f"{config.get('LastUpdateStatusReason', '')}")  # fmt: skip
            time.sleep(0.05)

    def log_events(self, function: str, since_ms: int) -> list[dict[str, Any]]:
        logs = self.client("logs")
        try:
            return list(log_events(logs, f"/aws/lambda/{function}", since_ms))
        except logs.exceptions.ResourceNotFoundException:
            return []

    def report_lines(self, function: str, since_ms: int) -> list[dict[str, Any]]:
        """The REPORT lines the executor wrote since `since_ms` (epoch ms), parsed."""
        found = []
        for event in self.log_events(function, since_ms):
            if parsed := parse_report(event["message"]):
                found.append({**parsed, "log_stream": event.get("logStreamName")})
        return found

    def request_id_for_key(self, function: str, since_ms: int, key: str) -> str | None:
        """The request id of the invocation that logged about `key` (Powertools JSON lines carry
        s3_key and function_request_id)."""
        for event in self.log_events(function, since_ms):
            message = event["message"].strip()
            if key not in message or not message.startswith("{"):
                continue
            try:
                document = json.loads(message)
            except ValueError:
                continue
            if document.get("s3_key") == key and document.get("function_request_id"):
                return document["function_request_id"]
        return None

    def invocation_report(self, function: str, since_ms: int, key: str, timeout: float = 60) -> dict[str, Any]:
        """The REPORT line of the invocation that processed `key` (logs arrive just after the result)."""
        deadline = time.monotonic() + timeout
        while True:
            request_id = self.request_id_for_key(function, since_ms, key)
            reports = self.report_lines(function, since_ms)
            for report in reports:
                if request_id and report["request_id"] == request_id:
                    return report
            if time.monotonic() > deadline:
                raise BenchFailure(f"no REPORT line for the invocation that processed {key} (request id "
                                   f"{request_id}, {len(reports)} REPORT lines since the upload)")  # fmt: skip
            time.sleep(0.5)


def parse_report(message: str) -> dict[str, Any] | None:
    """`REPORT RequestId: … Duration: … ms … Max Memory Used: … MB … Init Duration: … ms` -> dict."""
    match = REPORT_LINE.match(message.strip())
    if not match:
        return None
    out: dict[str, Any] = {"request_id": match["request_id"], "duration_ms": float(match["duration"])}
    for name, pattern in REPORT_FIELDS.items():
        found = pattern.search(message)
        out[name] = float(found.group(1)) if found else None
    return out


def localstack_version(endpoint_url: str) -> str:
    return emulators.get("localstack").version(endpoint_url)
