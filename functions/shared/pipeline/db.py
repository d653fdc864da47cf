"""PostgreSQL: the connection, the schema, the ledger and the loads.

The connection is module-level, opened lazily and reused across invocations of an execution
environment; it is checked before each file and re-opened when the server dropped it. It runs in
autocommit mode: reads outside a load need no transaction, and every load is one explicit
`transaction()` (psycopg2 >= 2.9 opens a real transaction in `with connection:` even in autocommit).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from pipeline import tables
from pipeline.contracts import Contract, all_contracts

if TYPE_CHECKING:  # only the processor's loads use pyarrow; the reporter's zip has none
    import pyarrow as pa

LOADED = "loaded"
DUPLICATE = "duplicate"
QUARANTINED = "quarantined"
SUPERSEDED = "superseded"  # a later version of the same key replaced it

CONNECT_TIMEOUT_SECONDS = 5
SECRET_MAX_AGE_SECONDS = 300
# Session lock taken while applying schema.sql and the contracts' tables (any constant; it only has
# to be the same everywhere).
SCHEMA_LOCK_KEY = 0x7469_6465_7761_7465  # "tidewate"

# Chunks handed to `copying` that may wait for the worker (each holds one chunk's rows as Arrow).
MAX_PENDING_COPIES = 2
COPY_READ_BYTES = 1024 * 1024  # psycopg2 sends COPY data in pieces of this size

_connection: Connection | None = None
# Datasets whose contract does not match their tables (a breaking change), with what is wrong; set
# at cold start by ensure_schema. Their files are quarantined (contract_mismatch) until it is fixed.
SCHEMA_PROBLEMS: dict[str, str] = {}


@dataclass(frozen=True)
class DbSettings:
    host: str
    port: int
    dbname: str
    secret_arn: str
    sslmode: str

    @classmethod
    def from_env(cls) -> DbSettings:
        return cls(
            host=os.environ["DB_HOST"],
            port=int(os.environ.get("DB_PORT", "5432")),
            dbname=os.environ["DB_NAME"],
            secret_arn=os.environ["DB_SECRET_ARN"],
            sslmode=os.environ.get("DB_SSLMODE", "prefer"),
        )


def connection() -> Connection:
    """The execution environment's connection, (re)opened and bootstrapped when needed."""
    global _connection
    if _connection is None or not is_alive(_connection):
        close_quietly(_connection)
        _connection = None
        _connection = connect(DbSettings.from_env())
    return _connection


def connect(settings: DbSettings) -> Connection:
    user, password = credentials(settings.secret_arn)
    conn = psycopg2.connect(
        host=settings.host,
        port=settings.port,
        dbname=settings.dbname,
        user=user,
        password=password,
        sslmode=settings.sslmode,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name="tidewater-processor",
    )
    return bootstrap(conn)


def bootstrap(conn: Connection) -> Connection:
    """Put a fresh connection in autocommit mode and make sure the schema exists."""
    conn.autocommit = True
    with conn.cursor() as cur:
        # If an environment dies mid-load without closing its socket, the server ends the orphaned
        # transaction (and frees its ledger row, which a redelivery would wait on) after this long:
        # Lambda's maximum timeout, so no live invocation is ever cut off.
        cur.execute("SET idle_in_transaction_session_timeout = '15min'")
    ensure_schema(conn)
    return conn


def credentials(secret_arn: str) -> tuple[str, str]:
    # Imported here so the pure parts of `pipeline` do not need Powertools (or AWS) at import time.
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    return secret["username"], secret["password"]


def is_alive(conn: Connection) -> bool:
    if conn.closed:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except psycopg2.Error:
        return False


def close_quietly(conn: Connection | None) -> None:
    if conn is not None:
        with suppress(psycopg2.Error):
            conn.close()


def ensure_schema(conn: Connection, contracts: Iterable[Contract] | None = None) -> None:
    """Apply schema.sql (the ledger), then make every contract's tables exist and match it: create
    what is missing, add new optional columns (tables.plan). A contract whose tables differ in a
    breaking way changes nothing and lands in SCHEMA_PROBLEMS. The advisory lock makes concurrent
    cold starts wait instead of colliding (two concurrent CREATE TABLE IF NOT EXISTS can still fail
    on the catalog's unique index)."""
    schema = resources.files("pipeline").joinpath("schema.sql").read_text(encoding="utf-8")
    problems: dict[str, str] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            cur.execute(schema)
            for plan in tables.plans(cur, all_contracts().values() if contracts is None else contracts):
                if plan.problems:
                    problems[plan.dataset] = "; ".join(plan.problems)
                for statement in plan.statements:
                    cur.execute(statement)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
    SCHEMA_PROBLEMS.clear()
    SCHEMA_PROBLEMS.update(problems)


