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
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any, BinaryIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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
    UNSTORABLE,
    WRONG_TYPE,
    FileRejected,
    storable,
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
# PostgreSQL `numeric` (what jsonb keeps a JSON number as) holds at most this many digits before and
# after the decimal point: a CSV `attributes` number beyond them would fail the whole COPY.
NUMERIC_MAX_WHOLE_DIGITS = 131072
NUMERIC_MAX_FRACTION_DIGITS = 16383
# A number beyond those limits that the JSON readers accept is either long (more than 6,384 digits
# in a row: 16,383 fraction digits less the 9,999 a four-digit exponent can add) or has a negative
# exponent of five digits (the readers turn 1e-20000 into 0.0; a large positive exponent they read
# as infinity, which is rejected anyway). Only such attributes are checked number by number; two
# literal-prefixed searches cost ~0.1 s per 80 MB.
LONG_DIGIT_RUN = 6385
LONG_NEGATIVE_EXPONENTS = (re.compile(r"e-0*[1-9]\d{4}"), re.compile(r"E-0*[1-9]\d{4}"))
MAX_KEYS_NAMED = 20  # keys of JSON records listed in a missing_columns message
STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"')  # the rest of a JSON string, closing quote included
SCALAR_END = re.compile(r"[\s,\]}]")  # what ends a JSON number or literal
EMPTY_OBJECT = "{}"
WHITESPACE = re.compile(r"\s")  # what str.strip() removes
NEWLINE, CARRIAGE_RETURN, QUOTE = ord("\n"), ord("\r"), ord('"')
# The bytes a value's UTF-8 can start or end with when str.strip() would change it: ASCII whitespace
# (\t \n \v \f \r, \x1c-\x1f and the space) and every non-ASCII byte (Unicode has more spaces).
MAY_BE_SPACE = np.zeros(256, dtype=bool)
MAY_BE_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True
MAY_BE_SPACE[0x80:] = True

csv.field_size_limit(MAX_RECORD_CHARS)


@dataclass
class RawChunk:
    """Up to `chunk_chars` of records. `values[column][i]` belongs to row `rows[i]`; it is text ("" when
    missing) or None when the value was already rejected. A column read by Arrow (the CSV fast path)
    is an Arrow string array without nulls instead of a list: its values stay in Arrow's buffers
    through validation, the COPY and the Parquet output (`column_values` gives a list of any).
    `rejections` holds (row_number, column, reason, value, detail); rows rejected whole (malformed)
    are in `rejections` but not in `rows`."""

    columns: list[str]
    rows: list[int] = field(default_factory=list)
    values: dict[str, Sequence[str | None] | pa.Array] = field(default_factory=dict)
    rejections: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    malformed: int = 0
    chars: int = 0

    def __post_init__(self) -> None:
        self.values = {name: [] for name in self.columns}

    def add(self, row_number: int, values: dict[str, str | None]) -> None:
        self.rows.append(row_number)
        for name in self.columns:
            self.values[name].append(values[name])  # type: ignore[union-attr]

    def column_values(self, name: str) -> list[str | None]:
        values = self.values[name]
        return values.to_pylist() if isinstance(values, pa.Array) else list(values)

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
    if isinstance(value, Unreadable):
        value = value.text
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return storable(text[:MAX_VALUE_CHARS])


def read_chunks(
    binary: BinaryIO, key: str, contract: Contract, chunk_chars: int = CHUNK_CHARS, max_bytes: int | None = None
) -> Iterator[RawChunk]:
    """The file's records in chunks; raises FileRejected (possibly after some chunks were yielded),
    `too_large` when the content is more than `max_bytes` (after gunzip)."""
    _, file_format, gzip_by_name = split_name(key)
    check_not_empty(open_text(binary, gzip_by_name))
    binary.seek(0)
    text = open_text(binary, gzip_by_name, max_bytes)
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


class Lines:
    """Physical lines (ending in \\n, \\r\\n or \\r), none longer than MAX_RECORD_CHARS, counted in
    `number` (starting after `number` lines already read)."""

    def __init__(self, text: TextSource | ChainedText, number: int = 0) -> None:
        self.text = text
        self.number = number

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(MAX_RECORD_CHARS + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line.rstrip("\r\n")) > MAX_RECORD_CHARS:
            raise FileRejected(LINE_TOO_LONG, f"line {self.number} is longer than {MAX_RECORD_CHARS} characters")
        return line


