"""The dead-letter queue: what is in it (`status`) and moving it back (`replay-dlq`).

Only infrastructure failures reach the DLQ (data problems are quarantined), so replaying after the
cause is fixed is safe: the processor's ledger makes a file that did load in the meantime a no-op.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote_plus

from tidewater.aws import Pipeline


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    @property
    def keys(self) -> list[str]:
        """The raw object keys the message is about (decoded), or its body's start if not an S3 event."""
        try:
            records = json.loads(self.body).get("Records", [])
            return [unquote_plus(r["s3"]["object"]["key"]) for r in records]
        except (ValueError, AttributeError, KeyError, TypeError):
            return [f"<not an S3 event: {self.body[:60]!r}>"]


def peek(pipeline: Pipeline, hold_seconds: int = 0, limit: int = 10_000) -> list[DeadLetter]:
    """Every message in the DLQ. With hold_seconds=0 they stay visible for the next reader."""
    sqs = pipeline.client("sqs")
    url = pipeline.outputs["dlq_url"]
    seen: dict[str, DeadLetter] = {}
    empty_rounds = 0
    while len(seen) < limit and empty_rounds < 2:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=hold_seconds, WaitTimeSeconds=0,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])  # fmt: skip
        new = [m for m in batch if m["MessageId"] not in seen]
        empty_rounds = 0 if new else empty_rounds + 1
        for m in new:
            seen[m["MessageId"]] = DeadLetter(
                m["MessageId"], m["ReceiptHandle"], m["Body"], int(m["Attributes"]["ApproximateReceiveCount"])
            )
    return list(seen.values())


def counts_by_dataset(letters: list[DeadLetter]) -> Counter:
    return Counter(key.split("/", 1)[0] for letter in letters for key in letter.keys)


def replay(pipeline: Pipeline, dry_run: bool = False) -> list[DeadLetter]:
    """Move every DLQ message back to the ingest queue (send, then delete: at-least-once, and the
    ledger makes a duplicate harmless). With dry_run, only list what would move."""
    letters = peek(pipeline, hold_seconds=0 if dry_run else 120)
    if dry_run:
        return letters
    sqs = pipeline.client("sqs")
    for letter in letters:
        sqs.send_message(QueueUrl=pipeline.outputs["ingest_queue_url"], MessageBody=letter.body)
        sqs.delete_message(QueueUrl=pipeline.outputs["dlq_url"], ReceiptHandle=letter.receipt_handle)
    return letters


def describe(letters: list[DeadLetter], dry_run: bool) -> str:
    if not letters:
        return "the dead-letter queue is empty: nothing to replay"
    verb = "would move" if dry_run else "moved"
    lines = [f"{verb} {len(letters)} message(s) from the dead-letter queue to the ingest queue:"]
    for letter in letters:
        lines.append(f"  {', '.join(letter.keys)}  (received {letter.receive_count}x)")
    if not dry_run:
        lines.append("run `tidewater wait` to follow them; files that loaded in the meantime are no-ops")
    return "\n".join(lines)
