"""The bad-inputs corpus end to end: every case of tests/fixtures/bad_inputs/manifest.json is uploaded
once, then each case's ledger row, reason.json and rejected_rows.csv are checked exactly.

A case is {"file", "key", "status", "reason", "rows_loaded", "rows_quarantined", "rejected", "why"}
(+ "generated": true when make_corpus.py builds the bytes at test time; + "timestamps_utc":
[[source_row, ISO 8601 UTC], ...] for events whose stored moments are checked too). `key` is uploaded as
`<dataset>/<run id>/<rest of key>` (`<run id>-<key>` when it has no dataset prefix), so runs never
collide and every quirk of the key (spaces, '+', '%', unicode, '..') is kept.

The corpus's good files must be new bytes to the stack: a stack that already loaded them records
them as `duplicate`. Use a fresh stack (the host and docker modes are).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_housing_pipeline import put
from tests.stacks import wait_until

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs"
CASES: list[dict] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
KNOWN_DATASETS = {"housing", "retina", "events"}
LEDGER_TIMEOUT = 300  # every case recorded: a cold function and ~65 files, with room to spare
DRAIN_TIMEOUT = 180  # > max_receive_count x visibility timeout locally (3 x 30 s): a retry cannot hide
LEDGER_COLUMNS = (
    "id",
    "s3_key",
    "version_id",
    "dataset",
    "status",
    "rows_loaded",
    "rows_quarantined",
    "error",
    "error_detail",
    "quarantine_key",
    "duplicate_of",
)


def load_make_corpus():
    spec = importlib.util.spec_from_file_location("bad_inputs_make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_body(case: dict, make_corpus) -> bytes:
    if case.get("generated"):
        return make_corpus.generated_body(case["file"])
    return (CORPUS / case["file"]).read_bytes()


def session_key(key: str, run: str) -> str:
    dataset, slash, rest = key.partition("/")
    return f"{dataset}/{run}/{rest}" if slash else f"{run}-{key}"


@dataclass(frozen=True)
class Upload:
    key: str  # as uploaded (decoded)
    version_id: str
    ledger: dict | None  # None: no ledger row within LEDGER_TIMEOUT


@dataclass(frozen=True)
class CorpusRun:
    run: str
    uploads: dict[str, Upload]  # case file -> upload


def ledger_rows(stack, version_ids: list[str]) -> dict[str, list[dict]]:
    """Ledger rows of these object versions, by version_id (looked up by version, not key, so a
    wrongly decoded key still shows up and fails the key assertion instead of timing out)."""
    rows = stack.pipeline.query(
        f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ingested_files WHERE bucket = %s AND version_id = ANY(%s)",
        (stack.outputs["raw_bucket"], version_ids),
    )
    found: dict[str, list[dict]] = {}
    for row in rows:
        entry = dict(zip(LEDGER_COLUMNS, row, strict=True))
        found.setdefault(entry["version_id"], []).append(entry)
    return found


def pick(rows: list[dict], key: str) -> dict | None:
    if not rows:
        return None
    exact = [row for row in rows if row["s3_key"] == key]
    return (exact or rows)[0]


@pytest.fixture(scope="module")
def corpus(stack) -> CorpusRun:
    """Upload every case once, then wait until each has its ledger row (or LEDGER_TIMEOUT passes:
    the cases without one then fail on their own, and the DLQ test says why)."""
    make_corpus = load_make_corpus()
    run = f"corpus-{uuid.uuid4().hex[:12]}"
    uploaded: dict[str, tuple[str, str]] = {}
    for case in CASES:
        key = session_key(case["key"], run)
        uploaded[case["file"]] = (key, put(stack, key, case_body(case, make_corpus)))
    versions = [version for _, version in uploaded.values()]

    def all_recorded():
        found = ledger_rows(stack, versions)
        return found if all(version in found for version in versions) else None

    try:
        found = wait_until(all_recorded, LEDGER_TIMEOUT, "a ledger row for every corpus file", interval=2)
    except AssertionError:
        found = ledger_rows(stack, versions)
    uploads = {
        file: Upload(key, version, pick(found.get(version, []), key)) for file, (key, version) in uploaded.items()
    }
    return CorpusRun(run, uploads)


def get_object(stack, bucket: str, key: str) -> bytes | None:
    s3 = stack.client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def rejected_triples(data: bytes) -> list[tuple[int, str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    return sorted((int(row["row_number"]), row["column"], row["reason"]) for row in reader)


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_corpus_case_outcome(stack, corpus, case):
    upload = corpus.uploads[case["file"]]
    ledger = upload.ledger
    assert ledger is not None, (
        f"no ledger row for {upload.key!r} (version {upload.version_id}) after {LEDGER_TIMEOUT}s: "
        f"the processor raised on it (see test_corpus_never_retries_or_dead_letters) or never saw it"
    )
    quarantined = case["status"] == "quarantined"

    # The ledger: one row for the object version, under its decoded key, with the exact outcome.
    actual = {name: ledger[name] for name in ("s3_key", "status", "rows_loaded", "rows_quarantined", "error")}
    expected = {
        "s3_key": upload.key,
        "status": case["status"],
        "rows_loaded": case["rows_loaded"],
        "rows_quarantined": case["rows_quarantined"],
        "error": case["reason"] if quarantined else None,
    }
    stale = ledger["status"] == "duplicate"
    hint = " (duplicate: this stack had already loaded these bytes; use a fresh stack)" if stale else ""
    assert actual == expected, case["why"] + hint
    dataset = case["key"].partition("/")[0]
    if dataset in KNOWN_DATASETS:
        assert ledger["dataset"] == dataset
    if quarantined:
        assert ledger["error_detail"], "a quarantined file says why in words too"

    # reason.json under the decoded source key, with the exact reason (none for a clean load).
    quarantine = stack.outputs["quarantine_bucket"]
    reason_key = f"{upload.key}/reason.json"
    reason = get_object(stack, quarantine, reason_key)
    if case["reason"] is None:
        assert reason is None, f"a clean load wrote {reason_key}"
        assert ledger["quarantine_key"] is None
    else:
        assert reason is not None, f"{reason_key} missing from the quarantine bucket"
        assert json.loads(reason)["reason"] == case["reason"]
        assert ledger["quarantine_key"] == reason_key

    # rejected_rows.csv: exactly the expected (row_number, column, reason) triples, or nothing.
    rows_key = f"{upload.key}/rejected_rows.csv"
    rejected = get_object(stack, quarantine, rows_key)
    if case["rejected"]:
        assert rejected is not None, f"{rows_key} missing from the quarantine bucket"
        assert rejected_triples(rejected) == sorted(tuple(triple) for triple in case["rejected"])
    else:
        assert rejected is None, f"{rows_key} written for a case without row-level problems"

    # Events are stored as the UTC moments the file names (each value read on its own).
    if "timestamps_utc" in case:
        stored = stack.pipeline.query(
            "SELECT source_row, timestamp FROM events WHERE file_id = %s ORDER BY source_row", (ledger["id"],)
        )
        assert [[row, moment.isoformat()] for row, moment in stored] == case["timestamps_utc"]

    # Housing rows really are in the table, and none of them is a rejected row.
    if dataset == "housing" and case["status"] == "loaded":
        loaded_rows = {row[0] for row in stack.pipeline.query(
            "SELECT source_row FROM housing WHERE file_id = %s", (ledger["id"],))}  # fmt: skip
        assert len(loaded_rows) == case["rows_loaded"]
        assert not loaded_rows & {triple[0] for triple in case["rejected"]}


def test_corpus_never_retries_or_dead_letters(stack, corpus):
    # Bad data is quarantined and acknowledged on the first receive: the ingest queue drains ...
    ingest = stack.outputs["ingest_queue_url"]
    wait_until(lambda: stack.pipeline.queue_depth(ingest) == (0, 0), DRAIN_TIMEOUT, "the ingest queue to drain")

    # ... nothing of this run reached the dead-letter queue ...
    sqs = stack.client("sqs")
    dead: dict[str, str] = {}
    for _ in range(5):
        response = sqs.receive_message(
            QueueUrl=stack.outputs["dlq_url"], MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1
        )
        for message in response.get("Messages", []):
            if corpus.run in message["Body"]:
                dead[message["MessageId"]] = message["Body"]
    assert not dead, f"{len(dead)} corpus message(s) were retried into the DLQ: {list(dead.values())}"

    # ... and every file has exactly one ledger row.
    recorded = stack.pipeline.query(
        "SELECT count(*) FROM ingested_files WHERE bucket = %s AND strpos(s3_key, %s) > 0",
        (stack.outputs["raw_bucket"], corpus.run),
    )[0][0]
    assert recorded == len(CASES)