class ChainedText:
    """Text already read (a block) followed by the rest of the source, read line by line."""

    def __init__(self, first: str, rest: TextSource) -> None:
        self.first = io.StringIO(first, newline="")
        self.rest = rest

    def readline(self, limit: int) -> str:
        line = self.first.readline(limit)
        if line.endswith(("\n", "\r")) or len(line) >= limit:
            return line
        return line + self.rest.readline(limit - len(line))  # the block ended (mid-line, or at its end)


def read_block(text: TextSource, size: int) -> str:
    """About `size` characters of whole lines (the last line completed; at most one more record)."""
    block = text.read(size)
    if block.endswith("\r"):
        block += text.read(1)  # a \r\n split by the read stays one line ending
    if block and not block.endswith(("\n", "\r")):
        block += text.readline(MAX_RECORD_CHARS + 1)
    return block


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
        """Blocks of whole lines are read by Arrow while every line is one record of the header's
        width with simple quoting (arrow_fields); from the first block where that does not hold (a
        quoted line break, a short row, a blank line, a lone \\r, a line too long, broken quoting)
        the rest of the file is read record by record by the csv module, which numbers and reports
        such rows exactly. On what Arrow reads both agree on every value: the unit tests read
        fuzzed files and the bad-input corpus both ways (tests/unit/test_csv_fast_path.py)."""
        lines = Lines(text)
        header_line = next((line for line in lines if line.strip()), None)
        if header_line is None:
            raise FileRejected(EMPTY_FILE, "the file is empty (nothing but whitespace)")
        delimiter = sniff_delimiter(header_line)
        reader = csv.reader(chain([header_line], lines), delimiter=delimiter, skipinitialspace=True, strict=True)
        header = self.csv_header(csv_record(reader))
        row_number, line_number = reader.line_num, lines.number  # the header is row 0 (line 1 of the reader)
        while block := read_block(text, self.chunk_chars):
            chunk = self.csv_block(block, row_number, header, delimiter)
            if chunk is None:
                rest = Lines(ChainedText(block, text), number=line_number)
                yield from self.csv_records(rest, row_number, header, delimiter)
                return
            row_number += len(chunk.rows)
            line_number += len(chunk.rows)
            yield chunk
        if self.rows_total == 0:
            raise FileRejected(HEADER_ONLY, "the file has a header but no data rows")

    def csv_block(self, block: str, first_row: int, header: list[str], delimiter: str) -> RawChunk | None:
        """The chunk of a block of whole lines, or None unless each line is one record of
        len(header) fields, not all blank, with only simple quoting (see arrow_fields)."""
        fields = arrow_fields(block, len(header), delimiter)
        if fields is None:
            return None
        columns = [arrow_stripped(values) for values in fields]
        if has_blank_record(columns):
            return None  # a line of nothing but separators is not a row: record by record skips it
        chunk = self.new_chunk()
        chunk.chars = len(block)
        rows = range(first_row, first_row + len(columns[0]))
        extras_column = self.contract.extras_column
        if extras_column and any(name not in self.names and name != extras_column for name in header if name):
            # Extra columns become attributes: row by row, as record by record does.
            records = zip(*(column.to_numpy(zero_copy_only=False) for column in fields), strict=True)
            for row_number, record in zip(rows, records, strict=True):
                self.csv_row(chunk, row_number, header, list(record))
            return chunk
        self.rows_total += len(rows)
        chunk.rows = list(rows)
        by_name = dict(zip(header, columns, strict=True))
        for name in self.contract.column_names:
            chunk.values[name] = by_name[name] if name in by_name else [""] * len(rows)  # an optional column left out
        if extras_column:
            chunk.values[extras_column] = self.embedded_attributes(chunk, by_name.get(extras_column))
        return chunk

    def embedded_attributes(self, chunk: RawChunk, column: pa.Array | None) -> list[str | None] | pa.Array:
        """The attributes of a chunk's rows from the CSV `attributes` column (JSON objects) when the
        file has no other extra columns: kept as written (an Arrow array, "" as {}). orjson checks
        that every value is an object (a million in ~0.4 s); otherwise row by row, with the
        standard library, reporting each bad value."""
        if column is None:
            return [EMPTY_OBJECT] * len(chunk.rows)
        embedded = column.to_numpy(zero_copy_only=False)
        try:
            plain = set(map(type, map(orjson.loads, filter(None, embedded)))) <= {dict}
        except orjson.JSONDecodeError:
            plain = False
        if plain:
            joined = "".join(embedded)
            longest = max(map(len, embedded), default=0)
            plain = "\\u0000" not in joined and not may_not_fit_numeric(joined, longest)
        if plain:
            return pc.if_else(pc.equal(column, ""), EMPTY_OBJECT, column)
        return [
            self.embedded_text(chunk, row_number, text) if text else EMPTY_OBJECT
            for row_number, text in zip(chunk.rows, embedded, strict=True)
        ]

    def embedded_text(self, chunk: RawChunk, row_number: int, text: str) -> str | None:
        """A CSV `attributes` value that is a record's only attributes: kept as written when it is
        a JSON object PostgreSQL can store; None (and a rejection) otherwise."""
        extras: dict[str, Any] = {}
        if not self.merge_embedded(chunk, row_number, extras, embedded_value(text)):
            return None
        if self.extras_text(chunk, row_number, extras) is None:
            return None
        number = unstorable_number(text) if may_not_fit_numeric(text, len(text)) else None
        if number is not None:
            detail = (
                f"holds the number {number[:40]}{'…' if len(number) > 40 else ''}, which PostgreSQL cannot store "
                f"(at most {NUMERIC_MAX_WHOLE_DIGITS} digits before the decimal point and "
                f"{NUMERIC_MAX_FRACTION_DIGITS} after)"
            )
            chunk.reject(row_number, self.contract.extras_column or "", NOT_ALLOWED, text, detail)
            return None
        return text

    def csv_records(self, lines: Lines, first_row: int, header: list[str], delimiter: str) -> Iterator[RawChunk]:
        """The rest of a CSV file record by record (rows numbered from `first_row`)."""
        reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True, strict=True)
        # Without free-form attributes, well-formed rows are kept as field lists and split into
        # columns once per chunk (zip in C), which is several times faster than a dict per row.
        plain = self.contract.extras_column is None
        positions = [header.index(name) if name in header else None for name in self.contract.column_names]
        chunk, plain_rows = self.new_chunk(), []
        while True:
            row_number = first_row + reader.line_num
            fields = csv_record(reader, first_row)
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

    def with_columns(self, chunk: RawChunk, plain_rows: list[list[str]], positions: list[int | None]) -> RawChunk:
        if plain_rows:
            columns = list(zip(*plain_rows, strict=True))
            for name, position in zip(self.contract.column_names, positions, strict=True):
                chunk.values[name] = [""] * len(plain_rows) if position is None else stripped(columns[position])
        return chunk

    def csv_header(self, fields: list[str] | None) -> list[str]:
        header = [name.strip().lower() for name in fields or []]
        duplicates = sorted({name for name in header if name and header.count(name) > 1})
        if duplicates:
            raise FileRejected(DUPLICATE_COLUMNS, f"columns appear more than once: {', '.join(duplicates)}")
        # An optional column may be left out (its values are missing): a file written before the
        # contract gained it still loads.
        missing = [name for name in self.contract.required if name not in header]
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
        values: dict[str, str | None] = {name: record.get(name, "").strip() for name in self.contract.column_names}
        extras_column = self.contract.extras_column
        if extras_column:
            extras: dict[str, Any] | None = {
                name: value.strip()
                for name, value in zip(header, fields, strict=True)
                if name and name not in self.names and name != extras_column and value.strip()
            }
            embedded = record.get(extras_column, "").strip()
            if embedded and not extras:
                values[extras_column] = self.embedded_text(chunk, row_number, embedded)
            else:
                if embedded and not self.merge_embedded(chunk, row_number, extras, embedded_value(embedded)):
                    extras = None
                values[extras_column] = self.extras_text(chunk, row_number, extras)
        chunk.add(row_number, values)

    # --- JSON -----------------------------------------------------------------------------------

    def from_ndjson(self, text: TextSource) -> Iterator[RawChunk]:
        chunk = self.new_chunk()
        keys = KeysSeen()
        for line_number, line in enumerate(Lines(text), start=1):
            stripped = line.strip()
            chunk.chars += len(line)
            if not stripped:
                continue
            self.rows_total += 1
            try:
                record = json.loads(stripped)
            except json.JSONDecodeError as exc:
                chunk.reject_row(line_number, stripped, f"not valid JSON: {exc}")
                continue
            except (ValueError, RecursionError) as exc:
                chunk.reject_row(line_number, stripped, unreadable_json(exc))
                continue
            self.json_row(chunk, line_number, record, keys)
            if self.full(chunk):
                yield chunk
                chunk = self.new_chunk()
        if self.rows_total == 0:
            raise FileRejected(EMPTY_FILE, "the file is empty (nothing but whitespace)")
        self.check_keys(keys)
        yield chunk

    def from_json_array(self, text: TextSource) -> Iterator[RawChunk]:
        scanner = JsonArrayScanner(text)
        chunk = self.new_chunk()
        keys = KeysSeen()
        for element_number, (record, chars) in enumerate(scanner.elements(), start=1):
            self.rows_total += 1
            chunk.chars += chars
            self.json_row(chunk, element_number, record, keys)
            if self.full(chunk):
                yield chunk
                chunk = self.new_chunk()
        if self.rows_total == 0:
            raise FileRejected(HEADER_ONLY, "the JSON array is empty: []")
        self.check_keys(keys)
        yield chunk

    def json_row(self, chunk: RawChunk, row_number: int, record: Any, keys: KeysSeen) -> None:
        if isinstance(record, Unreadable):
            chunk.reject_row(row_number, record, record.detail)
            return
        if not isinstance(record, dict):
            chunk.reject_row(row_number, record, f"expected a JSON object, found {json_type(record)}")
            return
        by_name: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        extras_column = self.contract.extras_column
        embedded: Any = None
        for key, value in record.items():
            name = key.strip().lower()
            if name in self.names:
                by_name.setdefault(name, value)
                keys.columns.add(name)
                continue
            keys.add_other(name)
            if extras_column and name == extras_column:
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

    def check_keys(self, keys: KeysSeen) -> None:
        """JSON has no header: a required column that no record has is what CSV calls missing."""
        if not keys.columns and not keys.others:
            return  # no record was an object with a key: every row is already rejected
        missing = [name for name in self.contract.required if name not in keys.columns]
        if missing:
            raise FileRejected(
                MISSING_COLUMNS,
                f"no record has the required fields: {', '.join(missing)}; the records have: {keys.describe()}",
            )

    # --- free-form attributes -------------------------------------------------------------------

    def merge_embedded(self, chunk: RawChunk, row_number: int, extras: dict[str, Any], embedded: Any) -> bool:
        """An `attributes` object merges into the extra keys (its entries win); anything else is
        rejected (False)."""
        if isinstance(embedded, dict):
            extras.update(embedded)
            return True
        column = self.contract.extras_column or ""
        if isinstance(embedded, Unreadable):
            chunk.reject(row_number, column, NOT_ALLOWED, embedded, embedded.detail)
            return False
        chunk.reject(row_number, column, WRONG_TYPE, embedded, f"expected a JSON object, found {json_type(embedded)}")
        return False

    def extras_text(self, chunk: RawChunk, row_number: int, extras: dict[str, Any] | None) -> str | None:
        """The extra keys as JSON text for the JSONB column; None when they are already rejected."""
        if extras is None:
            return None
        try:
            text = json.dumps(extras, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except ValueError:
            column = self.contract.extras_column or ""
            chunk.reject(row_number, column, NOT_ALLOWED, extras, "contains NaN or Infinity, which JSON cannot hold")
            return None
        if UNSTORABLE.search(text) or "\\u0000" in text:
            column = self.contract.extras_column or ""
            chunk.reject(row_number, column, NOT_ALLOWED, text, "contains a NUL character or a lone surrogate")
            return None
        return text


class KeysSeen:
    """The keys of a file's JSON records, in bounded memory: which contract columns occur, and the
    first MAX_KEYS_NAMED other names (for a missing_columns message) - not every key of a million
    records with keys of their own."""

    def __init__(self) -> None:
        self.columns: set[str] = set()
        self.others: set[str] = set()
        self.more = False  # other names beyond the first MAX_KEYS_NAMED

    def add_other(self, name: str) -> None:
        if name in self.others:
            return
        if len(self.others) < MAX_KEYS_NAMED:
            self.others.add(name)
        else:
            self.more = True

    def describe(self) -> str:
        names = ", ".join(sorted(self.columns | self.others)) or "(no keys)"
        return names + (", and more" if self.more else "")


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
        """The next element and the characters it took. A number or literal is read only once what
        ends it is read too (a block may end inside `12345` or `1.5e-7`). Valid JSON that Python will
        not read (nested too deeply, an integer of 4,300+ digits) is an Unreadable element: its row is
        rejected and the rest of the file is read on."""
        if self.next_character() is None:
            raise FileRejected(UNPARSEABLE, "the JSON array ends before its closing ']'")
        while True:
            if not self.eof and self.buffer[self.pos] not in '[{"' and not SCALAR_END.search(self.buffer, self.pos):
                self.read_more()
                continue
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(self.buffer) - JSON_LOOKAHEAD or exc.msg.startswith("Unterminated")
                if not incomplete or self.eof:
                    raise FileRejected(
                        UNPARSEABLE, f"broken JSON at character {self.consumed + exc.pos}: {exc.msg}"
                    ) from None
                self.read_more()
                continue
            except (ValueError, RecursionError) as exc:
                end = value_end(self.buffer, self.pos)
                if end is None:  # the element goes on in the next block
                    if self.eof:
                        raise FileRejected(UNPARSEABLE, "the JSON array ends before its closing ']'") from None
                    self.read_more()
                    continue
                value = Unreadable(self.buffer[self.pos : end], unreadable_json(exc))
            chars = end - self.pos
            if chars > MAX_RECORD_CHARS:
                raise self.too_long()
            self.pos = end
            return value, chars

    def read_more(self) -> None:
        """Read the next block for an element that does not end in what was read so far."""
        if len(self.buffer) - self.pos > MAX_RECORD_CHARS:
            raise self.too_long()
        self.fill()

    def too_long(self) -> FileRejected:
        return FileRejected(
            LINE_TOO_LONG, f"the array element at character {self.at()} is longer than {MAX_RECORD_CHARS} characters"
        )


def value_end(text: str, start: int) -> int | None:
    """Where the JSON value starting at `start` ends, found without recursion or conversion, or
    None when `text` ends first. For values json would not read although their syntax may be fine."""
    if text[start] not in '[{"':  # a number or a literal
        delimiter = SCALAR_END.search(text, start)
        return delimiter.start() if delimiter else None
    depth = 0
    position = start
    while position < len(text):
        character = text[position]
        if character == '"':
            rest = STRING_REST.match(text, position + 1)
            if rest is None:
                return None
            position = rest.end()
        else:
            depth += (character in "[{") - (character in "]}")
            position += 1
        if depth == 0:
            return position
    return None


def arrow_fields(block: str, width: int, delimiter: str) -> list[pa.Array] | None:
    """The fields of a block of whole lines, column by column (Arrow string arrays), read by
    Arrow's CSV reader - or None unless every line is one record of `width` fields with simple
    quoting and no lone \\r.

    On such text Arrow reads exactly what the csv module (strict, skipinitialspace) reads, about
    ten times faster; anything else (a quoted line break, a short row, a blank line, a line too
    long, a quote that does not open or close a whole field) is read record by record instead.
    """
    if "\r" in block and block.count("\r") != block.count("\r\n"):
        return None
    data = block.encode("utf-8")
    raw = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(raw == NEWLINE)
    if not simple_quoting(raw, line_ends, delimiter):
        return None
    if not data.endswith(b"\n"):
        line_ends = np.append(line_ends, len(data))
    # Bytes per line; a UTF-8 line has at least as many bytes as characters.
    if np.diff(line_ends, prepend=-1).max() - 1 > MAX_RECORD_CHARS + 1:
        return None
    names = [f"f{i}" for i in range(width)]
    invalid: list[int] = []
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=lambda row: invalid.append(1) or "skip"
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if invalid or table.num_rows != len(line_ends):  # a bad row, or a blank line Arrow skipped
        return None
    return [column.combine_chunks() for column in table.columns]


def simple_quoting(raw: np.ndarray, line_ends: np.ndarray, delimiter: str) -> bool:
    """Whether every quote in the bytes `raw` (whose \\n are at `line_ends`, and every \\r is
    part of a \\r\\n) belongs to a whole quoted field on one line: opened right after a
    delimiter or at a line start, closed right before a delimiter or a line end, inner quotes
    doubled.

    Read in order, quotes alternate between opening and closing a field; a closing quote followed
    at once by an opening one is a doubled quote inside the field. Checked for all quotes at once
    with numpy (a regular expression over the text took ~0.7 s of the 1M-row file's ~3 s).
    """
    quotes = np.flatnonzero(raw == QUOTE)
    if not len(quotes):
        return True
    if len(quotes) % 2:
        return False
    opening, closing = quotes[0::2], quotes[1::2]
    doubled = closing[:-1] + 1 == opening[1:]
    starts, ends = opening[np.r_[True, ~doubled]], closing[np.r_[~doubled, True]]
    separator, last = ord(delimiter), len(raw) - 1
    before, after = raw[np.maximum(starts - 1, 0)], raw[np.minimum(ends + 1, last)]
    opened = (starts == 0) | (before == separator) | (before == NEWLINE)
    closed = (ends == last) | (after == separator) | (after == NEWLINE) | (after == CARRIAGE_RETURN)
    on_one_line = np.searchsorted(line_ends, starts) == np.searchsorted(line_ends, ends)
    return bool(opened.all() and closed.all() and on_one_line.all())


def stripped(values: Sequence[str]) -> Sequence[str]:
    """The values without surrounding whitespace; untouched when none has any whitespace at all."""
    if WHITESPACE.search("".join(values)):
        return [value.strip() for value in values]
    return values


def arrow_stripped(values: pa.Array) -> pa.Array:
    """`stripped` for an Arrow string array: untouched unless some value starts or ends with a byte
    that may be (part of) whitespace, found with numpy on the array's buffers."""
    data = values.buffers()[2]
    if data is None:  # every value is empty
        return values
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)
    first, end = offsets[:-1], offsets[1:]
    filled = end > first
    raw = np.frombuffer(data, dtype=np.uint8)
    if not (MAY_BE_SPACE[raw[first[filled]]] | MAY_BE_SPACE[raw[end[filled] - 1]]).any():
        return values
    return pa.array([value.strip() for value in values.to_pylist()], type=pa.string())


