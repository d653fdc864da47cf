"""db.copy_table's binary COPY stores exactly what the CSV COPY stores: the same Arrow rows loaded
both ways into two tables of the same types must read back identical, edge values included.

Needs a `postgres_dsn` fixture (a libpq DSN or URL); see conftest.py.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from pipeline import db

from tests.integration.support import query

pytestmark = pytest.mark.e2e

COLUMNS = """
    file_id bigint NOT NULL, source_row integer NOT NULL, moment timestamptz, day date, small integer,
    big bigint, ratio double precision, name text, attributes jsonb
"""
SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("moment", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("small", pa.int64()),
        ("big", pa.int64()),
        ("ratio", pa.float64()),
        ("name", pa.string()),
        ("attributes", pa.string()),
    ]
)
EDGES = {
    "moment": [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
               datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)],
    "day": [date(1, 1, 1), date(9999, 12, 31), date(1999, 12, 31), date(2000, 1, 1), date(1970, 1, 1)],
    "small": [-(2**31), 2**31 - 1, 0, -1],
    "big": [-(2**63), 2**63 - 1, 0, -1],
    "ratio": [0.1, -0.0, 1e308, -1e-308, 5e-324, 123456.789, 1 / 3],
    "name": ["", "a,b", 'say "hi"', "line\nbreak", "tab\there", "\\N", "ünïcödé ✓ 𝄞", " padded ", "\r\n"],
    "attributes": ["{}", '{"a": [1, 2.50, {"b": null}], "é": "\\u00e9"}', '{"n": 1e-7, "s": "\\"q\\""}',
                   '{"big": 123456789012345678901234567890}'],
}  # fmt: skip


def random_rows(seed: int, rows: int) -> pa.Table:
    """Rows mixing the edge values, random values and (in the nullable columns) NULLs."""
    rng = random.Random(seed)
    data: dict[str, list] = {"source_row": list(range(1, rows + 1))}
    for name in EDGES:
        values = []
        for _ in range(rows):
            pick = rng.random()
            if pick < 0.15:
                values.append(None)
            elif pick < 0.6:
                values.append(rng.choice(EDGES[name]))
            else:
                values.append(random_value(rng, name))
        data[name] = values
    return pa.Table.from_pydict(data, schema=SCHEMA)


def random_value(rng: random.Random, name: str):
    if name == "moment":
        return datetime.fromtimestamp(rng.uniform(-6e10, 2.5e11), tz=UTC)
    if name == "day":
        return date.fromordinal(rng.randint(1, date(9999, 12, 31).toordinal()))
    if name in ("small", "big"):
        bits = 31 if name == "small" else 63
        return rng.randint(-(2**bits), 2**bits - 1)
    if name == "ratio":
        return rng.uniform(-1e6, 1e6)
    text = "".join(rng.choice('ab ,"\n\\é✓{}') for _ in range(rng.randint(0, 12)))
    return text if name == "name" else json.dumps({"k": rng.randint(-9, 9), "t": text}, ensure_ascii=rng.random() < 0.5)


def create(cur, name: str) -> None:
    cur.execute(f"CREATE TABLE {name} ({COLUMNS}, PRIMARY KEY (file_id, source_row))")


@pytest.mark.parametrize("seed", range(5))
def test_binary_copy_stores_what_csv_copy_stores(conn, seed):
    # GIVEN the same rows, edge values and NULLs among them
    table = random_rows(seed, 300)
    with db.transaction(conn) as cur:
        create(cur, "by_csv")
        create(cur, "by_binary")
        # WHEN one table is loaded by CSV COPY and the other by copy_table (binary for these types)
        db.copy_csv(cur, "by_csv", table, 42)
        db.copy_table(cur, "by_binary", table, 42)
    # THEN both hold the same values, as PostgreSQL prints them
    everything = (
        "SELECT file_id, source_row, moment::text, day::text, small, big, ratio::text, name, attributes::text "
        "FROM {} ORDER BY 2"
    )
    by_csv = query(conn, everything.format("by_csv"))
    assert len(by_csv) == 300
    assert query(conn, everything.format("by_binary")) == by_csv
    assert query(conn, "SELECT count(*) FROM by_binary WHERE name IS NULL")[0][0] > 0


def test_a_table_with_a_numeric_column_is_copied_as_csv(conn):
    # GIVEN a table with a numeric column (binary COPY would need its own encoder)
    with db.transaction(conn) as cur:
        cur.execute("CREATE TABLE prices (file_id bigint, source_row integer, price numeric)")
        table = pa.table({"source_row": [1, 2], "price": [0.1, 123.25]})
        # WHEN it is copied THEN it goes as CSV, and stores the values
        assert db.copy_plan(cur, "prices", table.column_names).binary_types is None
        db.copy_table(cur, "prices", table, 1)
    assert query(conn, "SELECT price::text FROM prices ORDER BY source_row") == [("0.1",), ("123.25",)]


def test_an_integer_out_of_range_fails_the_binary_copy_instead_of_wrapping_around(conn):
    with db.transaction(conn) as cur:
        create(cur, "too_big")
    table = pa.Table.from_pydict({"source_row": [1], "small": [2**31]}, schema=pa.schema([SCHEMA[0], SCHEMA[3]]))
    with pytest.raises(ValueError, match="do not fit an integer column"), db.transaction(conn) as cur:
        db.copy_table(cur, "too_big", table, 1)


def test_a_datasets_copy_takes_its_types_from_the_contract_as_the_table_has_them(conn):
    # The loader plans each file's COPY from the contract's column types (tables.column_types), not
    # from the catalog: for every deployed contract that is the same plan as the table's own types.
    from pipeline import tables
    from pipeline.contracts import all_contracts

    with db.transaction(conn) as cur:
        for contract in all_contracts().values():
            names = ["source_row", *contract.output_columns]
            from_contract = db.copy_plan(cur, contract.table, names, tables.column_types(contract))
            assert from_contract == db.copy_plan(cur, contract.table, names), contract.dataset
    # events and retina go binary, housing (numeric) as CSV
    binary = {c.dataset: db.copy_plan(conn.cursor(), c.table, ["source_row", *c.output_columns],
                                      tables.column_types(c)).binary_types is not None
              for c in all_contracts().values()}  # fmt: skip
    assert binary == {"events": True, "retina": True, "housing": False}
