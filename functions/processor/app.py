"""Processor: loads objects uploaded to the raw bucket, one SQS message (an S3 notification) at a time.

Messages whose processing raised are reported back as batch item failures, so only they are retried
and, after the queue's maxReceiveCount, moved to the DLQ. Only infrastructure errors raise: bad data
is quarantined and acknowledged (see pipeline.ingest).

What only a file needs - pipeline.ingest with pandas, numpy and pyarrow (~0.4 s of imports), boto3
and its S3 client (~0.25 s) - is imported and created on the first file an execution environment
processes, not at init: a cold start that reads no file (a test event, a malformed message) pays
nothing for it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline import db
from pipeline.events import MalformedMessage, S3ObjectRef, parse_message

if TYPE_CHECKING:
    from pipeline.ingest import Destinations, Outcome

REDELIVERED = "redelivered"  # pipeline.ingest.REDELIVERED (a test checks they are the same)

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def s3_client() -> Any:
    """The environment's S3 client, created on first use and reused."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=60))


def ingest_object(ref: S3ObjectRef, **kwargs: Any) -> Outcome:
    from pipeline import ingest

    return ingest.ingest_object(ref, **kwargs)


def destinations_from_env() -> Destinations:
    from pipeline.ingest import Destinations

    return Destinations.from_env()

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


def record_handler(record: SQSRecord) -> None:
    """Process every object of one S3 notification; raises only when a retry can help."""
    try:
        refs = parse_message(record.body)
    except MalformedMessage as exc:
        # Redelivery cannot repair a body: acknowledge it, but loudly.
        logger.error("Ignoring a message that is not an S3 notification", message_id=record.message_id, error=str(exc))
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        return
    if not refs:
        logger.info("Acknowledged an s3:TestEvent", message_id=record.message_id)
        return
    destinations = destinations_from_env()
    for ref in refs:
        with logger.append_context_keys(s3_bucket=ref.bucket, s3_key=ref.key, s3_version=ref.idempotency_version):
            try:
                process_object(ref, destinations)
            except Exception:
                logger.exception("Processing failed; the message will be retried (then moved to the DLQ)")
                raise


def process_object(ref: S3ObjectRef, destinations: Destinations) -> None:
    if not ref.is_created or ref.is_folder_marker:
        logger.info("Skipping an event that adds no file", event_name=ref.event_name)
        return
    outcome = ingest_object(ref, s3=s3_client(), conn=db.connection(), destinations=destinations)
    record_outcome(outcome)


def record_outcome(outcome: Outcome) -> None:
    if outcome.status == REDELIVERED:
        logger.info("Already processed this object version: nothing to do")
        return
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


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
