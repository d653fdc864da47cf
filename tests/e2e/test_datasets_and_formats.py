"""Every dataset in every format, end to end: upload -> S3 -> SQS -> Lambda -> Postgres + outputs + ledger.

Expected numbers come from the seed files, read here with the standard library. Each test makes its
bytes unique (a run tag inside the ids) so no upload is a duplicate of another test's or of a demo's.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.e2e.test_housing_pipeline import put, wait_for_ledger

pytestmark = pytest.mark.e2e

SEED = Path(__file__).resolve().parents[2] / "seed_data"
RETINA = SEED / "retina" / "retina_scans.json"
EVENTS = {suffix: SEED / "events" / f"events.{suffix}" for suffix in ("csv", "ndjson", "json")}


def tagged(data: bytes, tag: str) -> bytes:
    """The seed with ids made unique to this run (user_id u0NN, patient_id ANNNNN)."""
    return data.replace(b"u0", f"{tag}-u0".encode()).replace(b'"patient_id": "A', f'"patient_id": "{tag}-A'.encode())


def run_tag() -> str:
    return uuid.uuid4().hex[:10]


def event_records(suffix: str) -> list[dict]:
    text = EVENTS[suffix].read_text(encoding="utf-8")
    if suffix == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if suffix == "ndjson":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def rows_per_day(records: list[dict]) -> dict[str, int]:
    days: dict[str, int] = {}
    for record in records:
        day = record["timestamp"][:10]  # the seeds' timestamps are UTC ("Z")
        days[day] = days.get(day, 0) + 1
    return days


def semicolon_bom_crlf(data: bytes) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def upload_and_wait(stack, key: str, body: bytes) -> dict:
    return wait_for_ledger(stack, key, put(stack, key, body))


def table_rows(stack, table: str, file_id: int) -> int:
    return stack.pipeline.query(f"SELECT count(*) FROM {table} WHERE file_id = %s", (file_id,))[0][0]


def processed_objects(stack, dataset: str, sha: str) -> dict[str, bytes]:
    """Every processed object of one source file (they all end in `-<sha256[:12]>.<ext>`)."""
    s3 = stack.client("s3")
    bucket = stack.outputs["processed_bucket"]
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{dataset}/"):
        for item in page.get("Contents", []):
            if item["Key"].rsplit("-", 1)[-1].startswith(sha[:12]):
                found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


@pytest.mark.parametrize("compress", [False, True], ids=["json", "json.gz"])
def test_retina_scans_load_and_write_the_patient_json(stack, compress):
    # GIVEN the retina seed (a JSON array of scans), gzipped or not
    tag = run_tag()
    body = tagged(RETINA.read_bytes(), tag)
    scans = json.loads(body)
    key = f"retina/{tag}/scans.json" + (".gz" if compress else "")

    # WHEN it is uploaded
    ledger = upload_and_wait(stack, key, gzip.compress(body) if compress else body)

    # THEN every scan is in retina_scans, the ledger says so, and the JSON output lists the patients
    assert (ledger["status"], ledger["rows_loaded"], ledger["rows_quarantined"]) == ("loaded", len(scans), 0)
    assert ledger["dataset"] == "retina"
    assert table_rows(stack, "retina_scans", ledger["id"]) == len(scans)
    assert ledger["processed_key"].startswith("retina/dt=") and ledger["processed_key"].endswith(".json")
    assert ledger["processed_key"].split("/")[-1] == f"scans-{ledger['content_sha256'][:12]}.json"
    output = stack.client("s3").get_object(Bucket=stack.outputs["processed_bucket"], Key=ledger["processed_key"])
    assert json.loads(output["Body"].read()) == [
        {"patient_id": scan["patient_id"], "patient_name": scan["patient_name"]} for scan in scans
    ]


@pytest.mark.parametrize(
    ("suffix", "variant"),
    [("csv", "plain"), ("ndjson", "plain"), ("json", "plain"), ("csv", "gz"), ("ndjson", "gz"), ("json", "gz"),
     ("csv", "semicolon-bom-crlf")],
)  # fmt: skip
def test_events_in_every_format_load_into_events_and_daily_parquet(stack, suffix, variant):
    # GIVEN an events seed in one format/variant
    tag = run_tag()
    body = tagged(EVENTS[suffix].read_bytes(), tag)
    records = event_records(suffix)
    key = f"events/{tag}/day {variant}.{suffix}"
    if variant == "gz":
        body, key = gzip.compress(body), key + ".gz"
    elif variant == "semicolon-bom-crlf":
        body = semicolon_bom_crlf(body)

    # WHEN it is uploaded
    ledger = upload_and_wait(stack, key, body)

    # THEN every event is in the table, the ledger says so, and there is one Parquet per event date
    assert (ledger["status"], ledger["rows_loaded"], ledger["rows_quarantined"]) == ("loaded", len(records), 0)
    assert table_rows(stack, "events", ledger["id"]) == len(records)
    attributes = stack.pipeline.query(
        "SELECT count(*) FROM events WHERE file_id = %s AND attributes ? 'page' AND attributes ? 'device'",
        (ledger["id"],),
    )[0][0]
    assert attributes == len(records)
    outputs = processed_objects(stack, "events", ledger["content_sha256"])
    per_day = {key.split("/")[1].removeprefix("dt="): pq.read_table(io.BytesIO(data)) for key, data in outputs.items()}
    assert {day: table.num_rows for day, table in per_day.items()} == rows_per_day(records)
    assert ledger["processed_key"] == min(outputs)
    assert all(key.split("/")[-1].startswith(f"day {variant}-") for key in outputs)
    first = next(iter(per_day.values()))
    assert first.column_names == ["source_row", "timestamp", "event_type", "user_id", "action", "attributes"]


def test_event_counts_by_type_grow_by_exactly_the_files_events(stack):
    # GIVEN the counts of the seed's dates before the upload
    tag = run_tag()
    records = event_records("ndjson")
    days = sorted(rows_per_day(records))

    def counts() -> dict[tuple[str, str], int]:
        rows = stack.pipeline.query(
            "SELECT event_type, event_date::text, count FROM event_counts_by_type WHERE event_date::text = ANY(%s)",
            (days,),
        )
        return {(event_type, day): count for event_type, day, count in rows}

    before = counts()

    # WHEN the NDJSON seed is uploaded
    ledger = upload_and_wait(stack, f"events/{tag}/counts.ndjson", tagged(EVENTS["ndjson"].read_bytes(), tag))

    # THEN each (type, date) count grew by exactly the file's events of that type and date
    assert ledger["status"] == "loaded"
    added: dict[tuple[str, str], int] = {}
    for record in records:
        k = (record["event_type"], record["timestamp"][:10])
        added[k] = added.get(k, 0) + 1
    after = counts()
    assert {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(added)} == {
        k: added.get(k, 0) for k in set(after) | set(added)
    }


def test_housing_semicolon_bom_crlf_gzip_loads_like_the_plain_csv(stack):
    # GIVEN 300 housing rows as a gzipped, BOM-prefixed, CRLF, semicolon-separated file
    lines = (SEED / "housing" / "california_housing.csv").read_bytes().splitlines(keepends=True)
    tag = run_tag()
    rows = list(csv.reader(io.StringIO(b"".join(lines[:1] + lines[3000:3300]).decode())))
    for row in rows[1:]:
        row[-2] = str(float(row[-2]) + 0.5)  # median_house_value: new bytes, never a duplicate
    body = semicolon_bom_crlf("\n".join(",".join(row) for row in rows).encode())

    # WHEN uploaded
    ledger = upload_and_wait(stack, f"housing/{tag}/excel export.csv.gz", gzip.compress(body))

    # THEN all 300 rows load and the Parquet has them
    assert (ledger["status"], ledger["rows_loaded"], ledger["rows_quarantined"]) == ("loaded", 300, 0)
    assert table_rows(stack, "housing", ledger["id"]) == 300
    parquet = stack.client("s3").get_object(Bucket=stack.outputs["processed_bucket"], Key=ledger["processed_key"])
    assert pq.read_table(io.BytesIO(parquet["Body"].read())).num_rows == 300


def test_bad_event_rows_are_quarantined_and_the_good_ones_load(stack):
    # GIVEN an NDJSON file with a bad timestamp on line 2 and a non-object on line 3
    tag = run_tag()
    good = {"timestamp": "2025-11-19T10:00:00Z", "event_type": "click", "user_id": f"{tag}-u1", "action": "buy"}
    body = b"\n".join([json.dumps(good).encode(), json.dumps({**good, "timestamp": "yesterday"}).encode(), b"[1]", b""])
    key = f"events/{tag}/partly bad.ndjson"

    # WHEN uploaded
    ledger = upload_and_wait(stack, key, body)

    # THEN one event loads; the other two are listed with their line, column and reason
    assert (ledger["status"], ledger["rows_loaded"], ledger["rows_quarantined"]) == ("loaded", 1, 2)
    s3 = stack.client("s3")
    bucket = stack.outputs["quarantine_bucket"]
    reason = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}/reason.json")["Body"].read())
    assert reason["reason"] == "rejected_rows" and reason["rows_rejected"] == 2
    rejected = s3.get_object(Bucket=bucket, Key=f"{key}/rejected_rows.csv")["Body"].read().decode()
    triples = [(r["row_number"], r["column"], r["reason"]) for r in csv.DictReader(io.StringIO(rejected))]
    assert triples == [("2", "timestamp", "bad_timestamp"), ("3", "", "malformed_row")]