def has_blank_record(columns: list[pa.Array]) -> bool:
    """Whether some record has nothing but empty values."""
    blank = pc.equal(columns[0], "")
    for column in columns[1:]:
        blank = pc.and_(blank, pc.equal(column, ""))
    return bool(pc.any(blank).as_py())


def embedded_value(text: str) -> Any:
    """An `attributes` CSV value: the JSON it holds, the text itself when it is not JSON, or
    Unreadable when it is JSON that Python will not read (too deep, too long a number)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
    except (ValueError, RecursionError) as exc:
        return Unreadable(text, unreadable_json(exc))


@dataclass(frozen=True)
class Unreadable:
    """A JSON value that is valid but beyond what the reader accepts; `detail` says why."""

    text: str
    detail: str


def unreadable_json(exc: ValueError | RecursionError) -> str:
    """Why valid-looking JSON could not be read (not a JSONDecodeError: those are syntax)."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    return f"JSON that cannot be read: {exc}"


def may_not_fit_numeric(text: str, longest: int) -> bool:
    """Whether JSON text (whose longest value has `longest` characters) could hold a number that
    PostgreSQL's numeric cannot: cheap, and never False when it could."""
    return longest >= LONG_DIGIT_RUN or any(pattern.search(text) for pattern in LONG_NEGATIVE_EXPONENTS)


