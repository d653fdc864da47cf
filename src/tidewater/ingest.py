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


@dataclass(frozen=True)
class PlannedUpload:
    path: Path
    key: str


def plan_uploads(paths: list[Path], dataset: str | None) -> list[PlannedUpload]:
    """The key of every file to upload.

    A file argument goes to `<dataset>/<file name>`, the dataset being --dataset or the file's parent
    folder (seed_data/housing/x.csv -> housing/x.csv). A folder argument contributes every file below
    it, hidden files and folders (`.git/`, `.DS_Store`) left out, under its path below the folder,
    prefixed by the dataset: --dataset; else the folder's own name when files lie directly in it
    (`upload seed_data/housing` -> housing/x.csv, housing/jan/y.csv); else - a folder of dataset
    folders - the first folder under it (`upload seed_data` -> housing/x.csv, events/e.csv). Nested
    folders stay in the key: never jan/y.csv for seed_data/housing/jan/y.csv.
    """
    planned: list[PlannedUpload] = []
    for path in paths:
        if path.is_file():
            planned.append(PlannedUpload(path, f"{dataset or path.resolve().parent.name}/{path.name}"))
        elif path.is_dir():
            root = path.resolve()
            found = [
                (file, file.relative_to(root).parts)
                for file in sorted(p for p in root.rglob("*") if p.is_file())
                if not any(part.startswith(".") for part in file.relative_to(root).parts)
            ]
            is_dataset_folder = any(len(parts) == 1 for _, parts in found)
            prefix = (dataset,) if dataset else (root.name,) if is_dataset_folder else ()
            planned += [PlannedUpload(file, "/".join((*prefix, *parts))) for file, parts in found]
        else:
            raise SystemExit(f"{path}: no such file or directory")
    return planned


def describe_plan(planned: list[PlannedUpload], bucket: str, verb: str = "uploading") -> str:
    """One line: how many files and bytes go where, by dataset."""
    by_dataset: dict[str, int] = {}
    for item in planned:
        by_dataset[item.key.partition("/")[0]] = by_dataset.get(item.key.partition("/")[0], 0) + 1
    size = sum(item.path.stat().st_size for item in planned)
    datasets = ", ".join(f"{name}/ ({count})" for name, count in sorted(by_dataset.items()))
    return f"{verb} {len(planned)} file(s), {size:,} bytes, to s3://{bucket}/ as {datasets}"


def check_datasets(planned: list[PlannedUpload], datasets: list[str]) -> None:
    """Refuse, before anything is uploaded, keys whose first segment names no dataset: the processor
    would only quarantine them as unknown_dataset."""
    unknown = sorted({item.key.partition("/")[0] for item in planned} - set(datasets))
    if not unknown:
        return
    examples = [item for item in planned if item.key.partition("/")[0] in unknown][:3]
    shown = ", ".join(f"{item.path} -> {item.key}" for item in examples)
    raise SystemExit(
        f"No dataset named {', '.join(repr(name) for name in unknown)}: the first part of a key names the dataset "
        f"({shown}). The datasets are: {', '.join(datasets)}. Put the files in a folder named after their "
        "dataset, or say which one with --dataset NAME. Nothing was uploaded."
    )


def upload(
    pipeline: Pipeline,
    paths: list[Path],
    dataset: str | None,
    uploads_log: Path,
    datasets: list[str],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[Upload]:
    bucket = pipeline.outputs["raw_bucket"]
    planned = plan_uploads(paths, dataset)
    if not planned:
        raise SystemExit(f"nothing to upload: no files (hidden ones are left out) in {', '.join(map(str, paths))}")
    check_datasets(planned, datasets)
    print(describe_plan(planned, bucket, "would upload" if dry_run else "uploading"))
    if dry_run:
        for item in planned:
            print(f"  {item.path} -> s3://{bucket}/{item.key} ({item.path.stat().st_size:,} bytes)")
        return []
    progress = progress or Progress.for_terminal(sys.stderr, sum(item.path.stat().st_size for item in planned),
                                                 len(planned))  # fmt: skip
    s3 = pipeline.client("s3")
    done = []
    with uploads_log.open("a") as log:
        for item in planned:
            with item.path.open("rb") as body:
                response = s3.put_object(Bucket=bucket, Key=item.key, Body=ProgressReader(body, progress))
            record = Upload(bucket, item.key, response.get("VersionId") or response["ETag"].strip('"'))
            log.write(json.dumps(asdict(record)) + "\n")
            done.append(record)
            progress.file_done()
            progress.say(f"uploaded {item.path} -> s3://{bucket}/{item.key} ({item.path.stat().st_size:,} bytes)")
    progress.finish()
    return done


class Progress:
    """Bytes and files uploaded so far, redrawn on one line - on a terminal only (in a pipe or a log
    it draws nothing, and the per-file lines stay as they are)."""

    def __init__(self, stream, total_bytes: int, total_files: int, live: bool) -> None:
        self.stream, self.total_bytes, self.total_files, self.live = stream, total_bytes, total_files, live
        self.bytes = self.files = 0
        self.drawn_at = 0.0

    @classmethod
    def for_terminal(cls, stream, total_bytes: int, total_files: int) -> Progress:
        return cls(stream, total_bytes, total_files, live=stream.isatty())

    def add(self, count: int) -> None:
        self.bytes += count
        if self.live and time.monotonic() - self.drawn_at > 0.1:
            self.draw()

    def file_done(self) -> None:
        self.files += 1

    def draw(self) -> None:
        share = self.bytes / self.total_bytes if self.total_bytes else 1.0
        bar = "#" * int(share * 30)
        self.stream.write(f"\r[{bar:<30}] {share:4.0%}  {self.bytes:,}/{self.total_bytes:,} bytes, "
                          f"{self.files}/{self.total_files} files")  # fmt: skip
        self.stream.flush()
        self.drawn_at = time.monotonic()

    def say(self, line: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")  # clear the bar, print the line, draw the bar below it again
        print(line, flush=True)
        if self.live:
            self.draw()

    def finish(self) -> None:
        if self.live:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()


class ProgressReader:
    """A file object that reports how far it has been read (boto3 reads the body in blocks, and may read
    it twice: once for its checksum - only bytes beyond the furthest point so far count)."""

    def __init__(self, body, progress: Progress) -> None:
        self.body, self.progress = body, progress
        self.furthest = 0

    def read(self, size: int = -1) -> bytes:
        data = self.body.read(size)
        position = self.body.tell()
        if position > self.furthest:
            self.progress.add(position - self.furthest)
            self.furthest = position
        return data

    def __getattr__(self, name: str):  # seek, tell, ... as the file has them
        return getattr(self.body, name)


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
