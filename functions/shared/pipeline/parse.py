"""Read the records of a file, in bounded chunks, as text values named by the contract's columns.

Every value is read as text: typing happens in validate.py, so a bad value becomes a row-level
rejection with the text the user wrote instead of a parser error for the whole file. A value that
is not even a scalar (a JSON object, array or boolean) is None in the chunk and already rejected.

Row numbers (`row_number`, 1-based):
- CSV: the data row, header excluded — the record that starts on line `row_number + 1` when the
  header is line 1. Blank lines are counted (so the number matches what an editor shows) but are
  not rows.
- NDJSON: the line number; blank lines are counted but are not rows.
- JSON array: the element's position in the array.

Memory: a chunk holds about `chunk_chars` characters of source text (plus one record); no reader
holds more than one chunk and one read block (formats.BLOCK_BYTES) at a time.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, BinaryIO

from pipeline.contracts import Contract
from pipeline.errors import (
    DUPLICATE_COLUMNS,
    EMPTY_FILE,
    HEADER_ONLY,
    LINE_TOO_LONG,
    MALFORMED_ROW,
    MISSING_COLUMNS,
    NOT_ALLOWED,
    UNPARSEABLE,
    WRONG_TYPE,
    FileRejected,
)
from pipeline.formats import CSV, JSON_ARRAY, TextSource, open_text, split_name

MAX_RECORD_CHARS = 1024 * 1024  # one line / record; longer is `line_too_long`
CHUNK_CHARS = 8 * 1024 * 1024  # source text per chunk
READ_CHARS = 1024 * 1024  # JSON arrays are read in blocks of this many characters
MAX_VALUE_CHARS = 200  # a rejected value is echoed back for the user, not archived
DELIMITERS = (",", ";", "\t", "|")
JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A decoding error this close to the end of what has been read may just mean "read more".
JSON_LOOKAHEAD = 10
# Values PostgreSQL text/jsonb cannot hold: NUL, and lone surrogates (only JSON escapes make them).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

csv.field_size_limit(MAX_RECORD_CHARS)


@dataclass
class RawChunk:
    """Up to `chunk_chars` of records. `values[column][i]` belongs to row `rows[i]`; it is text ("" when
    missing) or None when the value was already rejected. `rejections` holds (row_number, column,
    reason, value, detail); rows rejected whole (malformed) are in `rejections` but not in `rows`."""

    columns: list[str]
    rows: list[int] = field(default_factory=list)
    values: dict[str, list[str | None]] = field(default_factory=dict)
    rejections: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    malformed: int = 0
    chars: int = 0

    def __post_init__(self) -> None:
        self.values = {name: [] for name in self.columns}

    def add(self, row_number: int, values: dict[str, str | None]) -> None:
        self.rows.append(row_number)
        for name in self.columns:
            self.values[name].append(values[name])

    def reject(self, row_number: int, column: str, reason: str, value: Any, detail: str) -> None:
        self.rejections.append((row_number, column, reason, clip(value), detail))

    def reject_row(self, row_number: int, value: Any, detail: str) -> None:
        # The whole record is the value: no single column is to blame.
        self.reject(row_number, "", MALFORMED_ROW, value, detail)
        self.malformed += 1

    @property
    def rows_total(self) -> int:
        return len(self.rows) + self.malformed


def clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:MAX_VALUE_CHARS]


def read_chunks(binary: BinaryIO, key: str, contract: Contract, chunk_chars: int = CHUNK_CHARS) -> Iterator[RawChunk]:
    """The file's records in chunks; raises FileRejected (possibly after some chunks were yielded)."""
    _, file_format, gzip_by_name = split_name(key)
    check_not_empty(open_text(binary, gzip_by_name))
    binary.seek(0)
    text = open_text(binary, gzip_by_name)
    reader = Records(contract, chunk_chars)
    if file_format == CSV:
        yield from reader.from_csv(text)
    elif file_format == JSON_ARRAY:
        yield from reader.from_json_array(text)
    else:
        yield from reader.from_ndjson(text)


