"""Chunked streaming gives exactly the result of reading a file at once, for every format."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from pipeline import parse
from pipeline.contracts import EVENTS, HOUSING, RETINA
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

SEED = Path(__file__).resolve().parents[2] / "seed_data"
HOUSING_PART = b"".join((SEED / "housing" / "california_housing.csv").read_bytes().splitlines(keepends=True)[:2001])


def with_bad_rows(data: bytes) -> bytes:
    """Sprinkle problems in (every 7th line) so rejections cross chunk boundaries too."""
    lines = data.splitlines(keepends=True)
    for index in range(3, len(lines), 7):
        lines[index] = lines[index].replace(b"2025-11-1", b"2025-13-1").replace(b"NEAR BAY", b"NEAR PIER")
    return b"".join(lines)


CASES = [
    ("housing/part.csv", with_bad_rows(HOUSING_PART), HOUSING),
    ("housing/part.csv.gz", gzip.compress(with_bad_rows(HOUSING_PART)), HOUSING),
    ("housing/part.tsv", HOUSING_PART.replace(b",", b"\t").replace(b"\n", b"\r\n"), HOUSING),
    ("events/e.csv", with_bad_rows((SEED / "events" / "events.csv").read_bytes()), EVENTS),
    ("events/e.ndjson", with_bad_rows((SEED / "events" / "events.ndjson").read_bytes()), EVENTS),
    ("events/e.json", with_bad_rows((SEED / "events" / "events.json").read_bytes()), EVENTS),
    ("events/e.json.gz", gzip.compress((SEED / "events" / "events.json").read_bytes()), EVENTS),
    ("retina/r.json", (SEED / "retina" / "retina_scans.json").read_bytes(), RETINA),
]


@pytest.mark.parametrize(("key", "data", "contract"), CASES, ids=[case[0] for case in CASES])
def test_small_chunks_and_small_reads_give_the_one_shot_result(key, data, contract, monkeypatch):
    # GIVEN the result of reading the file in one chunk
    whole = validate_bytes(data, key, contract)

    # WHEN it is read in chunks of ~4 KB, JSON arrays in reads of 100 characters
    monkeypatch.setattr(parse, "READ_CHARS", 100)
    chunked = validate_bytes(data, key, contract, chunk_chars=4096)

    # THEN the rows, their numbers, types and rejections are the same
    assert chunked.rows_total == whole.rows_total
    pd.testing.assert_frame_equal(chunked.good, whole.good)
    pd.testing.assert_frame_equal(chunked.rejected, whole.rejected)


def test_the_chunks_stay_bounded():
    data = (SEED / "events" / "events.ndjson").read_bytes()
    chunks = list(parse.read_chunks(io.BytesIO(data), "events/e.ndjson", EVENTS, chunk_chars=4096))
    assert len(chunks) > 10
    longest_line = max(len(line) for line in data.splitlines(keepends=True))
    assert all(chunk.chars < 4096 + longest_line for chunk in chunks)
    assert sum(chunk.rows_total for chunk in chunks) == 350


def test_a_json_element_larger_than_a_read_is_assembled_from_several_reads(monkeypatch):
    monkeypatch.setattr(parse, "READ_CHARS", 16)
    records = [{"patient_id": f"A{i}", "patient_name": "N" * 300, "scan_date": "2025-01-01",
                "retina_thickness_microns": 250 + i, "optic_disc_cup_ratio": 0.5, "diagnosis": "normal"}
               for i in range(20)]  # fmt: skip
    good = validate_bytes(json.dumps(records, indent=3).encode(), "retina/r.json", RETINA, chunk_chars=1000).good
    assert good["patient_id"].tolist() == [f"A{i}" for i in range(20)] and list(good.index) == list(range(1, 21))
