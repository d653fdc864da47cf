"""The processor handler fed with the example events in functions/processor/events/.

`ingest_object` and the database connection are replaced: these tests check what the handler
acknowledges, what it reports as a batch item failure (to be retried), and what it measures.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

# The handler creates its Powertools objects at import, as in Lambda (its boto3 client on the first file).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "processor")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "tidewater")

import app  # noqa: E402
from pipeline.ingest import REDELIVERED, Outcome  # noqa: E402
from pipeline.sharing import NeedsRoom  # noqa: E402

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "functions" / "processor" / "events"


@dataclass
class Context:
    function_name: str = "tidewater-processor"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:tidewater-processor"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def calls(monkeypatch):
    """Every object the handler asks to ingest; the outcome is `calls.outcome` or `calls.error`."""

    class Calls(list):
        outcome = Outcome("loaded", file_id=1, rows_loaded=20_640, processed_key="housing/dt=2025-11-20/x.parquet")
        error: Exception | None = None

    recorded = Calls()

    def fake_ingest(ref, *, s3, conn, destinations):
        recorded.append(ref)
        if recorded.error is not None:
            raise recorded.error
        return recorded.outcome

    monkeypatch.setenv("PROCESSED_BUCKET", "processed")
    monkeypatch.setenv("QUARANTINE_BUCKET", "quarantine")
    monkeypatch.setattr(app, "ingest_object", fake_ingest)
    monkeypatch.setattr(app.db, "connection", lambda: "connection")
    return recorded


def emitted_metrics(capsys) -> dict[str, list]:
    """The metric values of the EMF blob Powertools prints when the handler returns."""
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        if "_aws" in document:
            names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            return {name: document[name] for name in names}
    return {}


def test_an_uploaded_housing_file_is_ingested_and_acknowledged(calls, capsys):
    response = app.lambda_handler(event("sqs_s3_object_created.json"), Context())

    assert response == {"batchItemFailures": []}
    (ref,) = calls
    assert (ref.bucket, ref.key, ref.dataset) == ("tidewater-local-raw", "housing/california_housing.csv", "housing")
    metrics = emitted_metrics(capsys)
    assert metrics["FilesLoaded"] == [1] and metrics["RowsLoaded"] == [20_640]


def test_the_handler_passes_the_decoded_key(calls):
    app.lambda_handler(event("sqs_s3_encoded_key.json"), Context())
    assert calls[0].key == "housing/2025 Q4/california housing (copy).csv"


def test_the_s3_test_event_is_acknowledged_and_ignored(calls):
    assert app.lambda_handler(event("sqs_s3_test_event.json"), Context()) == {"batchItemFailures": []}
    assert calls == []


def test_a_malformed_body_is_acknowledged_not_retried(calls, capsys):
    assert app.lambda_handler(event("sqs_malformed_body.json"), Context()) == {"batchItemFailures": []}
    assert calls == []
    assert "MalformedMessages" in emitted_metrics(capsys)


def test_a_quarantined_file_is_acknowledged_and_counted(calls, capsys):
    calls.outcome = Outcome("quarantined", file_id=2, reason="missing_columns", detail="missing: latitude")
    assert app.lambda_handler(event("sqs_s3_object_created.json"), Context()) == {"batchItemFailures": []}
    assert "FilesQuarantined" in emitted_metrics(capsys)


def test_a_redelivered_object_is_acknowledged_without_counting_it_again(calls, capsys):
    calls.outcome = Outcome(REDELIVERED)
    assert app.lambda_handler(event("sqs_s3_object_created.json"), Context()) == {"batchItemFailures": []}
    assert not {"FilesLoaded", "DuplicateFiles", "FilesQuarantined"} & set(emitted_metrics(capsys))


def test_when_every_message_fails_the_invocation_fails_so_the_whole_batch_is_retried(calls):
    # GIVEN a batch of two messages, and a database that is down
    batch = event("sqs_s3_object_created.json")
    second = copy.deepcopy(batch["Records"][0])
    second["messageId"] = "second-message"
    batch["Records"].append(second)
    calls.error = psycopg2.OperationalError("connection refused")

    # WHEN the batch is handled THEN the invocation fails (Powertools' default for a batch that failed
    # entirely): SQS makes every message visible again, and the Lambda Errors alarm sees it
    with pytest.raises(BatchProcessingError, match="All records failed"):
        app.lambda_handler(batch, Context())
    assert len(calls) == 2


def test_an_infrastructure_error_reports_only_that_message_for_retry(calls):
    batch = event("sqs_s3_test_event.json")
    batch["Records"] += event("sqs_s3_object_created.json")["Records"]
    calls.error = psycopg2.OperationalError("connection refused")
    response = app.lambda_handler(batch, Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]}


def test_events_that_add_no_file_are_skipped(calls):
    batch = event("sqs_s3_object_created.json")
    body = json.loads(batch["Records"][0]["body"])
    removed = copy.deepcopy(body["Records"][0])
    removed["eventName"] = "ObjectRemoved:Delete"
    folder = copy.deepcopy(body["Records"][0])
    folder["s3"]["object"]["key"] = "housing/2025/"
    batch["Records"][0]["body"] = json.dumps({"Records": [removed, folder]})

    assert app.lambda_handler(batch, Context()) == {"batchItemFailures": []}
    assert calls == []


def test_every_log_line_about_a_file_names_its_key(calls, monkeypatch):
    # The logger keeps the stream it found at import; point it at a buffer for this test.
    stream = io.StringIO()
    monkeypatch.setattr(app.logger.registered_handler, "stream", stream)
    calls.outcome = Outcome("quarantined", file_id=2, reason="empty_file", detail="the object is empty")

    app.lambda_handler(event("sqs_s3_object_created.json"), Context())

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (quarantined,) = [line for line in lines if line["message"] == "Quarantined the file"]
    assert quarantined["s3_key"] == "housing/california_housing.csv" and quarantined["reason"] == "empty_file"
    assert quarantined["level"] == "WARNING"


@pytest.mark.parametrize(
    ("name", "key", "dataset"),
    [
        ("sqs_s3_retina_scans.json", "retina/2025/retina_scans.json", "retina"),
        ("sqs_s3_events_gzip.json", "events/2025-11-18/app events.ndjson.gz", "events"),
    ],
)
def test_every_dataset_reaches_ingest_with_its_decoded_key(calls, name, key, dataset):
    assert app.lambda_handler(event(name), Context()) == {"batchItemFailures": []}
    (ref,) = calls
    assert (ref.key, ref.dataset) == (key, dataset)


def test_a_cold_start_imports_nothing_only_a_file_needs():
    # GIVEN a fresh interpreter that imports the handler module, as the init phase does
    code = (
        "import sys, app; "
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'boto3', 'pipeline.ingest') if m in sys.modules))"
    )
    paths = [str(Path(app.__file__).parent), str(Path(app.__file__).parents[1] / "shared")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    # THEN pandas, numpy, pyarrow and boto3 wait for the first file
    assert result.stdout.strip() == "[]"


def test_the_handler_names_the_redelivered_outcome_as_ingest_does():
    from pipeline import ingest

    assert app.REDELIVERED == ingest.REDELIVERED


def batch_of(keys: list[str]) -> dict:
    """One SQS message per key, each an S3 notification of that key."""
    template = event("sqs_s3_object_created.json")["Records"][0]
    records = []
    for number, key in enumerate(keys):
        record = copy.deepcopy(template)
        body = json.loads(record["body"])
        body["Records"][0]["s3"]["object"]["key"] = key
        record["body"], record["messageId"] = json.dumps(body), f"message-{number}"
        records.append(record)
    return {"Records": records}


def test_the_messages_of_a_batch_are_processed_side_by_side_each_logged_with_its_own_key(calls, monkeypatch):
    # GIVEN a batch of 8 files, and an ingest that waits until two of them run at the same time
    stream = io.StringIO()
    monkeypatch.setattr(app.logger.registered_handler, "stream", stream)
    together = threading.Barrier(2, timeout=10)
    seen_sharing = []

    def slow_ingest(ref, *, s3, conn, destinations):
        seen_sharing.append(destinations.sharing)
        if ref.key.endswith(("/0.csv", "/1.csv")):
            together.wait()  # a BrokenBarrierError (a failed message) if they ran one after the other
        return Outcome("loaded", file_id=1, rows_loaded=1, processed_key=f"processed-{ref.key}")

    monkeypatch.setattr(app, "ingest_object", slow_ingest)
    keys = [f"housing/side-by-side/{i}.csv" for i in range(8)]

    # WHEN the batch is handled
    response = app.lambda_handler(batch_of(keys), Context())

    # THEN every file loaded, each shared /tmp with the others, and each log line names its own file
    assert response == {"batchItemFailures": []}
    assert seen_sharing == [app.RECORD_WORKERS] * 8
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    loaded = [line for line in lines if line["message"] == "Loaded the file"]
    assert sorted(line["s3_key"] for line in loaded) == sorted(keys)
    assert all(line["processed_key"] == f"processed-{line['s3_key']}" for line in loaded)


def test_a_file_too_large_for_its_share_of_tmp_is_processed_again_alone(calls, monkeypatch):
    # GIVEN a batch where one file does not fit its share of /tmp beside the others
    attempts = []

    def ingest(ref, *, s3, conn, destinations):
        attempts.append((ref.key, destinations.sharing))
        if ref.key.endswith("big.csv") and destinations.sharing > 1:
            raise NeedsRoom("too large for a quarter of /tmp")
        return Outcome("loaded", file_id=1, rows_loaded=1)

    monkeypatch.setattr(app, "ingest_object", ingest)
    keys = ["housing/a.csv", "housing/big.csv", "housing/b.csv"]

    # WHEN the batch is handled THEN it is acknowledged: the big file was processed again, alone
    assert app.lambda_handler(batch_of(keys), Context()) == {"batchItemFailures": []}
    assert ("housing/big.csv", 3) in attempts and ("housing/big.csv", 1) in attempts
    assert len(attempts) == 4


def test_a_batch_of_one_message_gives_its_file_all_of_tmp(calls, monkeypatch):
    shares = []

    def ingest(ref, *, s3, conn, destinations):
        shares.append(destinations.sharing)
        return calls.outcome

    monkeypatch.setattr(app, "ingest_object", ingest)
    app.lambda_handler(event("sqs_s3_object_created.json"), Context())
    assert shares == [1]


def test_a_reprocess_invocation_loads_the_file_alone_with_all_of_tmp(calls, monkeypatch):
    # GIVEN `tidewater reprocess`'s direct invocation (no SQS batch)
    from pipeline import ingest

    seen = []

    def reprocess_file(file_id, *, s3, conn, destinations):
        seen.append((file_id, s3, conn, destinations.sharing, threading.current_thread() is threading.main_thread()))
        return Outcome("loaded", file_id=file_id, rows_loaded=3)

    monkeypatch.setattr(ingest, "reprocess_file", reprocess_file)
    monkeypatch.setattr(app, "s3_client", lambda: "s3")

    # WHEN it is handled THEN the file is loaded again on the invocation's own thread, with all of /tmp,
    # and the answer is the outcome; a malformed request is answered with what was expected
    assert app.lambda_handler({"reprocess": {"file_id": 7}}, Context()) == {
        "status": "loaded", "file_id": 7, "rows_loaded": 3, "rows_quarantined": 0}  # fmt: skip
    assert seen == [(7, "s3", "connection", 1, True)]
    assert "error" in app.lambda_handler({"reprocess": {"file_id": "7"}}, Context())
    assert calls == []
