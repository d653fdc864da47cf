"""A new version of an existing key, against a real PostgreSQL: an overwrite corrects the data.

With `on_new_version: replace` (every seed dataset) the previous version's rows and summary
contribution leave in the new version's loading transaction, its ledger row stays as `superseded`,
and its objects are deleted after the COMMIT. With `append` every version loads.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pipeline.contracts import APPEND, CONTRACTS, HOUSING
from pipeline.ingest import ingest_object

from tests.integration.support import DESTINATIONS, EVENT_TIME, SEED_DIR, query, upload
from tests.integration.test_db_load import run_concurrently

pytestmark = pytest.mark.e2e

HOUSING_LINES = (SEED_DIR / "housing" / "california_housing.csv").read_bytes().splitlines(keepends=True)
EVENTS_HEADER = b"timestamp,event_type,user_id,action\n"
KEY = "housing/california_housing.csv"


def housing_part(start: int, stop: int) -> bytes:
    return b"".join([HOUSING_LINES[0], *HOUSING_LINES[1 + start : 1 + stop]])


def later(minutes: int) -> datetime:
    return EVENT_TIME + timedelta(minutes=minutes)


def ingest(s3, conn, key: str, data: bytes, version_id: str, minutes: int = 0):
    ref = upload(s3, key, data, version_id=version_id, event_time=later(minutes))
    return ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS)


def summary(conn) -> dict[str, tuple]:
    rows = query(conn, "SELECT ocean_proximity, record_count, avg_median_house_value FROM housing_summary_statistics")
    return {name: (count, avg) for name, count, avg in rows}


def expected_summary(*files: bytes) -> dict[str, tuple]:
    groups: dict[str, list[Decimal]] = {}
    for data in files:
        for row in csv.DictReader(io.StringIO(data.decode())):
            groups.setdefault(row["ocean_proximity"], []).append(Decimal(row["median_house_value"]))
    return {name: (len(values), sum(values) / len(values)) for name, values in groups.items()}


def assert_summary(conn, *files: bytes) -> None:
    actual, expected = summary(conn), expected_summary(*files)
    assert set(actual) == set(expected)
    for name, (count, avg) in expected.items():
        assert actual[name][0] == count and abs(actual[name][1] - avg) < Decimal("0.000001"), name


def ledger(conn, key: str) -> list[dict]:
    names = ["id", "version_id", "status", "superseded_by", "duplicate_of", "rows_loaded", "processed_keys",
             "quarantine_keys"]  # fmt: skip
    rows = query(conn, f"SELECT {', '.join(names)} FROM ingested_files WHERE s3_key = %s ORDER BY id", (key,))
    return [dict(zip(names, row, strict=True)) for row in rows]


def rows_of(conn, table: str) -> int:
    return query(conn, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 - a test's own table names


def test_a_corrected_file_replaces_the_rows_summary_and_outputs_of_the_version_before(conn, s3):
    # GIVEN the housing file loaded, with a bad row (reason.json, rejected_rows.csv) and 300 good rows
    first = housing_part(0, 300).replace(b"NEAR BAY", b"NEAR PIER", 1)
    v1 = ingest(s3, conn, KEY, first, "v1")
    assert v1.status == "loaded" and v1.rows_quarantined == 1

    # WHEN a corrected version (the bad row fixed, 200 more rows) is uploaded under the same key
    second = housing_part(0, 500)
    v2 = ingest(s3, conn, KEY, second, "v2", minutes=5)

    # THEN the tables hold exactly the new version, the old ledger row says what replaced it
    assert v2.status == "loaded" and v2.superseded == v1.file_id and v2.leftovers == ()
    assert rows_of(conn, "housing") == 500
    assert query(conn, "SELECT DISTINCT file_id FROM housing") == [(v2.file_id,)]
    assert_summary(conn, second)
    old, new = ledger(conn, KEY)
    assert (old["status"], old["superseded_by"], old["rows_loaded"]) == ("superseded", v2.file_id, 299)
    assert new["status"] == "loaded"
    # and its objects are gone: no Parquet of the old bytes, no reason for rows that are fixed
    assert s3.keys("processed") == set(new["processed_keys"])
    assert sorted(old["quarantine_keys"]) == [f"{KEY}/reason.json", f"{KEY}/rejected_rows.csv"]
    assert not s3.keys("quarantine")


def test_the_event_counts_follow_a_replaced_events_file(conn, s3):
    day1 = b"".join(f"2025-11-18T0{h}:00:00Z,click,u{h},open\n".encode() for h in range(5))
    ingest(s3, conn, "events/day.csv", EVENTS_HEADER + day1, "v1")
    corrected = b"2025-11-18T01:00:00Z,view,u1,open\n2025-11-19T01:00:00Z,click,u1,open\n"
    ingest(s3, conn, "events/day.csv", EVENTS_HEADER + corrected, "v2", minutes=1)

    counts = query(conn, "SELECT event_type, event_date::text, count FROM event_counts_by_type ORDER BY 1, 2")
    assert counts == [("click", "2025-11-19", 1), ("view", "2025-11-18", 1)]
    assert rows_of(conn, "events") == 2


def test_a_late_message_of_the_older_version_changes_nothing(conn, s3):
    # GIVEN the newer version processed first (SQS does not keep order)
    newer = housing_part(0, 100)
    v2 = ingest(s3, conn, KEY, newer, "v2", minutes=5)
    # WHEN the older version's message arrives afterwards (first delivery or a redelivery)
    v1 = ingest(s3, conn, KEY, housing_part(100, 400), "v1")
    # THEN it is recorded as superseded by the newer one and loads nothing
    assert (v1.status, v1.superseded_by) == ("superseded", v2.file_id)
    assert rows_of(conn, "housing") == 100 and [row["status"] for row in ledger(conn, KEY)] == ["loaded", "superseded"]
    assert_summary(conn, newer)
    # and a redelivery of either message is still a no-op
    assert ingest(s3, conn, KEY, housing_part(100, 400), "v1").status == "redelivered"
    assert ingest(s3, conn, KEY, newer, "v2", minutes=5).status == "redelivered"


def test_the_same_bytes_uploaded_again_stay_a_duplicate_of_the_version_in_place(conn, s3):
    data = housing_part(0, 50)
    v1 = ingest(s3, conn, KEY, data, "v1")
    v2 = ingest(s3, conn, KEY, data, "v2", minutes=1)
    assert (v2.status, v2.duplicate_of, v2.superseded) == ("duplicate", v1.file_id, None)
    assert [row["status"] for row in ledger(conn, KEY)] == ["loaded", "duplicate"] and rows_of(conn, "housing") == 50


def test_rows_another_key_still_holds_are_passed_on_not_deleted(conn, s3):
    # GIVEN bytes A loaded under KEY and uploaded again under a copy's key (a duplicate of it)
    shared = housing_part(0, 120)
    v1 = ingest(s3, conn, KEY, shared, "v1")
    copy = ingest(s3, conn, "housing/copy.csv", shared, "c1", minutes=1)
    assert copy.status == "duplicate"

    # WHEN KEY gets new bytes B
    replacement = housing_part(120, 200)
    ingest(s3, conn, KEY, replacement, "v2", minutes=2)

    # THEN the copy, which still holds A, now owns A's rows (B's rows are there too): nothing lost
    (heir,) = ledger(conn, "housing/copy.csv")
    assert (heir["status"], heir["duplicate_of"], heir["rows_loaded"]) == ("loaded", None, 120)
    assert heir["processed_keys"] == ledger(conn, KEY)[0]["processed_keys"]
    owners = dict(query(conn, "SELECT file_id, count(*) FROM housing GROUP BY file_id"))
    assert owners == {copy.file_id: 120, ledger(conn, KEY)[1]["id"]: 80} and v1.file_id not in owners
    assert_summary(conn, shared, replacement)
    assert set(heir["processed_keys"]) <= s3.keys("processed")  # its outputs were not deleted


def test_versions_racing_each_other_end_with_the_newest(connect, s3):
    # GIVEN two versions of a key delivered at the same moment to two environments
    older, newer = housing_part(0, 1500), housing_part(1500, 1600)
    refs = [
        upload(s3, KEY, older, version_id="v1", event_time=later(0)),
        upload(s3, KEY, newer, version_id="v2", event_time=later(1)),
    ]
    connections = [connect(), connect()]

    outcomes = run_concurrently(
        [
            lambda ref=ref, conn=conn: ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS)
            for ref, conn in zip(refs, connections, strict=True)
        ]
    )

    # THEN whichever ran first, only the newest version's rows are in the tables
    assert {outcome.status for outcome in outcomes} <= {"loaded", "superseded"}
    conn = connections[0]
    assert rows_of(conn, "housing") == 100
    statuses = {row["version_id"]: row["status"] for row in ledger(conn, KEY)}
    assert statuses == {"v1": "superseded", "v2": "loaded"}
    assert_summary(conn, newer)


def test_an_append_dataset_loads_every_version(conn, s3, monkeypatch):
    monkeypatch.setitem(CONTRACTS, "housing", dataclasses.replace(HOUSING, on_new_version=APPEND))
    first, second = housing_part(0, 10), housing_part(10, 30)
    ingest(s3, conn, KEY, first, "v1")
    ingest(s3, conn, KEY, second, "v2", minutes=1)
    assert rows_of(conn, "housing") == 30 and [row["status"] for row in ledger(conn, KEY)] == ["loaded", "loaded"]
    assert_summary(conn, first, second)


def test_a_quarantined_new_version_leaves_the_loaded_one_in_place(conn, s3):
    good = housing_part(0, 40)
    ingest(s3, conn, KEY, good, "v1")
    bad = ingest(s3, conn, KEY, b"city,price\nFresno,1\n", "v2", minutes=1)
    assert bad.status == "quarantined" and bad.reason == "missing_columns"
    assert [row["status"] for row in ledger(conn, KEY)] == ["loaded", "quarantined"]
    assert rows_of(conn, "housing") == 40
    assert json.loads(s3.objects[("quarantine", f"{KEY}/reason.json")])["reason"] == "missing_columns"


def test_replaced_objects_that_cannot_be_deleted_are_reported_not_raised(conn, s3):
    ingest(s3, conn, KEY, housing_part(0, 10), "v1")
    s3.fail_deletes = True
    v2 = ingest(s3, conn, KEY, housing_part(10, 20), "v2", minutes=1)
    assert v2.status == "loaded" and len(v2.leftovers) == 1 and v2.leftovers[0].startswith("s3://processed/housing/")
    assert rows_of(conn, "housing") == 10

