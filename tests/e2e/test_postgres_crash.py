"""A COMMIT that PostgreSQL acknowledged survives PostgreSQL crashing right after it, with the host
backend's fast settings as much as with the durable ones. `make chaos` found the opposite: with
synchronous_commit=off a crash-restart mid-flow lost a file's committed ledger row and rows, while
its SQS message, acknowledged, was gone - the file was lost without a trace (docs/chaos.md)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from tidewater.stack.postgres import PostgresCluster, new_password
from tidewater.stack.procs import free_port

pytestmark = pytest.mark.e2e

CRASHES = 5


@pytest.fixture(params=[False, True], ids=["fast", "durable"])
def cluster(request):
    folder = Path(tempfile.mkdtemp(prefix="tidewater-pgcrash-"))  # as root: one the postgres user may enter
    server = PostgresCluster(folder / "data", free_port(), new_password(), durable=request.param)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def committed(cluster: PostgresCluster, sql: str, params: tuple = ()) -> None:
    conn = psycopg2.connect(cluster.url)
    conn.autocommit = True
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


def count(cluster: PostgresCluster, value: int) -> int:
    with psycopg2.connect(cluster.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ledger WHERE n = %s", (value,))
        return cur.fetchone()[0]


def test_an_acknowledged_commit_survives_a_postgres_crash(cluster):
    # GIVEN a table, committed
    committed(cluster, "CREATE TABLE ledger (n int)")
    for n in range(CRASHES):
        # WHEN a row is committed and PostgreSQL crashes at once (pg_ctl stop -m immediate), then restarts
        committed(cluster, "INSERT INTO ledger VALUES (%s)", (n,))
        cluster.crash()
        cluster.start()
        # THEN the row is there
        assert count(cluster, n) == 1, f"commit {n} was acknowledged but lost in the crash"
