"""S3 reads and writes. Errors other than "the object is gone" propagate: they are infrastructure.

Objects stream to and from local files in /tmp in bounded blocks: the source is spooled (and hashed)
before parsing, outputs are uploaded from the files the writers filled (multipart when large).
`Uploads` remembers the object versions one load wrote, so a load that does not commit can delete
exactly those (an earlier version of the same key - another file's reason.json - comes back).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import OBJECT_MISSING, FileRejected
from pipeline.events import S3ObjectRef, normalize_etag

CHUNK_BYTES = 1024 * 1024
# Objects of at least this many bytes download on a thread while they are already being loaded
# (Download); smaller ones are read whole first.
BACKGROUND_BYTES = 8 * 1024 * 1024
MISSING_CODES = {"NoSuchKey", "NoSuchVersion", "404"}
# Files up to this size are sent with one PutObject; larger ones with a multipart upload of parts
# this size (S3 allows 10,000 parts: 160 GB).
SINGLE_PUT_BYTES = 16 * 1024 * 1024
PART_BYTES = SINGLE_PUT_BYTES


@dataclass(frozen=True)
class FetchedObject:
    path: Path
    sha256: str
    size: int
    etag: str | None
    version_id: str | None


def fetch_object(s3: Any, ref: S3ObjectRef, path: Path) -> FetchedObject:
    """GET the object version named by the event into `path`, hashing it while it streams in."""
    return start_download(s3, ref, path).result()


def start_download(s3: Any, ref: S3ObjectRef, path: Path) -> Download:
    """GET the object version named by the event and stream its body into `path` on a thread (see
    Download); an object that is gone raises object_missing here."""
    request = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        request["VersionId"] = ref.version_id
    try:
        response = s3.get_object(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
            # Deleted before we got to it: retrying cannot bring it back.
            raise FileRejected(OBJECT_MISSING, f"s3://{ref.bucket}/{ref.key} no longer exists") from exc
        raise
    download = Download(path, normalize_etag(response.get("ETag")), response.get("VersionId"))
    spool = path.open("wb")  # here, so that the file exists for its readers from the start
    if (response.get("ContentLength") or 0) < BACKGROUND_BYTES:
        download.pump(response["Body"], spool)  # small: in at once, nothing to overlap
    else:
        threading.Thread(target=download.pump, args=(response["Body"], spool), name="download", daemon=True).start()
    return download


class DownloadFailed(Exception):
    """The object's body could not be read to its end (its cause says why). Not an OSError, so
    that nothing reading the file takes it for damaged data (a corrupt gzip is an OSError)."""


class Download:
    """An object's body streaming into a spool file on a thread, hashed as it comes: the file can
    be read (`open`) while it grows, so parsing and loading start at once instead of after the
    whole object is in (~0.35 s for the 95 MB events file). `result()` waits for the end; what
    went wrong on the way (an S3 or disk error) is raised to readers and by `result()` as
    DownloadFailed."""

    def __init__(self, path: Path, etag: str | None, version_id: str | None) -> None:
        self.path = path
        self.etag = etag
        self.version_id = version_id
        self.changed = threading.Condition()
        self.written = 0  # bytes in the spool file so far
        self.finished = False
        self.error: BaseException | None = None
        self.cancelled = False
        self.digest = hashlib.sha256()

    def pump(self, body: Any, spool: BinaryIO) -> None:
        try:
            with spool:
                for chunk in body.iter_chunks(CHUNK_BYTES):
                    if self.cancelled:
                        break
                    self.digest.update(chunk)
                    spool.write(chunk)
                    spool.flush()  # readable through another handle from here on
                    with self.changed:
                        self.written += len(chunk)
                        self.changed.notify_all()
        except BaseException as exc:  # handed to the reader and to result()
            self.error = exc
        finally:
            with self.changed:
                self.finished = True
                self.changed.notify_all()

    @property
    def complete(self) -> bool:
        """Whether the whole object is in (and nothing went wrong)."""
        with self.changed:
            return self.finished and self.error is None and not self.cancelled

    def wait_for(self, end: int) -> int:
        """Blocks until `end` bytes are in or the download ended; the bytes in by then."""
        with self.changed:
            self.changed.wait_for(lambda: self.written >= end or self.finished)
            if self.error is not None:
                raise DownloadFailed(f"reading the object failed: {self.error}") from self.error
            if self.cancelled:
                raise DownloadFailed("the download was cancelled")
            return self.written

    def result(self) -> FetchedObject:
        self.wait_for(sys.maxsize)
        return FetchedObject(self.path, self.digest.hexdigest(), self.written, self.etag, self.version_id)

    def cancel(self) -> None:
        """Stop reading the body (after the current chunk) and wait until the file is closed."""
        self.cancelled = True
        with self.changed:
            self.changed.wait_for(lambda: self.finished)

    def open(self) -> BinaryIO:
        return io.BufferedReader(GrowingFile(self), buffer_size=CHUNK_BYTES)


class GrowingFile(io.RawIOBase):
    """The spool file of a Download, read while it is written: a read waits for bytes that are
    not in yet, and ends only at the object's end."""

    def __init__(self, download: Download) -> None:
        self.download = download
        self.file = download.path.open("rb")
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        available = self.download.wait_for(self.position + 1) - self.position
        data = os.pread(self.file.fileno(), min(len(buffer), max(available, 0)), self.position)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self.position = offset
        elif whence == io.SEEK_CUR:
            self.position += offset
        else:
            self.position = self.download.wait_for(sys.maxsize) + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self.file.close()
        super().close()


def put_bytes(s3: Any, bucket: str, key: str, data: bytes, content_type: str) -> str | None:
    """PutObject; the new version's id (None in an unversioned bucket)."""
    return s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type).get("VersionId")


def put_file(s3: Any, bucket: str, key: str, path: Path, content_type: str) -> str | None:
    """Upload a local file: one PutObject when small, a multipart upload when large; the new
    version's id."""
    if path.stat().st_size <= SINGLE_PUT_BYTES:
        return put_bytes(s3, bucket, key, path.read_bytes(), content_type)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    try:
        parts = []
        with path.open("rb") as source:
            for number in count(1):
                data = source.read(PART_BYTES)
                if not data:
                    break
                part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
                parts.append({"ETag": part["ETag"], "PartNumber": number})
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with suppress(Exception):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return done.get("VersionId")


def uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


@dataclass
class Uploads:
    """The objects one load writes, by bucket, with the versions S3 gave them."""

    s3: Any
    written: list[tuple[str, str, str | None]] = field(default_factory=list)  # bucket, key, version

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.written.append((bucket, key, put_bytes(self.s3, bucket, key, data, content_type)))

    def put_file(self, bucket: str, key: str, path: Path, content_type: str) -> None:
        self.written.append((bucket, key, put_file(self.s3, bucket, key, path, content_type)))

    def keys(self, bucket: str) -> list[str]:
        return [key for written_bucket, key, _ in self.written if written_bucket == bucket]

    def take_back(self) -> list[str]:
        """Delete every version written (in an unversioned bucket: the key); the s3:// URIs of the
        objects that could not be deleted (`tidewater doctor` finds them later)."""
        left = []
        for bucket, key, version_id in self.written:
            if not delete(self.s3, bucket, key, version_id):
                left.append(uri(bucket, key))
        self.written.clear()
        return left


def delete(s3: Any, bucket: str, key: str, version_id: str | None = None) -> bool:
    """Delete an object (one version of it, when given); False when S3 refused."""
    request = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    try:
        s3.delete_object(**request)
    except (ClientError, BotoCoreError):
        return False
    return True
