"""The order of effects for one object, with S3 and the database replaced by recording fakes.

The real SQL is exercised in tests/integration/test_db_load.py; here we check the decisions: what is
written where, in which order relative to the COMMIT, and what raises.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from pipeline import db
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


class FakeDatabase:
    """Stands in for the ledger functions of pipeline.db and journals every call."""

    def __init__(self, journal: list) -> None:
        self.journal = journal
        self.recorded: set[tuple[str, str, str]] = set()
        self.claimable = True
        self.duplicate_of: int | None = None
        self.finished: dict = {}

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
        self.journal.append(("commit",))

    def claim(self, cur, entry, status):
        self.journal.append(("claim", entry.version_id, status))
        self.entry = entry
        return 42 if self.claimable else None

    def lock(self, cur, name):
        self.journal.append(("lock", name.split(":")[0]))

    def find_loaded_duplicate(self, cur, dataset, sha, file_id):
        return self.duplicate_of

    @contextmanager
    def copying(self, cur, contract, file_id):
        yield lambda table: self.journal.append(("copy", contract.table, table.num_rows))

    def refresh_summary(self, cur, contract, file_id):
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
                 "refresh_summary", "finish"):  # fmt: skip
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
    assert steps == ["get", "begin", "claim", "lock", "copy", "put", "summary", "finish", "commit"]
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
    assert steps[:5] == ["get", "begin", "claim", "lock", "copy"]
    assert steps[-6:] == ["rollback", "begin", "claim", "put", "finish", "commit"]
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
