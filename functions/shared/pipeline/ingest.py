"""Process one S3 object end to end: fetch → parse → validate → load + write outputs, exactly once.

Effects, in order, for a file that loads:
  1. (outside any transaction) skip early if the ledger already has this object version; reject
     unknown datasets, unsupported extensions and objects over the size limit without downloading;
     GET the object into a spool file under /tmp, hashing it.
  2. BEGIN; insert the ledger row (ON CONFLICT DO NOTHING: a redelivery stops here, changing nothing).
  3. For a dataset whose new versions replace old ones: lock the key; if the ledger already has a
     *newer* version of it, this one is `superseded` at once (a late message of an old version).
  4. Under a lock on (dataset, sha256): if a loaded file has the same bytes, mark the row
     `duplicate` (a duplicate still replaces the key's previous version: 6) and COMMIT.
  5. Stream the spool file chunk by chunk: parse, validate, COPY the good rows (on a worker thread,
     overlapping the next chunk's parsing), append them to the local output files and the
     rejections to a local rejected_rows.csv.
  6. PUT the outputs (and reason.json + rejected_rows.csv) - deterministic keys, so a retry
     overwrites them; mark the row `loaded` with every object it wrote; take the key's previous
     version out of the tables (`superseded`); update the summary under its lock; COMMIT; then
     delete the previous version's objects.
A crash anywhere before the COMMIT rolls back 2-6 in the database, and the object versions written
in 6 are deleted again (when the process lives to do it; `tidewater doctor` removes what a killed
process left): the ledger is the only truth about what the processed bucket holds. The message is
redelivered and starts again from 1. After the COMMIT a redelivery stops at 1 or 2.
A file found bad half-way (a corrupt gzip tail, a broken JSON element, no valid rows, more than the
disk allows) raises out of step 5: the transaction rolls back and the file is quarantined in a
transaction of its own.

Bad data raises nothing: it ends as a `quarantined` ledger row plus `<source key>/reason.json`.
Infrastructure errors (S3, database) propagate, so the message is retried and can reach the DLQ.

Memory stays bounded by a few chunks (parse.CHUNK_CHARS of source text each: the one being parsed
and at most db.MAX_PENDING_COPIES waiting to be COPYed) whatever the file size - a 1M-row, 95 MB
events CSV peaks at 388 MB, ~110 MB of it the libraries; /tmp holds the spooled source, the outputs
and at most transform.MAX_REJECTION_LINES rejections, and its use is bounded by the size limit.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import db, s3io, tables, transform
from pipeline.contracts import CONTRACTS, Contract, contract_for
from pipeline.errors import CONTRACT_MISMATCH, REJECTED_ROWS, TOO_LARGE, UNKNOWN_DATASET, FileRejected
from pipeline.events import S3ObjectRef
from pipeline.formats import split_name
from pipeline.parse import CHUNK_CHARS
from pipeline.s3io import FetchedObject
from pipeline.sharing import NeedsRoom
from pipeline.validate import Counts, NoValidRows, check_file

REDELIVERED = "redelivered"  # an outcome only: the ledger already had the object version
# Outcomes of reprocess only: the file was left as it was - rejected as a whole under the current
# contract (its rows, if any, stay), or no longer loaded/quarantined (superseded, a duplicate).
UNCHANGED = "unchanged"
SKIPPED = "skipped"
REPROCESS_EVENT = "tidewater reprocess"  # the event name of a reprocessed file's reason.json
# The ledger fields of a file that holds no rows or objects (a duplicate).
NOTHING_LOADED = {"rows_loaded": 0, "rows_quarantined": 0, "error": None, "error_detail": None, "processed_key": None,
                  "processed_keys": None, "quarantine_key": None, "quarantine_keys": None}  # fmt: skip
SOURCE_NAME = "source"
# The spooled source and the outputs share /tmp: by default a file may use up to half of its free
# space, counted on the object and again on its content after gunzip. MAX_OBJECT_BYTES overrides
# that (a safety net; memory does not depend on the file size).
DISK_SHARE = 2
WORKDIR_PREFIX = "tidewater-"
ACTIVE_WORKSPACES: set[Path] = set()  # this process's workspaces in use
WORKSPACES_LOCK = threading.Lock()


@dataclass(frozen=True)
class Destinations:
    processed_bucket: str
    quarantine_bucket: str
    max_object_bytes: int | None = None  # None: half the free space of `workdir`
    workdir: str | None = None  # where spool and output files go; None: the system's temp dir (/tmp)
    chunk_chars: int = CHUNK_CHARS
    # Files processed at once in this environment, which share the temporary storage (pipeline.sharing).
    sharing: int = 1

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
            return self.max_object_bytes // self.sharing
        return shutil.disk_usage(self.workdir or tempfile.gettempdir()).free // (DISK_SHARE * self.sharing)


@dataclass(frozen=True)
class Outcome:
    status: str  # loaded | duplicate | quarantined | superseded | redelivered
    file_id: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    detail: str | None = None
    processed_key: str | None = None
    quarantine_key: str | None = None
    duplicate_of: int | None = None
    superseded: int | None = None  # the ledger row of the key's previous version this one replaced
    superseded_by: int | None = None  # status superseded: the newer version already in the tables
    leftovers: tuple[str, ...] = ()  # s3:// objects that should have been deleted but could not be


def utc_now() -> datetime:
    return datetime.now(UTC)


def ingest_object(
    ref: S3ObjectRef,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
    now: Callable[[], datetime] = utc_now,
    reload: int | None = None,
) -> Outcome:
    """Process one object version; returns what happened, raises only for infrastructure errors.

    `reload`: the ledger id of this object version, which is loaded again in place of its previous
    load (reprocess_file); a file rejected as a whole then changes nothing (UNCHANGED)."""
    started_at = now()
    version = ref.idempotency_version
    if reload is None and version and db.is_recorded(conn, ref.bucket, ref.key, version):
        return Outcome(REDELIVERED)
    with workspace(destinations.workdir) as work:
        download: s3io.Download | None = None
        rejections = transform.RejectionsFile(work / transform.REJECTED_ROWS_NAME)
        try:
            limit = destinations.size_limit()
            contract = admit(ref, limit)
            try:
                download = s3io.start_download(s3, ref, work / SOURCE_NAME)
                entry = ledger_entry(ref, started_at, download.etag)
                return load_file(
                    ref, entry, download, contract, work, rejections, limit,
                    s3=s3, conn=conn, destinations=destinations, reload=reload,
                )
            except (OSError, s3io.DownloadFailed) as exc:
                if not disk_full(exc):
                    raise
                raise FileRejected(
                    TOO_LARGE,
                    "the function's temporary storage filled up while reading this file; split it into smaller files, "
                    "or give the function more ephemeral storage",
                ) from None
        except FileRejected as rejection:
            if rejection.code == TOO_LARGE and destinations.sharing > 1:
                raise NeedsRoom(rejection.detail) from rejection  # alone, it may fit (pipeline.sharing)
            if reload is not None:
                return Outcome(UNCHANGED, file_id=reload, reason=rejection.code, detail=rejection.detail)
            entry = ledger_entry(ref, started_at, download.etag if download else None, whole_object(download))
            return quarantine_file(ref, entry, rejection, rejections, s3=s3, conn=conn, destinations=destinations)
        finally:
            if download is not None:
                download.cancel()  # a load that ended early: the body is not read on, the file is closed


def whole_object(download: s3io.Download | None) -> FetchedObject | None:
    """The downloaded object of a rejected file (its hash goes to the ledger and reason.json), or
    None when there is none: not downloaded, or the disk filled up on the way."""
    if download is None:
        return None
    try:
        return download.result()
    except s3io.DownloadFailed as exc:
        if not disk_full(exc):
            raise
        return None


def disk_full(exc: BaseException) -> bool:
    """Whether an error (or the download error behind it) is the temporary storage filling up."""
    cause = exc.__cause__ if isinstance(exc, s3io.DownloadFailed) else exc
    return isinstance(cause, OSError) and cause.errno == errno.ENOSPC


def reprocess_file(file_id: int, *, s3: Any, conn: db.Connection, destinations: Destinations) -> Outcome:
    """Load a loaded or quarantined file again under the current contract (`tidewater reprocess`),
    in one transaction: its previous rows (and their share of the summary) are replaced, its ledger
    row is updated, and it replaces its key's older version like a new upload would. A file the
    contract now rejects as a whole, or one no longer loaded or quarantined, is left as it was."""
    known = db.ledger_object(conn, file_id)
    if known is None or known.status not in (db.LOADED, db.QUARANTINED):
        detail = "no such file in the ledger" if known is None else f"it is {known.status}"
        return Outcome(SKIPPED, file_id=file_id, detail=detail)
    ref = S3ObjectRef(
        bucket=known.bucket,
        key=known.s3_key,
        event_name=REPROCESS_EVENT,
        event_time=known.event_time or known.started_at,
        etag=known.etag,
        version_id=None if known.version_id == known.etag else known.version_id,  # unversioned: by ETag
        size=known.size_bytes,
        sequencer=known.sequencer,
    )
    return ingest_object(ref, s3=s3, conn=conn, destinations=destinations, reload=file_id)


@contextmanager
def workspace(base: str | None) -> Iterator[Path]:
    """A private folder under `base` (the system temp folder when None) for one object's files,
    removed afterwards whatever happened. Folders that earlier invocations of this environment could
    not remove (killed, or out of file descriptors) are removed first: they would count against the
    next file's disk budget."""
    parent = Path(base or tempfile.gettempdir())
    with WORKSPACES_LOCK:  # another thread's new workspace is not stale
        remove_stale_workspaces(parent)
        path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=parent))
        ACTIVE_WORKSPACES.add(path)
    try:
        yield path
    finally:
        ACTIVE_WORKSPACES.discard(path)
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_workspaces(parent: Path) -> None:
    """Remove workspaces nobody uses: their process is gone (the folder name carries its pid), or
    it is this process (a restarted runtime may get the same pid) and the folder is not one it is
    using. Another environment sharing this temp folder keeps its live ones."""
    for path in parent.glob(f"{WORKDIR_PREFIX}*-*"):
        pid = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if not (path.is_dir() and pid.isdigit()) or path in ACTIVE_WORKSPACES:
            continue
        if int(pid) == os.getpid() or not process_exists(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def admit(ref: S3ObjectRef, limit: int) -> Contract:
    """The object's contract; rejects it before downloading when it cannot be processed anyway."""
    contract = contract_for(ref.dataset)
    if contract is None:
        raise FileRejected(
            UNKNOWN_DATASET,
            f"no dataset named {ref.dataset!r} (the first segment of the key); upload the file under one of: "
            f"{', '.join(f'{name}/' for name in sorted(CONTRACTS))}",
        )
    split_name(ref.key)  # unsupported_format
    if problem := db.SCHEMA_PROBLEMS.get(contract.dataset):
        raise FileRejected(
            CONTRACT_MISMATCH,
            f"the {contract.dataset} table does not match its contract, so nothing of this dataset loads: {problem}. "
            "After fixing it, deploy and run `tidewater reprocess --dataset "
            f"{contract.dataset}`",
        )
    if ref.size is not None and ref.size > limit:
        raise FileRejected(
            TOO_LARGE,
            f"{ref.size} bytes is more than this function accepts ({limit}: MAX_OBJECT_BYTES, or half the free "
            "space in /tmp); split the file, or give the function more ephemeral storage",
        )
    return contract


def ledger_entry(
    ref: S3ObjectRef, started_at: datetime, etag: str | None, fetched: FetchedObject | None = None
) -> db.LedgerEntry:
    """The ledger row of an object version; `etag`: GET's, `fetched`: the whole object once it is in
    (its hash and size)."""
    etag = etag or ref.etag
    contract = contract_for(ref.dataset)
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
        sequencer=ref.sequencer,
        contract_version=contract.version if contract else None,
    )


