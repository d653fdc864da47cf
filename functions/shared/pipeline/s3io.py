"""S3 reads and writes. Errors other than "the object is gone" propagate: they are infrastructure.

Objects stream to and from local files in /tmp in bounded blocks: the source is spooled (and hashed)
before parsing, outputs are uploaded from the files the writers filled (multipart when large).
`Uploads` remembers the object versions one load wrote, so a load that does not commit can delete
exactly those (an earlier version of the same key - another file's reason.json - comes back).
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import OBJECT_MISSING, FileRejected
from pipeline.events import S3ObjectRef, normalize_etag

CHUNK_BYTES = 1024 * 1024
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
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as spool:
        for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
    return FetchedObject(
        path=path,
        sha256=digest.hexdigest(),
        size=size,
        etag=normalize_etag(response.get("ETag")),
        version_id=response.get("VersionId"),
    )


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
