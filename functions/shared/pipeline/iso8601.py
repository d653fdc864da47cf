"""Strict ISO 8601 dates and timestamps, every value read on its own.

- A timestamp is `YYYY-MM-DD`, then `T` or one space, `hh:mm`, optionally `:ss` and a fraction of
  1-9 digits, then `Z`, `±hh:mm`, `±hhmm`, `±hh` or nothing - nothing means UTC, whatever the
  values around it say. A date alone is midnight UTC. Stored to the microsecond (fraction digits
  after the sixth are dropped); its UTC value must lie in the years 0001-9999. `2025` and `2025-11`
  are not timestamps.
- A date is exactly `YYYY-MM-DD` (zero-padded), a real calendar date in the years 0001-9999.

Why not pandas: `to_datetime(..., format="ISO8601", utc=True)` (pandas 2.3) gives a value without an
offset the offset of the row before it, accepts `2025` and `2025-11`, and stops at pandas' year
range (1677-2262). Arrow's casts read each value on its own and cover 0001-9999; the patterns below
make the grammar strict, and a chunk Arrow cannot cast as a whole (a 30 February somewhere) is read
value by value with the standard library.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
OFFSET_PATTERN = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
DATE_LENGTH = len("2025-01-01")
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
EXTRA_FRACTION = r"(\.\d{6})\d+"  # nanoseconds and beyond: kept to the microsecond
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
# The years 0001-9999 as Arrow stores them: microseconds (timestamps, UTC) and days since the epoch.
FIRST_MICROS = int(np.datetime64("0001-01-01T00:00:00", "us").astype(np.int64))
LAST_MICROS = int(np.datetime64("9999-12-31T23:59:59.999999", "us").astype(np.int64))
FIRST_DAY = int(np.datetime64("0001-01-01", "D").astype(np.int64))
LAST_DAY = int(np.datetime64("9999-12-31", "D").astype(np.int64))


def parse_timestamps(text: pd.Series) -> pd.Series:
    """UTC timestamps (datetime64[us, UTC]) of text values; NaT where a value is not a timestamp
    (or is missing: None/NaN)."""
    strings = pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    values = arrow_timestamps(strings).to_pandas()
    values.index = text.index
    return values.astype("datetime64[us, UTC]")


def arrow_timestamps(strings: pa.Array) -> pa.Array:
    """parse_timestamps of an Arrow string array: timestamp[us, UTC], null where a value is not a
    timestamp (or is null)."""
    candidates = matching(strings, TIMESTAMP_PATTERN)
    if not pc.all(pc.ends_with(candidates, "Z")).as_py():  # no offset means UTC: say so to Arrow
        has_offset = pc.match_substring_regex(candidates, OFFSET_PATTERN)
        date_only = pc.equal(pc.utf8_length(candidates), DATE_LENGTH)
        suffix = pc.if_else(date_only, "T00:00:00Z", pc.if_else(has_offset, "", "Z"))
        candidates = pc.binary_join_element_wise(candidates, suffix, "")
    try:
        parsed = pc.cast(candidates, UTC_TIMESTAMP)
    except pa.ArrowInvalid:  # a fraction finer than microseconds, or no real moment (30 February)
        candidates = pc.replace_substring_regex(candidates, EXTRA_FRACTION, r"\1")
        try:
            parsed = pc.cast(candidates, UTC_TIMESTAMP)
        except pa.ArrowInvalid:
            parsed = pa.array([timestamp_or_none(value) for value in candidates.to_pylist()], type=UTC_TIMESTAMP)
    return within(parsed, FIRST_MICROS, LAST_MICROS, pa.int64())


def parse_dates(text: pd.Series) -> pd.Series:
    """datetime.date objects of text values; None where a value is not a date (or is missing)."""
    strings = pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    candidates = matching(strings, DATE_PATTERN)
    try:
        parsed = pc.cast(candidates, pa.date32())
    except pa.ArrowInvalid:  # some value is no real day (2025-02-30): one at a time
        parsed = pa.array([date_or_none(value) for value in candidates.to_pylist()], type=pa.date32())
    parsed = within(parsed, FIRST_DAY, LAST_DAY, pa.int32())  # Arrow reads year 0000 too
    return pd.Series(parsed.to_pylist(), index=text.index, dtype="object")


def within(values: pa.Array, first: int, last: int, storage: pa.DataType) -> pa.Array:
    """The values whose stored number (days or microseconds since the epoch) is in [first, last];
    null for the others."""
    numbers = values.cast(storage)
    inside = pc.fill_null(pc.and_(pc.greater_equal(numbers, first), pc.less_equal(numbers, last)), False)
    if pc.all(pc.or_(inside, pc.is_null(values))).as_py():
        return values
    return pc.if_else(inside, values, pa.nulls(len(values), values.type))


def matching(strings: pa.Array, pattern: str) -> pa.Array:
    """The strings that match `pattern`; null for the others."""
    matches = pc.fill_null(pc.match_substring_regex(strings, pattern), False)
    if pc.all(matches).as_py():
        return strings
    return pc.if_else(matches, strings, pa.nulls(len(strings), pa.string()))


def timestamp_or_none(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def date_or_none(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
