"""Process one S3 object end to end: fetch → parse → validate → load + write outputs, exactly once.

Effects, in order, for a file that loads:
  1. (outside any transaction) skip early if the ledger already has this object version; reject
     unknown datasets, unsupported extensions and objects over the size limit without downloading;
     GET the object into a spool file under /tmp, hashing it.
  2. BEGIN; insert the ledger row (ON CONFLICT DO NOTHING: a redelivery stops here, changing nothing).
  3. Under a lock on (dataset, sha256): if a loaded file has the same bytes, mark the row
     `duplicate` and COMMIT — nothing else is written.
  4. Stream the spool file chunk by chunk: parse, validate, COPY the good rows (on a worker thread,
     overlapping the next chunk's parsing), append them to the local output files and the
     rejections to a local rejected_rows.csv.
  5. PUT the outputs (and reason.json + rejected_rows.csv) — deterministic keys, so a retry
     overwrites them; update the summary under the dataset's summary lock, mark the row
     `loaded`, COMMIT.
A crash anywhere before the COMMIT rolls back 2-5 in the database; the message is redelivered and
starts again from 1, overwriting the same S3 objects. After the COMMIT a redelivery stops at 1 or 2.
A file found bad half-way (a corrupt gzip tail, a broken JSON element, no valid rows) raises out of
step 4: the transaction rolls back and the file is quarantined in a transaction of its own.

Bad data raises nothing: it ends as a `quarantined` ledger row plus `<source key>/reason.json`.
Infrastructure errors (S3, database) propagate, so the message is retried and can reach the DLQ.

Memory stays bounded by a few chunks (parse.CHUNK_CHARS of source text each: the one being parsed
and at most db.MAX_PENDING_COPIES waiting to be COPYed) whatever the file size - a 1M-row, 95 MB
events CSV peaks at 388 MB, ~110 MB of it the libraries; /tmp holds the spooled source and outputs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import db, s3io, transform
from pipeline.contracts import CONTRACTS, Contract, contract_for
from pipeline.errors import NO_VALID_ROWS, REJECTED_ROWS, TOO_LARGE, UNKNOWN_DATASET, FileRejected
from pipeline.events import S3ObjectRef
from pipeline.formats import split_name
from pipeline.parse import CHUNK_CHARS
from pipeline.s3io import FetchedObject
from pipeline.validate import Counts, NoValidRows, check_file

REDELIVERED = "redelivered"  # an outcome only: the ledger already had the object version
SOURCE_NAME = "source"
# The spooled source and the outputs share /tmp: by default a file may use up to half of its free
# space. MAX_OBJECT_BYTES overrides that (a safety net; memory no longer depends on the file size).
DISK_SHARE = 2


@dataclass(frozen=True)
class Destinations:
    processed_bucket: str
    quarantine_bucket: str
    max_object_bytes: int | None = None  # None: half the free space of `workdir`
    workdir: str | None = None  # where spool and output files go; None: the system's temp dir (/tmp)
    chunk_chars: int = CHUNK_CHARS

    @classmethod
    def from_env(cls) -> Destinations:
        limit = os.environ.get("MAX_OBJECT_BYTES")
        return cls(
            processed_bucket=os.environ["PROCESSED_BUCKET"],
            quarantine_bucket=os.environ["QUARANTINE_BUCKET"],
            max_object_bytes=int(limit) if limit else None,
        )

    def size_limit(self) -> int:
        if self.max_object_bytes is not None:
            return self.max_object_bytes
        return shutil.disk_usage(self.workdir or tempfile.gettempdir()).free // DISK_SHARE


@dataclass(frozen=True)
class Outcome:
    status: str  # loaded | duplicate | quarantined | redelivered
    file_id: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    detail: str | None = None
    processed_key: str | None = None
    quarantine_key: str | None = None
    duplicate_of: int | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def ingest_object(
    ref: S3ObjectRef,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
    now: Callable[[], datetime] = utc_now,
) -> Outcome:
    """Process one object version; returns what happened, raises only for infrastructure errors."""
    started_at = now()
    version = ref.idempotency_version
    if version and db.is_recorded(conn, ref.bucket, ref.key, version):
        return Outcome(REDELIVERED)
    with tempfile.TemporaryDirectory(prefix="tidewater-", dir=destinations.workdir) as workdir:
        work = Path(workdir)
        fetched: FetchedObject | None = None
        try:
            contract = admit(ref, destinations)
            fetched = s3io.fetch_object(s3, ref, work / SOURCE_NAME)
            entry = ledger_entry(ref, fetched, started_at)
            return load_file(ref, entry, fetched, contract, work, s3=s3, conn=conn, destinations=destinations)
        except FileRejected as rejection:
            entry = ledger_entry(ref, fetched, started_at)
            rejected_rows = work / transform.REJECTED_ROWS_NAME if rejection.code == NO_VALID_ROWS else None
            return quarantine_file(ref, entry, rejection, rejected_rows, s3=s3, conn=conn, destinations=destinations)


def admit(ref: S3ObjectRef, destinations: Destinations) -> Contract:
    """The object's contract; rejects it before downloading when it cannot be processed anyway."""
    contract = contract_for(ref.dataset)
    if contract is None:
        raise FileRejected(
            UNKNOWN_DATASET,
            f"no dataset named {ref.dataset!r} (the first segment of the key); upload the file under one of: "
            f"{', '.join(f'{name}/' for name in sorted(CONTRACTS))}",
        )
    split_name(ref.key)  # unsupported_format
    limit = destinations.size_limit()
    if ref.size is not None and ref.size > limit:
        raise FileRejected(
            TOO_LARGE,
            f"{ref.size} bytes is more than this function accepts ({limit}: MAX_OBJECT_BYTES, or half the free "
            "space in /tmp); split the file, or give the function more ephemeral storage",
        )
    return contract