@dataclass
class Pending:
    """What a loading transaction wrote to S3 before its COMMIT, and how far it got."""

    uploads: s3io.Uploads
    file_id: int | None = None  # the claimed ledger row
    committing: bool = False  # the block ran to its end: the COMMIT was attempted


@contextmanager
def objects_follow_the_ledger(s3: Any, conn: db.Connection) -> Iterator[Pending]:
    """Delete the object versions a transaction wrote when it did not commit: a rollback must not
    leave objects that no ledger row names. Wrap it around `db.transaction`, and set `committing`
    as the block's last step. When the COMMIT itself failed, the ledger is asked (a commit can
    succeed although its answer was lost); if it cannot answer, the objects stay for
    `tidewater doctor`, which removes only what the ledger does not name."""
    pending = Pending(s3io.Uploads(s3))
    try:
        yield pending
    except BaseException:
        if not pending.committing or not committed_or_unknown(conn, pending.file_id):
            pending.uploads.take_back()
        raise


def committed_or_unknown(conn: db.Connection, file_id: int | None) -> bool:
    if file_id is None:
        return False
    try:
        return db.is_committed(conn, file_id)
    except Exception:  # the connection is gone: the database cannot say
        return True


def quarantine_file(
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    rejection: FileRejected,
    rejections: transform.RejectionsFile,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
) -> Outcome:
    """The whole file is rejected: reason.json (+ rejected_rows.csv when every row was bad)."""
    counts = rejection.counts if isinstance(rejection, NoValidRows) else None
    rows_quarantined = counts.rows_rejected if counts else 0
    contract = contract_for(ref.dataset)
    with objects_follow_the_ledger(s3, conn) as pending, db.transaction(conn) as cur:
        file_id = pending.file_id = db.claim(cur, entry, db.QUARANTINED)
        if file_id is None:
            return Outcome(REDELIVERED)
        if contract is not None and contract.replaces:
            newer = newer_version(cur, entry, file_id)
            if newer is not None:
                # A late message of an old version: it must not overwrite the key's reason.json.
                db.finish(cur, file_id, db.SUPERSEDED, superseded_by=newer.id)
                return Outcome(db.SUPERSEDED, file_id=file_id, superseded_by=newer.id)
        listed = rejections if counts is not None else None
        reason_key = write_quarantine(
            pending.uploads, destinations, ref, entry, rejection.code, rejection.detail, counts, listed
        )
        db.finish(
            cur,
            file_id,
            db.QUARANTINED,
            rows_quarantined=rows_quarantined,
            error=rejection.code,
            error_detail=rejection.detail,
            quarantine_key=reason_key,
            quarantine_keys=pending.uploads.keys(destinations.quarantine_bucket),
        )
        pending.committing = True
    return Outcome(
        db.QUARANTINED,
        file_id=file_id,
        rows_quarantined=rows_quarantined,
        reason=rejection.code,
        detail=rejection.detail,
        quarantine_key=reason_key,
    )


