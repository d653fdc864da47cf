"""The 1M-row events file three ways, from the same table state into the same table: through the
pipeline, by `psql \\copy` (the floor) and by a naive pandas `to_sql` (the baseline)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date
from pathlib import Path

from tidewater.bench import datagen
from tidewater.bench.stack import BenchFailure, BenchStack
from tidewater.bench.stats import figure
from tidewater.stack.postgres import pg_bin

EVENTS_ROWS = 1_000_000
EVENTS_DAY = date(2025, 5, 1)
EVENTS_KEY = "events/bench-1m.csv"
COPY_COLUMNS = '("timestamp", event_type, user_id, action, attributes)'
FLOOR_SEQUENCE = "bench_floor_source_row"


def events_file(bench: BenchStack) -> Path:
    path = bench.data_dir / f"events-1m-{EVENTS_DAY}.csv"
    if not (path.exists() and path.with_name(path.name + ".args").exists()):
        bench.progress.say(f"generating the {EVENTS_ROWS:,}-row events file (once; cached in {path.parent})")
    return datagen.cached_events_csv(path, EVENTS_ROWS, EVENTS_DAY)


# --- through the pipeline -----------------------------------------------------------------------


def throughput(bench: BenchStack, runs: int) -> dict:
    """Upload the file as events/bench-1m.csv into a fresh execution environment; rows/s from the
    ledger (rows_loaded / (finished_at - started_at): the function's own time for the file), end to
    end from the upload to the committed ledger row, peak RSS from the invocation's REPORT line."""
    path = events_file(bench)
    s3 = bench.client("s3")
    bucket = bench.outputs["raw_bucket"]
    function = bench.outputs["processor_function_name"]
    rates, e2e, rss, function_s = [], [], [], []
    for run in range(1, runs + 1):
        bench.reset_events()
        bench.fresh_environment(function)
        since = int(time.time() * 1000)
        started = time.monotonic()
        s3.upload_file(str(path), bucket, EVENTS_KEY)
        bench.progress.say(f"events_1m {run}/{runs}: uploaded {path.stat().st_size / 1e6:.0f} MB in "
                           f"{time.monotonic() - started:.1f}s; processing")  # fmt: skip
        row, observed = bench.wait_final(EVENTS_KEY, 960, f"events_1m {run}/{runs}", interval=0.2)
        if row["status"] != "loaded" or row["rows_loaded"] != EVENTS_ROWS:
            raise BenchFailure(f"{EVENTS_KEY}: {row['status']} with {row['rows_loaded']:,} rows loaded "
                               f"({row['rows_quarantined']:,} quarantined; {row['error']}: {row['error_detail']}), "
                               f"expected loaded with {EVENTS_ROWS:,}")  # fmt: skip
        seconds = (row["finished_at"] - row["started_at"]).total_seconds()
        report = bench.invocation_report(function, since, EVENTS_KEY)
        rates.append(row["rows_loaded"] / seconds)
        e2e.append(observed - started)
        function_s.append(seconds)
        rss.append(report["max_memory_mb"])
        bench.progress.say(f"events_1m {run}/{runs}: {rates[-1]:,.0f} rows/s ({seconds:.1f}s in the function, "
                           f"{e2e[-1]:.1f}s upload -> committed), peak RSS {rss[-1]:.0f} MB")  # fmt: skip
    return {
        **figure("events_1m_rows_per_s", rates, 0),
        **figure("events_1m_e2e_s", e2e, 2),
        **figure("events_1m_function_s", function_s, 2),
        **figure("events_1m_peak_rss_mb", rss, 0),
        "events_1m_rows": EVENTS_ROWS,
        "events_1m_file_mb": round(path.stat().st_size / 1e6, 1),
    }


# --- the COPY floor -----------------------------------------------------------------------------


def copy_floor(bench: BenchStack, runs: int) -> dict:
    """`psql \\copy events (...) FROM file WITH (FORMAT csv, HEADER true)`: the fastest way in.
    file_id/source_row come from temporary column defaults (one ledger row for the floor; a
    sequence numbers the rows, since (file_id, source_row) is the table's primary key)."""
    path = events_file(bench)
    psql = pg_bin("psql")
    url = bench.pipeline.env.database_url
    rates = []
    for run in range(1, runs + 1):
        bench.reset_events()
        file_id = bench.insert_ledger_row(f"bench/copy-floor-{run}")
        bench.execute(f"CREATE SEQUENCE {FLOOR_SEQUENCE}; ALTER TABLE events "
                      f"ALTER COLUMN file_id SET DEFAULT {int(file_id)}, "
                      f"ALTER COLUMN source_row SET DEFAULT nextval('{FLOOR_SEQUENCE}')")  # fmt: skip
        try:
            command = f"\\copy events {COPY_COLUMNS} FROM '{path}' WITH (FORMAT csv, HEADER true)"
            started = time.perf_counter()
            result = subprocess.run([psql, url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
                                    capture_output=True, text=True)  # fmt: skip
            seconds = time.perf_counter() - started
        finally:
            bench.execute("ALTER TABLE events ALTER COLUMN file_id DROP DEFAULT, "
                          f"ALTER COLUMN source_row DROP DEFAULT; DROP SEQUENCE {FLOOR_SEQUENCE}")  # fmt: skip
        if result.returncode != 0:
            raise BenchFailure(f"psql \\copy failed: {result.stderr.strip()}")
        count = bench.events_count()
        if count != EVENTS_ROWS:
            raise BenchFailure(f"psql \\copy loaded {count:,} rows, expected {EVENTS_ROWS:,}")
        rates.append(count / seconds)
        bench.progress.say(f"copy floor {run}/{runs}: {rates[-1]:,.0f} rows/s ({seconds:.1f}s)")
    return figure("copy_floor_rows_per_s", rates, 0)


# --- the naive baseline -------------------------------------------------------------------------


def naive(bench: BenchStack, runs: int, rows: int | None) -> dict:
    """What a straightforward implementation does: pd.read_csv, json.loads the attributes, add
    file_id/source_row, DataFrame.to_sql(..., dtype={"attributes": JSONB}) with the default method.
    Timed from read_csv to the end of to_sql. rows: only the first `rows` rows (None: all)."""
    import pandas as pd
    import sqlalchemy
    from sqlalchemy.dialects.postgresql import JSONB

    path = events_file(bench)
    engine = sqlalchemy.create_engine(bench.pipeline.env.database_url.replace("postgresql://",
                                                                              "postgresql+psycopg2://", 1))
    rates = []
    try:
        for run in range(1, runs + 1):
            bench.reset_events()
            file_id = bench.insert_ledger_row(f"bench/naive-{run}")
            started = time.perf_counter()
            frame = pd.read_csv(path, nrows=rows)
            frame["attributes"] = frame["attributes"].map(json.loads)
            frame.insert(0, "file_id", file_id)
            frame.insert(1, "source_row", range(1, len(frame) + 1))
            frame.to_sql("events", engine, if_exists="append", index=False, dtype={"attributes": JSONB})
            seconds = time.perf_counter() - started
            count = bench.events_count()
            if count != len(frame):
                raise BenchFailure(f"naive to_sql: {count:,} rows in events, expected {len(frame):,}")
            rates.append(count / seconds)
            bench.progress.say(f"naive to_sql {run}/{runs}: {rates[-1]:,.0f} rows/s ({count:,} rows in {seconds:.1f}s)")
    finally:
        engine.dispose()
    return {**figure("naive_to_sql_rows_per_s", rates, 0), "naive_to_sql_rows": rows or EVENTS_ROWS}