@contextmanager
def transaction(conn: Connection) -> Iterator[Cursor]:
    """One transaction: commits when the block ends, rolls back when it raises."""
    with conn, conn.cursor() as cur:
        yield cur


def lock(cur: Cursor, name: str) -> None:
    """Transaction-scoped advisory lock on a name; released by COMMIT or ROLLBACK."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"tidewater:{name}",))


# --- the ledger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    bucket: str
    s3_key: str
    version_id: str
    etag: str | None
    content_sha256: str | None
    size_bytes: int | None
    dataset: str
    event_time: datetime
    started_at: datetime
    sequencer: str | None = None  # orders the S3 events of one key, with event_time
    contract_version: str | None = None  # the `version` of the dataset's contract (None: no contract)


def is_recorded(conn: Connection, bucket: str, s3_key: str, version_id: str) -> bool:
    """Cheap early check that spares a redelivered message the download; `claim` decides."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM ingested_files WHERE bucket = %s AND s3_key = %s AND version_id = %s",
            (bucket, s3_key, version_id),
        )
        return cur.fetchone() is not None


def claim(cur: Cursor, entry: LedgerEntry, status: str) -> int | None:
    """Insert the ledger row; None when this object version already has one (a redelivery).

    The row is inserted with the status the caller expects and corrected by `finish` before the
    commit: nobody sees it earlier. A concurrent claim of the same version blocks here until this
    transaction ends, then finds the row (or, after a rollback, takes over).
    """
    cur.execute(
        """
        INSERT INTO ingested_files (bucket, s3_key, version_id, etag, content_sha256, size_bytes,
                                    dataset, status, event_time, started_at, sequencer, contract_version)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (bucket, s3_key, version_id) DO NOTHING
        RETURNING id
        """,
        (
            entry.bucket,
            entry.s3_key,
            entry.version_id,
            entry.etag,
            entry.content_sha256,
            entry.size_bytes,
            entry.dataset,
            status,
            entry.event_time,
            entry.started_at,
            entry.sequencer,
            entry.contract_version,
        ),
    )
    row = cur.fetchone()
    return row[0] if row else None


def find_loaded_duplicate(cur: Cursor, dataset: str, content_sha256: str, file_id: int) -> int | None:
    """The first loaded file of the dataset with the same bytes. Call under the content lock, so a
    concurrent load of the same bytes has committed (and is seen) or has not started its check."""
    cur.execute(
        """
        SELECT id FROM ingested_files
        WHERE dataset = %s AND content_sha256 = %s AND status = 'loaded' AND id <> %s
        ORDER BY id LIMIT 1
        """,
        (dataset, content_sha256, file_id),
    )
    row = cur.fetchone()
    return row[0] if row else None


def finish(cur: Cursor, file_id: int, status: str, **fields: Any) -> None:
    """Set the final status and any of: rows_loaded, rows_quarantined, error, error_detail,
    duplicate_of, processed_key, quarantine_key, processed_keys, quarantine_keys, superseded_by,
    contract_version."""
    allowed = {
        "rows_loaded",
        "rows_quarantined",
        "error",
        "error_detail",
        "duplicate_of",
        "processed_key",
        "quarantine_key",
        "processed_keys",
        "quarantine_keys",
        "superseded_by",
        "contract_version",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown ledger fields: {sorted(unknown)}")
    assignments = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields]
    statement = sql.SQL("UPDATE ingested_files SET status = %s, finished_at = clock_timestamp(){} WHERE id = %s")
    extra = sql.SQL("").join(sql.SQL(", ") + assignment for assignment in assignments)
    cur.execute(statement.format(extra), (status, *fields.values(), file_id))


LEDGER_OBJECT = "bucket, s3_key, version_id, etag, event_time, started_at, sequencer, size_bytes, dataset, status"


@dataclass(frozen=True)
class LedgerObject:
    """What the ledger knows of a file's object version (to fetch it again: reprocess)."""

    bucket: str
    s3_key: str
    version_id: str  # the S3 VersionId, or the ETag when the bucket is unversioned
    etag: str | None
    event_time: datetime | None
    started_at: datetime
    sequencer: str | None
    size_bytes: int | None
    dataset: str
    status: str


def ledger_object(conn: Connection, file_id: int) -> LedgerObject | None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {LEDGER_OBJECT} FROM ingested_files WHERE id = %s", (file_id,))  # nosec B608 - names
        row = cur.fetchone()
    return LedgerObject(*row) if row else None