def unstorable_number(text: str) -> str | None:
    """The first number of a JSON text that PostgreSQL's `numeric` cannot hold, or None. Every
    number is checked as written, without converting it (Python's int() refuses 4,300+ digits)."""
    found: list[str] = []

    def check(token: str) -> int:
        if not found and not numeric_fits(token):
            found.append(token)
        return 0

    try:
        json.loads(text, parse_int=check, parse_float=check)
    except (ValueError, RecursionError):
        return None  # not JSON that we keep as written anyway
    return found[0] if found else None


def numeric_fits(token: str) -> bool:
    """Whether PostgreSQL `numeric` can hold a JSON number token (e.g. 1e-20000 cannot: 20,000
    digits after the decimal point)."""
    _, digits, exponent = Decimal(token).as_tuple()
    exponent = int(exponent)  # always a number: JSON has no NaN or Infinity
    fraction_digits = max(0, -exponent)
    whole_digits = 0 if not any(digits) else max(0, len(digits) + exponent)
    return fraction_digits <= NUMERIC_MAX_FRACTION_DIGITS and whole_digits <= NUMERIC_MAX_WHOLE_DIGITS


def csv_record(reader: Any, lines_before: int = 0) -> list[str] | None:
    """The next record; `lines_before`: lines read before the reader's first (for messages)."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileRejected(
                LINE_TOO_LONG,
                f"a field near line {lines_before + reader.line_num} is longer than {MAX_RECORD_CHARS} characters "
                "(or a quote is never closed)",
            ) from None
        line = lines_before + reader.line_num
        raise FileRejected(UNPARSEABLE, f"broken CSV quoting near line {line}: {exc}") from None


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
