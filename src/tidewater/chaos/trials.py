"""The trials: each kind of fault with the files it needs, then settle (ingest queue drained,
`replay-dlq`, drained again) and check every invariant (invariants.py) over the whole stack.

A trial returns how many faults it injected - each counted once: a SIGKILL that landed, an S3 error
response the hook gave, a crash, an outage, an emulator death, a full /tmp under a file, a group of
keys raced with the same bytes, a key overwritten while its previous version was being loaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from tidewater.chaos import faults
from tidewater.chaos.files import LOADED, ChaosFile, events, large_events
from tidewater.chaos.flow import Harness, now_utc
from tidewater.chaos.invariants import Verdict

KINDS = ("sigkill", "s3_errors", "postgres_crash", "postgres_outage", "enospc", "same_bytes", "overwrite",
         "emulator_restart")  # fmt: skip
ENOSPC_ROWS = 400_000  # ~40 MB: admitted by a 160 MB tmpfs (half its free space), then /tmp fills under it


@dataclass(frozen=True)
class Scale:
    """How much of each kind one trial does."""

    files: int = 120  # files flowing during a trial (sigkill, s3_errors, postgres_*)
    kills: int = 45  # SIGKILLs per sigkill trial
    s3_error_rate: float = 0.3  # per S3 request of the processor, while the s3_errors trial runs
    crashes: int = 3  # PostgreSQL crash-restarts per postgres_crash trial
    outage_s: float = 60  # PostgreSQL unavailable this long in a postgres_outage trial
    groups: int = 4  # same_bytes: groups of keys per trial
    overwrites: int = 4  # overwrite: keys per trial
    restart_files: int = 60  # emulator_restart: files flowing when the emulator dies


@dataclass
class TrialResult:
    kind: str
    number: int
    faults: int
    files: int
    seconds: float
    dlq_before_replay: int
    dlq_after_replay: int
    verdict: Verdict
    notes: dict = field(default_factory=dict)
    fault_kinds: dict[str, int] | None = None  # a soak segment's faults by kind (a trial: {kind: faults})

    def faults_by_kind(self) -> dict[str, int]:
        return self.fault_kinds if self.fault_kinds is not None else {self.kind: self.faults}


def run_trial(h: Harness, kind: str, number: int, scale: Scale) -> TrialResult:
    started, files_before = time.monotonic(), h.files_uploaded
    h.say(f"== trial {number}: {kind}")
    injected, notes = SCENARIOS[kind](h, scale)
    dlq_before, dlq_after = h.settle()
    verdict, _ = h.check(dlq_after)
    result = TrialResult(kind, number, injected, h.files_uploaded - files_before, round(time.monotonic() - started, 1),
                         dlq_before, dlq_after, verdict, notes)  # fmt: skip
    h.say(f"   {kind}: {injected} fault(s), {result.files} file(s), DLQ {dlq_before} -> {dlq_after} after replay, "
          f"{'invariants hold' if verdict.ok else f'{verdict.problem_count} PROBLEM(S)'} ({result.seconds:.0f}s)"
          + (f"; {notes}" if notes else ""))  # fmt: skip
    for problem in verdict.problems[:10]:
        h.say(f"   ! {problem}")
    return result


# ---- the scenarios --------------------------------------------------------------------------------


def sigkill(h: Harness, scale: Scale) -> tuple[int, dict]:
    """Many files at once, and the processor's environments SIGKILLed one after the other."""
    h.put_all(h.new_files(scale.files))
    moments = faults.kill_functions(h, scale.kills, refill=lambda: h.put_all(h.new_files(10)), timeout=300)
    return sum(moments.values()), {"moments": dict(moments)}


def s3_errors(h: Harness, scale: Scale) -> tuple[int, dict]:
    """Transient errors on the processor's GETs of the raw bucket and PUTs to the output buckets."""
    outputs = h.stack.outputs
    writes = [outputs["processed_bucket"], outputs["quarantine_bucket"]]
    before = h.stack.s3_errors_injected()
    h.stack.s3_errors(scale.s3_error_rate, {"GetObject": [outputs["raw_bucket"]], "PutObject": writes,
                                            "UploadPart": writes, "CompleteMultipartUpload": writes})  # fmt: skip
    try:
        h.put_all(h.new_files(scale.files))
        h.wait_quiet(timeout=120)
    finally:
        h.stack.s3_errors(0, {})
    return h.stack.s3_errors_injected() - before, {}