def reclaim(cur: Cursor, contract: Contract, file_id: int) -> Retired | None:
    """Take a loaded or quarantined file's ledger row over for loading it again (reprocess): a loaded
    file's rows leave the table and its incremental summary. Returns the objects it named (the caller
    deletes those the new load does not write again, after COMMIT); None when the row is no longer
    loaded or quarantined (superseded or a duplicate meanwhile). Call under the key's lock."""
    cur.execute(
        "SELECT status, processed_keys, quarantine_keys FROM ingested_files WHERE id = %s FOR UPDATE", (file_id,)
    )
    row = cur.fetchone()
    if row is None or row[0] not in (LOADED, QUARANTINED):
        return None
    if row[0] == LOADED:
        remove_rows(cur, contract, file_id)
    return Retired(processed_keys=list(row[1] or []), quarantine_keys=list(row[2] or []))


def is_committed(conn: Connection, file_id: int) -> bool:
    """Whether a ledger row is visible to others (its transaction committed)."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM ingested_files WHERE id = %s", (file_id,))
        return cur.fetchone() is not None


# --- versions of one key ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyVersion:
    """The ledger row of the version of a key whose rows are in the tables (loaded, or duplicate of
    a file that is)."""

    id: int
    status: str
    event_time: datetime | None
    sequencer: str | None
    content_sha256: str | None

    def is_newer_than(self, entry: LedgerEntry) -> bool:
        """Whether this version was created after the entry's: S3 event times, then sequencers
        (hexadecimal, compared at equal length as S3 documents) when the times are equal."""
        mine, theirs = self.event_time, entry.event_time
        if mine is not None and theirs is not None and mine != theirs:
            return mine > theirs
        if self.sequencer and entry.sequencer:
            width = max(len(self.sequencer), len(entry.sequencer))
            return self.sequencer.upper().zfill(width) > entry.sequencer.upper().zfill(width)
        return False


def current_version(cur: Cursor, bucket: str, s3_key: str, file_id: int) -> KeyVersion | None:
    """The key's version in the tables, other than `file_id`. Call under the key's lock."""
    cur.execute(
        """
        SELECT id, status, event_time, sequencer, content_sha256 FROM ingested_files
        WHERE bucket = %s AND s3_key = %s AND status IN ('loaded', 'duplicate') AND id <> %s
        ORDER BY id DESC LIMIT 1
        """,
        (bucket, s3_key, file_id),
    )
    row = cur.fetchone()
    return KeyVersion(*row) if row else None


@dataclass(frozen=True)
class Retired:
    """Objects of a superseded version that no current file names any more (to delete after COMMIT)."""

    processed_keys: list[str]
    quarantine_keys: list[str]


def supersede(cur: Cursor, contract: Contract, old_id: int, new_id: int) -> Retired:
    """Take a key's previous version out of the tables in the new version's transaction: its rows
    and summary contribution go - unless another key holds the same bytes as a `duplicate` of it,
    which then inherits the rows (nothing is lost: that key still holds them). Its ledger row stays,
    `superseded` by the new one. Call after `finish` of the new version and before `refresh_summary`.
    """
    cur.execute("SELECT status FROM ingested_files WHERE id = %s FOR UPDATE", (old_id,))
    (status,) = cur.fetchone()
    if status == LOADED:
        cur.execute(
            "SELECT id FROM ingested_files WHERE duplicate_of = %s AND status = 'duplicate' ORDER BY id LIMIT 1 "
            "FOR UPDATE",
            (old_id,),
        )
        heir = cur.fetchone()
        if heir is not None:
            inherit(cur, contract, old_id, heir[0])
        else:
            remove_rows(cur, contract, old_id)
    cur.execute(
        "UPDATE ingested_files SET status = 'superseded', superseded_by = %s WHERE id = %s", (new_id, old_id)
    )
    # Its objects, less those a current file names: an heir's outputs, or quarantine objects under
    # the same source key that the new version (or a quarantined one) wrote again.
    cur.execute(
        """
        SELECT ARRAY(SELECT unnest(old.processed_keys)
                     EXCEPT SELECT unnest(f.processed_keys) FROM ingested_files f
                            WHERE f.status = 'loaded' AND f.dataset = old.dataset
                              AND f.content_sha256 = old.content_sha256),
               ARRAY(SELECT unnest(old.quarantine_keys)
                     EXCEPT SELECT unnest(f.quarantine_keys) FROM ingested_files f
                            WHERE f.status IN ('loaded', 'quarantined') AND f.bucket = old.bucket
                              AND f.s3_key = old.s3_key)
        FROM ingested_files old WHERE old.id = %s
        """,
        (old_id,),
    )
    processed, quarantined = cur.fetchone()
    return Retired(processed_keys=list(processed or []), quarantine_keys=list(quarantined or []))


def inherit(cur: Cursor, contract: Contract, old_id: int, heir_id: int) -> None:
    """A duplicate of a superseded file becomes the loaded one: the rows, figures and outputs move to
    it; other duplicates of the old file now point to it. Summaries do not change: the rows stay."""
    cur.execute(
        sql.SQL("UPDATE {} SET file_id = %s WHERE file_id = %s").format(sql.Identifier(contract.table)),
        (heir_id, old_id),
    )
    cur.execute(
        """
        UPDATE ingested_files heir
        SET status = 'loaded', duplicate_of = NULL, rows_loaded = old.rows_loaded,
            rows_quarantined = old.rows_quarantined, processed_key = old.processed_key,
            processed_keys = old.processed_keys
        FROM ingested_files old
        WHERE heir.id = %s AND old.id = %s
        """,
        (heir_id, old_id),
    )
    cur.execute(
        "UPDATE ingested_files SET duplicate_of = %s WHERE duplicate_of = %s AND status = 'duplicate'",
        (heir_id, old_id),
    )


def remove_rows(cur: Cursor, contract: Contract, file_id: int) -> None:
    """Delete a file's rows and take them out of incremental summaries (recomputed ones follow from
    refresh_summary)."""
    if remove := tables.summary_remove_sql(contract):
        lock(cur, f"summary:{contract.summary_table}")
        cur.execute(remove, {"file_id": file_id})
    cur.execute(sql.SQL("DELETE FROM {} WHERE file_id = %s").format(sql.Identifier(contract.table)), (file_id,))


# --- loads ------------------------------------------------------------------------------------


@contextmanager
def copying(cur: Cursor, contract: Contract, file_id: int) -> Iterator[Callable[[pa.Table], None]]:
    """A function that COPYs a chunk of good rows (an Arrow table: source_row, then the contract's
    output columns) into the dataset's table, on a worker thread: serialising and storing one
    chunk overlaps with reading and checking the next. At most MAX_PENDING_COPIES chunks wait, so
    memory stays bounded. Leaving the block waits for every COPY; the first error is raised (from
    the next call, or at the end), so a failed COPY fails the load."""
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy") as worker:

        def copy(table: pa.Table) -> None:
            while pending and (pending[0].done() or len(pending) >= MAX_PENDING_COPIES):
                pending.popleft().result()
            pending.append(worker.submit(copy_table, cur, contract.table, table, file_id))

        try:
            yield copy
        except BaseException:
            for future in pending:
                future.cancel()  # the running one finishes: the executor waits for it on exit
            raise
        for future in pending:
            future.result()


def copy_table(cur: Cursor, table_name: str, table: pa.Table, file_id: int) -> None:
    """COPY an Arrow table (+ file_id) in CSV. Every value is quoted and nulls are not: COPY reads
    an unquoted empty field as NULL and a quoted one as an empty string. Timestamps are written
    as "2025-01-01 08:00:00.000000Z" (UTC), dates as "2025-01-01", attributes as their JSON text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    table = table.add_column(0, "file_id", pa.array(np.full(table.num_rows, file_id, dtype=np.int64)))
    for position, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            # Arrow formats zoned timestamps ~25x slower than naive ones: format the UTC value, add "Z".
            utc_text = pc.cast(pc.cast(table.column(position), pa.timestamp(field.type.unit)), pa.string())
            table = table.set_column(position, field.name, pc.binary_join_element_wise(utc_text, "Z", ""))
    text = pa.BufferOutputStream()
    pacsv.write_csv(table, text, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in table.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(sql.Identifier(table_name), columns)
    cur.copy_expert(statement.as_string(cur), pa.BufferReader(text.getvalue()), size=COPY_READ_BYTES)


def refresh_summary(cur: Cursor, contract: Contract, file_id: int) -> None:
    """Bring the dataset's summary table up to date with the file's rows, inside the loading
    transaction.

    The lock makes concurrent loads take turns here: in READ COMMITTED each statement sees what was
    committed when it started, so the loader that waited reads the other's rows instead of writing
    statistics that miss them.
    """
    if contract.summary_table is None:
        return
    lock(cur, f"summary:{contract.summary_table}")
    cur.execute(tables.summary_refresh_sql(contract), {"file_id": file_id})
