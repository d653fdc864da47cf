"""`make chaos SOAK=1`: FILES files through the chaos stack at a steady pace, a fault every EVERY_S
seconds (the kinds that leave the stack standing, in turn), the invariants checked at every quarter,
and the memory of the emulator and of the processor's execution environments sampled all along.

At every quarter the soak also weighs what the emulator keeps because it was asked to: the S3 object
versions small enough for LocalStack to hold in memory (their bytes, and LocalStack's bookkeeping for
each) and the CloudWatch log events. The emulator's memory less that
(`memory_emulator_beyond_stored`) is what a leak would show.

Not in the soak: `emulator_restart` (it empties the stack: the memory curve would start again) and
`enospc` (it needs the environment to itself); the trials of `make chaos` cover both.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from statistics import mean

from tidewater.chaos import faults
from tidewater.chaos.flow import Harness
from tidewater.chaos.trials import Scale, TrialResult, large_files, overwrite, same_bytes

FILES = 10_000
EVERY_S = 30
BATCH = 300  # files put at once, whenever fewer than LOW wait in the queue
LOW = 150
SAMPLE_S = 10
CHECKS = 4  # invariant checks: after every quarter of the files
KINDS = ("sigkill", "s3_errors", "postgres_crash", "same_bytes", "overwrite", "postgres_outage")
ONE = Scale(kills=3, groups=1, overwrites=1, outage_s=60)  # one fault event of each kind
S3_ERROR_WINDOW_S = 10
# LocalStack 4.14's ephemeral S3 storage keeps an object version in memory below this size
# (localstack/services/s3/storage/ephemeral.py: S3_MAX_FILE_SIZE_BYTES), in a temp file above it.
S3_IN_MEMORY_BELOW = 512 * 1024
# ...and beside each version's bytes, its S3Object, file object, locks and dicts. Measured inside a
# LocalStack 4.14.0 that had run a soak, from the bytes its allocators had in use (pymalloc and
# malloc, so no free space kept by either counts) before and after 3 x 2,000 PutObject of 20,000-byte
# bodies to a versioned bucket, less those bodies: 3.7, 4.6 and 3.4 KB per version.
S3_BOOKKEEPING_PER_VERSION = 4 * 1024
MB = 1024 * 1024


class MemorySampler(threading.Thread):
    """Every SAMPLE_S seconds: the resident memory (MB) of the emulator process and of the processor's
    execution environments (added up), and how many of those there are."""

    def __init__(self, h: Harness):
        super().__init__(name="memory", daemon=True)
        self.h = h
        self.samples: list[tuple[float, float, float, int]] = []
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_S if self.samples else 0):
            environments = self.h.stack.function_pids(self.h.processor())
            emulator = self.h.stack.rss_mb([self.h.stack.emulator_pid()])
            self.samples.append((round(time.monotonic() - self.started_at, 1), emulator,
                                 self.h.stack.rss_mb(environments), len(environments)))  # fmt: skip

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def levels_off(values: list[float]) -> dict:
    """Growth of the last quarter of the samples over the second quarter (the first is warm-up):
    it levels off when that is under 10% (or under 20 MB)."""
    if len(values) < 8:
        return {"levels_off": None, "note": "too few samples"}
    q = len(values) // 4
    second, last = mean(values[q : 2 * q]), mean(values[-q:])
    growth = last - second
    return {"first_mb": values[0], "second_quarter_mb": round(second, 1), "last_quarter_mb": round(last, 1),
            "max_mb": max(values), "growth_mb": round(growth, 1),
            "levels_off": growth < max(0.1 * second, 20)}  # fmt: skip


def stored_in_emulator(h: Harness) -> dict[str, float]:
    """What the emulator holds now because it was asked to (MB): every S3 object version it keeps in
    memory (its bytes and LocalStack's bookkeeping for it), the stored bytes of every CloudWatch log
    group; and its resident memory."""
    s3, logs = h.stack.client("s3"), h.stack.client("logs")
    in_memory = versions = 0
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
            small = [v["Size"] for v in page.get("Versions", []) if v["Size"] < S3_IN_MEMORY_BELOW]
            in_memory += sum(small) + S3_BOOKKEEPING_PER_VERSION * len(small)
            versions += len(small)
    log_bytes = sum(group.get("storedBytes", 0)
                    for page in logs.get_paginator("describe_log_groups").paginate()
                    for group in page["logGroups"])  # fmt: skip
    return {"emulator_mb": h.stack.rss_mb([h.stack.emulator_pid()]),
            "s3_in_memory_mb": round(in_memory / MB, 1), "s3_versions_in_memory": versions,
            "log_events_mb": round(log_bytes / MB, 1)}  # fmt: skip


def memory_line(check: dict) -> str:
    return (f"emulator {check['emulator_mb']:.0f} MB, of it stored: {check['s3_versions_in_memory']:,} S3 object "
            f"versions {check['s3_in_memory_mb']:.0f} MB, "
            f"log events {check['log_events_mb']:.0f} MB")  # fmt: skip


def beyond_stored(checks: list[dict]) -> dict:
    """The emulator's memory less what it stores, from the first quarter's check to the last: how
    much it grew per file that way, and whether that levels off (the last check within 10% or 20 MB
    of the second: the first quarter is warm-up)."""
    if len(checks) < 3:
        return {"levels_off": None, "note": "too few checks"}
    stored = [c["s3_in_memory_mb"] + c["log_events_mb"] for c in checks]
    net = [c["emulator_mb"] - s for c, s in zip(checks, stored, strict=True)]
    files = checks[-1]["files"] - checks[0]["files"]

    def per_file(values: list[float]) -> float | None:  # KB
        return round((values[-1] - values[0]) * MB / 1024 / files, 1) if files else None

    return {"net_mb": [round(v, 1) for v in net], "growth_mb": round(net[-1] - net[1], 1),
            "emulator_kb_per_file": per_file([c["emulator_mb"] for c in checks]),
            "stored_kb_per_file": per_file(stored), "beyond_stored_kb_per_file": per_file(net),
            "levels_off": net[-1] - net[1] < max(0.1 * net[1], 20)}  # fmt: skip


def inject(h: Harness, kind: str) -> int:
    """One fault event of `kind`, in the middle of the flow; how many faults it injected."""
    if kind == "sigkill":
        return sum(faults.kill_functions(h, ONE.kills, refill=lambda: None, timeout=20).values())
    if kind == "s3_errors":
        outputs = h.stack.outputs
        writes = [outputs["processed_bucket"], outputs["quarantine_bucket"]]
        before = h.stack.s3_errors_injected()
        h.stack.s3_errors(ONE.s3_error_rate, {"GetObject": [outputs["raw_bucket"]], "PutObject": writes})
        time.sleep(S3_ERROR_WINDOW_S)
        h.stack.s3_errors(0, {})
        return h.stack.s3_errors_injected() - before
    if kind == "postgres_crash":
        h.put_all(large_files(h, 2))
        faults.wait_for_copy(h, timeout=10)
        faults.crash_postgres(h)
        faults.start_postgres(h)
        return 1
    if kind == "postgres_outage":
        faults.crash_postgres(h)
        time.sleep(ONE.outage_s)
        faults.start_postgres(h)
        return 1
    return {"same_bytes": same_bytes, "overwrite": overwrite}[kind](h, ONE)[0]


def run(h: Harness, files: int) -> tuple[list[TrialResult], dict]:
    """The soak; one TrialResult per quarter (its faults by kind, its check)."""
    sampler = MemorySampler(h)
    sampler.start()
    kinds = itertools.cycle(KINDS)
    segments: list[TrialResult] = []
    checks: list[dict] = []
    checkpoints = [round(files * (i + 1) / CHECKS) for i in range(CHECKS)]
    started = time.monotonic()
    next_fault = started + EVERY_S
    try:
        for number, checkpoint in enumerate(checkpoints, 1):
            segment_started, uploaded_before = time.monotonic(), h.files_uploaded
            injected: Counter = Counter()
            while h.files_uploaded < checkpoint:
                if h.stack.queue_depths()["visible"] < LOW:
                    h.put_all(h.new_files(min(BATCH, checkpoint - h.files_uploaded)))
                if time.monotonic() >= next_fault:
                    kind = next(kinds)
                    injected[kind] += inject(h, kind)
                    next_fault = time.monotonic() + EVERY_S
                time.sleep(0.5)
            dlq_before, dlq_after = h.settle()
            verdict, _ = h.check(dlq_after)
            checks.append({"files": h.files_uploaded, **stored_in_emulator(h)})
            segments.append(TrialResult("soak", number, sum(injected.values()), h.files_uploaded - uploaded_before,
                                        round(time.monotonic() - segment_started, 1), dlq_before, dlq_after, verdict,
                                        {"faults": dict(injected)}, fault_kinds=dict(injected)))  # fmt: skip
            h.say(f"soak: {h.files_uploaded:,}/{files:,} files after {time.monotonic() - started:.0f}s; faults "
                  f"{dict(injected)}; DLQ {dlq_before} -> {dlq_after}; "
                  f"{'invariants hold' if verdict.ok else f'{verdict.problem_count} PROBLEM(S)'}; "
                  f"{memory_line(checks[-1])}")  # fmt: skip
            for problem in verdict.problems[:10]:
                h.say(f"   ! {problem}")
    finally:
        sampler.stop()
    emulator = [s[1] for s in sampler.samples]
    environments = [s[2] for s in sampler.samples]
    step = max(1, len(sampler.samples) // 200)
    return segments, {
        "soak_files": files,
        "soak_s": round(time.monotonic() - started, 1),
        "soak_files_per_s": round(files / (time.monotonic() - started), 2),
        "memory_emulator": levels_off(emulator),
        "memory_environments": levels_off(environments),
        "memory_emulator_beyond_stored": beyond_stored(checks),
        "memory_checks": checks,  # at every quarter: files, emulator MB, of it S3 versions and log events
        "memory_samples": [list(s) for s in sampler.samples[::step]],  # seconds, emulator MB, environments MB, count
    }
