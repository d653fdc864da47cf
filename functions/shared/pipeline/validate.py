"""Check parsed chunks against a contract: typed good rows, and one rejection per bad value.

A row with any bad value is rejected whole (its other values are not loaded); each bad value is
reported separately with its `row_number`, column, reason code and value, so a user can fix every
problem of a file in one pass. Chunks are checked one at a time (`check_file` streams a whole file
through callbacks); `validate_bytes` collects everything in memory for small files and tests.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

from pipeline.contracts import DATE, FLOAT, INT, STR, TIMESTAMP, Column, Contract
from pipeline.errors import (
    BAD_DATE,
    BAD_TIMESTAMP,
    MISSING_VALUE,
    NO_VALID_ROWS,
    NOT_A_NUMBER,
    NOT_ALLOWED,
    NOT_AN_INTEGER,
    OUT_OF_RANGE,
    FileRejected,
)
from pipeline.parse import CHUNK_CHARS, MAX_VALUE_CHARS, UNSTORABLE, RawChunk, read_chunks

REJECTION_COLUMNS = ["row_number", "column", "reason", "value", "detail"]
PANDAS_DTYPES = {FLOAT: "float64", INT: "Int64", STR: "string", TIMESTAMP: "datetime64[us, UTC]", DATE: "object"}
# PostgreSQL `integer`: a whole number outside it is out of range rather than a failed COPY.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class ChunkResult:
    """`good`: typed output columns indexed by row_number; `rejected`: REJECTION_COLUMNS by row."""

    good: pd.DataFrame
    rejected: pd.DataFrame
    rows_total: int

    @property
    def rows_rejected(self) -> int:
        return self.rows_total - len(self.good)


@dataclass
class Counts:
    rows_total: int = 0
    rows_loaded: int = 0

    @property
    def rows_rejected(self) -> int:
        return self.rows_total - self.rows_loaded


@dataclass(frozen=True)
class Validation(ChunkResult):
    """A whole file's ChunkResult (validate_bytes)."""


class NoValidRows(FileRejected):
    """Every row was rejected; carries the counts (and, from validate_bytes, the rejections)."""

    def __init__(self, counts: Counts, validation: Validation | None = None) -> None:
        super().__init__(NO_VALID_ROWS, f"all {counts.rows_total} data rows failed validation")
        self.counts = counts
        self.validation = validation


def empty_rejections() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in REJECTION_COLUMNS})


def check_file(
    binary: BinaryIO,
    key: str,
    contract: Contract,
    on_good: Callable[[pd.DataFrame], None],
    on_rejected: Callable[[pd.DataFrame], None],
    chunk_chars: int = CHUNK_CHARS,
) -> Counts:
    """Stream a file through the contract chunk by chunk; raises FileRejected for the file as a whole
    (NoValidRows when no row survives), possibly after callbacks for earlier chunks have run."""
    counts = Counts()
    for chunk in read_chunks(binary, key, contract, chunk_chars):
        result = validate_chunk(chunk, contract)
        counts.rows_total += result.rows_total
        counts.rows_loaded += len(result.good)
        if not result.rejected.empty:
            on_rejected(result.rejected)
        if not result.good.empty:
            on_good(result.good)
    if counts.rows_loaded == 0:
        raise NoValidRows(counts)
    return counts


def validate_bytes(data: bytes, key: str, contract: Contract, chunk_chars: int = CHUNK_CHARS) -> Validation:
    """check_file for bytes in memory, collecting the good rows and rejections of every chunk."""
    goods: list[pd.DataFrame] = []
    rejections: list[pd.DataFrame] = []
    try:
        counts = check_file(io.BytesIO(data), key, contract, goods.append, rejections.append, chunk_chars)
    except NoValidRows as exc:
        rows_total = exc.counts.rows_total
        validation = Validation(good=empty_good(contract), rejected=combine(rejections), rows_total=rows_total)
        raise NoValidRows(exc.counts, validation) from None
    good = pd.concat(goods) if len(goods) > 1 else goods[0]
    return Validation(good=good, rejected=combine(rejections), rows_total=counts.rows_total)


def validate_chunk(chunk: RawChunk, contract: Contract) -> ChunkResult:
    """Type and check every value of a chunk."""
    index = pd.Index(chunk.rows, name="row_number", dtype="int64")
    typed: dict[str, pd.Series] = {}
    problems = [pd.DataFrame(chunk.rejections, columns=REJECTION_COLUMNS)] if chunk.rejections else []
    for column in contract.columns:
        raw = pd.Series(chunk.values[column.name], index=index, dtype="object")
        values, column_problems = check_column(raw, column)
        typed[column.name] = values
        problems.append(column_problems)
    if contract.extras_column:
        typed[contract.extras_column] = pd.Series(chunk.values[contract.extras_column], index=index, dtype="object")
    rejected = combine(problems)
    good = pd.DataFrame(typed, index=index).loc[~index.isin(rejected["row_number"])]
    return ChunkResult(good=as_output_types(good, contract), rejected=rejected, rows_total=chunk.rows_total)


