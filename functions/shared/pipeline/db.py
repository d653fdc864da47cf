"""PostgreSQL: the connection, the schema, the ledger and the loads.

Each thread of an execution environment has its own connection (the processor works on the files
of a batch in a few threads), opened lazily and reused across invocations; it is checked before each
file and re-opened when the server dropped it. It runs in
autocommit mode: reads outside a load need no transaction, and every load is one explicit
`transaction()` (psycopg2 >= 2.9 opens a real transaction in `with connection:` even in autocommit).
"""

from __future__ import annotations

import io
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, BinaryIO

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

_local = threading.local()  # .connection: this thread's
# Datasets whose contract does not match their tables (a breaking change), with what is wrong; set
# at cold start by ensure_schema (each thread's first connection runs it: updated in place, a
# problem is never missing while it is replaced). Their files are quarantined (contract_mismatch)
# until it is fixed.
SCHEMA_PROBLEMS: dict[str, str] = {}
_schema_problems_lock = threading.Lock()


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
    """This thread's connection, (re)opened and bootstrapped when needed."""
    current = getattr(_local, "connection", None)
    if current is None or not is_alive(current):
        close_quietly(current)
        _local.connection = None
        _local.connection = connect(DbSettings.from_env())
    return _local.connection


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
    set_schema_problems(problems)


def set_schema_problems(problems: dict[str, str]) -> None:
    """Replace SCHEMA_PROBLEMS in place: the new problems first, then the solved ones go, so another
    thread's `admit` never finds a dataset without its problem while the dict changes (clearing it
    first would let a file of a mismatched dataset through)."""
    with _schema_problems_lock:
        SCHEMA_PROBLEMS.update(problems)
        for dataset in [name for name in SCHEMA_PROBLEMS if name not in problems]:
            del SCHEMA_PROBLEMS[dataset]


@contextmanager
def transaction(conn: Connection) -> Iterator[Cursor]:
    """One transaction: commits when the block ends, rolls back when it raises."""
    with conn, conn.cursor() as cur:
        yield cur


def savepoint(cur: Cursor, name: str) -> None:
    cur.execute(sql.SQL("SAVEPOINT {}").format(sql.Identifier(name)))


def rollback_to(cur: Cursor, name: str) -> None:
    """Undo what the transaction did since the savepoint (the transaction goes on)."""
    cur.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(sql.Identifier(name)))


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
    content_sha256, size_bytes, contract_version."""
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
        "content_sha256",
        "size_bytes",
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
    output columns) into the dataset's table. The caller's thread turns the chunk into COPY data, a
    worker thread sends it: storing one chunk overlaps with reading, checking and encoding the next,
    and PostgreSQL never waits for data being made (the worker encoding and sending in turn left
    it idle ~0.2 s per million events). At most MAX_PENDING_COPIES chunks wait, so memory stays
    bounded. Leaving the block waits for every COPY; the first error is raised (from the next call,
    or at the end), so a failed COPY fails the load."""
    pending: deque[Future] = deque()
    plan: CopyPlan | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy") as worker:

        def copy(table: pa.Table) -> None:
            nonlocal plan
            if plan is None:  # the first chunk: the table's types are the contract's (tables.py)
                plan = copy_plan(cur, contract.table, table.column_names, tables.column_types(contract))
            data = plan.data(table, file_id)
            while pending and (pending[0].done() or len(pending) >= MAX_PENDING_COPIES):
                pending.popleft().result()
            pending.append(worker.submit(cur.copy_expert, plan.statement, data, COPY_READ_BYTES))

        try:
            yield copy
        except BaseException:
            for future in pending:
                future.cancel()  # the running one finishes: the executor waits for it on exit
            raise
        for future in pending:
            future.result()


@dataclass(frozen=True)
class CopyPlan:
    """How rows (an Arrow table, + file_id) go into a table: the COPY statement, and the table's
    type of each column for the binary format (None: CSV)."""

    statement: str
    binary_types: list[str] | None

    def data(self, table: pa.Table, file_id: int) -> BinaryIO:
        if self.binary_types is None:
            return csv_data(table, file_id)
        return binary_data(table, file_id, self.binary_types)


def copy_plan(cur: Cursor, table_name: str, names: list[str], column_types: dict[str, str] | None = None) -> CopyPlan:
    """PostgreSQL's binary format when every column has a binary encoder, else CSV (a `numeric`
    column: housing's). `column_types`: the table's type of each column (a dataset's: from its
    contract, which its table matches - ensure_schema quarantines the dataset otherwise); None:
    read from the database."""
    if column_types is None:
        column_types = table_types(cur, table_name)
    encodable = all(column_types.get(name) in BINARY_ENCODERS for name in names)
    binary = encodable and column_types.get("file_id") == "bigint"
    options = "FORMAT binary" if binary else "FORMAT csv"
    statement = copy_statement(cur, table_name, ["file_id", *names], options)
    return CopyPlan(statement, [column_types[name] for name in names] if binary else None)


