"""S3 reads and writes. Errors other than "the object is gone" propagate: they are infrastructure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.errors import OBJECT_MISSING, FileRejected
from pipeline.events import S3ObjectRef, normalize_etag

CHUNK_BYTES = 1024 * 1024
MISSING_CODES = {"NoSuchKey", "NoSuchVersion", "404"}


@dataclass(frozen=True)
class FetchedObject:
    data: bytes
    sha256: str
    size: int
    etag: str | None
    version_id: str | None


def fetch_object(s3: Any, ref: S3ObjectRef) -> FetchedObject:
    """GET the object version named by the event, hashing it while it streams in."""
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
    chunks = []
    for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
        digest.update(chunk)
        chunks.append(chunk)
    data = b"".join(chunks)
    return FetchedObject(
        data=data,
        sha256=digest.hexdigest(),
        size=len(data),
        etag=normalize_etag(response.get("ETag")),
        version_id=response.get("VersionId"),
    )


def put_bytes(s3: Any, bucket: str, key: str, data: bytes, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
