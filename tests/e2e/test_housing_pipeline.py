"""The housing slice end to end: upload -> S3 -> SQS -> Lambda -> Postgres + Parquet + ledger.

Expected numbers are computed here from the CSV with the standard library, independently of the
processor's pandas code. Tests tolerate each other's uploads by comparing the summary before and
after their own file.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.stacks import s3_event, wait_until

pytestmark = pytest.mark.e2e

SEED = Path(__file__).resolve().parents[2] / "seed_data" / "housing" / "california_housing.csv"


def expected_summary(csv_bytes: bytes) -> dict[str, dict]:
    """ocean_proximity -> count, sum, min, max of median_house_value, from the raw CSV."""
    groups: dict[str, dict] = {}
    for row in csv.DictReader(io.StringIO(csv_bytes.decode())):
        value = Decimal(row["median_house_value"])
        g = groups.setdefault(row["ocean_proximity"], {"count": 0, "sum": Decimal(0), "min": value, "max": value})
        g["count"] += 1
        g["sum"] += value
        g["min"] = min(g["min"], value)
        g["max"] = max(g["max"], value)
    return groups


def summary(stack) -> dict[str, dict]:
    rows = stack.pipeline.query(
        "SELECT ocean_proximity, record_count, avg_median_house_value, min_median_house_value, "
        "max_median_house_value FROM housing_summary_statistics"
    )
    return {r[0]: {"count": r[1], "sum": Decimal(r[2]) * r[1], "min": Decimal(r[3]), "max": Decimal(r[4])}
            for r in rows}  # fmt: skip


def combine(before: dict[str, dict], added: dict[str, dict]) -> dict[str, dict]:
    result = {k: dict(v) for k, v in before.items()}
    for key, g in added.items():
        if key not in result:
            result[key] = dict(g)
            continue
        r = result[key]
        r["count"] += g["count"]
        r["sum"] += g["sum"]
        r["min"] = min(r["min"], g["min"])
        r["max"] = max(r["max"], g["max"])
    return result


def assert_summary_equal(actual: dict[str, dict], expected: dict[str, dict]) -> None:
    assert set(actual) == set(expected)
    for key, e in expected.items():
        a = actual[key]
        assert a["count"] == e["count"], key
        assert a["min"] == e["min"] and a["max"] == e["max"], key
        # avg is stored as numeric; allow rounding of the stored average only.
        assert abs(a["sum"] / a["count"] - e["sum"] / e["count"]) < Decimal("0.01"), key


def put(stack, key: str, body: bytes) -> str:
    response = stack.client("s3").put_object(Bucket=stack.outputs["raw_bucket"], Key=key, Body=body)
    return response.get("VersionId") or response["ETag"].strip('"')


def ledger_row(stack, key: str, version_id: str) -> dict | None:
    rows = stack.pipeline.query(
        "SELECT status, rows_loaded, rows_quarantined, processed_key, dataset, content_sha256, id "
        "FROM ingested_files WHERE bucket = %s AND s3_key = %s AND version_id = %s",
        (stack.outputs["raw_bucket"], key, version_id),
    )
    if not rows:
        return None
    names = ["status", "rows_loaded", "rows_quarantined", "processed_key", "dataset", "content_sha256", "id"]
    return dict(zip(names, rows[0], strict=True))


def wait_for_ledger(stack, key: str, version_id: str, timeout: float = 120) -> dict:
    return wait_until(lambda: ledger_row(stack, key, version_id), timeout, f"ledger row for {key}")


def housing_rows(stack) -> int:
    rows = stack.pipeline.query("SELECT count(*) FROM housing")
    return rows[0][0] if rows else 0


def test_housing_upload_loads_rows_summary_parquet_and_ledger(stack):
    # GIVEN the real California housing file (20,640 rows, 207 without total_bedrooms)
    body = SEED.read_bytes()
    before, rows_before = summary(stack), housing_rows(stack)

    # WHEN it lands in the raw bucket
    version = put(stack, "housing/california_housing.csv", body)
    ledger = wait_for_ledger(stack, "housing/california_housing.csv", version)

    # THEN every row is loaded, the summary matches the CSV, and the ledger and Parquet say so
    assert ledger["status"] == "loaded"
    assert ledger["rows_loaded"] == 20_640 and ledger["rows_quarantined"] == 0
    assert housing_rows(stack) - rows_before == 20_640
    assert_summary_equal(summary(stack), combine(before, expected_summary(body)))
    assert sum(g["count"] for g in expected_summary(body).values()) == 20_640

    assert ledger["processed_key"].startswith("housing/dt=") and ledger["processed_key"].endswith(".parquet")
    parquet = stack.client("s3").get_object(Bucket=stack.outputs["processed_bucket"], Key=ledger["processed_key"])
    table = pq.read_table(io.BytesIO(parquet["Body"].read()))
    assert table.num_rows == 20_640
    assert table.column("total_bedrooms").null_count == 207


def test_duplicate_upload_and_redelivery_change_nothing(stack):
    # GIVEN a housing file that has been loaded
    body = b"".join(SEED.read_bytes().splitlines(keepends=True)[:501])  # header + 500 rows
    first = put(stack, "housing/dup_check.csv", body)
    assert wait_for_ledger(stack, "housing/dup_check.csv", first)["status"] == "loaded"
    before, rows_before = summary(stack), housing_rows(stack)

    # WHEN the same bytes are uploaded again (a new S3 version) ...
    second = put(stack, "housing/dup_check.csv", body)
    duplicate = wait_for_ledger(stack, "housing/dup_check.csv", second)
    # ... and the original S3 event is delivered once more
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.outputs["ingest_queue_url"],
                     MessageBody=s3_event(stack.outputs["raw_bucket"], "housing/dup_check.csv", first))  # fmt: skip
    wait_until(lambda: stack.pipeline.queue_depth(stack.outputs["ingest_queue_url"]) == (0, 0), 60, "queue drained")

    # THEN no row is added and the summary is unchanged
    assert duplicate["status"] == "duplicate" and duplicate["rows_loaded"] == 0
    assert housing_rows(stack) == rows_before
    assert summary(stack) == before
    count = stack.pipeline.query(
        "SELECT count(*) FROM ingested_files WHERE s3_key = 'housing/dup_check.csv'")[0][0]
    assert count == 2  # one row per object version, none for the redelivered message


def test_a_different_file_adds_to_the_statistics(stack):
    # GIVEN a file with rows the pipeline has not seen (values shifted so its content is new)
    lines = SEED.read_text().splitlines()
    reader = csv.DictReader(lines[:1] + lines[1000:1300])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames, lineterminator="\n")
    writer.writeheader()
    for row in reader:
        row["median_house_value"] = str(float(row["median_house_value"]) + 1)
        writer.writerow(row)
    body = out.getvalue().encode()
    before, rows_before = summary(stack), housing_rows(stack)

    # WHEN it is uploaded under another name
    version = put(stack, "housing/more/shifted values.csv", body)
    ledger = wait_for_ledger(stack, "housing/more/shifted values.csv", version)

    # THEN its 300 rows are added and the statistics include them
    assert ledger["status"] == "loaded" and ledger["rows_loaded"] == 300
    assert housing_rows(stack) == rows_before + 300
    assert_summary_equal(summary(stack), combine(before, expected_summary(body)))