def as_output_types(good: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    dtypes = {column.name: PANDAS_DTYPES[column.kind] for column in contract.columns}
    if contract.extras_column:
        dtypes[contract.extras_column] = "string"
    return good.astype(dtypes)


def empty_good(contract: Contract) -> pd.DataFrame:
    index = pd.Index([], name="row_number", dtype="int64")
    return as_output_types(pd.DataFrame({name: [] for name in contract.output_columns}, index=index), contract)


def check_column(raw: pd.Series, column: Column) -> tuple[pd.Series, pd.DataFrame]:
    """The column's typed values (bad ones are NaN/NaT) and its rejections.

    `raw` holds text ("" when missing) or None for a value the parser already rejected (wrong_type),
    which gets no second reason here.
    """
    rejected_before = raw.isna()
    text = raw.where(~rejected_before, "").astype("object")
    empty = text == ""
    reasons = pd.Series(None, index=raw.index, dtype="object")
    details = pd.Series(None, index=raw.index, dtype="object")
    if not column.nullable:
        reasons[empty & ~rejected_before] = MISSING_VALUE
        details[empty & ~rejected_before] = "a value is required"
    present = ~empty & ~rejected_before
    if column.kind == STR:
        values = text.where(present)
        checks = [(text.str.contains(UNSTORABLE), NOT_ALLOWED, "contains a NUL character or a lone surrogate")]
        if column.allowed is not None:
            allowed = ", ".join(sorted(column.allowed))
            checks.append((~text.isin(column.allowed), NOT_ALLOWED, f"not one of the allowed values: {allowed}"))
    elif column.kind == TIMESTAMP:
        values = pd.to_datetime(text.where(present), utc=True, format="ISO8601", errors="coerce")
        checks = [(values.isna(), BAD_TIMESTAMP, "not an ISO 8601 timestamp (e.g. 2025-01-01T08:00:00Z)")]
    elif column.kind == DATE:
        parsed = pd.to_datetime(text.where(present), format="%Y-%m-%d", errors="coerce")
        values = parsed.dt.date.where(parsed.notna(), None)
        checks = [(parsed.isna(), BAD_DATE, "not a date in the form YYYY-MM-DD")]
    else:
        values = pd.to_numeric(text.where(present), errors="coerce").astype("float64")
        checks = numeric_checks(values, column)
    # Later checks only apply where earlier ones passed, so each value gets its most basic problem.
    for failed, reason, detail in checks:
        hit = present & reasons.isna() & failed
        reasons[hit] = reason
        details[hit] = detail
    bad = reasons.notna()
    return values.where(~bad & ~rejected_before), rejections(text[bad], column.name, reasons[bad], details[bad])


def numeric_checks(values: pd.Series, column: Column) -> list[tuple[pd.Series, str, str]]:
    checks: list[tuple[pd.Series, str, str]] = [
        (values.isna(), NOT_A_NUMBER, "not a number"),
        (~np.isfinite(values), NOT_A_NUMBER, "not a finite number"),
    ]
    low, high = column.min, column.max
    if column.kind == INT:
        checks.append((values != values.round(), NOT_AN_INTEGER, "not a whole number"))
        low = INT_MIN if low is None else max(low, INT_MIN)
        high = INT_MAX if high is None else min(high, INT_MAX)
    if low is not None:
        checks.append((values < low, OUT_OF_RANGE, f"below the minimum {low:g}"))
    if high is not None:
        checks.append((values > high, OUT_OF_RANGE, f"above the maximum {high:g}"))
    if column.greater_than is not None:
        checks.append((values <= column.greater_than, OUT_OF_RANGE, f"must be greater than {column.greater_than:g}"))
    return checks


def rejections(text: pd.Series, column: str, reasons: pd.Series, details: pd.Series) -> pd.DataFrame:
    if text.empty:
        return empty_rejections()
    return pd.DataFrame(
        {
            "row_number": text.index.to_numpy(),
            "column": column,
            "reason": reasons.to_numpy(),
            "value": text.str.slice(0, MAX_VALUE_CHARS).to_numpy(),
            "detail": details.to_numpy(),
        }
    )


def combine(problems: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [frame for frame in problems if not frame.empty]
    if not non_empty:
        return empty_rejections()
    combined = pd.concat(non_empty, ignore_index=True)[REJECTION_COLUMNS]
    combined["row_number"] = combined["row_number"].astype("int64")
    # Stable sort keeps the parser's rejections first, then the contract's column order within a row.
    return combined.sort_values("row_number", kind="stable", ignore_index=True)