def postgres_crash(h: Harness, scale: Scale) -> tuple[int, dict]:
    """Crash-restart PostgreSQL (`pg_ctl stop -m immediate`) while a function's COPY runs."""
    crashes, missed = 0, 0
    for _ in range(scale.crashes):
        h.put_all([*h.new_files(scale.files // scale.crashes), *large_files(h, 3)])
        if not faults.wait_for_copy(h, timeout=60):
            missed += 1
            continue
        faults.crash_postgres(h)
        crashes += 1
        faults.start_postgres(h)
    return crashes, ({"no_copy_seen": missed} if missed else {})


def postgres_outage(h: Harness, scale: Scale) -> tuple[int, dict]:
    """PostgreSQL crashes and stays down `outage_s` while files keep arriving."""
    stop = threading.Event()
    flow = h.put_in_background(h.new_files(scale.files), stop, pause=scale.outage_s / scale.files)
    time.sleep(1)
    faults.crash_postgres(h)
    time.sleep(scale.outage_s)
    faults.start_postgres(h)
    stop.set()
    flow.join()
    return 1, {"outage_s": scale.outage_s}


def enospc(h: Harness, scale: Scale) -> tuple[int, dict]:
    """/tmp fills up while the processor reads a large file: the file is quarantined as too_large, and
    the same warm environment goes on loading good files once there is room again."""
    if not h.stack.has_tmpfs:
        return 0, {"skipped": "needs root (a tmpfs for the functions' /tmp)"}
    h.wait_quiet(timeout=120)  # alone in the environment: nothing else may meet the full disk
    number = next(h.numbers)
    big = large_events(f"events/chaos/{h.run}/enospc-{number}.csv", f"{h.run}-enospc-{number}", ENOSPC_ROWS)
    upload = h.put(big, too_large_allowed=True)
    deadline = time.monotonic() + 60
    while not h.stack.workspaces_reading() and time.monotonic() < deadline:
        time.sleep(0.002)
    environments = h.stack.function_pids(h.processor())
    ballast = faults.fill_tmp(h)
    try:
        row = wait_for_ledger(h, upload.key, upload.version_id, timeout=120)
    finally:
        ballast.unlink()
    after = [h.put(file) for file in good_files(h, 5)]
    statuses = [wait_for_ledger(h, u.key, u.version_id, timeout=120) for u in after]
    warm = sorted(set(environments) & set(h.stack.function_pids(h.processor())))
    notes = {"status": f"{row[0]} ({row[1]})" if row else "none", "warm_environment_kept": bool(warm),
             "loaded_after": sum(1 for s in statuses if s and s[0] == LOADED)}  # fmt: skip
    hit = row is not None and row[1] == "too_large"
    if hit and not warm:
        h.say("   ! the environment that met ENOSPC is gone: it should have kept loading files")
        notes["problem"] = "environment lost"
    return (1 if hit else 0), notes


def same_bytes(h: Harness, scale: Scale) -> tuple[int, dict]:
    """The same bytes under several keys at once, each also handed to the processor directly (real
    concurrency): exactly one `loaded`, the rest `duplicate`."""
    invocations = []
    for _ in range(scale.groups):
        file = good_files(h, 1)[0]
        stem, _, extension = file.key.rpartition(".")
        keys = [f"{stem}-same-{copy}.{extension}" for copy in range(h.rng.randint(2, 4))]
        start = threading.Barrier(len(keys))

        def put_and_invoke(key: str, file: ChaosFile = file, start: threading.Barrier = start):
            start.wait()
            return h.invoke_now(h.put(file, key=key), now_utc())

        with ThreadPoolExecutor(len(keys)) as pool:
            invocations += list(pool.map(put_and_invoke, keys))
    wait_for_invocations(invocations)
    return scale.groups, {}


def overwrite(h: Harness, scale: Scale) -> tuple[int, dict]:
    """A key overwritten while its first version is being loaded (its COPY running, when we see it):
    the newer version ends `loaded`, the older `superseded`, the table holds the newer's rows."""
    while_loading = 0
    calls = []
    for _ in range(scale.overwrites):
        number = next(h.numbers)
        key = f"events/chaos/{h.run}/overwrite-{number}.csv"
        first = events(key, f"{h.run}-v1-{number}", number, h.rng.randint(20_000, 40_000))
        calls.append(h.invoke_now(h.put(first), now_utc()))
        while_loading += faults.wait_for_copy(h, timeout=5)
        time.sleep(0.005)  # the next version's event time is later than this one's
        second = events(key, f"{h.run}-v2-{number}", number + 1, h.rng.randint(50, 5_000))
        calls.append(h.invoke_now(h.put(second), now_utc()))
    wait_for_invocations(calls)
    return scale.overwrites, {"copy_seen_before_overwrite": while_loading}


def emulator_restart(h: Harness, scale: Scale) -> tuple[int, dict]:
    """The emulator is SIGKILLed mid-flow. The documented recovery: `make up` (it starts over with an
    empty stack: the emulator kept nothing), `make deploy`, upload the files again - each loads once."""
    stop = threading.Event()
    flow = h.put_in_background(h.new_files(scale.restart_files), stop, pause=0.02)
    time.sleep(h.rng.uniform(1.0, 3.0))
    leftovers = faults.kill_emulator(h)
    stop.set()
    flow.join()
    h.stack.unmount_tmpfs()
    h.say(f"   emulator killed; {len(leftovers)} process(es) of the instance left; recovering: make up, make deploy")
    h.stack.up()
    said = (h.stack.log_dir / "make-up.log").read_text()
    deploy_s = h.stack.deploy()
    again = [(upload.key, upload.file) for upload in h.uploads.latest_by_key().values()]
    h.uploads.clear()
    h.put_all([file for _, file in again], keys=[key for key, _ in again])
    notes = {"started_over": "Starting over" in said, "leftover_processes": len(leftovers),
             "uploaded_again": len(again), "deploy_s": round(deploy_s)}  # fmt: skip
    return 1, notes


SCENARIOS: dict[str, Callable[[Harness, Scale], tuple[int, dict]]] = {
    "sigkill": sigkill, "s3_errors": s3_errors, "postgres_crash": postgres_crash, "postgres_outage": postgres_outage,
    "enospc": enospc, "same_bytes": same_bytes, "overwrite": overwrite, "emulator_restart": emulator_restart,
}  # fmt: skip


# ---- helpers ----------------------------------------------------------------------------------------


def large_files(h: Harness, count: int, rows: int = 50_000) -> list[ChaosFile]:
    """Good events files of `rows` rows (~5 MB): long COPYs."""
    files = []
    for _ in range(count):
        number = next(h.numbers)
        files.append(large_events(f"events/chaos/{h.run}/large-{number}.csv", f"{h.run}-large-{number}", rows))
    return files


def good_files(h: Harness, count: int) -> list[ChaosFile]:
    found: list[ChaosFile] = []
    while len(found) < count:
        found += [file for file in h.new_files(1) if file.status == LOADED and file.good_rows > 0]
    return found


def wait_for_ledger(h: Harness, key: str, version_id: str, timeout: float) -> tuple[str, str | None] | None:
    """(status, error) of an object version once final, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = h.stack.query(
            "SELECT status, error FROM ingested_files WHERE s3_key = %s AND version_id = %s", (key, version_id))
        if rows and rows[0][0] in ("loaded", "duplicate", "quarantined", "superseded"):
            return rows[0]
        time.sleep(0.2)
    return None


def wait_for_invocations(invocations: list[Future]) -> None:
    """Until the direct invocations returned; one that failed (a fault) is the queue's to retry."""
    for invocation in invocations:
        invocation.exception()
