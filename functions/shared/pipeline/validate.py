"""Check parsed rows against a contract: typed good rows, and one rejection per bad value.

A row with any bad value is rejected whole (its other values are not loaded); each bad value is
reported separately with its `row_number` (1-based data row, header excluded), column and reason,
so a user can fix every problem of a file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.contracts import FLOAT, INT, STR, Column, Contract
from pipeline.errors import NO_VALID_ROWS, FileRejected
from pipeline.parse import MAX_VALUE_CHARS, REJECTION_COLUMNS, ParsedCsv, empty_rejections

PANDAS_DTYPES = {FLOAT: "float64", INT: "Int64", STR: "string"}


@dataclass(frozen=True)
class Validation:
    """`good` holds typed contract columns indexed by row_number; `rejected` the reasons why the
    other rows were not loaded (columns row_number, column, value, reason; sorted by row)."""

    good: pd.DataFrame
    rejected: pd.DataFrame
    rows_total: int

    @property
    def rows_rejected(self) -> int:
        return self.rows_total - len(self.good)


def validate(parsed: ParsedCsv, contract: Contract) -> Validation:
    """Type and check every value; raises FileRejected(no_valid_rows) when no row survives."""
    frame = parsed.frame
    typed: dict[str, pd.Series] = {}
    problems = [parsed.malformed]
    for column in contract.columns:
        values, column_problems = check_column(frame[column.name], column)
        typed[column.name] = values
        problems.append(column_problems)
    rejected = combine(problems)
    bad_rows = frame.index.isin(rejected["row_number"])
    good = pd.DataFrame(typed, index=frame.index).loc[~bad_rows]
    good = good.astype({c.name: PANDAS_DTYPES[c.kind] for c in contract.columns})
    validation = Validation(good=good, rejected=rejected, rows_total=parsed.rows_total)
    if good.empty:
        raise NoValidRows(validation)
    return validation


class NoValidRows(FileRejected):
    """Every row was rejected; carries the validation so its rejections can be quarantined."""

    def __init__(self, validation: Validation) -> None:
        super().__init__(NO_VALID_ROWS, f"all {validation.rows_total} data rows failed validation")
        self.validation = validation


def check_column(raw: pd.Series, column: Column) -> tuple[pd.Series, pd.DataFrame]:
    """The column's typed values (bad ones are NaN) and its rejections."""
    empty = raw == ""
    reasons = pd.Series(pd.NA, index=raw.index, dtype="object")
    if not column.nullable:
        reasons[empty] = "missing value"
    if column.kind == STR:
        values = raw.where(~empty)
        if column.allowed is not None:
            allowed = ", ".join(sorted(column.allowed))
            reasons[~empty & ~raw.isin(column.allowed)] = f"not one of the allowed values: {allowed}"
    else:
        values = pd.to_numeric(raw.where(~empty), errors="coerce").astype("float64")
        reasons = numeric_reasons(values, empty, reasons, column)
    bad = reasons.notna()
    return values.where(~bad), rejections(raw[bad], column.name, reasons[bad])


def numeric_reasons(values: pd.Series, empty: pd.Series, reasons: pd.Series, column: Column) -> pd.Series:
    # Later checks only apply where earlier ones passed, so each value gets its most basic problem.
    checks: list[tuple[pd.Series, str]] = [
        (values.isna(), "not a number"),
        (~np.isfinite(values), "not a finite number"),
    ]
    if column.kind == INT:
        checks.append((values != values.round(), "not a whole number"))
    if column.min is not None:
        checks.append((values < column.min, f"below the minimum {column.min:g}"))
    if column.max is not None:
        checks.append((values > column.max, f"above the maximum {column.max:g}"))
    if column.greater_than is not None:
        checks.append((values <= column.greater_than, f"must be greater than {column.greater_than:g}"))
    for failed, reason in checks:
        reasons[~empty & reasons.isna() & failed] = reason
    return reasons


def rejections(raw: pd.Series, column: str, reasons: pd.Series) -> pd.DataFrame:
    if raw.empty:
        return empty_rejections()
    return pd.DataFrame(
        {
            "row_number": raw.index.to_numpy(),
            "column": column,
            "value": raw.str.slice(0, MAX_VALUE_CHARS).to_numpy(),
            "reason": reasons.to_numpy(),
        }
    )


def combine(problems: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [frame for frame in problems if not frame.empty]
    if not non_empty:
        return empty_rejections()
    combined = pd.concat(non_empty, ignore_index=True)[REJECTION_COLUMNS]
    combined["row_number"] = combined["row_number"].astype("int64")
    # Stable sort keeps the contract's column order within a row.
    return combined.sort_values("row_number", kind="stable", ignore_index=True)
