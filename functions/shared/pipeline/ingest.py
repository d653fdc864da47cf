"""Process one S3 object end to end: fetch → parse → validate → write outputs → load, exactly once.

Effects, in order, for a file that loads:
  1. (outside any transaction) skip early if the ledger already has this object version;
     GET the object, hash it, parse and validate it — no effects yet.
  2. BEGIN; insert the ledger row (ON CONFLICT DO NOTHING: a redelivery stops here, changing nothing).
  3. Under a lock on (dataset, sha256): if a loaded file has the same bytes, mark the row
     `duplicate` and COMMIT — nothing else is written.
  4. PUT the Parquet output (and rejected rows) — deterministic keys, so a retry overwrites them.
  5. COPY the good rows, recompute the summary under the dataset's summary lock, mark the row
     `loaded`, COMMIT.
A crash anywhere before the COMMIT rolls back 2-5 in the database; the message is redelivered and
starts again from 1, overwriting the same S3 objects. After the COMMIT a redelivery stops at 1 or 2.

Bad data raises nothing: it ends as a `quarantined` ledger row plus `<source key>/reason.json`.
Infrastructure errors (S3, database) propagate, so the message is retried and can reach the DLQ.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline import db, s3io, transform
from pipeline.contracts import CONTRACTS, Contract, contract_for
from pipeline.errors import REJECTED_ROWS, TOO_LARGE, UNKNOWN_DATASET, FileRejected
from pipeline.events import S3ObjectRef
from pipeline.parse import parse_csv
from pipeline.s3io import FetchedObject
from pipeline.validate import NoValidRows, Validation, validate

REDELIVERED = "redelivered"  # an outcome only: the ledger already had the object version
# A file is parsed whole: peak memory measured at ~10x its size (strings, typed frame, COPY buffer),
# so by default a function loads files up to a tenth of its memory and quarantines larger ones
# (`too_large`) instead of running out of memory on every retry.
MEMORY_PER_FILE_BYTE = 10
FALLBACK_MEMORY_MB = 1024


def default_max_object_bytes() -> int:
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", FALLBACK_MEMORY_MB))
    return memory_mb * 1024 * 1024 // MEMORY_PER_FILE_BYTE


@dataclass(frozen=True)
class Destinations:
    processed_bucket: str
    quarantine_bucket: str
    max_object_bytes: int = FALLBACK_MEMORY_MB * 1024 * 1024 // MEMORY_PER_FILE_BYTE

    @classmethod
    def from_env(cls) -> Destinations:
        return cls(
            processed_bucket=os.environ["PROCESSED_BUCKET"],
            quarantine_bucket=os.environ["QUARANTINE_BUCKET"],
            max_object_bytes=int(os.environ.get("MAX_OBJECT_BYTES") or default_max_object_bytes()),
        )


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
    fetched: FetchedObject | None = None
    try:
        contract = admit(ref, destinations)
        fetched = s3io.fetch_object(s3, ref)
        validation = validate(parse_csv(fetched.data, contract), contract)
    except FileRejected as rejection:
        entry = ledger_entry(ref, fetched, started_at)
        return quarantine_file(ref, entry, rejection, s3=s3, conn=conn, destinations=destinations)
    entry = ledger_entry(ref, fetched, started_at)
    return load_file(ref, entry, fetched, contract, validation, s3=s3, conn=conn, destinations=destinations)


def admit(ref: S3ObjectRef, destinations: Destinations) -> Contract:
    """The object's contract; rejects it before downloading when it cannot be processed anyway."""
    contract = contract_for(ref.dataset)
    if contract is None:
        raise FileRejected(
            UNKNOWN_DATASET,
            f"no dataset named {ref.dataset!r} (the first segment of the key); upload the file under one of: "
            f"{', '.join(f'{name}/' for name in sorted(CONTRACTS))}",
        )
    if ref.size is not None and ref.size > destinations.max_object_bytes:
        raise FileRejected(
            TOO_LARGE,
            f"{ref.size} bytes is more than this function loads at once ({destinations.max_object_bytes}); "
            "split the file, or give the function more memory (or set MAX_OBJECT_BYTES)",
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
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
) -> Outcome:
    """The whole file is rejected: reason.json (+ the row problems when every row was bad)."""
    validation = rejection.validation if isinstance(rejection, NoValidRows) else None
    rows_quarantined = validation.rows_rejected if validation else 0
    with db.transaction(conn) as cur:
        file_id = db.claim(cur, entry, db.QUARANTINED)
        if file_id is None:
            return Outcome(REDELIVERED)
        reason_key = write_quarantine(s3, destinations, ref, entry, rejection.code, rejection.detail, validation)
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
    validation: Validation,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
) -> Outcome:
    with db.transaction(conn) as cur:
        file_id = db.claim(cur, entry, db.LOADED)
        if file_id is None:
            return Outcome(REDELIVERED)
        db.lock(cur, f"content:{contract.dataset}:{fetched.sha256}")
        original = db.find_loaded_duplicate(cur, contract.dataset, fetched.sha256, file_id)
        if original is not None:
            db.finish(cur, file_id, db.DUPLICATE, duplicate_of=original)
            return Outcome(db.DUPLICATE, file_id=file_id, duplicate_of=original)
        processed_key = write_outputs(s3, destinations, ref, contract, fetched, validation)
        reason_key = None
        if validation.rows_rejected:
            detail = (
                f"{validation.rows_rejected} of {validation.rows_total} data rows failed validation and were "
                "not loaded; the other rows were"
            )
            reason_key = write_quarantine(s3, destinations, ref, entry, REJECTED_ROWS, detail, validation)
        rows_loaded = db.copy_rows(cur, contract, validation.good, file_id)
        db.refresh_summary(cur, contract)
        db.finish(
            cur,
            file_id,
            db.LOADED,
            rows_loaded=rows_loaded,
            rows_quarantined=validation.rows_rejected,
            processed_key=processed_key,
            quarantine_key=reason_key,
        )
    return Outcome(
        db.LOADED,
        file_id=file_id,
        rows_loaded=rows_loaded,
        rows_quarantined=validation.rows_rejected,
        processed_key=processed_key,
        quarantine_key=reason_key,
    )


