"""The one exception that means "this file is bad data", as opposed to an infrastructure failure,
and every machine-readable reason code tidewater writes (docs/datasets.md lists them for users).

Anything raised that is not a FileRejected (S3 errors, database errors) propagates out of the
record handler so SQS redelivers the message and, after maxReceiveCount, moves it to the DLQ.
A FileRejected never does: retrying cannot fix the bytes, so the file is quarantined instead.
"""

from __future__ import annotations

import re

# Characters PostgreSQL text/jsonb cannot hold (and UTF-8 cannot encode, for lone surrogates): NUL,
# and lone surrogates (only JSON escapes make them).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DETAIL_CHARS = 1000  # a reason's words, in the ledger and reason.json

# --- file-level reasons: reason.json and ingested_files.error of a `quarantined` file ------------
UNKNOWN_DATASET = "unknown_dataset"  # the key's first segment names no contract
UNSUPPORTED_FORMAT = "unsupported_format"  # an extension tidewater does not read
OBJECT_MISSING = "object_missing"  # deleted before it was processed
TOO_LARGE = "too_large"  # larger than the safety limit (MAX_OBJECT_BYTES / free space in /tmp)
EMPTY_FILE = "empty_file"  # 0 bytes, or only whitespace / a byte-order mark
HEADER_ONLY = "header_only"  # a CSV header without data rows, or a JSON `[]`
BINARY_FILE = "binary_file"  # NUL bytes or mostly control characters: not text
BAD_ENCODING = "bad_encoding"  # not valid UTF-8 (UTF-16 included)
TRUNCATED_GZIP = "truncated_gzip"  # the gzip stream ends early or is corrupt
UNPARSEABLE = "unparseable"  # broken JSON syntax, JSON that is not an array/objects, unbalanced CSV quoting
LINE_TOO_LONG = "line_too_long"  # one line/record over MAX_RECORD_CHARS
MISSING_COLUMNS = "missing_columns"  # required columns absent from the header (CSV) or from every record (JSON)
DUPLICATE_COLUMNS = "duplicate_columns"  # a CSV header names a column twice
NO_VALID_ROWS = "no_valid_rows"  # every row was rejected (rejected_rows.csv says why)
CONTRACT_MISMATCH = "contract_mismatch"  # the dataset's table differs from its contract in a breaking way

FILE_REASONS = (
    UNKNOWN_DATASET,
    UNSUPPORTED_FORMAT,
    OBJECT_MISSING,
    TOO_LARGE,
    EMPTY_FILE,
    HEADER_ONLY,
    BINARY_FILE,
    BAD_ENCODING,
    TRUNCATED_GZIP,
    UNPARSEABLE,
    LINE_TOO_LONG,
    MISSING_COLUMNS,
    DUPLICATE_COLUMNS,
    NO_VALID_ROWS,
    CONTRACT_MISMATCH,
)

# Not a file-level failure: written to reason.json when some rows loaded and some were rejected.
REJECTED_ROWS = "rejected_rows"

# --- row-level reasons: the `reason` column of rejected_rows.csv ----------------------------------
MISSING_VALUE = "missing_value"
NOT_A_NUMBER = "not_a_number"
NOT_AN_INTEGER = "not_an_integer"
OUT_OF_RANGE = "out_of_range"
NOT_ALLOWED = "not_allowed"
BAD_TIMESTAMP = "bad_timestamp"
BAD_DATE = "bad_date"
# A CSV field-count mismatch, an NDJSON line that is not a JSON object, an array element that is not an object.
MALFORMED_ROW = "malformed_row"
WRONG_TYPE = "wrong_type"  # a JSON object/array/boolean where a scalar is required

ROW_REASONS = (
    MISSING_VALUE,
    NOT_A_NUMBER,
    NOT_AN_INTEGER,
    OUT_OF_RANGE,
    NOT_ALLOWED,
    BAD_TIMESTAMP,
    BAD_DATE,
    MALFORMED_ROW,
    WRONG_TYPE,
)


class FileRejected(Exception):
    """The whole file cannot be loaded; `code` is one of FILE_REASONS. The detail is made storable
    (it may quote the file: a key with a NUL, a header of a million characters)."""

    def __init__(self, code: str, detail: str) -> None:
        detail = storable(detail)
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def storable(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Text every store takes (PostgreSQL text, UTF-8 objects): NUL and lone surrogates written as
    `\\u0000`-style escapes, at most `limit` characters (cut with an ellipsis)."""
    if UNSTORABLE.search(text):
        text = UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