def copy_table(cur: Cursor, table_name: str, table: pa.Table, file_id: int) -> None:
    """COPY an Arrow table (+ file_id) into a table, binary when it can (copy_plan)."""
    plan = copy_plan(cur, table_name, table.column_names)
    cur.copy_expert(plan.statement, plan.data(table, file_id), size=COPY_READ_BYTES)


def table_types(cur: Cursor, table_name: str) -> dict[str, str]:
    """Column name -> type name (`integer`, `timestamp with time zone`, ...) of a table, as the
    connection's search_path finds it."""
    cur.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (table_name,),
    )
    return dict(cur.fetchall())


def copy_statement(cur: Cursor, table_name: str, names: list[str], options: str) -> str:
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
        sql.Identifier(table_name), columns, sql.SQL(options)
    )
    return statement.as_string(cur)


def copy_csv(cur: Cursor, table_name: str, table: pa.Table, file_id: int) -> None:
    """COPY an Arrow table (+ file_id) in CSV, whatever the table's types."""
    statement = copy_statement(cur, table_name, ["file_id", *table.column_names], "FORMAT csv")
    cur.copy_expert(statement, csv_data(table, file_id), size=COPY_READ_BYTES)


def csv_data(table: pa.Table, file_id: int) -> BinaryIO:
    """COPY data in CSV. Every value is quoted and nulls are not: COPY reads an unquoted empty field
    as NULL and a quoted one as an empty string. Timestamps are written as
    "2025-01-01 08:00:00.000000Z" (UTC), dates as "2025-01-01", attributes as their JSON text."""
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
    return pa.BufferReader(text.getvalue())


# PostgreSQL's binary COPY format: a signature, flags and a header extension length (both 0), the
# tuples, then -1 as the field count of the trailer. Each tuple: its field count (int16), then each
# field as its length in bytes (int32, -1 for NULL) and its bytes, all integers big-endian.
BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
BINARY_TRAILER = b"\xff\xff"
NULL_FIELD = b"\xff\xff\xff\xff"
JSONB_VERSION = b"\x01"  # jsonb's binary form: a version byte, then the JSON text
# PostgreSQL counts timestamps in microseconds and dates in days from 2000-01-01 (Arrow: 1970-01-01).
POSTGRES_EPOCH_MICROS = 946_684_800 * 1_000_000
POSTGRES_EPOCH_DAYS = 10_957
# Type name -> (big-endian numpy type of a fixed-width value, or None for text; what its values are
# stored as in Arrow, to subtract the epoch from).
BINARY_ENCODERS = {
    "bigint": ">i8",
    "integer": ">i4",
    "double precision": ">f8",
    "timestamp with time zone": ">i8",
    "date": ">i4",
    "text": None,
    "jsonb": None,
}


def binary_data(table: pa.Table, file_id: int, types: list[str]) -> BinaryIO:
    """COPY data in PostgreSQL's binary format; `types`: the table's type of each column. Measured
    on the 1M-row events file: the server's CPU for the COPY 3.1 s -> 2.55 s, as it parses no
    timestamps and no CSV. Each row is built by Arrow from per-column pieces (the length-prefixed
    bytes of every field) joined row by row (binary_join_element_wise): the data buffer of the
    result is the COPY data of the whole chunk."""
    import numpy as np
    import pyarrow.compute as pc

    rows = table.num_rows
    # What every row starts with: its field count, then file_id (a bigint: length 8 and the value).
    start = (1 + table.num_columns).to_bytes(2, "big") + b"\x00\x00\x00\x08" + file_id.to_bytes(8, "big", signed=True)
    pieces = [start]
    for column, type_name in zip(table.columns, types, strict=True):
        pieces += binary_field(column.combine_chunks(), type_name)
    joined = pc.binary_join_element_wise(*pieces, b"")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=rows + 1, offset=joined.offset * 4)
    data = memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]]
    return io.BytesIO(b"".join((BINARY_SIGNATURE, data, BINARY_TRAILER)))


