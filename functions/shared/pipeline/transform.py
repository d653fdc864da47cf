"""What gets written, shaped from typed rows: output keys, Parquet/JSON outputs, quarantine documents.

Outputs are written incrementally to local files (one chunk at a time) and uploaded when the whole
file has been read, so a file rejected half-way leaves nothing in the processed bucket. What one
file may write to /tmp is bounded: at most MAX_OPEN_WRITERS Parquet files are open at once, and
rejected_rows.csv lists the first MAX_REJECTION_LINES problems (every problem is counted).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, OrderedDict
from contextlib import suppress
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
# Parquet files one file keeps open at once (an events file spanning years has one per day; a
# Lambda environment may open 1,024 files in all).
MAX_OPEN_WRITERS = 64
MAX_REJECTION_LINES = 10_000  # lines of rejected_rows.csv; reason.json counts every problem
MAX_KEY_BYTES = 1024  # S3's limit on an object key


def processed_key(
    dataset: str, stem: str, sha256: str, day: date | datetime, extension: str = PARQUET, part: int = 1
) -> str:
    """`<dataset>/dt=YYYY-MM-DD/<file stem>-<sha256[:12]>.<extension>` (part 2 and later of one date:
    `...-<sha256[:12]>-part<N>.<extension>`).

    Deterministic for a given object, so a retried load overwrites the same key instead of adding one.
    """
    suffix = f"-part{part}" if part > 1 else ""
    tail = f"-{sha256[:12]}{suffix}.{extension}"
    head = f"{dataset}/dt={day:%Y-%m-%d}/"
    # S3 keys are at most 1,024 bytes: a very long name is cut (the hash still tells files apart).
    return head + cut_to_bytes(stem, MAX_KEY_BYTES - len((head + tail).encode())) + tail


def quarantine_key(source_key: str, name: str) -> str:
    """Quarantine objects live under the source key, so a file's fate is found by its name. A source
    key too long for that (S3 keys are at most 1,024 bytes) is cut and marked with a hash of the
    whole key: `<first part of the key>~<hash>/<name>` (the ledger's quarantine_key names it)."""
    longest_name = max(len(REASON_NAME), len(REJECTED_ROWS_NAME), len(name))  # one folder for all of them
    if len(source_key.encode()) + 1 + longest_name <= MAX_KEY_BYTES:
        return f"{source_key}/{name}"
    mark = "~" + hashlib.sha256(source_key.encode()).hexdigest()[:16]
    room = MAX_KEY_BYTES - len(mark) - 1 - longest_name
    return f"{cut_to_bytes(source_key, room)}{mark}/{name}"


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 takes at most `limit` bytes (never half a character)."""
    return text.encode()[: max(limit, 0)].decode(errors="ignore")


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
    column); at most MAX_OPEN_WRITERS are open at once - a date whose file was closed to make room
    and that has more rows later goes on in a second part (`-part2`). JSON: one array of the
    contract's `json_fields`. Use as a context manager: leaving it closes every file, also on errors.
    """

    contract: Contract
    stem: str
    sha256: str
    event_date: date
    workdir: Path
    max_open_writers: int = MAX_OPEN_WRITERS
    writers: OrderedDict[date, pq.ParquetWriter] = field(default_factory=OrderedDict)  # least recent first
    parts: dict[tuple[date, int], Path] = field(default_factory=dict)  # every file written, by (date, part)
    json_file: Any = None
    json_rows: int = 0

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def path(self, day: date, part: int = 1) -> Path:
        suffix = f"-part{part}" if part > 1 else ""
        return self.workdir / f"output-{day:%Y-%m-%d}{suffix}.{self.contract.output}"

    def write(self, good: pd.DataFrame, table: pa.Table) -> None:
        """Append a chunk of good rows (`table`: the same rows as `to_arrow` makes them)."""
        if self.contract.output == JSON:
            self.write_json(good)
            return
        days = partition_dates(good, self.contract)
        if days is None:
            self.write_parquet(self.event_date, table)
            return
        if (days == days[0]).all():
            self.write_parquet(days[0].astype(date), table)
            return
        # Rows grouped by date (in file order within a date): one sort instead of a pass per date.
        order = np.argsort(days, kind="stable")
        days, table = days[order], table.take(pa.array(order))
        starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
        for start, stop in zip(starts, np.r_[starts[1:], len(days)], strict=True):
            self.write_parquet(days[start].astype(date), table.slice(start, stop - start))

    def write_parquet(self, day: date, rows: pa.Table) -> None:
        writer = self.writers.get(day)
        if writer is None:
            if len(self.writers) >= self.max_open_writers:
                _, least_recent = self.writers.popitem(last=False)
                least_recent.close()
            part = 1 + sum(1 for written_day, _ in self.parts if written_day == day)
            path = self.path(day, part)
            self.parts[(day, part)] = path
            writer = pq.ParquetWriter(path, arrow_schema(self.contract), compression="snappy")
            self.writers[day] = writer
        else:
            self.writers.move_to_end(day)
        writer.write_table(rows)

    def write_json(self, good: pd.DataFrame) -> None:
        if self.json_file is None:
            path = self.path(self.event_date)
            self.parts[(self.event_date, 1)] = path
            self.json_file = path.open("w", encoding="utf-8")
            self.json_file.write("[")
        fields = list(self.contract.json_fields)
        for record in good[fields].astype("object").to_dict("records"):
            self.json_file.write(("," if self.json_rows else "") + "\n" + json.dumps(record, ensure_ascii=False))
            self.json_rows += 1

    def close(self) -> dict[str, Path]:
        """Finish the local files; returns processed key -> local file, sorted by date and part."""
        while self.writers:
            self.writers.popitem(last=False)[1].close()
        if self.json_file is not None:
            self.json_file.write("\n]\n")
            self.json_file.close()
            self.json_file = None
        return {
            processed_key(self.contract.dataset, self.stem, self.sha256, day, self.contract.output, part): path
            for (day, part), path in sorted(self.parts.items())
        }

    def release(self) -> None:
        """Close whatever is still open without finishing it (after an error): no file stays open."""
        while self.writers:
            with suppress(Exception):
                self.writers.popitem(last=False)[1].close()
        if self.json_file is not None:
            with suppress(Exception):
                self.json_file.close()
            self.json_file = None


class RejectionsFile:
    """rejected_rows.csv, appended chunk by chunk: row_number, column, reason, value, detail - the
    first `max_lines` problems (a file with a million bad rows would otherwise write more than its
    own size to /tmp); every problem is counted by reason."""

    def __init__(self, path: Path, max_lines: int = MAX_REJECTION_LINES) -> None:
        self.path = path
        self.max_lines = max_lines
        self.rows = 0  # lines written
        self.by_reason: Counter[str] = Counter()

    def write(self, rejected: pd.DataFrame) -> None:
        self.by_reason.update(rejected["reason"].value_counts().to_dict())
        room = self.max_lines - self.rows
        if room <= 0:
            return
        listed = rejected.iloc[:room]
        header = self.rows == 0
        # backslashreplace: a rejected JSON value may hold a lone surrogate, which UTF-8 cannot.
        with self.path.open("a", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            listed.to_csv(handle, index=False, header=header, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        self.rows += len(listed)

    @property
    def problems(self) -> int:
        return sum(self.by_reason.values())

    def summary(self) -> dict[str, Any]:
        """What reason.json says of the rejections: counts by reason, and how many are listed."""
        return {
            "rejections_by_reason": dict(sorted(self.by_reason.items())),
            "rejected_rows_listed": self.rows,
            "rejected_rows_truncated": self.problems > self.rows,
        }


def rejected_rows_csv(rejected: pd.DataFrame) -> bytes:
    """row_number (1-based data row), column, reason, value, detail — one line per problem."""
    return rejected.to_csv(index=False, lineterminator="\n").encode("utf-8", errors="backslashreplace")


def reason_document(code: str, detail: str, source: dict[str, Any], **extra: Any) -> bytes:
    """The machine-readable reason.json: {"reason", "detail", "source", ...extra}."""
    document = {"reason": code, "detail": detail, "source": source, **extra}
    return json.dumps(document, indent=2, default=str).encode("utf-8")
