"""Turn the bytes of a CSV object into a table of strings, or reject the file as a whole.

Every value is read as text: typing happens in validate.py, so a bad value becomes a row-level
rejection with the text the user wrote instead of a parser error for the whole file.

Row numbers: `row_number` is the 1-based data row, header excluded — the row on line
`row_number + 1` of the file (blank lines are counted, so the number matches what an editor shows).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.contracts import Contract
from pipeline.errors import DUPLICATE_COLUMNS, EMPTY_FILE, MISSING_COLUMNS, UNPARSEABLE, FileRejected

UTF8_BOM = b"\xef\xbb\xbf"
REJECTION_COLUMNS = ["row_number", "column", "value", "reason"]
MAX_VALUE_CHARS = 200  # a rejected value is echoed back for the user, not archived


@dataclass(frozen=True)
class ParsedCsv:
    """Contract columns as stripped strings, indexed by `row_number`; rows that had the wrong
    number of fields are not in `frame` but in `malformed` (a rejections frame)."""

    frame: pd.DataFrame
    malformed: pd.DataFrame

    @property
    def rows_total(self) -> int:
        return len(self.frame) + len(self.malformed)


def empty_rejections() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in REJECTION_COLUMNS})


def parse_csv(data: bytes, contract: Contract) -> ParsedCsv:
    """Parse CSV bytes for `contract`; raises FileRejected when the file cannot be used at all."""
    if not data.strip():
        raise FileRejected(EMPTY_FILE, "the object is empty")
    header = read_header(data)
    check_header(header, contract)
    table, malformed_lines = read_rows(data, header)
    frame = to_string_frame(table, malformed_lines)
    frame = drop_blank_rows(frame)
    if frame.empty and not malformed_lines:
        raise FileRejected(EMPTY_FILE, "the file has a header but no data rows")
    return ParsedCsv(frame=frame[contract.column_names], malformed=malformed_rejections(malformed_lines))


def read_header(data: bytes) -> list[str]:
    """Column names of the first line, stripped and lower-cased (`Longitude ` matches `longitude`)."""
    first_line = data.removeprefix(UTF8_BOM).split(b"\n", 1)[0]
    try:
        text = first_line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise FileRejected(UNPARSEABLE, f"the header is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [name.strip().lower() for name in next(csv.reader([text]), [])]


def check_header(header: list[str], contract: Contract) -> None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FileRejected(DUPLICATE_COLUMNS, f"columns appear more than once: {', '.join(duplicates)}")
    missing = [name for name in contract.column_names if name not in header]
    if missing:
        raise FileRejected(
            MISSING_COLUMNS,
            f"missing required columns: {', '.join(missing)}; the header has: {', '.join(header) or '(nothing)'}",
        )


def read_rows(data: bytes, header: list[str]) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """All rows as strings, plus (row_number, text, problem) for rows with the wrong number of fields."""
    malformed: list[tuple[int, str, str]] = []

    def skip_malformed(row: pacsv.InvalidRow) -> str:
        # pyarrow reports the physical line (header = line 1) when it reads single-threaded.
        row_number = row.number - 1 if row.number is not None else -1
        problem = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        malformed.append((row_number, row.text[:MAX_VALUE_CHARS], problem))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            # Single-threaded so the invalid-row handler learns line numbers; still ~10x faster than needed.
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            # Blank lines stay rows so that row positions equal line numbers; they are dropped later.
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip_malformed, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise FileRejected(UNPARSEABLE, f"not a readable CSV file: {exc}") from None
    return table, malformed


def to_string_frame(table: pa.Table, malformed_lines: list[tuple[int, str, str]]) -> pd.DataFrame:
    """The table as stripped strings indexed by row_number, skipping the numbers of malformed rows."""
    frame = table.to_pandas()
    skipped = {number for number, _, _ in malformed_lines}
    numbers = (number for number in range(1, len(frame) + len(skipped) + 1) if number not in skipped)
    frame.index = pd.Index(list(numbers), name="row_number")
    return frame.apply(lambda column: column.str.strip())


def drop_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    # A line with nothing but separators carries no data: it is not a rejected row.
    return frame.loc[~(frame == "").all(axis=1)]


def malformed_rejections(malformed_lines: list[tuple[int, str, str]]) -> pd.DataFrame:
    if not malformed_lines:
        return empty_rejections()
    # The whole line is the value: no single column is to blame for a wrong field count.
    return pd.DataFrame(
        [(number, "", text, problem) for number, text, problem in malformed_lines], columns=REJECTION_COLUMNS
    )
