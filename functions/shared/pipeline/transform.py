"""Pure functions that shape what gets written: output keys, Parquet bytes, quarantine documents."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REJECTED_ROWS_NAME = "rejected_rows.csv"
REASON_NAME = "reason.json"


def processed_key(dataset: str, source_key: str, sha256: str, event_time: datetime) -> str:
    """`<dataset>/dt=YYYY-MM-DD/<file stem>-<sha256[:12]>.parquet`, dt being the event's UTC date.

    Deterministic for a given object, so a retried load overwrites the same key instead of adding one.
    """
    stem = PurePosixPath(source_key).stem or "object"
    return f"{dataset}/dt={event_time:%Y-%m-%d}/{stem}-{sha256[:12]}.parquet"


def quarantine_key(source_key: str, name: str) -> str:
    """Quarantine objects live under the source key, so a file's fate is found by its name."""
    return f"{source_key}/{name}"


def to_parquet(good: pd.DataFrame) -> bytes:
    """The good rows with their source row number as a column, Snappy-compressed Parquet."""
    frame = good.reset_index().rename(columns={"row_number": "source_row"})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def rejected_rows_csv(rejected: pd.DataFrame) -> bytes:
    """row_number (1-based data row, header excluded), column, value, reason — one line per problem."""
    return rejected.to_csv(index=False).encode("utf-8")


def reason_document(code: str, detail: str, source: dict[str, Any], **extra: Any) -> bytes:
    """The machine-readable reason.json: {"reason", "detail", "source", ...extra}."""
    document = {"reason": code, "detail": detail, "source": source, **extra}
    return json.dumps(document, indent=2, default=str).encode("utf-8")
