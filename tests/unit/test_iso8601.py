"""Strict ISO 8601: every timestamp and date is read on its own, by one grammar that the docs state."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pipeline.contracts import EVENTS, RETINA
from pipeline.iso8601 import parse_dates, parse_timestamps
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

# (as written, the UTC moment it means)
TIMESTAMPS = [
    ("2025-11-18T23:30:00-05:00", datetime(2025, 11, 19, 4, 30, tzinfo=UTC)),
    ("2025-11-18T23:30:00", datetime(2025, 11, 18, 23, 30, tzinfo=UTC)),
    ("2025-11-18T23:30:00Z", datetime(2025, 11, 18, 23, 30, tzinfo=UTC)),
    ("2025-11-18 23:30:00.5+01:00", datetime(2025, 11, 18, 22, 30, 0, 500000, tzinfo=UTC)),
    ("2025-11-18T23:30", datetime(2025, 11, 18, 23, 30, tzinfo=UTC)),
    ("2025-11-18T23:30:00.123456789-0130", datetime(2025, 11, 19, 1, 0, 0, 123456, tzinfo=UTC)),
    ("2025-11-18T23:30:00+05", datetime(2025, 11, 18, 18, 30, tzinfo=UTC)),
    ("2025-11-18", datetime(2025, 11, 18, tzinfo=UTC)),  # a date alone: midnight UTC
]


def expected(cases: list[tuple[str, datetime]]) -> list[datetime]:
    return [moment for _, moment in cases]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_each_timestamp_means_the_same_moment_after_any_neighbour(order):
    # GIVEN the first four kinds (offset, none, Z, fraction + offset) in every order, twice over
    cases = [TIMESTAMPS[i] for i in order] * 2
    values = parse_timestamps(pd.Series([text for text, _ in cases], dtype=object))
    assert values.tolist() == expected(cases)


@pytest.mark.parametrize("position", range(len(TIMESTAMPS)))
def test_every_kind_is_read_right_in_every_position_of_a_chunk(position):
    # GIVEN a chunk of 40 values where one kind stands at `position` among all the others
    kinds = TIMESTAMPS[position:] + TIMESTAMPS[:position]
    cases = kinds * 5
    records = [{"timestamp": text, "event_type": "a", "user_id": "u", "action": "x"} for text, _ in cases]
    for chunk_chars in (10_000_000, 700):  # one chunk, and chunks of a few records
        good = validate_bytes(json.dumps(records).encode(), "events/e.json", EVENTS, chunk_chars=chunk_chars).good
        assert good["timestamp"].tolist() == expected(cases)


@pytest.mark.parametrize(
    "text",
    ["2025", "2025-11", "2025-11-18Z", "2025-11-18+02:00", "2025-11-18T23", "2025-11-18T23:30:00.Z",
     "2025-1-5T08:00:00Z", "2025-11-18T24:00:00Z", "2025-11-18T23:60:00Z", "2025-11-18T23:59:60Z",
     "2025-02-30T10:00:00Z", "2025-11-18T23:30:00+25:00", "2025-11-18t23:30:00z", "0000-12-31T00:00:00Z",
     "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", " 2025-11-18T08:00:00Z", "yesterday",
     "2025-11-18T23:30:00.1234567890Z"],
)  # fmt: skip
def test_what_the_grammar_does_not_allow_is_not_a_timestamp(text):
    assert parse_timestamps(pd.Series([text, "2025-11-18T08:00:00Z"], dtype=object)).isna().tolist() == [True, False]


def test_the_first_and_last_microseconds_of_the_calendar_are_timestamps():
    values = parse_timestamps(pd.Series(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"], dtype=object))
    assert values.tolist() == [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]


def test_missing_values_are_not_timestamps_and_keep_their_index():
    values = parse_timestamps(pd.Series([None, float("nan"), "2025-11-18T08:00:00Z"], index=[7, 8, 9], dtype=object))
    assert values.index.tolist() == [7, 8, 9] and values.isna().tolist() == [True, True, False]
    assert str(values.dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize(
    ("text", "day"),
    [("2025-01-05", date(2025, 1, 5)), ("0001-01-01", date(1, 1, 1)), ("9999-12-31", date(9999, 12, 31)),
     ("1650-01-01", date(1650, 1, 1)), ("2024-02-29", date(2024, 2, 29)), ("2025-1-5", None), ("0000-01-01", None),
     ("2025-02-30", None), ("2023-02-29", None), ("20250105", None), ("2025-01-05T00:00:00", None), ("", None)],
)  # fmt: skip
def test_dates_are_real_zero_padded_days_of_the_years_0001_to_9999(text, day):
    assert parse_dates(pd.Series([text], dtype=object)).tolist() == [day]


def test_bad_dates_and_timestamps_are_row_rejections_with_the_rule_in_words():
    scan = {"patient_id": "p", "patient_name": "n", "retina_thickness_microns": 250, "optic_disc_cup_ratio": 0.3,
            "diagnosis": "normal"}  # fmt: skip
    records = [{**scan, "scan_date": "2025-01-05"}, {**scan, "scan_date": "2025-1-5"}]
    result = validate_bytes(json.dumps(records).encode(), "retina/r.json", RETINA)
    (rejection,) = result.rejected.to_dict("records")
    assert (rejection["row_number"], rejection["reason"]) == (2, "bad_date")
    assert "YYYY-MM-DD (zero-padded)" in rejection["detail"]
