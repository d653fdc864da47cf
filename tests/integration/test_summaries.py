"""Summaries kept incrementally (a load adds its own rows; the loader counts events itself) equal
a recompute from every row, value for value, whatever the loads, new versions and upgrades.

Needs a `postgres_dsn` fixture (a libpq DSN or URL); see conftest.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from pipeline.ingest import ingest_object

from tests.integration.support import DESTINATIONS, SEED_DIR, query, upload
from tidewater.bench import datagen

pytestmark = pytest.mark.e2e

LINES = (SEED_DIR / "housing" / "california_housing.csv").read_bytes().splitlines(keepends=True)
HOUSING_SUMMARY = """
    SELECT ocean_proximity, record_count, sum_median_house_value::text, avg_median_house_value::text,
           min_median_house_value::text, max_median_house_value::text
    FROM housing_summary_statistics ORDER BY 1
"""
HOUSING_RECOMPUTED = """
    SELECT ocean_proximity, count(*), sum(median_house_value)::text, avg(median_house_value)::text,
           min(median_house_value)::text, max(median_house_value)::text
    FROM housing GROUP BY 1 ORDER BY 1
"""
EVENT_COUNTS = "SELECT event_type, event_date, count FROM event_counts_by_type WHERE count > 0 ORDER BY 1, 2"
EVENTS_RECOUNTED = "SELECT event_type, event_date, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2"


def rows(start: int, stop: int) -> bytes:
    return b"".join([LINES[0], *LINES[1 + start : 1 + stop]])


def test_housing_summary_added_file_by_file_equals_a_recompute(conn, s3):
    # GIVEN files loaded one after the other (each adds its rows), then a new version of one key
    # (its old rows leave: recomputed whole)
    for number, (start, stop) in enumerate([(0, 3000), (3000, 9000), (9000, 9001), (9001, 20640)]):
        assert ingest_object(upload(s3, f"housing/part-{number}.csv", rows(start, stop)), s3=s3, conn=conn,
                             destinations=DESTINATIONS).status == "loaded"  # fmt: skip
        # THEN after every load the figures are exactly those of a recompute (avg to the last digit)
        assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)
    new_version = upload(s3, "housing/part-1.csv", rows(3000, 4000), version_id="v2")
    assert ingest_object(new_version, s3=s3, conn=conn, destinations=DESTINATIONS).superseded is not None
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)


def test_a_summary_row_from_before_the_sum_column_is_recomputed_by_the_next_load(conn, s3):
    # GIVEN a summary whose rows have no sum yet (written by a version without the column)
    ingest_object(upload(s3, "housing/old.csv", rows(0, 5000)), s3=s3, conn=conn, destinations=DESTINATIONS)
    with conn.cursor() as cur:
        cur.execute("UPDATE housing_summary_statistics SET sum_median_house_value = NULL")
    # WHEN another file loads THEN every figure is right again
    ingest_object(upload(s3, "housing/new.csv", rows(5000, 8000)), s3=s3, conn=conn, destinations=DESTINATIONS)
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)


def test_event_counts_taken_by_the_loader_equal_a_recount(conn, s3):
    # GIVEN events files over several days, in CSV (chunk by chunk) and the seed files' other formats
    files = {
        "events/week.csv": datagen.events_csv_bytes(5000, date(2025, 3, 1), days=7, salt=1),
        "events/day.csv": datagen.events_csv_bytes(700, date(2025, 3, 3), salt=2),
        **{f"events/{path.name}": path.read_bytes() for path in sorted((SEED_DIR / "events").iterdir())},
    }
    small_chunks = replace(DESTINATIONS, chunk_chars=50_000)  # several chunks per file
    for key, data in files.items():
        outcome = ingest_object(upload(s3, key, data), s3=s3, conn=conn, destinations=small_chunks)
        assert outcome.status == "loaded", key
        # THEN after every load the counts are those of a recount of the table
        assert query(conn, EVENT_COUNTS) == query(conn, EVENTS_RECOUNTED)
    # and a new version of a key takes its events out again
    replaced = upload(s3, "events/day.csv", datagen.events_csv_bytes(300, date(2025, 3, 4), salt=3), version_id="v2")
    ingest_object(replaced, s3=s3, conn=conn, destinations=DESTINATIONS)
    assert query(conn, EVENT_COUNTS) == query(conn, EVENTS_RECOUNTED)
