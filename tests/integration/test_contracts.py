"""Contracts against a real PostgreSQL: tables made from them, additive evolution, breaking changes
refused (and quarantined by the processor), and reprocess replacing a file's rows exactly once.

The dataset here, `ferries`, is written by the tests (tests/unit/test_odcs.py has the reading rules).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline import db, odcs, tables
from pipeline.contracts import CONTRACTS, HOUSING, Contract
from pipeline.ingest import ingest_object, reprocess_file

from tests.integration.support import DESTINATIONS, query, upload

pytestmark = pytest.mark.e2e

FERRIES = """
apiVersion: v3.1.0
kind: DataContract
id: ferries
version: {version}
status: active
schema:
  - name: ferries
    physicalName: ferry_crossings
    properties:
      - name: route
        logicalType: string
        required: true
        quality:
          - metric: invalidValues
            arguments: {{validValues: [{routes}]}}
            mustBe: 0
      - name: departed
        logicalType: timestamp
        required: true
        partitioned: true
      - name: passengers
        logicalType: {passengers_type}
        required: true
        logicalTypeOptions: {{minimum: 0}}
{extra}
    customProperties:
      - property: partitionDateColumn
        value: day
      - property: summary
        value:
          table: ferry_passengers
          groupBy: [route, day]
          measures:
            - {{name: crossings, function: count}}
            - {{name: passengers, function: sum, column: passengers}}
"""
CARS = """      - name: cars
        logicalType: integer
        required: {required}
