"""Processor: loads objects uploaded to the raw bucket, one SQS message (an S3 notification) at a time.

Messages whose processing raised are reported back as batch item failures, so only they are retried
and, after the queue's maxReceiveCount, moved to the DLQ. Only infrastructure errors raise: bad data
is quarantined and acknowledged (see pipeline.ingest). `tidewater reprocess` invokes it directly
to load a file of the ledger again under the deployed contracts.

What only a file needs - pipeline.ingest with pandas, numpy and pyarrow (~0.4 s of imports), boto3
and its S3 client (~0.25 s) - is imported and created on the first file an execution environment
processes, not at init: a cold start that reads no file (a test event, a malformed message) pays
nothing for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline import db
from pipeline.events import MalformedMessage, S3ObjectRef, parse_message
from pipeline.sharing import DiskTurns, NeedsRoom

if TYPE_CHECKING:
    from pipeline.ingest import Destinations, Outcome

REDELIVERED = "redelivered"  # pipeline.ingest.REDELIVERED (a test checks they are the same)
# The messages of a batch are processed in this many threads at once, each with a database connection
# of its own: a small file's time is mostly waiting on S3 and PostgreSQL (docs/performance.md).
RECORD_WORKERS = 4

logger = Logger()
metrics = Metrics()
metrics_lock = threading.Lock()
processor = AsyncBatchProcessor(event_type=EventType.SQS)
workers = ThreadPoolExecutor(max_workers=RECORD_WORKERS, thread_name_prefix="record")
disk_turns = DiskTurns()
s3_lock = threading.Lock()


@functools.cache
def new_s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=60))


def s3_client() -> Any:
    """The environment's S3 client (thread-safe), created on first use (under a lock: creating one
    is not) and reused."""
    with s3_lock:
        return new_s3_client()


def ingest_object(ref: S3ObjectRef, **kwargs: Any) -> Outcome:
    from pipeline import ingest

    return ingest.ingest_object(ref, **kwargs)


def destinations_from_env(sharing: int) -> Destinations:
    from dataclasses import replace

    from pipeline.ingest import Destinations

    return replace(Destinations.from_env(), sharing=sharing)


OUTCOME_METRICS = {
    "loaded": "FilesLoaded",
    "quarantined": "FilesQuarantined",
    "duplicate": "DuplicateFiles",
    "superseded": "SupersededFiles",
}
OUTCOME_MESSAGES = {
    "loaded": "Loaded the file",
    "duplicate": "Recorded the file as a duplicate of one already loaded; loaded nothing",
    "quarantined": "Quarantined the file",
    "superseded": "A newer version of this key is already loaded; recorded this one as superseded, loaded nothing",
}


def record_handler(record: SQSRecord, sharing: int = 1) -> None:
    """Process every object of one S3 notification; raises only when a retry can help. `sharing`:
    how many files this environment processes at once (pipeline.sharing)."""
    try:
        refs = parse_message(record.body)
    except MalformedMessage as exc:
        # Redelivery cannot repair a body: acknowledge it, but loudly.
        logger.error("Ignoring a message that is not an S3 notification", message_id=record.message_id, error=str(exc))
        with metrics_lock:
            metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        return
    if not refs:
        logger.info("Acknowledged an s3:TestEvent", message_id=record.message_id)
        return
    for ref in refs:
        # Thread-safe keys: this record's log lines name its file, not another thread's.
        keys = {"s3_bucket": ref.bucket, "s3_key": ref.key, "s3_version": ref.idempotency_version}
        logger.thread_safe_append_keys(**keys)
        try:
            process_object(ref, sharing)
        except Exception:
            logger.exception("Processing failed; the message will be retried (then moved to the DLQ)")
            raise
        finally:
            logger.thread_safe_remove_keys(keys)


def process_object(ref: S3ObjectRef, sharing: int) -> None:
    if not ref.is_created or ref.is_folder_marker:
        logger.info("Skipping an event that adds no file", event_name=ref.event_name)
        return
    if sharing == 1:
        outcome = ingest_object(ref, s3=s3_client(), conn=db.connection(), destinations=destinations_from_env(1))
    else:
        try:
            with disk_turns.shared():
                destinations = destinations_from_env(sharing)
                outcome = ingest_object(ref, s3=s3_client(), conn=db.connection(), destinations=destinations)
        except NeedsRoom:
            logger.info("Too large for its share of /tmp beside other files: processing it again alone")
            with disk_turns.alone():
                destinations = destinations_from_env(1)
                outcome = ingest_object(ref, s3=s3_client(), conn=db.connection(), destinations=destinations)
    record_outcome(outcome)


def record_outcome(outcome: Outcome) -> None:
    if outcome.status == REDELIVERED:
        logger.info("Already processed this object version: nothing to do")
        return
    with metrics_lock:
        metrics.add_metric(name=OUTCOME_METRICS[outcome.status], unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="RowsLoaded", unit=MetricUnit.Count, value=outcome.rows_loaded)
        metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=outcome.rows_quarantined)
    fields = {key: value for key, value in vars(outcome).items() if value is not None and value != ()}
    if outcome.leftovers:
        logger.warning(
            "Could not delete the replaced version's objects; `tidewater doctor` removes them",
            leftovers=list(outcome.leftovers),
        )
    if outcome.status == "quarantined" or outcome.rows_quarantined:
        logger.warning(OUTCOME_MESSAGES[outcome.status], **fields)
    else:
        logger.info(OUTCOME_MESSAGES[outcome.status], **fields)


async def record_in_a_worker(record: SQSRecord, sharing: int) -> None:
    """record_handler on a worker thread, in a copy of this context (its log keys stay its own)."""
    context = contextvars.copy_context()
    await asyncio.get_running_loop().run_in_executor(workers, context.run, record_handler, record, sharing)


def reprocess(request: dict) -> dict:
    """`tidewater reprocess` invokes the function directly, once per file: {"reprocess": {"file_id": N}}
    loads ledger row N again under this function's contracts (ingest.reprocess_file). It runs alone in
    its invocation (no batch beside it), on this thread, with all of /tmp."""
    file_id = request.get("file_id")
    if isinstance(file_id, bool) or not isinstance(file_id, int):
        return {"error": f'expected {{"reprocess": {{"file_id": <ledger id>}}}}, found {request!r}'}
    from pipeline.ingest import reprocess_file

    with logger.append_context_keys(file_id=file_id, reprocess=True):
        outcome = reprocess_file(file_id, s3=s3_client(), conn=db.connection(), destinations=destinations_from_env(1))
        if outcome.status in OUTCOME_METRICS:
            record_outcome(outcome)
        else:
            logger.info("Reprocess left the file as it was", status=outcome.status, reason=outcome.reason,
                        detail=outcome.detail)  # fmt: skip
    return {key: value for key, value in vars(outcome).items() if value is not None and value != ()}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if isinstance(event, dict) and isinstance(event.get("reprocess"), dict):
        return reprocess(event["reprocess"])
    sharing = max(1, min(RECORD_WORKERS, len(event.get("Records") or [])))
    return async_process_partial_response(
        event=event,
        record_handler=functools.partial(record_in_a_worker, sharing=sharing),
        processor=processor,
        context=context,
    )
