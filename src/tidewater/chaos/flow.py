"""Files flowing through the chaos stack: uploads (recorded, for the invariants), direct invocations
that race the queue, waiting for quiet, replaying the dead-letter queue and the check.

On AWS the event source mapping runs several pollers at once, so two messages about the same key or
the same bytes can be processed at the same moment; LocalStack's mapping runs one batch at a time.
To have real races here, `invoke_now` hands the processor the S3 notification of an upload itself,
from as many threads as there are uploads (each gets an execution environment of its own), while
the queue delivers the same notification too - a redelivery the ledger must shrug off.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError

from tidewater import dlq
from tidewater.bench.measures import sqs_event
from tidewater.bench.stack import Progress
from tidewater.chaos.files import ChaosFile, chaos_file
from tidewater.chaos.invariants import Observed, Upload, Uploads, Verdict, judge, observe
from tidewater.chaos.stack import ChaosFailure, ChaosStack

QUIET_POLLS = 3  # an empty ingest queue this many polls in a row (0.5 s apart) is quiet
INVOKE_THREADS = 8


class Harness:
    """The stack, what was uploaded to it, the random source and the counters of one chaos run."""

    def __init__(self, stack: ChaosStack, progress: Progress, run: str, seed: int):
        self.stack = stack
        self.progress = progress
        self.run = run
        self.rng = random.Random(seed)  # nosec B311 - chooses fault moments, not secrets
        self.uploads = Uploads()
        self.numbers = iter(range(10**9))
        self.files_uploaded = 0
        self._lock = threading.Lock()
        self._invokers = ThreadPoolExecutor(INVOKE_THREADS, thread_name_prefix="invoke")

    def say(self, message: str) -> None:
        self.progress.say(message)

    def close(self) -> None:
        self._invokers.shutdown(wait=True, cancel_futures=True)

    # ---- files and uploads ------------------------------------------------------------------------
    def new_files(self, count: int) -> list[ChaosFile]:
        return [chaos_file(self.run, next(self.numbers)) for _ in range(count)]

    def put(self, file: ChaosFile, key: str | None = None, too_large_allowed: bool = False) -> Upload:
        """Upload a file (under its own key, or `key`) and record the version S3 gave it."""
        key = key or file.key
        response = self.stack.client("s3").put_object(Bucket=self.stack.outputs["raw_bucket"], Key=key,
                                                      Body=file.body)  # fmt: skip
        upload = Upload(key, response.get("VersionId") or response["ETag"].strip('"'), file, too_large_allowed)
        with self._lock:
            self.uploads.add(upload)
            self.files_uploaded += 1
        return upload

    def put_all(self, files: list[ChaosFile], threads: int = 8, keys: list[str] | None = None) -> list[Upload]:
        """Upload files at once (under their own keys, or `keys`)."""
        with ThreadPoolExecutor(threads, thread_name_prefix="put") as pool:
            return list(pool.map(self.put, files, keys or [None] * len(files)))

    def put_in_background(self, files: list[ChaosFile], stop: threading.Event, pause: float = 0.0) -> threading.Thread:
        """Upload the files one after the other until done or `stop` is set; an upload the emulator
        does not answer (it was killed) ends the flow quietly: nothing of it was recorded."""

        def flow() -> None:
            for file in files:
                if stop.is_set():
                    return
                try:
                    self.put(file)
                except (BotoCoreError, ClientError):
                    return
                if pause:
                    time.sleep(pause)

        thread = threading.Thread(target=flow, name="flow", daemon=True)
        thread.start()
        return thread

    # ---- racing the queue -------------------------------------------------------------------------
    def invoke_now(self, upload: Upload, event_time: datetime) -> Future:
        """Hand the processor this upload's S3 notification now, beside the queue's own delivery.
        `event_time` is taken after the put returned: later than S3's own event time for this
        version, earlier than any later version's (what the processor orders versions by)."""
        outputs = self.stack.outputs
        record = {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": self.stack.pipeline.env.region,
            "eventTime": event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0",
                   "bucket": {"name": outputs["raw_bucket"], "arn": f"arn:aws:s3:::{outputs['raw_bucket']}"},
                   "object": {"key": quote_plus(upload.key, safe="/"), "size": len(upload.file.body),
                              "versionId": upload.version_id}},
        }  # fmt: skip
        event = sqs_event([json.dumps({"Records": [record]})], outputs["ingest_queue_arn"],
                          self.stack.pipeline.env.region)  # fmt: skip
        lam = self.stack.client("lambda")
        return self._invokers.submit(lambda: lam.invoke(FunctionName=outputs["processor_function_name"],
                                                        Payload=json.dumps(event).encode()))  # fmt: skip

    # ---- settling and checking -----------------------------------------------------------------------
    def wait_quiet(self, timeout: float) -> bool:
        """Until the ingest queue has been empty (nothing visible, nothing in flight) for a moment."""
        deadline = time.monotonic() + timeout
        quiet, last_report = 0, time.monotonic()
        while time.monotonic() < deadline:
            depths = self.stack.queue_depths()
            quiet = quiet + 1 if depths["visible"] == 0 and depths["in_flight"] == 0 else 0
            if quiet >= QUIET_POLLS:
                return True
            if time.monotonic() - last_report > 15:
                self.say(f"  waiting for the ingest queue to drain: {depths}")
                last_report = time.monotonic()
            time.sleep(0.5)
        return False

    def settle(self, timeout: float = 300) -> tuple[int, int]:
        """Wait for quiet, replay the dead-letter queue (`tidewater replay-dlq`), wait again; the DLQ's
        depth before and after the replay."""
        if not self.wait_quiet(timeout):
            self.say(f"  the ingest queue did not drain within {timeout:.0f}s")
        before = self.stack.queue_depths()["dlq"]
        if before:
            moved = dlq.replay(self.stack.pipeline)
            self.say(f"  replay-dlq moved {len(moved)} message(s) back to the ingest queue")
            if not self.wait_quiet(timeout):
                self.say(f"  the ingest queue did not drain within {timeout:.0f}s after the replay")
        return before, self.stack.queue_depths()["dlq"]

    def check(self, dlq_after_replay: int) -> tuple[Verdict, Observed]:
        observed = observe(self.stack.pipeline, dlq_after_replay)
        return judge(self.uploads, observed), observed

    def processor(self) -> str:
        return self.stack.outputs["processor_function_name"]


def now_utc() -> datetime:
    return datetime.now(UTC)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ChaosFailure(message)