def check_not_empty(text: TextSource) -> None:
    """Raises empty_file unless the text has a non-whitespace character (reading up to it only)."""
    while block := text.read(READ_CHARS):
        if not block.isspace():
            return
    raise FileRejected(EMPTY_FILE, "the file is empty (nothing but whitespace)")


def lines_of(text: TextSource) -> Iterator[str]:
    """Physical lines (ending in \\n, \\r\\n or \\r), none longer than MAX_RECORD_CHARS."""
    number = 0
    while line := text.readline(MAX_RECORD_CHARS + 1):
        number += 1
        if len(line.rstrip("\r\n")) > MAX_RECORD_CHARS:
            raise FileRejected(LINE_TOO_LONG, f"line {number} is longer than {MAX_RECORD_CHARS} characters")
        yield line


def sniff_delimiter(header: str) -> str:
    """The candidate delimiter that occurs most often outside quotes in the header (ties: the comma)."""
    outside = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: outside.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


class Records:
    """Builds chunks from the records of one file for one contract."""

    def __init__(self, contract: Contract, chunk_chars: int) -> None:
        self.contract = contract
        self.chunk_chars = chunk_chars
        self.columns = contract.output_columns
        self.names = set(contract.column_names)
        self.rows_total = 0

    def new_chunk(self) -> RawChunk:
        return RawChunk(columns=self.columns)

    def full(self, chunk: RawChunk) -> bool:
        return chunk.chars >= self.chunk_chars

    # --- CSV ------------------------------------------------------------------------------------

    def from_csv(self, text: TextSource) -> Iterator[RawChunk]:
        lines = lines_of(text)
        header_line = next((line for line in lines if line.strip()), None)
        if header_line is None:
            raise FileRejected(EMPTY_FILE, "the file is empty (nothing but whitespace)")
        reader = csv.reader(
            chain([header_line], lines), delimiter=sniff_delimiter(header_line), skipinitialspace=True, strict=True
        )
        header = self.csv_header(csv_record(reader))
        # Without free-form attributes, well-formed rows are kept as field lists and split into
        # columns once per chunk (zip in C), which is several times faster than a dict per row.
        plain = self.contract.extras_column is None
        positions = [header.index(name) for name in self.contract.column_names]
        chunk, plain_rows = self.new_chunk(), []
        while True:
            row_number = reader.line_num  # the header is line 1 of the reader, so this is the data row
            fields = csv_record(reader)
            if fields is None:
                break
            joined = "".join(fields)
            chunk.chars += len(joined) + len(fields)
            if not joined or joined.isspace():
                continue  # a blank line, or nothing but separators: no data, not a rejected row
            if plain and len(fields) == len(header):
                self.rows_total += 1
                chunk.rows.append(row_number)
                plain_rows.append(fields)
            else:
                self.csv_row(chunk, row_number, header, fields)
            if self.full(chunk):
                yield self.with_columns(chunk, plain_rows, positions)
                chunk, plain_rows = self.new_chunk(), []
        if self.rows_total == 0:
            raise FileRejected(HEADER_ONLY, "the file has a header but no data rows")
        yield self.with_columns(chunk, plain_rows, positions)

    def with_columns(self, chunk: RawChunk, plain_rows: list[list[str]], positions: list[int]) -> RawChunk:
        if plain_rows:
            columns = list(zip(*plain_rows, strict=True))
            for name, position in zip(self.contract.column_names, positions, strict=True):
                chunk.values[name] = [value.strip() for value in columns[position]]
        return chunk

    def csv_header(self, fields: list[str] | None) -> list[str]:
        header = [name.strip().lower() for name in fields or []]
        duplicates = sorted({name for name in header if name and header.count(name) > 1})
        if duplicates:
            raise FileRejected(DUPLICATE_COLUMNS, f"columns appear more than once: {', '.join(duplicates)}")
        missing = [name for name in self.contract.column_names if name not in header]
        if missing:
            raise FileRejected(
                MISSING_COLUMNS,
                f"missing required columns: {', '.join(missing)}; the header has: {', '.join(header) or '(nothing)'}",
            )
        return header

    def csv_row(self, chunk: RawChunk, row_number: int, header: list[str], fields: list[str]) -> None:
        self.rows_total += 1
        if len(fields) != len(header):
            detail = f"expected {len(header)} fields, found {len(fields)}"
            chunk.reject_row(row_number, ",".join(fields), detail)
            return
        record = dict(zip(header, fields, strict=True))
        values: dict[str, str | None] = {name: record[name].strip() for name in self.contract.column_names}
        extras_column = self.contract.extras_column
        if extras_column:
            extras: dict[str, Any] | None = {
                name: value.strip()
                for name, value in zip(header, fields, strict=True)
                if name and name not in self.names and name != extras_column and value.strip()
            }
            embedded = record.get(extras_column, "").strip()
            if embedded:
                try:
                    embedded_value = json.loads(embedded)
                except ValueError:
                    embedded_value = embedded
                if not self.merge_embedded(chunk, row_number, extras, embedded_value):
                    extras = None
            values[extras_column] = self.extras_text(chunk, row_number, extras)
        chunk.add(row_number, values)

    # --- JSON -----------------------------------------------------------------------------------

    def from_ndjson(self, text: TextSource) -> Iterator[RawChunk]:
        chunk = self.new_chunk()
        keys_seen: set[str] = set()
        for line_number, line in enumerate(lines_of(text), start=1):
            stripped = line.strip()
            chunk.chars += len(line)
            if not stripped:
                continue
            self.rows_total += 1
            try:
                record = json.loads(stripped)
            except ValueError as exc:
                chunk.reject_row(line_number, stripped, f"not valid JSON: {exc}")
                continue
            self.json_row(chunk, line_number, record, keys_seen)
            if self.full(chunk):
                yield chunk
                chunk = self.new_chunk()
        if self.rows_total == 0:
            raise FileRejected(EMPTY_FILE, "the file is empty (nothing but whitespace)")
        self.check_keys(keys_seen)
        yield chunk

    def from_json_array(self, text: TextSource) -> Iterator[RawChunk]:
        scanner = JsonArrayScanner(text)
        chunk = self.new_chunk()
        keys_seen: set[str] = set()
        for element_number, (record, chars) in enumerate(scanner.elements(), start=1):
            self.rows_total += 1
            chunk.chars += chars
            self.json_row(chunk, element_number, record, keys_seen)
            if self.full(chunk):
                yield chunk
                chunk = self.new_chunk()
        if self.rows_total == 0:
            raise FileRejected(HEADER_ONLY, "the JSON array is empty: []")
        self.check_keys(keys_seen)
        yield chunk

    def json_row(self, chunk: RawChunk, row_number: int, record: Any, keys_seen: set[str]) -> None:
        if not isinstance(record, dict):
            chunk.reject_row(row_number, record, f"expected a JSON object, found {json_type(record)}")
            return
        by_name: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        extras_column = self.contract.extras_column
        embedded: Any = None
        for key, value in record.items():
            name = key.strip().lower()
            keys_seen.add(name)
            if name in self.names:
                by_name.setdefault(name, value)
            elif extras_column and name == extras_column:
                embedded = value
            elif extras_column:
                extras[key] = value
        values: dict[str, str | None] = {}
        for column in self.contract.column_names:
            values[column] = scalar_text(by_name.get(column))
            if values[column] is None:
                detail = f"expected a single value, found {json_type(by_name[column])}"
                chunk.reject(row_number, column, WRONG_TYPE, by_name[column], detail)
        if extras_column:
            merged = embedded is None or self.merge_embedded(chunk, row_number, extras, embedded)
            values[extras_column] = self.extras_text(chunk, row_number, extras if merged else None)
        chunk.add(row_number, values)

    def check_keys(self, keys_seen: set[str]) -> None:
        """JSON has no header: a required column that no record has is what CSV calls missing."""
        if not keys_seen:
            return  # no record was an object: every row is already rejected as malformed
        missing = [name for name in self.contract.required if name not in keys_seen]
        if missing:
            raise FileRejected(
                MISSING_COLUMNS,
                f"no record has the required fields: {', '.join(missing)}; "
                f"the records have: {', '.join(sorted(keys_seen))}",
            )

    # --- free-form attributes -------------------------------------------------------------------

    def merge_embedded(self, chunk: RawChunk, row_number: int, extras: dict[str, Any], embedded: Any) -> bool:
        """An `attributes` object merges into the extra keys (its entries win); anything else is
        rejected (False)."""
        if isinstance(embedded, dict):
            extras.update(embedded)
            return True
        detail = f"expected a JSON object, found {json_type(embedded)}"
        chunk.reject(row_number, self.contract.extras_column or "", WRONG_TYPE, embedded, detail)
        return False

    def extras_text(self, chunk: RawChunk, row_number: int, extras: dict[str, Any] | None) -> str | None:
        """The extra keys as JSON text for the JSONB column; None when they are already rejected."""
        if extras is None:
            return None
        text = json.dumps(extras, ensure_ascii=False, sort_keys=True, default=str)
        if UNSTORABLE.search(text) or "\\u0000" in text:
            column = self.contract.extras_column or ""
            chunk.reject(row_number, column, NOT_ALLOWED, text, "contains a NUL character or a lone surrogate")
            return None
        return text


