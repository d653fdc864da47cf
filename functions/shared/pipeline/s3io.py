"""S3 reads and writes. Errors other than "the object is gone" propagate: they are infrastructure.

Objects stream to and from local files in /tmp in bounded blocks: the source is spooled (and hashed)
before parsing, outputs are uploaded from the files the writers filled (multipart when large).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pipeline.errors import OBJECT_MISSING, FileRejected
from pipeline.events import S3ObjectRef, normalize_etag

CHUNK_BYTES = 1024 * 1024
MISSING_CODES = {"NoSuchKey", "NoSuchVersion", "404"}
# Files up to this size are sent with one PutObject; larger ones with a multipart upload.
SINGLE_PUT_BYTES = 16 * 1024 * 1024


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


def put_bytes(s3: Any, bucket: str, key: str, data: bytes, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def put_file(s3: Any, bucket: str, key: str, path: Path, content_type: str) -> None:
    """Upload a local file: one PutObject when small, boto3's multipart transfer when large."""
    if path.stat().st_size <= SINGLE_PUT_BYTES:
        put_bytes(s3, bucket, key, path.read_bytes(), content_type)
        return
    s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
