"""Output keys and documents: deterministic names, readable Parquet, machine-readable reasons."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest
from pipeline.contracts import HOUSING
from pipeline.transform import processed_key, quarantine_key, reason_document, rejected_rows_csv, to_parquet
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

SHA = "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e"
HEADER = ",".join(HOUSING.column_names)
ROWS = [
    "-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY",
    "-122.22,37.86,21.0,7099.0,,2401.0,1138.0,8.3014,358500.0,<1H OCEAN",
    "-122.24,99,52.0,1467.0,190.0,496.0,177.0,7.2574,352100.0,NEAR BAY",
]


def validation():
    return validate_bytes("\n".join([HEADER, *ROWS]).encode(), "housing/x.csv", HOUSING)


def test_processed_key_is_dataset_event_date_stem_and_hash():
    when = datetime(2025, 11, 20, 8, 15, tzinfo=UTC)
    key = processed_key("housing", "california_housing", SHA, when)
    assert key == "housing/dt=2025-11-20/california_housing-8a3727f4cf54.parquet"
    assert processed_key("housing", "california_housing", SHA, when) == key
    assert processed_key("retina", "scans", SHA, when.date(), "json") == "retina/dt=2025-11-20/scans-8a3727f4cf54.json"


def test_processed_key_date_is_the_utc_date_of_the_event():
    late_evening_in_california = datetime(2025, 11, 19, 23, 30, tzinfo=timezone(timedelta(hours=-8)))
    key = processed_key("housing", "x", SHA, late_evening_in_california.astimezone(UTC))
    assert key.startswith("housing/dt=2025-11-20/")


def test_quarantine_objects_live_under_the_source_key():
    assert quarantine_key("housing/a b.csv", "reason.json") == "housing/a b.csv/reason.json"


def test_parquet_holds_the_good_rows_typed_with_their_source_row():
    table = pq.read_table(io.BytesIO(to_parquet(validation().good, HOUSING)))
    assert table.column_names == ["source_row", *HOUSING.column_names]
    assert table.column("source_row").to_pylist() == [1, 2]
    assert table.column("total_bedrooms").to_pylist() == [129, None]
    assert str(table.schema.field("total_rooms").type) == "int64"
    assert str(table.schema.field("ocean_proximity").type) == "string"


def test_parquet_bytes_are_deterministic():
    assert to_parquet(validation().good, HOUSING) == to_parquet(validation().good, HOUSING)


def test_rejected_rows_csv_lists_row_column_value_reason():
    text = rejected_rows_csv(validation().rejected).decode()
    assert text.splitlines() == [
        "row_number,column,reason,value,detail",
        "3,latitude,out_of_range,99,above the maximum 42.5",
    ]


def test_reason_document_is_machine_readable():
    source = {"bucket": "raw", "key": "housing/x.csv"}
    document = json.loads(reason_document("missing_columns", "missing: latitude", source, rows_total=3))
    assert document == {
        "reason": "missing_columns",
        "detail": "missing: latitude",
        "source": source,
        "rows_total": 3,
    }


def test_keys_of_a_source_with_a_name_near_the_s3_limit_stay_within_1024_bytes():
    long_stem = "é" * 600  # 1,200 bytes of UTF-8
    key = processed_key("housing", long_stem, "ab" * 32, date(2025, 11, 20))
    assert len(key.encode()) <= 1024 and key.endswith("-abababababab.parquet") and key.startswith("housing/dt=")
    assert key.encode().decode() == key  # cut on a character boundary

    source = "housing/" + "k" * 1012 + ".csv"  # exactly 1,024 bytes: a valid S3 key
    reason = quarantine_key(source, "reason.json")
    rows = quarantine_key(source, "rejected_rows.csv")
    assert len(reason.encode()) <= 1024 and len(rows.encode()) <= 1024
    assert reason.rsplit("/", 1)[0] == rows.rsplit("/", 1)[0]  # one folder for the file's objects
    assert reason != quarantine_key("housing/" + "k" * 1011 + "j.csv", "reason.json")  # keys stay apart
    assert quarantine_key("housing/short.csv", "reason.json") == "housing/short.csv/reason.json"
