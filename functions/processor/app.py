"""Processor: loads objects uploaded to the raw bucket, one SQS message (an S3 notification) at a time.

Messages whose processing raised are reported back as batch item failures, so only they are retried
and, after the queue's maxReceiveCount, moved to the DLQ. Only infrastructure errors raise: bad data
is quarantined and acknowledged (see pipeline.ingest). `tidewater reprocess` invokes it directly
to load a file of the ledger again under the deployed contracts.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pipeline import db
from pipeline.events import MalformedMessage, S3ObjectRef, parse_message
from pipeline.ingest import REDELIVERED, Destinations, Outcome, ingest_object, reprocess_file

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
s3 = boto3.client("s3", config=Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=60))

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
    destinations = Destinations.from_env()
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
    outcome = ingest_object(ref, s3=s3, conn=db.connection(), destinations=destinations)
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


def reprocess(request: dict) -> dict:
    """`tidewater reprocess` invokes the function directly, once per file: {"reprocess": {"file_id": N}}
    loads ledger row N again under this function's contracts (ingest.reprocess_file)."""
    file_id = request.get("file_id")
    if isinstance(file_id, bool) or not isinstance(file_id, int):
        return {"error": f'expected {{"reprocess": {{"file_id": <ledger id>}}}}, found {request!r}'}
    with logger.append_context_keys(file_id=file_id, reprocess=True):
        outcome = reprocess_file(file_id, s3=s3, conn=db.connection(), destinations=Destinations.from_env())
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
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
