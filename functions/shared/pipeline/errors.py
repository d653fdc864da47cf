"""The one exception that means "this file is bad data", as opposed to an infrastructure failure.

Anything raised that is not a FileRejected (S3 errors, database errors) propagates out of the
record handler so SQS redelivers the message and, after maxReceiveCount, moves it to the DLQ.
A FileRejected never does: retrying cannot fix the bytes, so the file is quarantined instead.
"""

from __future__ import annotations

# Machine-readable reason codes written to reason.json and to ingested_files.error.
UNKNOWN_DATASET = "unknown_dataset"
OBJECT_MISSING = "object_missing"
TOO_LARGE = "too_large"
EMPTY_FILE = "empty_file"
UNPARSEABLE = "unparseable"
MISSING_COLUMNS = "missing_columns"
DUPLICATE_COLUMNS = "duplicate_columns"
NO_VALID_ROWS = "no_valid_rows"
# Not a file-level failure: written to reason.json when some rows loaded and some were rejected.
REJECTED_ROWS = "rejected_rows"


class FileRejected(Exception):
    """The whole file cannot be loaded; `code` is one of the reason codes above."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
