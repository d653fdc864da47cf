"""Transient S3 errors for `make chaos`: which request fails (the LocalStack start-up hook that makes
it fail is s3_faults_hook.py; this file does not need LocalStack, so it is unit-tested).

LocalStack runs every `localstack.hooks.on_infra_start` entry point of our package (pyproject.toml),
in every instance; the hook does nothing unless LocalStack was started with
TIDEWATER_CHAOS_S3_FAULTS=<control file>, which only the chaos harness sets, for its own instance.
While that control file exists, each operation it names fails on the buckets it names with the
probability it gives: 500 InternalError or 503 SlowDown, the transient errors S3 answers and every
SDK retries. No file (or a rate of 0): S3 behaves normally. Every error injected is one line in
<control file>.log, so the harness counts exactly the faults it caused.

The control file is JSON: {"rate": 0.2, "operations": {"GetObject": ["<raw bucket>"],
"PutObject": ["<processed bucket>", ...], ...}}; operations are those of OPERATIONS.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTROL_VAR = "TIDEWATER_CHAOS_S3_FAULTS"
# S3 operation -> the S3Provider method that serves it (LocalStack 4.14).
OPERATIONS = {
    "GetObject": "get_object",
    "PutObject": "put_object",
    "UploadPart": "upload_part",
    "CompleteMultipartUpload": "complete_multipart_upload",
}
ERRORS = (
    ("InternalError", "We encountered an internal error. Please try again.", 500),
    ("SlowDown", "Please reduce your request rate.", 503),
)
RELOAD_SECONDS = 0.2  # the control file is read at most this often


@dataclass(frozen=True)
class Plan:
    rate: float
    operations: dict[str, frozenset[str]]  # operation -> buckets

    @classmethod
    def parse(cls, text: str) -> Plan:
        document = json.loads(text)
        unknown = set(document.get("operations", {})) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown S3 operations {sorted(unknown)}; known: {sorted(OPERATIONS)}")
        return cls(
            rate=float(document.get("rate", 0)),
            operations={op: frozenset(buckets) for op, buckets in document.get("operations", {}).items()},
        )

    def applies(self, operation: str, bucket: str | None) -> bool:
        return self.rate > 0 and bucket in self.operations.get(operation, ())


OFF = Plan(0.0, {})


class Switch:
    """The plan in the control file, re-read when it changed (at most every RELOAD_SECONDS)."""

    def __init__(self, control: Path, chance=random.random):
        self.control = control
        self.log = control.with_name(control.name + ".log")
        self._chance = chance
        self._lock = threading.Lock()
        self._plan = OFF
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0

    def plan(self) -> Plan:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= RELOAD_SECONDS:
                self._checked = now
                self._reload()
            return self._plan

    def _reload(self) -> None:
        try:
            stat = self.control.stat()
        except FileNotFoundError:
            self._plan, self._stamp = OFF, None
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            try:
                self._plan = Plan.parse(self.control.read_text())
            except (OSError, ValueError):
                self._plan = OFF  # half-written by the harness: read it again next time
                return
            self._stamp = stamp

    def fails(self, operation: str, bucket: str | None, key: str | None) -> bool:
        """Whether this request gets an error; if so it is logged."""
        plan = self.plan()
        if not plan.applies(operation, bucket) or self._chance() >= plan.rate:
            return False
        with self._lock, self.log.open("a") as log:
            log.write(f"{time.time():.3f}\t{operation}\t{bucket}\t{key}\n")
        return True


def request_target(args: tuple, kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
    """(bucket, key) of a provider call: `(context, request)` for operations LocalStack hands over
    unexpanded, `(context, bucket=..., key=...)` for expanded ones."""
    if args and isinstance(args[0], dict):
        return args[0].get("Bucket"), args[0].get("Key")
    return kwargs.get("bucket"), kwargs.get("key")