def newer_version(cur: db.Cursor, entry: db.LedgerEntry, file_id: int) -> db.KeyVersion | None:
    """Locks the key (until COMMIT: versions of one key take turns) and returns the version of it
    in the tables when that one is newer than this entry."""
    current = key_version(cur, entry, file_id)
    return current if current is not None and current.is_newer_than(entry) else None


def key_version(cur: db.Cursor, entry: db.LedgerEntry, file_id: int) -> db.KeyVersion | None:
    """Locks the key and returns its version in the tables (other than this one), if any."""
    db.lock(cur, f"key:{entry.bucket}:{entry.s3_key}")
    return db.current_version(cur, entry.bucket, entry.s3_key, file_id)


def load_file(
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    download: s3io.Download,
    contract: Contract,
    work: Path,
    rejections: transform.RejectionsFile,
    limit: int,
    *,
    s3: Any,
    conn: db.Connection,
    destinations: Destinations,
    reload: int | None = None,
) -> Outcome:
    """Stream the object into the table and the outputs in one transaction, while it downloads; a
    FileRejected raised half-way rolls it back (the caller then quarantines the file). `reload`: the
    file's own ledger row, taken over (db.reclaim) instead of claimed.

    Whether the same bytes are loaded already (a duplicate) needs the whole object's hash. When the
    object is not all in yet, its rows are loaded first, after a savepoint, and taken back to it
    when the hash turns out to be a loaded file's: the load does not wait for the download."""
    stem, _, _ = split_name(ref.key)
    fetched = download.result() if download.complete else None  # a small object is in already
    if fetched is not None:
        entry = replace(entry, content_sha256=fetched.sha256, size_bytes=fetched.size)
    known_at_claim = fetched is not None
    with (
        transform.Outputs(contract, stem, "", ref.event_time.date(), work) as outputs,
        objects_follow_the_ledger(s3, conn) as pending,
        db.transaction(conn) as cur,
    ):
        replaced = db.Retired([], [])  # a reloaded file's own objects as they were
        if reload is None:
            file_id = pending.file_id = db.claim(cur, entry, db.LOADED)
        else:
            key_version(cur, entry, reload)  # the key's lock first, as a new version takes it: no deadlock
            replaced = db.reclaim(cur, contract, reload)
            file_id = pending.file_id = reload if replaced is not None else None
            if replaced is None:
                return Outcome(SKIPPED, file_id=reload, detail="no longer loaded or quarantined")
        if file_id is None:
            return Outcome(REDELIVERED)
        previous = key_version(cur, entry, file_id) if contract.replaces else None
        if previous is not None and previous.is_newer_than(entry):
            late = late_content(download.result(), known_at_claim)
            db.finish(cur, file_id, db.SUPERSEDED, superseded_by=previous.id, **late)
            return Outcome(db.SUPERSEDED, file_id=file_id, superseded_by=previous.id)
        original = loaded_duplicate(cur, contract, fetched, file_id) if fetched is not None else None
        if original is None:
            if fetched is None:
                db.savepoint(cur, "before_rows")
            counts, added = stream_into(cur, contract, download, ref, outputs, rejections, file_id, limit, destinations)
            if fetched is None:
                fetched = download.result()
                entry = replace(entry, content_sha256=fetched.sha256, size_bytes=fetched.size)
                original = loaded_duplicate(cur, contract, fetched, file_id)
                if original is not None:  # the same bytes are loaded already: none of these rows stays
                    db.rollback_to(cur, "before_rows")
        if original is not None:
            # A reloaded file may have named rows and objects before; a duplicate names none.
            reloaded = {**NOTHING_LOADED, "contract_version": contract.version} if reload is not None else {}
            db.finish(
                cur, file_id, db.DUPLICATE, duplicate_of=original, **reloaded, **late_content(fetched, known_at_claim)
            )
            if previous is not None and previous.id == original:
                previous = None  # the same bytes again: the previous version stays as it is
            retired = supersede(cur, contract, previous, file_id, always_refresh=reload is not None,
                                reloaded=reload is not None)  # fmt: skip
            outcome = Outcome(db.DUPLICATE, file_id=file_id, duplicate_of=original)
        else:
            outputs.sha256 = fetched.sha256  # the output keys name it
            processed = outputs.close()
            content_type = transform.CONTENT_TYPES[contract.output]
            for key, path in processed.items():
                pending.uploads.put_file(destinations.processed_bucket, key, path, content_type)
            reason_key = None
            if counts.rows_rejected:
                detail = (
                    f"{counts.rows_rejected} of {counts.rows_total} data rows failed validation and were "
                    "not loaded; the other rows were"
                )
                reason_key = write_quarantine(
                    pending.uploads, destinations, ref, entry, REJECTED_ROWS, detail, counts, rejections
                )
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
                processed_keys=pending.uploads.keys(destinations.processed_bucket),
                quarantine_keys=pending.uploads.keys(destinations.quarantine_bucket),
                **late_content(fetched, known_at_claim),
                error=None,
                error_detail=None,
                contract_version=contract.version,
            )
            retired = supersede(
                cur, contract, previous, file_id, always_refresh=True, added=added, reloaded=reload is not None
            )
            outcome = Outcome(
                db.LOADED,
                file_id=file_id,
                rows_loaded=counts.rows_loaded,
                rows_quarantined=counts.rows_rejected,
                processed_key=processed_key,
                quarantine_key=reason_key,
            )
        pending.committing = True
    # A reloaded file's objects that this load did not write again (a quarantine reason of before).
    stale = db.Retired(
        [key for key in replaced.processed_keys if key not in pending.uploads.keys(destinations.processed_bucket)],
        [key for key in replaced.quarantine_keys if key not in pending.uploads.keys(destinations.quarantine_bucket)],
    )
    if previous is not None or stale.processed_keys or stale.quarantine_keys:
        leftovers = delete_retired(s3, destinations, retired) + delete_retired(s3, destinations, stale)
        outcome = replace(outcome, superseded=previous.id if previous else None, leftovers=leftovers)
    return outcome


