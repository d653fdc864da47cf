"""The order of effects for one object, with S3 and the database replaced by recording fakes.

The real SQL is exercised in tests/integration/test_db_load.py; here we check the decisions: what is
written where, in which order relative to the COMMIT, and what raises.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from botocore.exceptions import ClientError
from pipeline import db, ingest
from pipeline.contracts import APPEND, CONTRACTS, HOUSING
from pipeline.events import S3ObjectRef
from pipeline.ingest import REDELIVERED, Destinations, ingest_object

pytestmark = pytest.mark.unit

SEED = Path(__file__).resolve().parents[2] / "seed_data" / "housing" / "california_housing.csv"
SMALL = b"".join(SEED.read_bytes().splitlines(keepends=True)[:6])  # header + 5 rows
DESTINATIONS = Destinations(processed_bucket="processed", quarantine_bucket="quarantine")


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_chunks(self, size: int):
        for start in range(0, len(self.data), size):
            yield self.data[start : start + size]


class FakeS3:
    def __init__(self, journal: list, objects: dict[str, bytes]) -> None:
        self.journal = journal
        self.objects = objects
        self.written: dict[tuple[str, str], bytes] = {}
        self.fail_puts = False

    def get_object(self, Bucket, Key, VersionId=None):  # noqa: N803 - boto3's names
        self.journal.append(("get", Key))
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": Body(self.objects[Key]), "ETag": '"etag-from-get"'}

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803
        if self.fail_puts:
            raise ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")
        self.journal.append(("put", Bucket, Key))
        self.written[(Bucket, Key)] = Body
        return {"VersionId": f"version-{len(self.journal)}"}

    def delete_object(self, Bucket, Key, VersionId=None):  # noqa: N803
        self.journal.append(("delete", Bucket, Key, VersionId))
        self.written.pop((Bucket, Key), None)


class FakeDatabase:
    """Stands in for the ledger functions of pipeline.db and journals every call."""

    def __init__(self, journal: list) -> None:
        self.journal = journal
        self.recorded: set[tuple[str, str, str]] = set()
        self.claimable = True
        self.duplicate_of: int | None = None
        self.finished: dict = {}
        self.current: db.KeyVersion | None = None  # the key's version in the tables
        self.commit_error: Exception | None = None
        self.committed_after_error: bool | None = False  # None: the database cannot say

    def is_recorded(self, conn, bucket, key, version):
        return (bucket, key, version) in self.recorded

    @contextmanager
    def transaction(self, conn):
        self.journal.append(("begin",))
        try:
            yield "cursor"
        except BaseException:
            self.journal.append(("rollback",))
            raise
        if self.commit_error is not None:
            self.journal.append(("commit failed",))
            raise self.commit_error
        self.journal.append(("commit",))

    def is_committed(self, conn, file_id):
        if self.committed_after_error is None:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        return self.committed_after_error

    def current_version(self, cur, bucket, key, file_id):
        return self.current

    def supersede(self, cur, contract, old_id, new_id):
        self.journal.append(("supersede", old_id, new_id))
        return db.Retired(processed_keys=["housing/dt=2025-11-19/old.parquet"], quarantine_keys=[])

    def claim(self, cur, entry, status):
        self.journal.append(("claim", entry.version_id, status))
        self.entry = entry
        return 42 if self.claimable else None

    def lock(self, cur, name):
        self.journal.append(("lock", name.split(":")[0]))

    def savepoint(self, cur, name):
        self.journal.append(("savepoint", name))

    def rollback_to(self, cur, name):
        self.journal.append(("rollback to", name))

    def find_loaded_duplicate(self, cur, dataset, sha, file_id):
        return self.duplicate_of

    @contextmanager
    def copying(self, cur, contract, file_id):
        yield lambda table: self.journal.append(("copy", contract.table, table.num_rows))

    def refresh_summary(self, cur, contract, file_id, added=None, rows_removed=False):
        self.journal.append(("summary", contract.summary_table, file_id))

    def finish(self, cur, file_id, status, **fields):
        self.journal.append(("finish", status))
        self.finished = {"status": status, **fields}


@pytest.fixture
def journal():
    return []


@pytest.fixture
def fake_db(monkeypatch, journal):
    fake = FakeDatabase(journal)
    for name in ("is_recorded", "transaction", "claim", "lock", "find_loaded_duplicate", "copying",
                 "refresh_summary", "finish", "is_committed", "current_version", "supersede", "savepoint",
                 "rollback_to"):  # fmt: skip
        monkeypatch.setattr(db, name, getattr(fake, name))
    return fake


def ref_for(key: str, size: int | None = None, version_id: str | None = None) -> S3ObjectRef:
    return S3ObjectRef(
        bucket="raw",
        key=key,
        event_name="ObjectCreated:Put",
        event_time=datetime(2025, 11, 20, 8, 15, tzinfo=UTC),
        etag="etag-from-event",
        version_id=version_id,
        size=size,
    )


def run(key: str, data: bytes | None, fake_db, journal, **ref_fields):
    s3 = FakeS3(journal, {} if data is None else {key: data})
    outcome = ingest_object(ref_for(key, **ref_fields), s3=s3, conn=None, destinations=DESTINATIONS)
    return outcome, s3


def reason_of(s3: FakeS3, key: str) -> dict:
    return json.loads(s3.written[("quarantine", f"{key}/reason.json")])


def test_a_good_file_loads_then_writes_parquet_and_commits(fake_db, journal):
    outcome, s3 = run("housing/small.csv", SMALL, fake_db, journal)

    assert outcome.status == "loaded" and outcome.rows_loaded == 5 and outcome.rows_quarantined == 0
    assert outcome.processed_key.startswith("housing/dt=2025-11-20/small-") and outcome.file_id == 42
    steps = [step[0] for step in journal]
    assert steps == ["get", "begin", "claim", "lock", "lock", "copy", "put", "finish", "summary", "commit"]
    assert [step[1] for step in journal if step[0] == "lock"] == ["key", "content"]
    assert ("put", "processed", outcome.processed_key) in journal
    assert journal.index(("put", "processed", outcome.processed_key)) < journal.index(("commit",))
    assert fake_db.finished["status"] == "loaded" and fake_db.finished["rows_loaded"] == 5
    assert fake_db.entry.version_id == "etag-from-event" and fake_db.entry.content_sha256
    assert not [key for key in s3.written if key[0] == "quarantine"]


def test_the_version_id_is_the_idempotency_key_when_the_bucket_is_versioned(fake_db, journal):
    run("housing/small.csv", SMALL, fake_db, journal, version_id="v1")
    assert fake_db.entry.version_id == "v1"


def test_a_recorded_object_version_is_not_even_downloaded(fake_db, journal):
    fake_db.recorded.add(("raw", "housing/small.csv", "etag-from-event"))
    outcome, s3 = run("housing/small.csv", SMALL, fake_db, journal)
    assert outcome.status == REDELIVERED and journal == [] and s3.written == {}


def test_a_concurrent_redelivery_stops_at_the_ledger_insert(fake_db, journal):
    fake_db.claimable = False
    outcome, s3 = run("housing/small.csv", SMALL, fake_db, journal)
    assert outcome.status == REDELIVERED
    assert [step[0] for step in journal] == ["get", "begin", "claim", "commit"] and s3.written == {}


def test_identical_bytes_already_loaded_are_recorded_as_duplicate_and_load_nothing(fake_db, journal):
    fake_db.duplicate_of = 7
    outcome, s3 = run("housing/copy.csv", SMALL, fake_db, journal)
    assert outcome.status == "duplicate" and outcome.duplicate_of == 7 and outcome.rows_loaded == 0
    assert fake_db.finished == {"status": "duplicate", "duplicate_of": 7}
    assert s3.written == {} and not [step for step in journal if step[0] in ("copy", "summary")]


def test_bad_rows_are_quarantined_and_the_good_rows_load(fake_db, journal):
    lines = SMALL.decode().splitlines()
    lines[2] = lines[2].replace("NEAR BAY", "ATLANTIS")
    outcome, s3 = run("housing/partly.csv", "\n".join(lines).encode(), fake_db, journal)

    assert outcome.status == "loaded" and outcome.rows_loaded == 4 and outcome.rows_quarantined == 1
    rows = s3.written[("quarantine", "housing/partly.csv/rejected_rows.csv")].decode().splitlines()
    assert rows[0] == "row_number,column,reason,value,detail"
    assert rows[1].startswith("2,ocean_proximity,not_allowed,ATLANTIS,")
    reason = reason_of(s3, "housing/partly.csv")
    assert reason["reason"] == "rejected_rows" and reason["rows_rejected"] == 1 and reason["rows_loaded"] == 4
    assert reason["source"]["key"] == "housing/partly.csv" and reason["source"]["sha256"]
    assert fake_db.finished["rows_quarantined"] == 1 and fake_db.finished["quarantine_key"].endswith("reason.json")


@pytest.mark.parametrize(
    ("key", "data", "code"),
    [
        ("weather/today.csv", b"a,b\n1,2\n", "unknown_dataset"),
        ("housing/cols.csv", b"longitude,latitude\n1,2\n", "missing_columns"),
        ("housing/empty.csv", b"", "empty_file"),
        ("housing/gone.csv", None, "object_missing"),
    ],
)
def test_a_file_that_cannot_load_is_quarantined_whole_and_recorded(fake_db, journal, key, data, code):
    outcome, s3 = run(key, data, fake_db, journal)

    assert outcome.status == "quarantined" and outcome.reason == code
    reason = reason_of(s3, key)
    assert reason["reason"] == code and reason["detail"] and reason["source"]["key"] == key
    assert fake_db.finished["status"] == "quarantined" and fake_db.finished["error"] == code
    assert not [k for k in s3.written if k[0] == "processed"]
    assert ("commit",) in journal and not [step for step in journal if step[0] == "copy"]


def test_an_unknown_dataset_is_not_downloaded_and_the_reason_names_the_known_ones(fake_db, journal):
    outcome, _ = run("weather/today.csv", b"a\n1\n", fake_db, journal)
    assert not [step for step in journal if step[0] == "get"]
    assert "'weather'" in outcome.detail and "housing/" in outcome.detail


def test_a_file_over_the_safety_limit_is_quarantined_before_download(fake_db, journal):
    outcome, s3 = run("housing/huge.csv", SMALL, fake_db, journal, size=DESTINATIONS.size_limit() + 1)
    assert outcome.reason == "too_large" and not [step for step in journal if step[0] == "get"]


def test_a_file_whose_rows_are_all_bad_is_quarantined_with_its_row_problems(fake_db, journal):
    data = SMALL.replace(b"NEAR BAY", b"MOON")
    outcome, s3 = run("housing/moon.csv", data, fake_db, journal)
    assert outcome.status == "quarantined" and outcome.reason == "no_valid_rows" and outcome.rows_quarantined == 5
    assert ("quarantine", "housing/moon.csv/rejected_rows.csv") in s3.written


def test_s3_errors_other_than_a_missing_object_raise_before_anything_is_recorded(fake_db, journal):
    class DeniedS3(FakeS3):
        def get_object(self, **kwargs):
            raise ClientError({"Error": {"Code": "AccessDenied"}}, "GetObject")

    with pytest.raises(ClientError):
        ingest_object(ref_for("housing/small.csv"), s3=DeniedS3(journal, {}), conn=None, destinations=DESTINATIONS)
    assert journal == []


def test_a_failed_output_write_rolls_the_load_back(fake_db, journal):
    s3 = FakeS3(journal, {"housing/small.csv": SMALL})
    s3.fail_puts = True
    with pytest.raises(ClientError):
        ingest_object(ref_for("housing/small.csv"), s3=s3, conn=None, destinations=DESTINATIONS)
    assert journal[-1] == ("rollback",) and ("commit",) not in journal


def test_the_size_limit_is_half_the_free_temp_space_unless_set(monkeypatch, tmp_path):
    monkeypatch.setenv("PROCESSED_BUCKET", "p")
    monkeypatch.setenv("QUARANTINE_BUCKET", "q")
    monkeypatch.delenv("MAX_OBJECT_BYTES", raising=False)
    destinations = Destinations.from_env()
    assert destinations.max_object_bytes is None
    free = shutil.disk_usage(tempfile.gettempdir()).free
    assert abs(destinations.size_limit() - free // 2) < 64 * 1024 * 1024
    monkeypatch.setenv("MAX_OBJECT_BYTES", "1000")
    assert Destinations.from_env().size_limit() == 1000


RETINA_SCANS = Path(__file__).resolve().parents[2] / "seed_data" / "retina" / "retina_scans.json"
EVENTS_CSV = Path(__file__).resolve().parents[2] / "seed_data" / "events" / "events.csv"


def test_a_retina_file_writes_the_patients_as_json(fake_db, journal):
    outcome, s3 = run("retina/scans.json", RETINA_SCANS.read_bytes(), fake_db, journal)

    scans = json.loads(RETINA_SCANS.read_text())
    assert outcome.status == "loaded" and outcome.rows_loaded == len(scans)
    assert outcome.processed_key.startswith("retina/dt=2025-11-20/scans-") and outcome.processed_key.endswith(".json")
    written = json.loads(s3.written[("processed", outcome.processed_key)])
    assert written == [{"patient_id": s["patient_id"], "patient_name": s["patient_name"]} for s in scans]
    assert ("copy", "retina_scans", len(scans)) in journal


def test_events_write_one_parquet_per_event_date_and_update_the_counts(fake_db, journal):
    outcome, s3 = run("events/day.csv.gz", gzip.compress(EVENTS_CSV.read_bytes()), fake_db, journal)

    assert outcome.status == "loaded" and outcome.rows_loaded == 400
    keys = sorted(key for bucket, key in s3.written if bucket == "processed")
    assert [key.split("/")[1] for key in keys] == ["dt=2025-11-18", "dt=2025-11-19", "dt=2025-11-20"]
    assert all(key.startswith("events/") and key.split("/")[2].startswith("day-") for key in keys)
    assert outcome.processed_key == keys[0]
    assert ("summary", "event_counts_by_type", 42) in journal


def test_a_file_found_bad_half_way_rolls_the_load_back_and_is_quarantined(fake_db, journal):
    # GIVEN a 3 MB CSV, gzipped and cut short, read in chunks small enough that the first ones load
    header, *rows = EVENTS_CSV.read_bytes().splitlines(keepends=True)
    text = header + b"".join(rows * 80)
    destinations = Destinations("processed", "quarantine", chunk_chars=512 * 1024)
    data = gzip.compress(text)[:-2000]
    s3 = FakeS3(journal, {"events/cut.csv.gz": data})

    # WHEN ingested
    outcome = ingest_object(ref_for("events/cut.csv.gz"), s3=s3, conn=None, destinations=destinations)

    # THEN rows were copied in the first transaction, which rolled back; the second records the reason
    assert outcome.status == "quarantined" and outcome.reason == "truncated_gzip"
    steps = [step[0] for step in journal]
    assert steps[:6] == ["get", "begin", "claim", "lock", "lock", "copy"]
    assert steps[-7:] == ["rollback", "begin", "claim", "lock", "put", "finish", "commit"]
    assert not [key for key in s3.written if key[0] == "processed"]
    assert reason_of(s3, "events/cut.csv.gz")["reason"] == "truncated_gzip"


def test_an_unsupported_extension_is_quarantined_before_download(fake_db, journal):
    outcome, s3 = run("events/export.xlsx", b"PK\x03\x04", fake_db, journal)
    assert outcome.reason == "unsupported_format" and not [step for step in journal if step[0] == "get"]
    assert ".csv" in outcome.detail and ".ndjson" in outcome.detail


def test_temporary_files_are_removed_after_each_object(fake_db, journal, tmp_path):
    destinations = Destinations("processed", "quarantine", workdir=str(tmp_path))
    for key, data in [("housing/a.csv", SMALL), ("housing/b.csv", b"\x00")]:
        s3 = FakeS3(journal, {key: data})
        ingest_object(ref_for(key), s3=s3, conn=None, destinations=destinations)
    assert list(tmp_path.iterdir()) == []


# --- objects follow the ledger: nothing stays that a rolled-back load wrote ---------------------


def partly_bad() -> bytes:
    lines = SMALL.decode().splitlines()
    lines[2] = lines[2].replace("NEAR BAY", "ATLANTIS")
    return "\n".join(lines).encode()


def puts_and_deletes(journal: list) -> tuple[list, list]:
    puts = [(step[1], step[2]) for step in journal if step[0] == "put"]
    deletes = [(step[1], step[2]) for step in journal if step[0] == "delete"]
    return puts, deletes


def test_a_load_that_fails_after_its_uploads_deletes_exactly_the_versions_it_wrote(fake_db, journal, monkeypatch):
    # GIVEN a load whose summary update fails after the Parquet, reason.json and rejected rows went up
    monkeypatch.setattr(db, "refresh_summary", lambda *args: (_ for _ in ()).throw(RuntimeError("failover")))
    s3 = FakeS3(journal, {"housing/partly.csv": partly_bad()})

    # WHEN it runs THEN it raises (the message is retried) and every object it wrote is deleted again
    with pytest.raises(RuntimeError, match="failover"):
        ingest_object(ref_for("housing/partly.csv"), s3=s3, conn=None, destinations=DESTINATIONS)
    puts, deletes = puts_and_deletes(journal)
    assert len(puts) == 3 and sorted(deletes) == sorted(puts) and s3.written == {}
    versions = [step[3] for step in journal if step[0] == "delete"]
    assert all(version and version.startswith("version-") for version in versions)  # only what it wrote
    assert journal.index(("rollback",)) < journal.index(next(step for step in journal if step[0] == "delete"))


@pytest.mark.parametrize(("committed", "taken_back"), [(False, True), (True, False), (None, False)])
def test_after_a_failed_commit_the_ledger_decides_whether_the_objects_go(fake_db, journal, committed, taken_back):
    # GIVEN a COMMIT that raises: it really failed (False), succeeded with its answer lost (True), or the
    # database cannot be asked (None: the objects stay for `tidewater doctor`)
    fake_db.commit_error = psycopg2.OperationalError("server closed the connection unexpectedly")
    fake_db.committed_after_error = committed
    s3 = FakeS3(journal, {"housing/small.csv": SMALL})

    with pytest.raises(psycopg2.OperationalError):
        ingest_object(ref_for("housing/small.csv"), s3=s3, conn=None, destinations=DESTINATIONS)

    puts, deletes = puts_and_deletes(journal)
    assert len(puts) == 1 and deletes == (puts if taken_back else [])


def test_a_quarantine_record_that_does_not_commit_takes_its_reason_back(fake_db, journal):
    fake_db.commit_error = psycopg2.OperationalError("could not serialize access")
    s3 = FakeS3(journal, {"housing/cols.csv": b"longitude,latitude\n1,2\n"})
    with pytest.raises(psycopg2.OperationalError):
        ingest_object(ref_for("housing/cols.csv"), s3=s3, conn=None, destinations=DESTINATIONS)
    puts, deletes = puts_and_deletes(journal)
    assert puts == [("quarantine", "housing/cols.csv/reason.json")] and deletes == puts


# --- a new version of a key ----------------------------------------------------------------------

NOON = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


def version(event_time: datetime, status: str = "loaded", sequencer: str | None = None) -> db.KeyVersion:
    return db.KeyVersion(id=7, status=status, event_time=event_time, sequencer=sequencer, content_sha256="ab")


def test_a_new_version_replaces_the_previous_one_in_its_transaction_and_then_deletes_its_outputs(
    fake_db, journal
):
    fake_db.current = version(datetime(2025, 11, 19, tzinfo=UTC))  # loaded the day before

    outcome, s3 = run("housing/small.csv", SMALL, fake_db, journal, version_id="v2")

    assert outcome.status == "loaded" and outcome.superseded == 7 and outcome.leftovers == ()
    steps = [step[0] for step in journal]
    assert steps == ["get", "begin", "claim", "lock", "lock", "copy", "put", "finish", "supersede", "summary",
                     "commit", "delete"]  # fmt: skip
    assert ("supersede", 7, 42) in journal
    assert journal[-1] == ("delete", "processed", "housing/dt=2025-11-19/old.parquet", None)


def test_a_message_of_an_older_version_arriving_late_is_superseded_and_changes_nothing(fake_db, journal):
    fake_db.current = version(NOON)  # a version created after this event's 08:15 is in the tables

    outcome, s3 = run("housing/small.csv", SMALL, fake_db, journal, version_id="v1")

    assert outcome.status == "superseded" and outcome.superseded_by == 7
    assert fake_db.finished == {"status": "superseded", "superseded_by": 7}
    assert s3.written == {} and not [step for step in journal if step[0] in ("copy", "supersede", "summary")]


def test_a_late_old_version_with_bad_bytes_does_not_overwrite_the_keys_reason(fake_db, journal):
    fake_db.current = version(NOON)
    outcome, s3 = run("housing/cols.csv", b"longitude,latitude\n1,2\n", fake_db, journal, version_id="v1")
    assert outcome.status == "superseded" and s3.written == {}


def test_versions_with_the_same_event_time_are_ordered_by_their_sequencer():
    entry = db.LedgerEntry("raw", "k", "v", None, None, None, "housing", NOON, NOON, sequencer="0055AED6DCD90281E5")
    assert version(NOON, sequencer="0055AED6DCD90281E6").is_newer_than(entry)
    assert not version(NOON, sequencer="55AED6DCD90281E4").is_newer_than(entry)  # compared at equal length
    assert not version(NOON).is_newer_than(entry)  # nothing tells: the version being processed wins


def test_the_same_bytes_as_the_previous_version_leave_it_in_place(fake_db, journal):
    fake_db.current = version(datetime(2025, 11, 19, tzinfo=UTC))
    fake_db.duplicate_of = 7  # the previous version itself
    outcome, _ = run("housing/small.csv", SMALL, fake_db, journal, version_id="v2")
    assert outcome.status == "duplicate" and outcome.superseded is None
    assert not [step for step in journal if step[0] in ("supersede", "summary", "delete")]


def test_an_append_dataset_keeps_every_version(fake_db, journal, monkeypatch):
    monkeypatch.setitem(CONTRACTS, "housing", dataclasses.replace(HOUSING, on_new_version=APPEND))
    fake_db.current = version(NOON)
    outcome, _ = run("housing/small.csv", SMALL, fake_db, journal, version_id="v1")
    assert outcome.status == "loaded" and outcome.superseded is None
    assert [step[1] for step in journal if step[0] == "lock"] == ["content"]


# --- /tmp: bounded, and left clean ---------------------------------------------------------------


def test_workspaces_left_by_a_dead_process_are_removed_and_live_ones_kept(fake_db, journal, tmp_path):
    child = subprocess.Popen(["true"])  # a pid that has exited
    child.wait()
    stale = tmp_path / f"tidewater-{child.pid}-x1"
    ours_before_a_restart = tmp_path / f"tidewater-{os.getpid()}-x2"  # same pid, not in use
    live = tmp_path / f"tidewater-{os.getppid()}-x3"  # another process that is alive
    other = tmp_path / "tidewater-postgres-abc"
    for path in (stale, ours_before_a_restart, live, other):
        (path / "output").mkdir(parents=True)
    destinations = Destinations("processed", "quarantine", workdir=str(tmp_path))

    ingest_object(ref_for("housing/a.csv"), s3=FakeS3(journal, {"housing/a.csv": SMALL}), conn=None,
                  destinations=destinations)  # fmt: skip

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_a_full_disk_while_reading_is_a_too_large_quarantine(fake_db, journal, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ingest.s3io, "start_download", no_space)
    outcome, _ = run("housing/small.csv", SMALL, fake_db, journal)
    assert outcome.status == "quarantined" and outcome.reason == "too_large"
    assert "ephemeral storage" in outcome.detail


class FailingBody(Body):
    """A body whose spooling fails after the first block, with `error`."""

    def __init__(self, data: bytes, error: Exception) -> None:
        super().__init__(data)
        self.error = error

    def iter_chunks(self, size: int):
        yield self.data[:size]
        raise self.error


@pytest.mark.parametrize("large", [False, True], ids=["read-whole-first", "read-while-downloading"])
def test_a_disk_that_fills_up_during_the_download_is_a_too_large_quarantine(fake_db, journal, monkeypatch, large):
    # GIVEN an object whose spool file cannot be written to its end (the disk is full)
    monkeypatch.setattr(ingest.s3io, "CHUNK_BYTES", 64)
    s3 = FakeS3(journal, {"housing/small.csv": SMALL})
    full = OSError(errno.ENOSPC, "No space left on device")
    length = ingest.s3io.BACKGROUND_BYTES if large else len(SMALL)
    s3.get_object = lambda **kwargs: {"Body": FailingBody(SMALL, full), "ETag": '"e"', "ContentLength": length}
    # WHEN it is processed THEN it is quarantined as too large, with nothing loaded
    outcome = ingest_object(ref_for("housing/small.csv"), s3=s3, conn=None, destinations=DESTINATIONS)
    assert outcome.status == "quarantined" and outcome.reason == "too_large"
    assert fake_db.finished["status"] == "quarantined" and not [step for step in journal if step[0] == "copy"]


@pytest.mark.parametrize("large", [False, True], ids=["read-whole-first", "read-while-downloading"])
def test_a_connection_lost_during_the_download_is_retried_not_quarantined(fake_db, journal, monkeypatch, large):
    # GIVEN an object whose body breaks off half-way (an OSError, like a damaged gzip stream)
    monkeypatch.setattr(ingest.s3io, "CHUNK_BYTES", 64)
    s3 = FakeS3(journal, {"housing/small.csv": SMALL})
    reset = ConnectionResetError("connection reset by peer")
    length = ingest.s3io.BACKGROUND_BYTES if large else len(SMALL)
    s3.get_object = lambda **kwargs: {"Body": FailingBody(SMALL, reset), "ETag": '"e"', "ContentLength": length}
    # WHEN it is processed THEN it raises (SQS delivers it again) and nothing was committed
    with pytest.raises(ingest.s3io.DownloadFailed):
        ingest_object(ref_for("housing/small.csv"), s3=s3, conn=None, destinations=DESTINATIONS)
    assert ("commit",) not in journal and not [key for key in s3.written if key[0] == "quarantine"]
