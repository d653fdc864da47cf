"""What the database tests share: an in-memory versioned S3, S3 events for it, a query helper."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError
from pipeline.events import S3ObjectRef
from pipeline.ingest import Destinations

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"
DESTINATIONS = Destinations(processed_bucket="processed", quarantine_bucket="quarantine")
EVENT_TIME = datetime(2025, 11, 20, 8, 15, tzinfo=UTC)


class MemoryS3:
    """Just enough of a versioned S3 client for ingest_object: the current bytes of each object in
    `objects`, every version in `versions`; thread-safe enough."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.versions: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
        self.fail_puts_to: str | None = None
        self.fail_deletes = False
        self.counter = itertools.count(1)

    def get_object(self, Bucket, Key, VersionId=None):  # noqa: N803 - boto3's names
        versions = dict(self.versions.get((Bucket, Key), []))
        data = versions[VersionId] if VersionId in versions else self.objects[(Bucket, Key)]
        return {"Body": _Body(data), "ETag": f'"{hashlib.md5(data).hexdigest()}"'}

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803
        if Bucket == self.fail_puts_to:
            raise RuntimeError(f"simulated failure writing to {Bucket}")
        version_id = f"v{next(self.counter)}"
        self.versions.setdefault((Bucket, Key), []).append((version_id, Body))
        self.objects[(Bucket, Key)] = Body
        return {"VersionId": version_id}

    def delete_object(self, Bucket, Key, VersionId=None):  # noqa: N803
        if self.fail_deletes:
            raise ClientError({"Error": {"Code": "InternalError"}}, "DeleteObject")
        versions = self.versions.get((Bucket, Key), [])
        if VersionId is None:  # a delete marker: the object is gone, its versions stay
            self.objects.pop((Bucket, Key), None)
            return {}
        versions[:] = [(version, data) for version, data in versions if version != VersionId]
        if versions:
            self.objects[(Bucket, Key)] = versions[-1][1]
        else:
            self.objects.pop((Bucket, Key), None)
        return {}

    def keys(self, bucket: str) -> set[str]:
        return {key for written_bucket, key in self.objects if written_bucket == bucket}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_chunks(self, size: int):
        yield from (self.data[i : i + size] for i in range(0, len(self.data), size))


def upload(
    s3: MemoryS3, key: str, data: bytes, version_id: str | None = None, event_time: datetime = EVENT_TIME
) -> S3ObjectRef:
    """Put raw bytes under `key` (as `version_id` when given) and return the S3 event that announces them."""
    s3.objects[("raw", key)] = data
    if version_id:
        s3.versions.setdefault(("raw", key), []).append((version_id, data))
    return S3ObjectRef(
        bucket="raw",
        key=key,
        event_name="ObjectCreated:Put",
        event_time=event_time,
        etag=hashlib.md5(data).hexdigest(),
        version_id=version_id,
        size=len(data),
    )


def query(conn, statement: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()