def late_content(fetched: FetchedObject, known_at_claim: bool) -> dict[str, Any]:
    """The ledger fields of the whole object, for `finish` when the claim came before it was all in."""
    return {} if known_at_claim else {"content_sha256": fetched.sha256, "size_bytes": fetched.size}


def loaded_duplicate(cur: db.Cursor, contract: Contract, fetched: FetchedObject, file_id: int) -> int | None:
    """The loaded file of the dataset with the same bytes, if any. The content lock (until COMMIT)
    makes a concurrent load of the same bytes wait here until this one committed or rolled back."""
    db.lock(cur, f"content:{contract.dataset}:{fetched.sha256}")
    return db.find_loaded_duplicate(cur, contract.dataset, fetched.sha256, file_id)


def stream_into(
    cur: db.Cursor,
    contract: Contract,
    download: s3io.Download,
    ref: S3ObjectRef,
    outputs: transform.Outputs,
    rejections: transform.RejectionsFile,
    file_id: int,
    limit: int,
    destinations: Destinations,
) -> tuple[Counts, Counter | None]:
    """Check the spooled file chunk by chunk: good rows COPYed and written to the outputs,
    rejections to the rejections file. Returns the counts and, for a summary the loader counts
    itself (tables.counted_keys), what the rows add to it."""
    counted = tables.counted_keys(contract) is not None
    added: Counter = Counter()
    with db.copying(cur, contract, file_id) as copy, download.open() as source:

        def load_chunk(good) -> None:
            table = transform.to_arrow(good, contract)
            copy(table)
            outputs.write(good, table)
            if counted:
                added.update(db.summary_counts(table, contract))

        counts = check_file(
            source,
            ref.key,
            contract,
            load_chunk,
            rejections.write,
            chunk_chars=destinations.chunk_chars,
            max_bytes=limit,
        )
    return counts, added if counted else None


