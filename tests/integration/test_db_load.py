"""pipeline.db and pipeline.ingest against a real PostgreSQL: exactly-once loads, duplicates,
rollbacks, concurrent loaders and connection recovery.

Needs a `postgres_dsn` fixture (a libpq DSN or URL); see conftest.py.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest
from pipeline import db
from pipeline.events import S3ObjectRef
from pipeline.ingest import REDELIVERED, Destinations, ingest_object
from pipeline.sharing import NeedsRoom

from tests.integration.support import DESTINATIONS, SEED_DIR, MemoryS3, query, upload

pytestmark = pytest.mark.e2e

SEED = SEED_DIR / "housing" / "california_housing.csv"
LINES = SEED.read_bytes().splitlines(keepends=True)


def housing_count(conn) -> int:
    return query(conn, "SELECT count(*) FROM housing")[0][0]


def summary(conn) -> dict[str, tuple]:
    rows = query(
        conn,
        "SELECT ocean_proximity, record_count, avg_median_house_value, min_median_house_value, "
        "max_median_house_value FROM housing_summary_statistics",
    )
    return {row[0]: row[1:] for row in rows}


def expected_summary(*files: bytes) -> dict[str, tuple]:
    """The summary computed independently, with Decimal, from the CSV texts."""
    groups: dict[str, list[Decimal]] = {}
    for data in files:
        for row in csv.DictReader(io.StringIO(data.decode())):
            groups.setdefault(row["ocean_proximity"], []).append(Decimal(row["median_house_value"]))
    return {key: (len(v), sum(v) / len(v), min(v), max(v)) for key, v in groups.items()}


def assert_summary(conn, *files: bytes) -> None:
    actual, expected = summary(conn), expected_summary(*files)
    assert set(actual) == set(expected)
    for key, (count, avg, low, high) in expected.items():
        assert actual[key][0] == count and actual[key][2] == low and actual[key][3] == high, key
        assert abs(actual[key][1] - avg) < Decimal("0.000001"), key


def ledger(conn, key: str) -> list[dict]:
    names = ["id", "status", "rows_loaded", "rows_quarantined", "error", "duplicate_of", "processed_key",
             "content_sha256", "finished_at"]  # fmt: skip
    rows = query(conn, f"SELECT {', '.join(names)} FROM ingested_files WHERE s3_key = %s ORDER BY id", (key,))
    return [dict(zip(names, row, strict=True)) for row in rows]


def part(start: int, stop: int) -> bytes:
    """The header plus data rows [start, stop) of the published file."""
    return b"".join([LINES[0], *LINES[1 + start : 1 + stop]])


def test_schema_bootstrap_is_idempotent_and_survives_concurrent_cold_starts(connect):
    errors = []

    def cold_start():
        try:
            connect()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=cold_start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = connect()
    db.ensure_schema(conn)
    tables = {row[0] for row in query(conn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert {"ingested_files", "housing", "housing_summary_statistics", "retina_scans", "events",
            "event_counts_by_type"} <= tables  # fmt: skip


def test_the_published_file_loads_rows_summary_and_ledger_once(conn, s3):
    data = SEED.read_bytes()
    ref = upload(s3, "housing/california_housing.csv", data)

    outcome = ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS)

    assert outcome.status == "loaded" and outcome.rows_loaded == 20_640
    assert housing_count(conn) == 20_640
    assert query(conn, "SELECT count(*) FROM housing WHERE total_bedrooms IS NULL")[0][0] == 207
    assert_summary(conn, data)
    (row,) = ledger(conn, ref.key)
    assert row["status"] == "loaded" and row["rows_loaded"] == 20_640 and row["rows_quarantined"] == 0
    assert row["content_sha256"] == hashlib.sha256(data).hexdigest() and row["finished_at"] is not None
    assert ("processed", row["processed_key"]) in s3.objects
    assert query(conn, "SELECT min(source_row), max(source_row) FROM housing")[0] == (1, 20_640)


def test_a_redelivered_message_changes_nothing(conn, s3, monkeypatch):
    data = part(0, 300)
    ref = upload(s3, "housing/a.csv", data)
    ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS)
    before = summary(conn)

    # WHEN the same event arrives again, caught by the early check and, bypassing it, by the insert
    assert ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS).status == REDELIVERED
    monkeypatch.setattr(db, "is_recorded", lambda *args: False)
    assert ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS).status == REDELIVERED

    # THEN nothing was added
    assert housing_count(conn) == 300 and summary(conn) == before and len(ledger(conn, ref.key)) == 1


def test_identical_bytes_under_another_name_or_version_are_recorded_as_duplicates(conn, s3):
    data = part(0, 200)
    first = ingest_object(upload(s3, "housing/a.csv", data, "v1"), s3=s3, conn=conn, destinations=DESTINATIONS)
    again = ingest_object(upload(s3, "housing/a.csv", data, "v2"), s3=s3, conn=conn, destinations=DESTINATIONS)
    copy = ingest_object(upload(s3, "housing/copy.csv", data), s3=s3, conn=conn, destinations=DESTINATIONS)

    assert again.status == copy.status == "duplicate"
    assert again.duplicate_of == copy.duplicate_of == first.file_id
    assert housing_count(conn) == 200
    assert_summary(conn, data)
    assert [row["status"] for row in ledger(conn, "housing/a.csv")] == ["loaded", "duplicate"]


def test_different_files_add_up_in_the_summary(conn, s3):
    files = [part(0, 1000), part(1000, 2500), part(2500, 2600)]
    for number, data in enumerate(files):
        ingest_object(upload(s3, f"housing/{number}.csv", data), s3=s3, conn=conn, destinations=DESTINATIONS)
    assert housing_count(conn) == 2600
    assert_summary(conn, *files)


def test_bad_rows_are_counted_and_the_good_rows_load(conn, s3):
    data = part(0, 10).replace(b"NEAR BAY", b"NEAR PIER", 1)
    outcome = ingest_object(upload(s3, "housing/partly.csv", data), s3=s3, conn=conn, destinations=DESTINATIONS)

    (row,) = ledger(conn, "housing/partly.csv")
    assert (row["status"], row["rows_loaded"], row["rows_quarantined"], row["error"]) == ("loaded", 9, 1, None)
    assert housing_count(conn) == 9 and outcome.quarantine_key == "housing/partly.csv/reason.json"
    assert ("quarantine", "housing/partly.csv/rejected_rows.csv") in s3.objects


def test_a_rejected_file_is_recorded_as_quarantined_with_its_reason(conn, s3):
    ingest_object(upload(s3, "housing/bad.csv", b"city,price\nFresno,1\n"), s3=s3, conn=conn, destinations=DESTINATIONS)
    (row,) = ledger(conn, "housing/bad.csv")
    assert (row["status"], row["error"], row["rows_loaded"]) == ("quarantined", "missing_columns", 0)
    assert housing_count(conn) == 0
    assert ("quarantine", "housing/bad.csv/reason.json") in s3.objects


@pytest.mark.parametrize("failing_step", ["output_write", "summary"])
def test_a_crash_before_commit_leaves_nothing_and_the_retry_loads_once(conn, s3, monkeypatch, failing_step):
    # GIVEN a load that fails after the ledger row and (for "summary") the rows were written
    data = part(0, 500)
    ref = upload(s3, "housing/crashy.csv", data)
    if failing_step == "output_write":
        s3.fail_puts_to = "processed"
    else:
        real_refresh = db.refresh_summary
        monkeypatch.setattr(db, "refresh_summary", lambda *args: (_ for _ in ()).throw(RuntimeError("boom")))

    # WHEN it runs THEN it raises (so SQS retries) and the transaction left no trace: no rows, no
    # ledger row, and no object in the processed bucket that no ledger row names
    with pytest.raises(RuntimeError):
        ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS)
    assert housing_count(conn) == 0 and ledger(conn, ref.key) == [] and summary(conn) == {}
    assert s3.keys("processed") == set() and s3.keys("quarantine") == set()

    # WHEN the message is redelivered after the fault is gone THEN the file loads exactly once
    s3.fail_puts_to = None
    if failing_step == "summary":
        monkeypatch.setattr(db, "refresh_summary", real_refresh)
    assert ingest_object(ref, s3=s3, conn=conn, destinations=DESTINATIONS).status == "loaded"
    assert housing_count(conn) == 500 and len(ledger(conn, ref.key)) == 1
    assert_summary(conn, data)


def run_concurrently(jobs: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(index: int, job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except Exception as exc:  # pragma: no cover - asserted by the caller
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def ingest_concurrently(refs: list[S3ObjectRef], connections: list, s3: MemoryS3) -> list[object]:
    """Each ref ingested on its own connection and thread, all starting at the same moment."""
    jobs = [
        functools.partial(ingest_object, ref, s3=s3, conn=conn, destinations=DESTINATIONS)
        for ref, conn in zip(refs, connections, strict=True)
    ]
    return run_concurrently(jobs)


def test_concurrent_loads_of_different_files_leave_a_complete_summary(connect, s3):
    files = [part(i * 2000, (i + 1) * 2000) for i in range(4)]
    refs = [upload(s3, f"housing/parallel-{i}.csv", data) for i, data in enumerate(files)]
    connections = [connect() for _ in refs]

    outcomes = ingest_concurrently(refs, connections, s3)

    assert [o.status for o in outcomes] == ["loaded"] * 4
    assert housing_count(connections[0]) == 8000
    assert_summary(connections[0], *files)


def test_concurrent_deliveries_of_one_object_load_it_once(connect, s3, monkeypatch):
    monkeypatch.setattr(db, "is_recorded", lambda *args: False)  # both get past the early check
    data = part(0, 1500)
    ref = upload(s3, "housing/twice.csv", data)
    connections = [connect(), connect()]

    outcomes = ingest_concurrently([ref, ref], connections, s3)

    assert sorted(o.status for o in outcomes) == ["loaded", REDELIVERED]
    assert housing_count(connections[0]) == 1500 and len(ledger(connections[0], ref.key)) == 1


def test_concurrent_identical_files_under_two_names_load_once(connect, s3):
    data = part(0, 1500)
    refs = [upload(s3, "housing/one.csv", data), upload(s3, "housing/two.csv", data)]
    connections = [connect(), connect()]

    outcomes = ingest_concurrently(refs, connections, s3)

    assert sorted(o.status for o in outcomes) == ["duplicate", "loaded"]
    assert housing_count(connections[0]) == 1500
    assert_summary(connections[0], data)


def test_the_module_connection_is_reused_and_reopened_when_the_server_drops_it(postgres_dsn, schema, monkeypatch):
    params = psycopg2.extensions.parse_dsn(postgres_dsn)
    monkeypatch.setenv("DB_HOST", params.get("host", "127.0.0.1"))
    monkeypatch.setenv("DB_PORT", params.get("port", "5432"))
    monkeypatch.setenv("DB_NAME", params.get("dbname", "postgres"))
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:000000000000:secret:db")
    monkeypatch.setenv("DB_SSLMODE", "prefer")
    monkeypatch.setenv("PGOPTIONS", f"-c search_path={schema}")
    monkeypatch.setattr(db, "credentials", lambda arn: (params.get("user", "postgres"), params.get("password", "")))
    monkeypatch.setattr(db, "_local", threading.local())

    first = db.connection()
    assert db.connection() is first  # reused across invocations
    assert query(first, "SELECT count(*) FROM ingested_files")[0][0] == 0  # bootstrapped
    assert query(first, "SHOW idle_in_transaction_session_timeout") == [("15min",)]

    killer = psycopg2.connect(postgres_dsn)
    killer.autocommit = True
    with killer.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (first.get_backend_pid(),))
    killer.close()

    second = db.connection()
    assert second is not first and query(second, "SELECT 1") == [(1,)]
    db.close_quietly(second)


def test_each_thread_has_a_connection_of_its_own(postgres_dsn, schema, monkeypatch):
    monkeypatch.setattr(db, "_local", threading.local())
    monkeypatch.setattr(db, "connect", lambda settings: psycopg2.connect(postgres_dsn))
    monkeypatch.setattr(db.DbSettings, "from_env", classmethod(lambda cls: None))
    mine = db.connection()
    theirs = []
    worker = threading.Thread(target=lambda: theirs.extend([db.connection(), db.connection()]))
    worker.start()
    worker.join()
    assert theirs[0] is theirs[1] and theirs[0] is not mine and db.connection() is mine
    for conn in (mine, theirs[0]):
        db.close_quietly(conn)


# --- retina and events ---------------------------------------------------------------------------

RETINA_SEED = SEED_DIR / "retina" / "retina_scans.json"
EVENTS_SEEDS = {name: SEED_DIR / "events" / name for name in ("events.csv", "events.ndjson", "events.json")}


def expected_event_counts(*files: Path) -> dict[tuple[str, str], int]:
    """(event_type, UTC date) -> count, from the seed files with the standard library."""
    counts: dict[tuple[str, str], int] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".csv":
            records = list(csv.DictReader(io.StringIO(text)))
        elif path.suffix == ".ndjson":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
        for record in records:
            key = (record["event_type"], record["timestamp"][:10])  # the seeds are all in UTC ("Z")
            counts[key] = counts.get(key, 0) + 1
    return counts


def event_counts(conn) -> dict[tuple[str, str], int]:
    rows = query(conn, "SELECT event_type, event_date::text, count FROM event_counts_by_type")
    return {(event_type, day): count for event_type, day, count in rows}


def test_retina_scans_load_with_their_types_and_a_json_output(conn, s3):
    data = RETINA_SEED.read_bytes()
    outcome = ingest_object(upload(s3, "retina/retina_scans.json", data), s3=s3, conn=conn, destinations=DESTINATIONS)

    scans = json.loads(data)
    assert outcome.status == "loaded" and outcome.rows_loaded == len(scans)
    rows = query(conn, "SELECT source_row, patient_id, scan_date::text, retina_thickness_microns, optic_disc_cup_ratio "
                       "FROM retina_scans ORDER BY source_row")  # fmt: skip
    assert rows == [
        (i, s["patient_id"], s["scan_date"], float(s["retina_thickness_microns"]), s["optic_disc_cup_ratio"])
        for i, s in enumerate(scans, start=1)
    ]
    assert outcome.processed_key == f"retina/dt=2025-11-20/retina_scans-{hashlib.sha256(data).hexdigest()[:12]}.json"
    written = json.loads(s3.objects[("processed", outcome.processed_key)])
    assert written == [{"patient_id": s["patient_id"], "patient_name": s["patient_name"]} for s in scans]


def test_events_in_every_format_load_and_the_daily_counts_follow(conn, s3):
    for name, path in EVENTS_SEEDS.items():
        ingest_object(upload(s3, f"events/{name}", path.read_bytes()), s3=s3, conn=conn, destinations=DESTINATIONS)

    assert query(conn, "SELECT count(*) FROM events")[0][0] == 400 + 350 + 300
    assert event_counts(conn) == expected_event_counts(*EVENTS_SEEDS.values())
    # attributes are JSONB: extra CSV columns, the NDJSON object and the JSON array's extra keys alike
    pages = query(conn, "SELECT count(*) FROM events WHERE attributes ? 'page' AND attributes ? 'device'")[0][0]
    assert pages == 1050
    assert query(conn, "SELECT min(event_date)::text, max(event_date)::text FROM events")[0] == (
        "2025-11-18", "2025-11-20")  # fmt: skip


def test_a_file_streamed_in_many_chunks_loads_exactly_like_one_chunk(connect, s3):
    # GIVEN the published housing file, read in ~64 KB chunks (about 25 COPYs in one transaction)
    conn = connect()
    chunked = Destinations(processed_bucket="processed", quarantine_bucket="quarantine", chunk_chars=64 * 1024)
    data = SEED.read_bytes()

    outcome = ingest_object(upload(s3, "housing/chunked.csv", data), s3=s3, conn=conn, destinations=chunked)

    assert outcome.status == "loaded" and outcome.rows_loaded == 20_640
    assert query(conn, "SELECT count(DISTINCT source_row), min(source_row), max(source_row) FROM housing")[0] == (
        20_640, 1, 20_640)  # fmt: skip
    assert_summary(conn, data)


def test_a_file_rejected_after_some_chunks_loaded_leaves_only_its_quarantine_record(conn, s3):
    # GIVEN an events file whose last line is 1.1 MiB: the earlier chunks are COPYed before it is read
    body = EVENTS_SEEDS["events.ndjson"].read_bytes() + b'{"x": "' + b"y" * (1024 * 1024 + 100) + b'"}\n'
    chunked = Destinations(processed_bucket="processed", quarantine_bucket="quarantine", chunk_chars=4096)

    outcome = ingest_object(upload(s3, "events/long.ndjson", body), s3=s3, conn=conn, destinations=chunked)

    assert outcome.status == "quarantined" and outcome.reason == "line_too_long"
    assert query(conn, "SELECT count(*) FROM events")[0][0] == 0 and event_counts(conn) == {}
    assert [row["status"] for row in ledger(conn, "events/long.ndjson")] == ["quarantined"]
    assert not [key for key in s3.objects if key[0] == "processed"]


def test_a_file_too_large_for_its_share_of_tmp_is_not_quarantined_and_loads_alone(conn, s3):
    # GIVEN a file that fits the size limit, but not half of it
    data = SEED.read_bytes()
    ref = upload(s3, "housing/shared.csv", data)
    limit = len(data) + 1
    sharing = replace(DESTINATIONS, max_object_bytes=limit, sharing=2)

    # WHEN it is processed beside another file THEN it asks for the disk alone, and nothing is recorded
    with pytest.raises(NeedsRoom):
        ingest_object(ref, s3=s3, conn=conn, destinations=sharing)
    assert query(conn, "SELECT count(*) FROM ingested_files")[0][0] == 0
    assert s3.keys("quarantine") == set() and s3.keys("processed") == set()

    # WHEN it is processed alone THEN it loads
    outcome = ingest_object(ref, s3=s3, conn=conn, destinations=replace(sharing, sharing=1))
    assert outcome.status == "loaded" and housing_count(conn) == len(LINES) - 1
