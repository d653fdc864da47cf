"""Data correctness against a real PostgreSQL: what is stored is what the file says, and data that
PostgreSQL, the disk or Python's JSON reader cannot take is a row or file rejection - never a failed
load that is retried into the DLQ.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from pipeline.ingest import Destinations, ingest_object
from pipeline.transform import MAX_REJECTION_LINES

from tests.integration.support import DESTINATIONS, query, upload

pytestmark = pytest.mark.e2e

EVENTS_HEADER = "timestamp,event_type,user_id,action,attributes\n"
# (as written, the UTC moment it means) - each must be read on its own, whatever its neighbours say
TIMESTAMPS = [
    ("2025-11-18T23:30:00-05:00", datetime(2025, 11, 19, 4, 30, tzinfo=UTC)),
    ("2025-11-18T23:30:00", datetime(2025, 11, 18, 23, 30, tzinfo=UTC)),
    ("2025-11-18 23:30:00.25Z", datetime(2025, 11, 18, 23, 30, 0, 250000, tzinfo=UTC)),
    ("2025-11-19T01:00:00+02:00", datetime(2025, 11, 18, 23, 0, tzinfo=UTC)),
    ("2025-11-18T23:30", datetime(2025, 11, 18, 23, 30, tzinfo=UTC)),
    ("2025-11-18T22:00:00.123456789+0100", datetime(2025, 11, 18, 21, 0, 0, 123456, tzinfo=UTC)),
]


def ingest(s3, conn, key: str, data: bytes, destinations: Destinations = DESTINATIONS):
    return ingest_object(upload(s3, key, data), s3=s3, conn=conn, destinations=destinations)


def events_csv(rows: list[tuple[str, ...]]) -> bytes:
    lines = [EVENTS_HEADER] + [",".join(row) + "\n" for row in rows]
    return "".join(lines).encode()


@pytest.mark.parametrize("rotation", range(len(TIMESTAMPS)))
def test_every_timestamp_is_stored_as_the_moment_it_names_wherever_it_stands(conn, s3, rotation):
    # GIVEN the same timestamps in another order each time (every one after every kind of neighbour)
    cases = TIMESTAMPS[rotation:] + TIMESTAMPS[:rotation]
    rows = [(text, "click", f"u{i}", "open", "") for i, (text, _) in enumerate(cases, start=1)]

    outcome = ingest(s3, conn, f"events/offsets-{rotation}.csv", events_csv(rows))

    # THEN the table, the generated event date, the daily counts and the Parquet partitions agree
    assert outcome.status == "loaded" and outcome.rows_quarantined == 0
    stored = dict(query(conn, "SELECT source_row, timestamp FROM events"))
    assert [stored[i] for i in range(1, len(cases) + 1)] == [moment for _, moment in cases]
    dates = query(conn, "SELECT source_row, event_date FROM events")
    assert all(day == stored[row].date() for row, day in dates)
    counts = dict(query(conn, "SELECT event_date, count FROM event_counts_by_type"))
    assert counts == {date(2025, 11, 18): 5, date(2025, 11, 19): 1}
    partitions = sorted(key.split("/")[1] for key in s3.keys("processed"))
    assert partitions == ["dt=2025-11-18", "dt=2025-11-19"]
    for key in s3.keys("processed"):
        table = pq.read_table(io.BytesIO(s3.objects[("processed", key)]))
        assert {moment.date() for moment in table.column("timestamp").to_pylist()} == {
            date.fromisoformat(key.split("/")[1][3:])
        }


def test_dates_and_timestamps_across_the_whole_calendar_load(conn, s3):
    scans = [
        {"patient_id": "p1", "patient_name": "A", "scan_date": "0001-01-01", "retina_thickness_microns": 250,
         "optic_disc_cup_ratio": 0.3, "diagnosis": "normal"},
        {"patient_id": "p2", "patient_name": "B", "scan_date": "9999-12-31", "retina_thickness_microns": 250,
         "optic_disc_cup_ratio": 0.3, "diagnosis": "normal"},
        {"patient_id": "p3", "patient_name": "C", "scan_date": "1650-01-01", "retina_thickness_microns": 250,
         "optic_disc_cup_ratio": 0.3, "diagnosis": "normal"},
    ]  # fmt: skip
    assert ingest(s3, conn, "retina/calendar.json", json.dumps(scans).encode()).rows_loaded == 3
    assert [row[0] for row in query(conn, "SELECT scan_date::text FROM retina_scans ORDER BY 1")] == [
        "0001-01-01", "1650-01-01", "9999-12-31"]  # fmt: skip
    rows = [("0001-01-01T00:00:00Z", "a", "u", "x", ""), ("9999-12-31T23:59:59.999999Z", "a", "u", "x", "")]
    assert ingest(s3, conn, "events/calendar.csv", events_csv(rows)).rows_loaded == 2
    assert query(conn, "SELECT min(event_date)::text, max(event_date)::text FROM events") == [
        ("0001-01-01", "9999-12-31")]  # fmt: skip


def test_attribute_numbers_postgresql_cannot_store_reject_their_row_and_the_rest_loads(conn, s3):
    tiny, long_fraction = '"{""x"": 1e-20000}"', '"{""x"": 0.' + "1" * 17_000 + '}"'
    fits = '"{""x"": 1e-16383, ""y"": 123456789012345678901234567890}"'
    rows = [("2025-11-18T08:00:00Z", "a", "u1", "x", tiny), ("2025-11-18T08:00:00Z", "a", "u2", "x", fits),
            ("2025-11-18T08:00:00Z", "a", "u3", "x", long_fraction)]  # fmt: skip

    outcome = ingest(s3, conn, "events/numbers.csv", events_csv(rows))

    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 1, 2)
    rejected = list(csv.DictReader(io.StringIO(s3.objects[("quarantine", "events/numbers.csv/rejected_rows.csv")]
                                               .decode())))  # fmt: skip
    assert [(r["row_number"], r["column"], r["reason"]) for r in rejected] == [
        ("1", "attributes", "not_allowed"), ("3", "attributes", "not_allowed")]  # fmt: skip
    assert "PostgreSQL cannot store" in rejected[0]["detail"]
    assert query(conn, "SELECT user_id, attributes->>'y' FROM events") == [("u2", "123456789012345678901234567890")]


def test_json_python_will_not_read_rejects_the_row_not_the_batch(conn, s3):
    good = {"timestamp": "2025-11-18T08:00:00Z", "event_type": "a", "user_id": "u", "action": "x"}
    deep = '{"timestamp": "2025-11-18T08:00:00Z", "nest": ' + "[" * 10_000 + "]" * 10_000 + "}"
    huge = '{"timestamp": "2025-11-18T08:00:00Z", "n": ' + "7" * 5000 + "}"
    lines = [json.dumps(good), deep, huge, json.dumps(good)]

    ndjson = ingest(s3, conn, "events/odd.ndjson", "\n".join(lines).encode())
    array = ingest(s3, conn, "events/odd.json", ("[" + ",\n".join(lines) + "]").encode())

    for outcome in (ndjson, array):
        assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 2, 2)
    for key in ("events/odd.ndjson", "events/odd.json"):
        rejected = list(csv.DictReader(io.StringIO(s3.objects[("quarantine", f"{key}/rejected_rows.csv")].decode())))
        assert [(r["row_number"], r["reason"]) for r in rejected] == [("2", "malformed_row"), ("3", "malformed_row")]
        assert "nested too deeply" in rejected[0]["detail"] and "4300" in rejected[1]["detail"]


def test_a_key_postgresql_cannot_store_still_gets_a_ledger_row_and_a_reason(conn, s3):
    # GIVEN JSON whose records lack a required field and carry keys with NUL and a lone surrogate
    records = [{"\u0000evil": 1, "\ud800half": 2, f"k{i}": i} for i in range(100)]
    data = json.dumps(records).encode()  # ensure_ascii: the escapes survive as \u0000 / \ud800

    outcome = ingest(s3, conn, "events/keys.json", data)

    assert outcome.status == "quarantined" and outcome.reason == "missing_columns"
    (detail,) = query(conn, "SELECT error_detail FROM ingested_files WHERE s3_key = 'events/keys.json'")[0]
    assert "\\u0000evil" in detail and "\\ud800half" in detail and "and more" in detail and len(detail) <= 1000
    reason = json.loads(s3.objects[("quarantine", "events/keys.json/reason.json")])
    assert reason["detail"] == detail


def test_a_backfill_spanning_three_years_loads_one_output_per_day(conn, s3):
    start = datetime(2022, 1, 1, 12, tzinfo=UTC)
    rows = [((start + timedelta(days=day)).isoformat(), "a", "u", "x", "") for day in range(1100)]
    rows = rows[::2] + rows[1::2]  # not in order: days come back after their file was closed

    outcome = ingest(s3, conn, "events/backfill.csv", events_csv(rows))

    assert outcome.status == "loaded" and outcome.rows_loaded == 1100
    keys = s3.keys("processed")
    days = {key.split("/")[1] for key in keys}
    assert len(days) == 1100
    assert sum(pq.read_table(io.BytesIO(s3.objects[("processed", key)])).num_rows for key in keys) == 1100
    assert query(conn, "SELECT count(*), sum(count) FROM event_counts_by_type") == [(1100, 1100)]
    (stored,) = query(conn, "SELECT processed_keys FROM ingested_files")[0]
    assert set(stored) == keys


def test_a_gzip_that_expands_beyond_the_limit_is_too_large_not_a_full_disk(conn, s3, tmp_path):
    body = gzip.compress(b"timestamp,event_type,user_id,action\n" + b"2025-11-18T08:00:00Z,a,u,x\n" * 400_000)
    limited = Destinations("processed", "quarantine", max_object_bytes=1_000_000, workdir=str(tmp_path))
    assert len(body) < 1_000_000

    outcome = ingest(s3, conn, "events/bomb.csv.gz", body, limited)

    assert outcome.status == "quarantined" and outcome.reason == "too_large"
    assert "decompressed" in outcome.detail and query(conn, "SELECT count(*) FROM events") == [(0,)]
    assert list(tmp_path.iterdir()) == []


def test_rejected_rows_are_listed_up_to_a_limit_and_all_counted(conn, s3):
    bad = "2025-11-18T08:00:00Z,a,,x,\n"  # missing user_id
    data = (EVENTS_HEADER + "2025-11-18T08:00:00Z,a,u,x,\n" + bad * (MAX_REJECTION_LINES + 2500)).encode()

    outcome = ingest(s3, conn, "events/mostly_bad.csv", data)

    assert outcome.rows_quarantined == MAX_REJECTION_LINES + 2500 and outcome.rows_loaded == 1
    listed = s3.objects[("quarantine", "events/mostly_bad.csv/rejected_rows.csv")].decode().splitlines()
    assert len(listed) == 1 + MAX_REJECTION_LINES
    reason = json.loads(s3.objects[("quarantine", "events/mostly_bad.csv/reason.json")])
    assert reason["rejections_by_reason"] == {"missing_value": MAX_REJECTION_LINES + 2500}
    assert reason["rejected_rows_listed"] == MAX_REJECTION_LINES and reason["rejected_rows_truncated"] is True
