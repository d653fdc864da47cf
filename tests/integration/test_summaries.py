"""Summaries kept file by file (a load adds its own rows; the loader counts events itself) equal a
recompute from every row, value for value, whatever the loads, new versions, reprocesses and
upgrades. The SQL is generated from each contract's summary (pipeline/tables.py), so a new dataset's
summary with averages is added file by file too.

Needs a `postgres_dsn` fixture (a libpq DSN or URL); see conftest.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from pipeline import db, odcs, tables
from pipeline.contracts import CONTRACTS, HOUSING, Contract
from pipeline.ingest import ingest_object, reprocess_file

from tests.integration.support import DESTINATIONS, SEED_DIR, query, upload
from tidewater.bench import datagen

pytestmark = pytest.mark.e2e

LINES = (SEED_DIR / "housing" / "california_housing.csv").read_bytes().splitlines(keepends=True)
HOUSING_STATE = "housing_summary_statistics__sums"
HOUSING_SUMMARY = f"""
    SELECT ocean_proximity, record_count, t.__rows, t.__sum_median_house_value::text, t.__n_median_house_value,
           avg_median_house_value::text, min_median_house_value::text, max_median_house_value::text
    FROM housing_summary_statistics s LEFT JOIN {HOUSING_STATE} t USING (ocean_proximity) ORDER BY 1
"""
HOUSING_RECOMPUTED = """
    SELECT ocean_proximity, count(*), count(*), sum(median_house_value)::text, count(median_house_value),
           avg(median_house_value)::text, min(median_house_value)::text, max(median_house_value)::text
    FROM housing GROUP BY 1 ORDER BY 1
"""
# What readers see (the summary table alone).
HOUSING_FIGURES = """
    SELECT ocean_proximity, record_count, avg_median_house_value::text, min_median_house_value::text,
           max_median_house_value::text FROM housing_summary_statistics ORDER BY 1
"""
HOUSING_FIGURES_RECOMPUTED = """
    SELECT ocean_proximity, count(*), avg(median_house_value)::text, min(median_house_value)::text,
           max(median_house_value)::text FROM housing GROUP BY 1 ORDER BY 1
"""
EVENT_COUNTS = "SELECT event_type, event_date, count FROM event_counts_by_type WHERE count > 0 ORDER BY 1, 2"
EVENTS_RECOUNTED = "SELECT event_type, event_date, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2"


def rows(start: int, stop: int) -> bytes:
    return b"".join([LINES[0], *LINES[1 + start : 1 + stop]])


def load(conn, s3, key: str, data: bytes, version_id: str | None = None):
    return ingest_object(upload(s3, key, data, version_id), s3=s3, conn=conn, destinations=DESTINATIONS)


def test_the_seed_summaries_are_kept_as_expected():
    assert tables.state_table(HOUSING) == HOUSING_STATE and tables.summary_add_sql(HOUSING) is not None
    assert tables.counted_keys(CONTRACTS["events"]) == (("event_type", "text"), ("event_date", tables.EPOCH_DAYS))


def test_housing_summary_added_file_by_file_equals_a_recompute(conn, s3):
    # GIVEN files loaded one after the other (each adds its rows), then a new version of one key
    # (its old rows leave: recomputed whole)
    loaded = []
    for number, (start, stop) in enumerate([(0, 3000), (3000, 9000), (9000, 9001), (9001, 20640)]):
        loaded.append(load(conn, s3, f"housing/part-{number}.csv", rows(start, stop)))
        assert loaded[-1].status == "loaded"
        # THEN after every load the figures are exactly those of a recompute (avg to the last digit)
        assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)
    assert load(conn, s3, "housing/part-1.csv", rows(3000, 4000), version_id="v2").superseded is not None
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)
    # and a file loaded again (reprocess) is recomputed too, then added to again
    again = reprocess_file(loaded[0].file_id, s3=s3, conn=conn, destinations=DESTINATIONS)
    assert again.status == "loaded"
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)
    assert load(conn, s3, "housing/after.csv", rows(100, 200)).status == "loaded"
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)


def forget_state(conn, s3) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {HOUSING_STATE}")


def older_processor_loaded(conn, s3) -> None:
    """A processor from before the state table loads a file: the summary changes, the state does not."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE TEMPORARY TABLE before AS TABLE {HOUSING_STATE}")
        load(conn, s3, "housing/by-an-older-processor.csv", rows(7000, 7600))
        cur.execute(f"DELETE FROM {HOUSING_STATE}; INSERT INTO {HOUSING_STATE} TABLE before")


def upgraded_database(conn, s3) -> None:
    """A database made before the state table (make deploy onto it): the next cold start makes it."""
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {HOUSING_STATE}")
    db.ensure_schema(conn)
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)  # filled from the rows


