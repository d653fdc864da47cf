"""`tidewater upload` and `tidewater wait`: put files into the raw bucket, then wait for the ledger."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tidewater.aws import Pipeline

FINAL_STATUSES = ("loaded", "duplicate", "quarantined", "superseded")


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str  # S3 VersionId, or the ETag when the bucket is unversioned (the ledger's key)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"{path}: no such file or directory")
    return found


def key_for(path: Path, dataset: str | None) -> str:
    """`<dataset>/<file name>`; without --dataset the file's parent folder names the dataset
    (seed_data/housing/x.csv -> housing/x.csv)."""
    dataset = dataset or path.resolve().parent.name
    return f"{dataset}/{path.name}"


def upload(pipeline: Pipeline, paths: list[Path], dataset: str | None, uploads_log: Path) -> list[Upload]:
    s3 = pipeline.client("s3")
    bucket = pipeline.outputs["raw_bucket"]
    done = []
    with uploads_log.open("a") as log:
        for path in _files(paths):
            key = key_for(path, dataset)
            with path.open("rb") as body:
                response = s3.put_object(Bucket=bucket, Key=key, Body=body)
            item = Upload(bucket, key, response.get("VersionId") or response["ETag"].strip('"'))
            log.write(json.dumps(asdict(item)) + "\n")
            done.append(item)
            print(f"uploaded {path} -> s3://{bucket}/{key} ({path.stat().st_size:,} bytes)")
    return done


def pending_uploads(uploads_log: Path) -> list[Upload]:
    if not uploads_log.exists():
        return []
    return [Upload(**json.loads(line)) for line in uploads_log.read_text().splitlines() if line.strip()]


def finished(pipeline: Pipeline, uploads: list[Upload]) -> set[Upload]:
    """The uploads whose object version already has a final ledger status (one query per poll)."""
    if not uploads:
        return set()
    rows = pipeline.query(
        "SELECT bucket, s3_key, version_id FROM ingested_files WHERE s3_key = ANY(%s) AND status = ANY(%s)",
        (sorted({u.key for u in uploads}), list(FINAL_STATUSES)),
    )
    return {Upload(*row) for row in rows}


def wait(pipeline: Pipeline, uploads_log: Path, timeout: float, interval: float = 0.5) -> bool:
    """Until the ingest queue is drained and every uploaded object has a final ledger status.

    Returns False on timeout or when messages landed in the DLQ, after saying which files are stuck.
    """
    outstanding = pending_uploads(uploads_log)
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last_report = 0.0
    while True:
        done = finished(pipeline, outstanding)
        outstanding = [u for u in outstanding if u not in done]
        visible, in_flight = pipeline.queue_depth(pipeline.outputs["ingest_queue_url"])
        dlq_visible, dlq_in_flight = pipeline.queue_depth(pipeline.outputs["dlq_url"])
        if not outstanding and visible == 0 and in_flight == 0:
            uploads_log.unlink(missing_ok=True)
            print(f"all files processed in {time.monotonic() - started:.1f}s")
            return True
        if dlq_visible + dlq_in_flight and visible == 0 and in_flight == 0:
            print(f"{dlq_visible + dlq_in_flight} message(s) in the dead-letter queue; still waiting for: "
                  + ", ".join(u.key for u in outstanding), file=sys.stderr)  # fmt: skip
            return False
        if time.monotonic() > deadline:
            print(f"timed out after {timeout:.0f}s; queue: {visible} waiting, {in_flight} in flight; "
                  f"not yet in the ledger: {', '.join(u.key for u in outstanding) or 'none'}",
                  file=sys.stderr)  # fmt: skip
            return False
        if time.monotonic() - last_report > 5:
            print(f"waiting: {len(outstanding)} file(s) not final, queue {visible} waiting / {in_flight} in flight",
                  file=sys.stderr, flush=True)  # fmt: skip
            last_report = time.monotonic()
        time.sleep(interval)