class JsonArrayScanner:
    """The elements of a JSON array read block by block, with the characters each took."""

    def __init__(self, text: TextSource) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.consumed = 0  # characters dropped from the buffer's front so far

    def fill(self) -> None:
        block = self.text.read(READ_CHARS)
        self.consumed += self.pos
        self.buffer = self.buffer[self.pos :] + block
        self.pos = 0
        self.eof = not block

    def next_character(self) -> str | None:
        """Skips whitespace; the character at `pos` (not consumed), None at the end of the file."""
        while True:
            self.pos = JSON_WHITESPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if self.eof:
                return None
            self.fill()

    def at(self) -> int:
        return self.consumed + self.pos

    def elements(self) -> Iterator[tuple[Any, int]]:
        if self.next_character() != "[":
            raise FileRejected(UNPARSEABLE, "the file is not a JSON array (it does not start with '[')")
        self.pos += 1
        if self.next_character() == "]":
            self.pos += 1
        else:
            while True:
                yield self.element()
                separator = self.next_character()
                if separator == ",":
                    self.pos += 1
                elif separator == "]":
                    self.pos += 1
                    break
                elif separator is None:
                    raise FileRejected(UNPARSEABLE, "the JSON array ends before its closing ']'")
                else:
                    raise FileRejected(
                        UNPARSEABLE, f"expected ',' or ']' at character {self.at()}, found {separator!r}"
                    )
        if self.next_character() is not None:
            raise FileRejected(UNPARSEABLE, f"unexpected data after the closing ']' at character {self.at()}")

    def element(self) -> tuple[Any, int]:
        if self.next_character() is None:
            raise FileRejected(UNPARSEABLE, "the JSON array ends before its closing ']'")
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(self.buffer) - JSON_LOOKAHEAD or exc.msg.startswith("Unterminated")
                if not incomplete or self.eof:
                    raise FileRejected(
                        UNPARSEABLE, f"broken JSON at character {self.consumed + exc.pos}: {exc.msg}"
                    ) from None
                if len(self.buffer) - self.pos > MAX_RECORD_CHARS:
                    raise FileRejected(
                        LINE_TOO_LONG,
                        f"the array element at character {self.at()} is longer than {MAX_RECORD_CHARS} characters",
                    ) from None
                self.fill()
                continue
            chars = end - self.pos
            if chars > MAX_RECORD_CHARS:
                raise FileRejected(
                    LINE_TOO_LONG,
                    f"the array element at character {self.at()} is longer than {MAX_RECORD_CHARS} characters",
                )
            self.pos = end
            return value, chars


def csv_record(reader: Any) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileRejected(
                LINE_TOO_LONG,
                f"a field near line {reader.line_num} is longer than {MAX_RECORD_CHARS} characters "
                "(or a quote is never closed)",
            ) from None
        raise FileRejected(UNPARSEABLE, f"broken CSV quoting near line {reader.line_num}: {exc}") from None


def scalar_text(value: Any) -> str | None:
    """A JSON value as the text a CSV would hold: "" for null/absent, None when it is not a scalar."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return str(value) if isinstance(value, int) else repr(value)


def json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    return "a number"