def binary_field(values: pa.Array, type_name: str) -> list[pa.Array]:
    """The pieces of one column in binary COPY: per row its length (int32) and its bytes; NULL is a
    length of -1 alone."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(values)
    big_endian = BINARY_ENCODERS[type_name]
    if big_endian is None:  # text: the UTF-8 bytes; jsonb: its version byte, then the text
        text = pc.fill_null(values.cast(pa.binary()), b"") if values.null_count else values.cast(pa.binary())
        prefix = [("version", "S1")] if type_name == "jsonb" else []
        head = np.empty(rows, dtype=[("length", ">i4"), *prefix])
        head["length"] = pc.binary_length(text).to_numpy() + len(prefix)
        if prefix:
            head["version"] = JSONB_VERSION
        pieces = [fixed_width_pieces(head.tobytes(), head.dtype.itemsize, rows), text]
    else:
        if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
            values = values.cast(pa.int64() if pa.types.is_timestamp(values.type) else pa.int32())
        numbers = (pc.fill_null(values, 0) if values.null_count else values).to_numpy()
        if type_name == "timestamp with time zone":
            numbers = numbers - POSTGRES_EPOCH_MICROS
        elif type_name == "date":
            numbers = numbers - POSTGRES_EPOCH_DAYS
        elif type_name == "integer" and rows and (numbers.min() < -(2**31) or numbers.max() >= 2**31):
            # What the server would refuse as text too; the cast below would wrap around instead.
            raise ValueError(f"values {numbers.min()}..{numbers.max()} do not fit an integer column")
        field = np.empty(rows, dtype=[("length", ">i4"), ("value", big_endian)])
        field["length"] = field.dtype["value"].itemsize
        field["value"] = numbers
        pieces = [fixed_width_pieces(field.tobytes(), field.dtype.itemsize, rows)]
    if values.null_count:
        null = pc.is_null(values)
        pieces[0] = pc.if_else(null, NULL_FIELD, pieces[0])
        pieces[1:] = [pc.if_else(null, b"", piece) for piece in pieces[1:]]
    return pieces


def fixed_width_pieces(data: bytes, width: int, rows: int) -> pa.Array:
    """`rows` values of `width` bytes each, laid out one after the other in `data`, as a binary array."""
    import pyarrow as pa

    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [None, pa.py_buffer(data)])
    return array.cast(pa.binary())


def summary_counts(table: pa.Table, contract: Contract) -> Counter:
    """What a chunk of rows (as COPYed) adds to a summary the loader counts (tables.counted_keys):
    (group values) -> rows. Dates are day numbers since 1970-01-01; the partition date is the UTC
    date of the partitioned timestamp (microseconds), as the table's generated column has it."""
    import numpy as np
    import pyarrow as pa

    keys = tables.counted_keys(contract)
    if keys is None:
        raise ValueError(f"the {contract.dataset} summary is not counted by the loader")
    columns = {}
    for position, (name, kind) in enumerate(keys):
        if name == contract.partition_date_column:
            micros = table.column(contract.partition_by).cast(pa.int64()).to_numpy()
            values = pa.array(np.floor_divide(micros, 86_400_000_000))
        elif kind == tables.EPOCH_DAYS:
            values = table.column(name).cast(pa.int32())
        else:
            values = table.column(name)
        columns[f"g{position}"] = values
    names = list(columns)
    counted = pa.table(columns).group_by(names).aggregate([([], "count_all")])
    groups = zip(*(counted.column(name).to_pylist() for name in names), strict=True)
    return Counter(dict(zip(groups, counted.column("count_all").to_pylist(), strict=True)))


def refresh_summary(
    cur: Cursor, contract: Contract, file_id: int, added: Counter | None = None, rows_removed: bool = False
) -> None:
    """Bring the dataset's summary table up to date with the file's rows, inside the loading
    transaction, by the contract's summary (tables.py): `added` are the loader's own counts of them
    (summary_counts) for a summary it counts; `rows_removed` says that rows left the table in this
    transaction (a superseded version, a reprocessed file's previous load), after which a summary
    added file by file is recomputed whole. Incremental summaries add the file's rows (their rows
    left through remove_rows); the others are recomputed.

    The lock makes concurrent loads take turns here: in READ COMMITTED each statement sees what was
    committed when it started, so the loader that waited reads the other's rows instead of writing
    statistics that miss them.
    """
    if contract.summary_table is None:
        return
    lock(cur, f"summary:{contract.summary_table}")
    if added is not None and tables.counted_keys(contract) is not None:
        keys = list(added)
        width = len(contract.summary.group_by) if contract.summary else 0
        parameters: dict[str, Any] = {f"group_{i}": [key[i] for key in keys] for i in range(width)}
        parameters["counts"] = [added[key] for key in keys]
        cur.execute(tables.summary_count_sql(contract), parameters)
    elif not rows_removed and (add := tables.summary_add_sql(contract)) is not None:
        cur.execute(add, {"file_id": file_id})
    else:
        cur.execute(tables.summary_refresh_sql(contract), {"file_id": file_id})
