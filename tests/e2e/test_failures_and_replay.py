"""Infrastructure failures: retried, dead-lettered, replayed once fixed — and loaded exactly once.

Data problems never come here (they are quarantined); these tests break the infrastructure itself.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_housing_pipeline import housing_rows, ledger_row, put, wait_for_ledger
from tests.stacks import s3_event, wait_until
from tidewater.dlq import peek, replay
from tidewater.status import status

pytestmark = pytest.mark.e2e

SEED = Path(__file__).resolve().parents[2] / "seed_data" / "housing" / "california_housing.csv"


def housing_slice(start: int, count: int) -> bytes:
    lines = SEED.read_bytes().splitlines(keepends=True)
    return lines[0] + b"".join(lines[start : start + count])


def dlq_keys(stack) -> list[str]:
    return sorted(key for letter in peek(stack.pipeline) for key in letter.keys)


def test_outage_dead_letters_then_replay_loads_every_file_exactly_once(stack):
    # GIVEN the database is down while two files arrive
    files = {f"housing/outage/{uuid.uuid4().hex}.csv": housing_slice(2000 + 40 * i, 40) for i in range(2)}
    rows_before = housing_rows(stack)
    stack.stop_postgres()
    try:
        versions = {key: put(stack, key, body) for key, body in files.items()}
        # THEN each is retried maxReceiveCount times and lands in the DLQ, nothing half-loaded
        wait_until(lambda: dlq_keys(stack) == sorted(files), 300, "both files in the dead-letter queue", interval=3)
    finally:
        stack.start_postgres()
    assert all(letter.receive_count >= 3 for letter in peek(stack.pipeline))
    assert all(ledger_row(stack, key, version) is None for key, version in versions.items())
    # `tidewater status` counts them as failed for their dataset
    lines = status(stack.pipeline).splitlines()
    header = next(line for line in lines if line.startswith("dataset "))
    housing_line = next(line for line in lines if line.startswith("housing "))
    column = header.index("failed (in DLQ)")
    assert housing_line[column:].split()[0] == "2", f"{header}\n{housing_line}"

    # WHEN the cause is fixed and the DLQ is replayed
    assert sorted(k for letter in replay(stack.pipeline, dry_run=True) for k in letter.keys) == sorted(files)
    assert dlq_keys(stack) == sorted(files)  # a dry run moves nothing
    moved = replay(stack.pipeline)

    # THEN every file loads exactly once and the DLQ is empty
    assert sorted(k for letter in moved for k in letter.keys) == sorted(files)
    for key, version in versions.items():
        ledger = wait_for_ledger(stack, key, version)
        assert (ledger["status"], ledger["rows_loaded"]) == ("loaded", 40)
    assert housing_rows(stack) == rows_before + 80
    assert dlq_keys(stack) == []

    # AND replaying the same messages again (an operator's double replay) changes nothing
    sqs = stack.client("sqs")
    for letter in moved:
        sqs.send_message(QueueUrl=stack.outputs["ingest_queue_url"], MessageBody=letter.body)
    wait_until(lambda: stack.pipeline.queue_depth(stack.outputs["ingest_queue_url"]) == (0, 0), 60, "queue drained")
    assert housing_rows(stack) == rows_before + 80


def test_poison_record_is_the_only_one_reported_for_retry(stack):
    # GIVEN a loaded file and an event for an object in a bucket that does not exist
    key = f"housing/batch/{uuid.uuid4().hex}.csv"
    version = put(stack, key, housing_slice(3000, 5))
    wait_for_ledger(stack, key, version)
    raw = stack.outputs["raw_bucket"]
    records = [
        {"messageId": "good-1", "body": s3_event(raw, key, version)},
        {"messageId": "poison", "body": s3_event("tidewater-no-such-bucket", "housing/poison.csv")},
        {"messageId": "good-2", "body": s3_event(raw, key, version)},
    ]
    event = {"Records": [
        {**r, "receiptHandle": r["messageId"], "attributes": {"ApproximateReceiveCount": "1"},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": stack.outputs["ingest_queue_arn"], "awsRegion": stack.region}
        for r in records
    ]}  # fmt: skip

    # WHEN the processor gets them in one batch
    response = stack.client("lambda").invoke(
        FunctionName=stack.outputs["processor_function_name"], Payload=json.dumps(event).encode()
    )
    result = json.loads(response["Payload"].read())

    # THEN only the poison record is reported as failed (partial batch response)
    assert "FunctionError" not in response, result
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}]}


def test_poison_message_alone_reaches_the_dead_letter_queue(stack):
    # GIVEN good files and one poison message sent to the ingest queue together
    good = {f"housing/mixed/{uuid.uuid4().hex}.csv": housing_slice(4000 + 10 * i, 10) for i in range(3)}
    rows_before = housing_rows(stack)
    versions = {key: put(stack, key, body) for key, body in good.items()}
    poison_key = f"housing/poison/{uuid.uuid4().hex}.csv"
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs["ingest_queue_url"], MessageBody=s3_event("tidewater-no-such-bucket", poison_key)
    )

    # THEN the good files load once, and only the poison message is dead-lettered
    for key, version in versions.items():
        assert wait_for_ledger(stack, key, version)["rows_loaded"] == 10
    wait_until(lambda: poison_key in dlq_keys(stack), 300, "the poison message in the DLQ", interval=3)
    assert dlq_keys(stack) == [poison_key]
    assert housing_rows(stack) == rows_before + 30
    # Clean up so later tests start with an empty DLQ.
    for letter in peek(stack.pipeline, hold_seconds=30):
        stack.client("sqs").delete_message(QueueUrl=stack.outputs["dlq_url"], ReceiptHandle=letter.receipt_handle)