def supersede(
    cur: db.Cursor,
    contract: Contract,
    previous: db.KeyVersion | None,
    file_id: int,
    always_refresh: bool = False,
    added: Counter | None = None,
    reloaded: bool = False,
) -> db.Retired:
    """Take the key's previous version (if any) out of the tables (db.supersede), then bring the
    summary up to date: after a load always (`added`: the loader's counts of its rows, when it
    keeps them), after a duplicate when rows left. `reloaded`: the file's own previous rows left
    the table (db.reclaim). Returns the previous version's objects, to delete after COMMIT."""
    retired = db.supersede(cur, contract, previous.id, file_id) if previous is not None else db.Retired([], [])
    if always_refresh or previous is not None:
        db.refresh_summary(cur, contract, file_id, added, previous is not None or reloaded)
    return retired


def delete_retired(s3: Any, destinations: Destinations, retired: db.Retired) -> tuple[str, ...]:
    """Delete a superseded version's objects (after COMMIT: the ledger no longer names them); the
    s3:// URIs that could not be deleted, for the handler to report (`tidewater doctor` removes them
    later)."""
    left = []
    for bucket, keys in (
        (destinations.processed_bucket, retired.processed_keys),
        (destinations.quarantine_bucket, retired.quarantine_keys),
    ):
        left += [s3io.uri(bucket, key) for key in keys if not s3io.delete(s3, bucket, key)]
    return tuple(left)


