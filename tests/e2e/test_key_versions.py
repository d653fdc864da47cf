"""Through the real stack: an overwritten key corrects the data, and the buckets hold what the ledger
names (`tidewater doctor` finds and removes what a killed load would leave)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e.test_housing_pipeline import put, wait_for_ledger
from tests.stacks import s3_event, wait_until
from tidewater.doctor import describe, examine, remove

pytestmark = pytest.mark.e2e

SEED_LINES = (Path(__file__).resolve().parents[2] / "seed_data" / "housing" / "california_housing.csv").read_bytes()
SEED_LINES = SEED_LINES.splitlines(keepends=True)


def housing(start: int, stop: int, bump: int) -> bytes:
    """Rows [start, stop) of the seed file, house values raised by `bump` (new bytes every run)."""
    out = [SEED_LINES[0]]
    for line in SEED_LINES[1 + start : 1 + stop]:
        fields = line.decode().rstrip("\n").split(",")
        fields[8] = str(float(fields[8]) + bump)
        out.append((",".join(fields) + "\n").encode())
    return b"".join(out)


def exists(stack, bucket_output: str, key: str) -> bool:
    s3 = stack.client("s3")
    try:
        s3.head_object(Bucket=stack.outputs[bucket_output], Key=key)
    except s3.exceptions.ClientError:
        return False
    return True


def drained(stack) -> None:
    wait_until(lambda: stack.pipeline.queue_depth(stack.outputs["ingest_queue_url"]) == (0, 0), 120, "queue drained")


def test_an_overwritten_key_replaces_its_rows_and_outputs_and_an_old_redelivery_changes_nothing(stack):
    bump = uuid.uuid4().int % 1000 + 1
    key = f"housing/versions/{uuid.uuid4().hex[:8]}.csv"
    # GIVEN a file with one bad row, loaded
    first = housing(0, 300, bump).replace(b"NEAR BAY", b"NEAR PIER", 1)
    v1 = put(stack, key, first)
    old = wait_for_ledger(stack, key, v1)
    assert old["status"] == "loaded" and old["rows_quarantined"] == 1
    assert exists(stack, "quarantine_bucket", f"{key}/reason.json")

    # WHEN the corrected file (the bad row fixed, 100 rows more) is uploaded under the same key
    v2 = put(stack, key, housing(0, 400, bump))
    new = wait_for_ledger(stack, key, v2)

    # THEN the table holds the new version's rows only, and the old version's objects are gone
    assert new["status"] == "loaded" and new["rows_loaded"] == 400
    q = stack.pipeline.query
    owners = dict(q("SELECT file_id, count(*) FROM housing WHERE file_id IN "
                    "(SELECT id FROM ingested_files WHERE s3_key = %s) GROUP BY file_id", (key,)))  # fmt: skip
    assert owners == {new["id"]: 400}
    status, superseded_by = q("SELECT status, superseded_by FROM ingested_files WHERE id = %s", (old["id"],))[0]
    assert (status, superseded_by) == ("superseded", new["id"])
    assert not exists(stack, "processed_bucket", old["processed_key"])
    assert exists(stack, "processed_bucket", new["processed_key"])
    assert not exists(stack, "quarantine_bucket", f"{key}/reason.json")

    # WHEN the old version's S3 event is delivered once more THEN nothing changes
    stack.client("sqs").send_message(QueueUrl=stack.outputs["ingest_queue_url"],
                                     MessageBody=s3_event(stack.outputs["raw_bucket"], key, v1))  # fmt: skip
    drained(stack)
    assert dict(q("SELECT file_id, count(*) FROM housing WHERE file_id IN (%s, %s) GROUP BY file_id",
                  (old["id"], new["id"]))) == {new["id"]: 400}  # fmt: skip
    assert q("SELECT count(*) FROM ingested_files WHERE s3_key = %s", (key,))[0][0] == 2


def test_doctor_finds_what_no_file_names_and_removes_only_that(stack):
    # GIVEN a quiet pipeline and the Parquet a load killed between its upload and its COMMIT leaves
    drained(stack)
    orphan = f"housing/dt=2025-11-20/killed-{uuid.uuid4().hex[:12]}.parquet"
    stack.client("s3").put_object(Bucket=stack.outputs["processed_bucket"], Key=orphan, Body=b"PAR1")

    # WHEN the doctor looks THEN it finds exactly that object, and nothing the ledger names is missing
    findings = examine(stack.pipeline, min_age_minutes=0)
    assert [o.key for o in findings.orphans] == [orphan] and findings.missing == []
    assert "tidewater doctor --fix" in describe(findings, fixed=False, min_age_minutes=0)
    # ... and leaves it alone while it might belong to a running load
    assert orphan in [o.key for o in examine(stack.pipeline).young]

    # WHEN it fixes THEN the orphan is gone and every output the ledger names is still there
    remove(stack.pipeline, findings.orphans)
    assert not exists(stack, "processed_bucket", orphan)
    after = examine(stack.pipeline, min_age_minutes=0)
    assert after.orphans == [] and after.missing == []
