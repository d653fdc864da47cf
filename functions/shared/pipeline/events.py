"""Read S3 event notifications out of SQS message bodies.

One SQS message body is one S3 notification, which may carry several records. S3 also sends an
`s3:TestEvent` body when a notification is configured: it names no object and yields nothing.
Object keys arrive URL-encoded (a space is `+`): they are decoded here, once, so everything
downstream (ledger, quarantine, outputs) uses the key exactly as the user named the object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

TEST_EVENT = "s3:TestEvent"


class MalformedMessage(ValueError):
    """The message body is not an S3 event notification we can read."""


@dataclass(frozen=True)
class S3ObjectRef:
    bucket: str
    key: str  # decoded
    event_name: str
    event_time: datetime  # UTC
    etag: str | None
    version_id: str | None  # None when the bucket is not versioned
    size: int | None
    sequencer: str | None = None  # orders the events of one key (hexadecimal; not every emulator sets one)

    @property
    def dataset(self) -> str:
        """The first path segment of the key; "" for a key without a `/`."""
        head, separator, _ = self.key.partition("/")
        return head if separator else ""

    @property
    def is_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")

    @property
    def is_folder_marker(self) -> bool:
        # The S3 console creates "folders" as empty objects whose key ends with a slash.
        return self.key.endswith("/")

    @property
    def idempotency_version(self) -> str | None:
        """The version part of the ledger key: the VersionId, or the ETag when unversioned."""
        return self.version_id or self.etag

    def describe(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "event_name": self.event_name,
            "event_time": self.event_time.isoformat(),
        }


def parse_message(body: str) -> list[S3ObjectRef]:
    """Every object record of one message body ([] for the s3:TestEvent); raises MalformedMessage."""
    document = load_json(body)
    if document.get("Event") == TEST_EVENT:
        return []
    # Tolerate S3 -> SNS -> SQS fan-out: the notification is then the SNS envelope's Message.
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return parse_message(document["Message"])
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedMessage("the message body has no 'Records' list and is not an s3:TestEvent")
    return [parse_record(record) for record in records]


def load_json(body: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"the message body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedMessage("the message body is JSON but not an object")
    return document


def parse_record(record: Any) -> S3ObjectRef:
    try:
        s3 = record["s3"]
        obj = s3["object"]
        return S3ObjectRef(
            bucket=s3["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            event_name=record["eventName"],
            event_time=parse_time(record["eventTime"]),
            etag=normalize_etag(obj.get("eTag")),
            version_id=obj.get("versionId") or None,
            size=obj.get("size"),
            sequencer=obj.get("sequencer") or None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise MalformedMessage(f"an S3 record could not be read: {problem}") from exc


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalize_etag(etag: str | None) -> str | None:
    """S3 events carry the ETag bare, GetObject quoted: compare them without quotes."""
    return etag.strip('"') if etag else None