def ledger_entry(ref: S3ObjectRef, fetched: FetchedObject | None, started_at: datetime) -> db.LedgerEntry:
    etag = fetched.etag if fetched else ref.etag
    return db.LedgerEntry(
        bucket=ref.bucket,
        s3_key=ref.key,
        # The event names the version; if it carried neither VersionId nor ETag, GET's ETag does.
        version_id=ref.idempotency_version or etag or "",
        etag=etag,
        content_sha256=fetched.sha256 if fetched else None,
        size_bytes=fetched.size if fetched else ref.size,
        dataset=ref.dataset,
        event_time=ref.event_time,
        started_at=started_at,
    )


def quarantine_file(
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    rejection: FileRejected,
    rejected_rows: Path | None,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
) -> Outcome:
    """The whole file is rejected: reason.json (+ rejected_rows.csv when every row was bad)."""
    counts = rejection.counts if isinstance(rejection, NoValidRows) else None
    rows_quarantined = counts.rows_rejected if counts else 0
    with db.transaction(conn) as cur:
        file_id = db.claim(cur, entry, db.QUARANTINED)
        if file_id is None:
            return Outcome(REDELIVERED)
        reason_key = write_quarantine(
            s3, destinations, ref, entry, rejection.code, rejection.detail, counts, rejected_rows
        )
        db.finish(
            cur,
            file_id,
            db.QUARANTINED,
            rows_quarantined=rows_quarantined,
            error=rejection.code,
            error_detail=rejection.detail,
            quarantine_key=reason_key,
        )
    return Outcome(
        db.QUARANTINED,
        file_id=file_id,
        rows_quarantined=rows_quarantined,
        reason=rejection.code,
        detail=rejection.detail,
        quarantine_key=reason_key,
    )


def load_file(
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    fetched: FetchedObject,
    contract: Contract,
    work: Path,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
) -> Outcome:
    """Stream the spooled file into the table and the outputs in one transaction; a FileRejected
    raised half-way rolls it back (the caller then quarantines the file)."""
    stem, _, _ = split_name(ref.key)
    outputs = transform.Outputs(contract, stem, fetched.sha256, ref.event_time.date(), work)
    rejections = transform.RejectionsFile(work / transform.REJECTED_ROWS_NAME)
    with db.transaction(conn) as cur:
        file_id = db.claim(cur, entry, db.LOADED)
        if file_id is None:
            return Outcome(REDELIVERED)
        db.lock(cur, f"content:{contract.dataset}:{fetched.sha256}")
        original = db.find_loaded_duplicate(cur, contract.dataset, fetched.sha256, file_id)
        if original is not None:
            db.finish(cur, file_id, db.DUPLICATE, duplicate_of=original)
            return Outcome(db.DUPLICATE, file_id=file_id, duplicate_of=original)

        with db.copying(cur, contract, file_id) as copy, fetched.path.open("rb") as source:

            def load_chunk(good) -> None:
                table = transform.to_arrow(good, contract)
                copy(table)
                outputs.write(good, table)

            counts = check_file(
                source, ref.key, contract, load_chunk, rejections.write, chunk_chars=destinations.chunk_chars
            )
        processed = outputs.close()
        content_type = transform.CONTENT_TYPES[contract.output]
        for key, path in processed.items():
            s3io.put_file(s3, destinations.processed_bucket, key, path, content_type)
        reason_key = None
        if counts.rows_rejected:
            detail = (
                f"{counts.rows_rejected} of {counts.rows_total} data rows failed validation and were "
                "not loaded; the other rows were"
            )
            reason_key = write_quarantine(s3, destinations, ref, entry, REJECTED_ROWS, detail, counts, rejections.path)
        db.refresh_summary(cur, contract, file_id)
        # The first output (the earliest date when a file spans several); all share `<stem>-<sha12>`.
        processed_key = next(iter(processed), None)
        db.finish(
            cur,
            file_id,
            db.LOADED,
            rows_loaded=counts.rows_loaded,
            rows_quarantined=counts.rows_rejected,
            processed_key=processed_key,
            quarantine_key=reason_key,
        )
    return Outcome(
        db.LOADED,
        file_id=file_id,
        rows_loaded=counts.rows_loaded,
        rows_quarantined=counts.rows_rejected,
        processed_key=processed_key,
        quarantine_key=reason_key,
    )


def write_quarantine(
    s3: Any,
    destinations: Destinations,
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    code: str,
    detail: str,
    counts: Counts | None,
    rejected_rows: Path | None,
) -> str:
    """`<source key>/reason.json`, plus `<source key>/rejected_rows.csv` when rows were rejected."""
    extra: dict[str, Any] = {}
    if counts is not None:
        extra = {
            "rows_total": counts.rows_total,
            "rows_loaded": counts.rows_loaded,
            "rows_rejected": counts.rows_rejected,
        }
        if rejected_rows is not None and rejected_rows.exists():
            rows_key = transform.quarantine_key(ref.key, transform.REJECTED_ROWS_NAME)
            s3io.put_file(s3, destinations.quarantine_bucket, rows_key, rejected_rows, "text/csv")
            extra["rejected_rows_key"] = rows_key
    source = {**ref.describe(), "sha256": entry.content_sha256, "size_bytes": entry.size_bytes}
    reason_key = transform.quarantine_key(ref.key, transform.REASON_NAME)
    document = transform.reason_document(code, detail, source, **extra)
    s3io.put_bytes(s3, destinations.quarantine_bucket, reason_key, document, "application/json")
    return reason_key
