"""Large objects are loaded while they download (s3io.Download): the rows, ledger and summaries are
those of a load after the download, a duplicate found only once the whole object is in leaves no
row, and the first rows really go to the COPY before the download ends.

Needs a `postgres_dsn` fixture (a libpq DSN or URL); see conftest.py.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace

import pytest
from pipeline import db, s3io
from pipeline.ingest import ingest_object

from tests.integration.support import DESTINATIONS, SEED_DIR, MemoryS3, query, upload

pytestmark = pytest.mark.e2e

DATA = (SEED_DIR / "housing" / "california_housing.csv").read_bytes()
SMALL_CHUNKS = replace(DESTINATIONS, chunk_chars=100_000)  # several chunks, so several COPYs


@pytest.fixture
def in_the_background(monkeypatch):
    """Every object downloads on a thread (the real threshold is 8 MiB)."""
    monkeypatch.setattr(s3io, "BACKGROUND_BYTES", 0)
    monkeypatch.setattr(s3io, "CHUNK_BYTES", 64 * 1024)


def table_state(conn) -> tuple:
    return (
        query(conn, "SELECT source_row, longitude, median_house_value::text, ocean_proximity FROM housing ORDER BY 1"),
        query(conn, "SELECT ocean_proximity, record_count, avg_median_house_value::text "
                    "FROM housing_summary_statistics ORDER BY 1"),  # fmt: skip
        query(conn, "SELECT status, rows_loaded, content_sha256, size_bytes FROM ingested_files ORDER BY id"),
    )


def test_a_load_while_downloading_stores_what_a_load_after_the_download_stores(connect, s3, monkeypatch):
    # GIVEN the same file loaded once read whole first, once while it downloads (in fresh schemas)
    first, second = connect(), connect()
    ingest_object(upload(s3, "housing/whole.csv", DATA), s3=s3, conn=first, destinations=SMALL_CHUNKS)
    after_download = table_state(first)
    with first.cursor() as cur:
        cur.execute("TRUNCATE housing, housing_summary_statistics, ingested_files")
    monkeypatch.setattr(s3io, "BACKGROUND_BYTES", 0)
    outcome = ingest_object(upload(s3, "housing/whole.csv", DATA), s3=s3, conn=second, destinations=SMALL_CHUNKS)
    # THEN both hold the same rows, summary and ledger figures (hash and size included)
    assert outcome.status == "loaded" and table_state(second) == after_download
    assert after_download[2] == [("loaded", 20640, hashlib.sha256(DATA).hexdigest(), len(DATA))]


def test_a_duplicate_found_after_the_rows_were_copied_leaves_none_of_them(conn, s3, in_the_background):
    # GIVEN a file loaded, and the same bytes uploaded under another key (loaded while downloading)
    loaded = ingest_object(upload(s3, "housing/a.csv", DATA), s3=s3, conn=conn, destinations=SMALL_CHUNKS)
    assert loaded.status == "loaded"
    before = query(conn, "SELECT count(*) FROM housing")
    # WHEN it is processed THEN it is a duplicate: its rows were COPYed, then taken back
    outcome = ingest_object(upload(s3, "housing/b.csv", DATA), s3=s3, conn=conn, destinations=SMALL_CHUNKS)
    assert outcome.status == "duplicate"
    assert query(conn, "SELECT count(*) FROM housing") == before
    assert query(conn, "SELECT status, content_sha256 FROM ingested_files WHERE s3_key = 'housing/b.csv'") == [
        ("duplicate", hashlib.sha256(DATA).hexdigest())
    ]
    assert not [key for key in s3.keys("processed") if "/b-" in key]


LINES = DATA.splitlines(keepends=True)
LARGE = LINES[0] + b"".join(LINES[1:] * 3)  # 61,920 rows, 4 MB
GATE = 1_500_000  # the reader's first read takes 1 MiB


class GatedS3(MemoryS3):
    """Sends the first GATE bytes of a body, then waits for `go` before the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def get_object(self, **kwargs):
        response = super().get_object(**kwargs)
        data, go = response["Body"].data, self.go

        class Body:
            def iter_chunks(self, size):
                yield data[:GATE]
                go.wait(10)
                yield from (data[i : i + size] for i in range(GATE, len(data), size))

        return {**response, "Body": Body()}


def test_the_first_rows_are_copied_before_the_download_ends(conn, in_the_background, monkeypatch):
    # GIVEN an object whose download stalls after its first 1.5 MB until a first chunk went to the COPY
    s3 = GatedS3()
    copied_early = []
    real_data = db.CopyPlan.data

    def data(plan, table, file_id):
        copied_early.append(not s3.go.is_set())
        s3.go.set()
        return real_data(plan, table, file_id)

    monkeypatch.setattr(db.CopyPlan, "data", data)
    # WHEN it is processed with chunks smaller than that
    outcome = ingest_object(upload(s3, "housing/slow.csv", LARGE), s3=s3, conn=conn,
                            destinations=replace(DESTINATIONS, chunk_chars=30_000))  # fmt: skip
    # THEN the first chunk went to the COPY while the download waited, and the whole file loaded
    assert copied_early[0] is True and outcome.status == "loaded" and outcome.rows_loaded == 3 * 20640
