"""What gets written, shaped from typed rows: output keys, Parquet/JSON outputs, quarantine documents.

Outputs are written incrementally to local files (one chunk at a time) and uploaded when the whole
file has been read, so a file rejected half-way leaves nothing in the processed bucket.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contracts import DATE, FLOAT, INT, JSON, PARQUET, STR, TIMESTAMP, Contract

REJECTED_ROWS_NAME = "rejected_rows.csv"
REASON_NAME = "reason.json"
ARROW_TYPES = {
    FLOAT: pa.float64(),
    INT: pa.int64(),
    STR: pa.string(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
CONTENT_TYPES = {PARQUET: "application/vnd.apache.parquet", JSON: "application/json"}


def processed_key(dataset: str, stem: str, sha256: str, day: date | datetime, extension: str = PARQUET) -> str:
    """`<dataset>/dt=YYYY-MM-DD/<file stem>-<sha256[:12]>.<extension>`.

    Deterministic for a given object, so a retried load overwrites the same key instead of adding one.
    """
    return f"{dataset}/dt={day:%Y-%m-%d}/{stem}-{sha256[:12]}.{extension}"


def quarantine_key(source_key: str, name: str) -> str:
    """Quarantine objects live under the source key, so a file's fate is found by its name."""
    return f"{source_key}/{name}"


def arrow_schema(contract: Contract) -> pa.Schema:
    """source_row, the contract's columns, then the free-form attributes as JSON text."""
    fields = [pa.field("source_row", pa.int64())]
    fields += [pa.field(column.name, ARROW_TYPES[column.kind]) for column in contract.columns]
    if contract.extras_column:
        fields.append(pa.field(contract.extras_column, pa.string()))
    return pa.schema(fields)


def to_arrow(good: pd.DataFrame, contract: Contract) -> pa.Table:
    """The good rows as Arrow, their row number (the index) as the first column, `source_row`."""
    schema = arrow_schema(contract)
    arrays = [pa.array(good.index.to_numpy(), type=pa.int64())]
    arrays += [pa.Array.from_pandas(good[field.name], type=field.type) for field in list(schema)[1:]]
    return pa.Table.from_arrays(arrays, schema=schema)


def to_parquet(good: pd.DataFrame, contract: Contract) -> bytes:
    """The good rows with their source row number as a column, Snappy-compressed Parquet."""
    buffer = io.BytesIO()
    pq.write_table(to_arrow(good, contract), buffer, compression="snappy")
    return buffer.getvalue()


def partition_dates(good: pd.DataFrame, contract: Contract) -> np.ndarray | None:
    """The UTC date (datetime64[D]) of each good row's partition column, or None when outputs use
    the event date."""
    if contract.partition_by is None:
        return None
    return good[contract.partition_by].dt.tz_localize(None).to_numpy().astype("datetime64[D]")  # UTC already


@dataclass
class Outputs:
    """The processed outputs of one file, written chunk by chunk under `workdir`, uploaded at the end.

    PARQUET: one file per partition date (the S3 event's date unless the contract partitions by a
    column). JSON: one array of the contract's `json_fields`.
    """

    contract: Contract
    stem: str
    sha256: str
    event_date: date
    workdir: Path
    writers: dict[date, pq.ParquetWriter] = field(default_factory=dict)
    json_file: Any = None
    json_rows: int = 0
    dates: set[date] = field(default_factory=set)

    def path(self, day: date) -> Path:
        return self.workdir / f"output-{day:%Y-%m-%d}.{self.contract.output}"

    def write(self, good: pd.DataFrame, table: pa.Table) -> None:
        """Append a chunk of good rows (`table`: the same rows as `to_arrow` makes them)."""
        if self.contract.output == JSON:
            self.write_json(good)
            return
        days = partition_dates(good, self.contract)
        if days is None:
            self.write_parquet(self.event_date, table)
            return
        unique = np.unique(days)
        for day in unique:
            rows = table if len(unique) == 1 else table.filter(pa.array(days == day))
            self.write_parquet(day.astype(date), rows)

    def write_parquet(self, day: date, rows: pa.Table) -> None:
        self.dates.add(day)
        writer = self.writers.get(day)
        if writer is None:
            writer = pq.ParquetWriter(self.path(day), arrow_schema(self.contract), compression="snappy")
            self.writers[day] = writer
        writer.write_table(rows)

    def write_json(self, good: pd.DataFrame) -> None:
        if self.json_file is None:
            self.dates.add(self.event_date)
            self.json_file = self.path(self.event_date).open("w", encoding="utf-8")
            self.json_file.write("[")
        fields = list(self.contract.json_fields)
        for record in good[fields].astype("object").to_dict("records"):
            self.json_file.write(("," if self.json_rows else "") + "\n" + json.dumps(record, ensure_ascii=False))
            self.json_rows += 1

    def close(self) -> dict[str, Path]:
        """Finish the local files; returns processed key -> local file, sorted by date."""
        for writer in self.writers.values():
            writer.close()
        if self.json_file is not None:
            self.json_file.write("\n]\n")
            self.json_file.close()
        return {
            processed_key(self.contract.dataset, self.stem, self.sha256, day, self.contract.output): self.path(day)
            for day in sorted(self.dates)
        }


class RejectionsFile:
    """rejected_rows.csv, appended chunk by chunk: row_number, column, reason, value, detail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0

    def write(self, rejected: pd.DataFrame) -> None:
        header = self.rows == 0
        # backslashreplace: a rejected JSON value may hold a lone surrogate, which UTF-8 cannot.
        with self.path.open("a", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            rejected.to_csv(handle, index=False, header=header, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        self.rows += len(rejected)


def rejected_rows_csv(rejected: pd.DataFrame) -> bytes:
    """row_number (1-based data row), column, reason, value, detail — one line per problem."""
    return rejected.to_csv(index=False, lineterminator="\n").encode("utf-8", errors="backslashreplace")


def reason_document(code: str, detail: str, source: dict[str, Any], **extra: Any) -> bytes:
    """The machine-readable reason.json: {"reason", "detail", "source", ...extra}."""
    document = {"reason": code, "detail": detail, "source": source, **extra}
    return json.dumps(document, indent=2, default=str).encode("utf-8")