def write_quarantine(
    uploads: s3io.Uploads,
    destinations: Destinations,
    ref: S3ObjectRef,
    entry: db.LedgerEntry,
    code: str,
    detail: str,
    counts: Counts | None,
    rejections: transform.RejectionsFile | None,
) -> str:
    """`<source key>/reason.json`, plus `<source key>/rejected_rows.csv` when rows were rejected."""
    extra: dict[str, Any] = {}
    if counts is not None:
        extra = {
            "rows_total": counts.rows_total,
            "rows_loaded": counts.rows_loaded,
            "rows_rejected": counts.rows_rejected,
        }
        if rejections is not None and rejections.path.exists():
            rows_key = transform.quarantine_key(ref.key, transform.REJECTED_ROWS_NAME)
            uploads.put_file(destinations.quarantine_bucket, rows_key, rejections.path, "text/csv")
            extra["rejected_rows_key"] = rows_key
            extra.update(rejections.summary())
    source = {**ref.describe(), "sha256": entry.content_sha256, "size_bytes": entry.size_bytes}
    reason_key = transform.quarantine_key(ref.key, transform.REASON_NAME)
    document = transform.reason_document(code, detail, source, **extra)
    uploads.put_bytes(destinations.quarantine_bucket, reason_key, document, "application/json")
    return reason_key