@pytest.mark.parametrize("change", [forget_state, older_processor_loaded, upgraded_database])
def test_a_state_that_does_not_match_the_summary_is_recomputed_by_the_next_load(conn, s3, change):
    # GIVEN a summary whose state is missing or behind (a database or a processor from before it)
    load(conn, s3, "housing/old.csv", rows(0, 5000))
    change(conn, s3)
    # WHEN another file loads THEN every figure is right again (the state of the groups it has too)
    load(conn, s3, "housing/new.csv", rows(5000, 8000))
    assert query(conn, HOUSING_FIGURES) == query(conn, HOUSING_FIGURES_RECOMPUTED)
    # and once files of every group loaded, the state is whole again
    load(conn, s3, "housing/rest.csv", rows(8000, 20640))
    assert query(conn, HOUSING_SUMMARY) == query(conn, HOUSING_RECOMPUTED)


def test_event_counts_taken_by_the_loader_equal_a_recount(conn, s3):
    # GIVEN events files over several days, in CSV (chunk by chunk) and the seed files' other formats
    files = {
        "events/week.csv": datagen.events_csv_bytes(5000, date(2025, 3, 1), days=7, salt=1),
        "events/day.csv": datagen.events_csv_bytes(700, date(2025, 3, 3), salt=2),
        "events/old.csv": b"timestamp,event_type,user_id,action\n1969-12-31T23:30:00-01:00,click,u1,a\n"
        b"1969-12-31T23:59:59.999999Z,click,u2,a\n1970-01-01T00:00:00Z,click,u3,a\n",
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


# A dataset that is not in the repository: its summary's averages are added file by file as housing's.
BOATS = """
apiVersion: v3.1.0
kind: DataContract
id: boats
version: 1.0.0
status: active
schema:
  - name: boats
    physicalName: boat_trips
    properties:
      - {name: route, logicalType: string, required: true}
      - {name: departed, logicalType: timestamp, required: true, partitioned: true}
      - {name: passengers, logicalType: integer, required: true}
      - {name: fare, logicalType: number, physicalType: numeric, required: false}
    customProperties:
      - {property: partitionDateColumn, value: day}
      - property: summary
        value:
          table: boat_figures
          groupBy: [route, day]
          measures:
            - {name: trips, function: count}
            - {name: passengers, function: sum, column: passengers}
            - {name: average_passengers, function: avg, column: passengers}
            - {name: average_fare, function: avg, column: fare}
            - {name: lowest_fare, function: min, column: fare}
            - {name: latest, function: max, column: departed}
"""
BOATS_SUMMARY = """
    SELECT route, day, trips, passengers, average_passengers::text, average_fare::text, lowest_fare::text,
           latest FROM boat_figures ORDER BY 1, 2
"""
BOATS_RECOMPUTED = """
    SELECT route, day, count(*), sum(passengers), avg(passengers)::text, avg(fare)::text, min(fare)::text,
           max(departed) FROM boat_trips GROUP BY 1, 2 ORDER BY 1, 2
"""


def boats(tmp_path: Path) -> Contract:
    path = tmp_path / "boats.odcs.yaml"
    path.write_text(BOATS)
    return odcs.load_file(path)


def test_a_new_datasets_summary_with_averages_is_added_file_by_file(conn, s3, monkeypatch, tmp_path):
    contract = boats(tmp_path)
    monkeypatch.setitem(CONTRACTS, contract.dataset, contract)
    db.ensure_schema(conn)
    assert tables.state_table(contract) == "boat_figures__sums"
    files = [
        b"route,departed,passengers,fare\nA,2025-11-18T08:00:00Z,120,3.5\nA,2025-11-18T09:00:00Z,80,\n"
        b"B,2025-11-18T10:00:00Z,7,1.25\n",
        b"route,departed,passengers,fare\nA,2025-11-18T11:00:00Z,3,0.333\nC,2025-11-19T00:00:00Z,9,\n",  # C: no fare
        b"route,departed,passengers,fare\nA,2025-11-18T12:00:00Z,1,7\nB,2025-11-18T13:00:00+14:00,2,2.10\n",
    ]
    for number, data in enumerate(files):
        assert load(conn, s3, f"boats/{number}.csv", data, "v1").status == "loaded"
        assert query(conn, BOATS_SUMMARY) == query(conn, BOATS_RECOMPUTED)
    # a new version (rows leave: recomputed), then a load that adds again
    assert load(conn, s3, "boats/0.csv", files[0].replace(b"120", b"12"), "v2").superseded is not None
    assert query(conn, BOATS_SUMMARY) == query(conn, BOATS_RECOMPUTED)
    assert load(conn, s3, "boats/3.csv", files[1].replace(b"T11", b"T15")).status == "loaded"
    assert query(conn, BOATS_SUMMARY) == query(conn, BOATS_RECOMPUTED)


def test_a_summary_of_double_precision_averages_is_recomputed(tmp_path):
    # An average of double precision values depends on the order they are added in: recomputed.
    path = tmp_path / "boats.odcs.yaml"
    path.write_text(BOATS.replace("physicalType: numeric, ", ""))
    contract = odcs.load_file(path)
    assert not tables.added_file_by_file(contract) and tables.summary_add_sql(contract) is None