"""
FILE_V1 = (b"route,departed,passengers\nA-B,2025-11-18T08:00:00Z,120\nA-B,2025-11-18T09:00:00Z,80\n"
           b"B-C,2025-11-18 10:00,7\n")
FILE_V2 = b"route,departed,passengers,cars\nA-B,2025-11-19T08:00:00Z,100,12\nB-C,2025-11-19T09:00:00Z,5,\n"


def ferries(tmp_path: Path, version: str = "1.0.0", routes: str = "A-B, B-C", passengers_type: str = "integer",
            extra: str = "") -> Contract:  # fmt: skip
    path = tmp_path / version / "ferries.odcs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FERRIES.format(version=version, routes=routes, passengers_type=passengers_type, extra=extra))
    return odcs.load_file(path)


@pytest.fixture
def use(conn, monkeypatch):
    """Deploy a contract: the processor knows it and the next cold start applies it."""

    def deploy(contract):
        monkeypatch.setitem(CONTRACTS, contract.dataset, contract)
        db.ensure_schema(conn)
        return contract

    return deploy


def columns(conn, table: str) -> list[tuple]:
    statement = ("SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE "
                 "table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position")
    return query(conn, statement, (table,))


def load(conn, s3, key: str, data: bytes, version_id: str | None = None):
    return ingest_object(upload(s3, key, data, version_id), s3=s3, conn=conn, destinations=DESTINATIONS)


def test_the_housing_summary_table_has_the_columns_and_types_it_always_had(conn):
    assert columns(conn, "housing_summary_statistics") == [
        ("ocean_proximity", "text", "NO"), ("record_count", "bigint", "NO"),
        ("avg_median_house_value", "numeric", "YES"), ("min_median_house_value", "numeric", "YES"),
        ("max_median_house_value", "numeric", "YES"),
        ("updated_at", "timestamp with time zone", "NO"),
    ]  # fmt: skip
    assert [name for name, *_ in columns(conn, "housing")] == ["file_id", "source_row", *HOUSING.column_names]


def test_a_new_dataset_gets_its_table_and_summary_from_the_contract_alone(conn, s3, use, tmp_path):
    use(ferries(tmp_path))
    outcome = load(conn, s3, "ferries/monday.csv", FILE_V1)

    assert outcome.status == "loaded" and outcome.rows_loaded == 3
    assert [name for name, *_ in columns(conn, "ferry_crossings")] == [
        "file_id", "source_row", "route", "departed", "passengers", "day"]  # fmt: skip
    assert query(conn, "SELECT route, day::text, crossings, passengers FROM ferry_passengers ORDER BY route") == [
        ("A-B", "2025-11-18", 2, 200), ("B-C", "2025-11-18", 1, 7)]  # fmt: skip
    assert query(conn, "SELECT contract_version FROM ingested_files WHERE id = %s", (outcome.file_id,)) == [("1.0.0",)]


def test_an_optional_property_is_added_as_a_column_and_older_rows_stay_null(conn, s3, use, tmp_path):
    use(ferries(tmp_path))
    first = load(conn, s3, "ferries/monday.csv", FILE_V1)

    # WHEN the contract gains an optional property and the next cold start applies it
    use(ferries(tmp_path, "1.1.0", extra=CARS.format(required="false")))
    second = load(conn, s3, "ferries/tuesday.csv", FILE_V2)
    third = load(conn, s3, "ferries/old-layout.csv", FILE_V1.replace(b"2025-11-18", b"2025-11-20"))

    # THEN the column is there, older rows are NULL, new ones have their values; a file without the
    # optional column still loads
    assert ("cars", "integer", "YES") in columns(conn, "ferry_crossings")
    assert second.status == third.status == "loaded"
    cars = dict(query(conn, "SELECT file_id, array_agg(cars ORDER BY source_row) FROM ferry_crossings GROUP BY 1"))
    assert cars == {first.file_id: [None, None, None], second.file_id: [12, None], third.file_id: [None, None, None]}
    versions = query(conn, "SELECT contract_version FROM ingested_files WHERE dataset = 'ferries' ORDER BY id")
    assert versions == [("1.0.0",), ("1.1.0",), ("1.1.0",)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"passengers_type": "number"}, "type change of ferry_crossings.passengers: the table has integer, the "
                                        "contract says double precision"),
        ({"extra": CARS.format(required="true")}, "new required column ferry_crossings.cars"),
    ],
)
def test_a_breaking_change_is_refused_and_its_files_are_quarantined(conn, s3, use, tmp_path, change, message):
    use(ferries(tmp_path))
    load(conn, s3, "ferries/monday.csv", FILE_V1)
    before = columns(conn, "ferry_crossings")

    use(ferries(tmp_path, "2.0.0", **change))
    outcome = load(conn, s3, "ferries/tuesday.csv", FILE_V1.replace(b"2025-11-18", b"2025-11-21"))

    assert columns(conn, "ferry_crossings") == before  # nothing was altered
    assert message in db.SCHEMA_PROBLEMS["ferries"]
    assert outcome.status == "quarantined" and outcome.reason == "contract_mismatch"
    assert message in outcome.detail and "tidewater reprocess --dataset ferries" in outcome.detail
    assert load(conn, s3, "housing/h.csv", b"".join(HOUSING_ROWS)).status == "loaded"  # other datasets go on


def test_a_removed_property_is_a_breaking_change(conn, use, tmp_path):
    use(ferries(tmp_path, "1.1.0", extra=CARS.format(required="false")))
    with conn.cursor() as cur:
        (plan,) = tables.plans(cur, [ferries(tmp_path, "2.0.0")])
    assert plan.statements == [] and plan.problems == [
        "ferries.odcs.yaml: removed column ferry_crossings.cars: the table has it, the contract does not. Keep the "
        "property (required: false if files no longer carry it), or load into a new table (another physicalName)"
    ]


def test_reprocess_replaces_a_files_rows_and_summary_exactly_once(conn, s3, use, tmp_path):
    use(ferries(tmp_path, routes="A-B"))  # B-C is not a route yet: that row is rejected
    first = load(conn, s3, "ferries/monday.csv", FILE_V1, "v1")
    assert (first.rows_loaded, first.rows_quarantined) == (2, 1)
    assert ("quarantine", "ferries/monday.csv/rejected_rows.csv") in s3.objects

    use(ferries(tmp_path, "1.1.0", routes="A-B, B-C"))
    outcome = reprocess_file(first.file_id, s3=s3, conn=conn, destinations=DESTINATIONS)
    again = reprocess_file(first.file_id, s3=s3, conn=conn, destinations=DESTINATIONS)

    # THEN the same ledger row holds all three rows once, the summary counts them once, the stale
    # rejected rows are gone
    assert outcome.status == again.status == "loaded" and outcome.file_id == first.file_id
    assert query(conn, "SELECT file_id, count(*) FROM ferry_crossings GROUP BY 1") == [(first.file_id, 3)]
    assert query(conn, "SELECT route, crossings, passengers FROM ferry_passengers ORDER BY route") == [
        ("A-B", 2, 200), ("B-C", 1, 7)]  # fmt: skip
    assert query(conn, "SELECT status, rows_loaded, rows_quarantined, contract_version, quarantine_key FROM "
                       "ingested_files WHERE dataset = 'ferries'") == [("loaded", 3, 0, "1.1.0", None)]  # fmt: skip
    assert not {key for bucket, key in s3.objects if bucket == "quarantine"}


def test_reprocess_loads_a_file_quarantined_before_and_leaves_a_still_bad_one_alone(conn, s3, use, tmp_path):
    use(ferries(tmp_path, passengers_type="number"))
    # The table was made with passengers double precision; a contract saying integer is breaking.
    use(ferries(tmp_path, "1.1.0"))
    quarantined = load(conn, s3, "ferries/monday.csv", FILE_V1)
    assert quarantined.reason == "contract_mismatch"

    use(ferries(tmp_path, "1.2.0", passengers_type="number"))
    bad = load(conn, s3, "ferries/nothing.csv", b"route,departed,passengers\n")
    assert bad.reason == "header_only"
    loaded = reprocess_file(quarantined.file_id, s3=s3, conn=conn, destinations=DESTINATIONS)
    unchanged = reprocess_file(bad.file_id, s3=s3, conn=conn, destinations=DESTINATIONS)

    assert loaded.status == "loaded" and loaded.rows_loaded == 3
    assert unchanged.status == "unchanged" and unchanged.reason == "header_only"
    assert query(conn, "SELECT s3_key, status, error, contract_version FROM ingested_files WHERE dataset = 'ferries' "
                       "ORDER BY id") == [("ferries/monday.csv", "loaded", None, "1.2.0"),
                                          ("ferries/nothing.csv", "quarantined", "header_only", "1.2.0")]  # fmt: skip
    assert ("quarantine", "ferries/monday.csv/reason.json") not in s3.objects
    assert ("quarantine", "ferries/nothing.csv/reason.json") in s3.objects


HOUSING_ROWS = [
    b"longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,households,median_income,"
    b"median_house_value,ocean_proximity\n",
    b"-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY\n",
]