def write_outputs(
    s3: Any,
    destinations: Destinations,
    ref: S3ObjectRef,
    contract: Contract,
    fetched: FetchedObject,
    validation: Validation,
) -> str:
    """Write the dataset's outputs to the processed bucket; returns the Parquet key."""
    if contract.outputs != ("parquet",):
        raise NotImplementedError(f"outputs {contract.outputs} of {contract.dataset}: only parquet exists yet")
    key = transform.processed_key(contract.dataset, ref.key, fetched.sha256, ref.event_time)
    data = transform.to_parquet(validation.good)
    s3io.put_bytes(s3, destinations.processed_bucket, key, data, "application/vnd.apache.parquet")
    return key


def write_quarantine(
    s3: Any,
    destinations: Destinations,
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    code: str,
    detail: str,
    validation: Validation | None,
) -> str:
    """`<source key>/reason.json`, plus `<source key>/rejected_rows.csv` when rows were rejected."""
    extra: dict[str, Any] = {}
    if validation is not None and not validation.rejected.empty:
        rows_key = transform.quarantine_key(ref.key, transform.REJECTED_ROWS_NAME)
        s3io.put_bytes(
            s3, destinations.quarantine_bucket, rows_key, transform.rejected_rows_csv(validation.rejected), "text/csv"
        )
        extra = {
            "rows_total": validation.rows_total,
            "rows_loaded": len(validation.good),
            "rows_rejected": validation.rows_rejected,
            "rejected_rows_key": rows_key,
        }
    source = {**ref.describe(), "sha256": entry.content_sha256, "size_bytes": entry.size_bytes}
    reason_key = transform.quarantine_key(ref.key, transform.REASON_NAME)
    document = transform.reason_document(code, detail, source, **extra)
    s3io.put_bytes(s3, destinations.quarantine_bucket, reason_key, document, "application/json")
    return reason_key
