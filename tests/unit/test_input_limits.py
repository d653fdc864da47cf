"""What no file may do to the processor: change its outcome by where a read block ends, make a
data problem raise, store what PostgreSQL refuses, fill /tmp, hold a file open per day for years,
or grow memory with its number of distinct keys."""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import tracemalloc
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline import parse
from pipeline.contracts import EVENTS, RETINA
from pipeline.errors import FileRejected, storable
from pipeline.parse import KeysSeen, may_not_fit_numeric, numeric_fits, read_chunks
from pipeline.transform import Outputs, RejectionsFile, processed_key, to_arrow
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

EVENT = {"timestamp": "2025-11-18T08:00:00Z", "event_type": "click", "user_id": "u1", "action": "open"}


def outcome(data: bytes, key: str, contract=EVENTS, **kwargs) -> tuple:
    """Everything a read decides: rows, rejections, or the file's rejection."""
    try:
        result = validate_bytes(data, key, contract, **kwargs)
    except FileRejected as rejection:
        return ("rejected", rejection.code)
    rejected = result.rejected[["row_number", "column", "reason"]].values.tolist()
    return (list(result.good.index), result.good["user_id"].tolist(), rejected)


# --- read blocks never change the outcome (JSON arrays) --------------------------------------------


def json_array_cases() -> list[bytes]:
    """Arrays whose elements are objects, bare numbers, literals and strings with escapes."""
    rng = random.Random(20251118)
    elements = []
    for i in range(60):
        kind = rng.choice(["object", "number", "float", "literal", "string", "nested"])
        if kind == "object":
            elements.append(json.dumps({**EVENT, "user_id": f"u{i}", "note": "a\"]},\\" * rng.randint(0, 3)}))
        elif kind == "number":
            elements.append(str(rng.randint(0, 10**rng.randint(1, 30))))
        elif kind == "float":
            elements.append(f"{rng.random() * 10 ** rng.randint(-5, 5):.{rng.randint(1, 12)}e}")
        elif kind == "literal":
            elements.append(rng.choice(["true", "false", "null"]))
        elif kind == "string":
            elements.append(json.dumps("x]" * rng.randint(0, 5)))
        else:
            elements.append(json.dumps({**EVENT, "user_id": f"u{i}", "attributes": {"deep": [[[[i]]]]}}))
    separators = [",", ", ", ",\n  ", " ,"]
    return [
        ("[" + "".join(element + rng.choice(separators) for element in elements[:-1]) + elements[-1] + "]").encode()
        for _ in range(3)
    ]


@pytest.mark.parametrize("read_chars", [11, 13, 17, 29, 64, 101, 257])
@pytest.mark.parametrize("case", range(3))
def test_where_a_read_block_ends_never_changes_what_a_json_array_is(monkeypatch, read_chars, case):
    data = json_array_cases()[case]
    whole = outcome(data, "events/e.json")
    monkeypatch.setattr(parse, "READ_CHARS", read_chars)
    assert outcome(data, "events/e.json") == whole


def test_a_number_split_by_the_one_mebibyte_read_is_read_whole():
    # GIVEN an array whose 5th element, a bare number, straddles the first 1 MiB read
    padding = json.dumps({**EVENT, "attributes": {"pad": "p" * (parse.READ_CHARS - 1000)}})
    head = "[" + padding + ", " + ", ".join(json.dumps(EVENT) for _ in range(2)) + ", "
    head += " " * (parse.READ_CHARS - len(head) - 5)
    assert len(head) == parse.READ_CHARS - 5  # the first read ends 5 digits into the number
    data = (head + "1234567890123, " + json.dumps(EVENT) + "]").encode()

    rows, _, rejected = outcome(data, "events/big.json")

    # THEN the number is one (malformed) element and every other element loads
    assert rows == [1, 2, 3, 5] and rejected == [[4, "", "malformed_row"]]


# --- valid JSON that Python will not read --------------------------------------------------------

DEEP = "[" * 10_000 + "]" * 10_000
HUGE = "9" * 5000


@pytest.mark.parametrize("read_chars", [1024 * 1024, 333])
def test_deep_nesting_and_huge_integers_reject_their_element_in_an_array(monkeypatch, read_chars):
    monkeypatch.setattr(parse, "READ_CHARS", read_chars)
    elements = [json.dumps(EVENT), DEEP, json.dumps({**EVENT, "n": 1}) [:-1] + ', "big": ' + HUGE + "}",
                json.dumps({**EVENT, "user_id": "last"})]  # fmt: skip
    data = ("[" + ", ".join(elements) + "]").encode()
    result = validate_bytes(data, "events/e.json", EVENTS)
    assert list(result.good.index) == [1, 4]
    rejected = result.rejected.to_dict("records")
    assert [(r["row_number"], r["reason"]) for r in rejected] == [(2, "malformed_row"), (3, "malformed_row")]
    assert rejected[0]["detail"] == "JSON nested too deeply to read"
    assert "4300" in rejected[1]["detail"] and rejected[1]["value"].startswith('{"timestamp"')


def test_deep_nesting_and_huge_integers_reject_their_line_in_ndjson():
    lines = [json.dumps(EVENT), DEEP, '{"timestamp": ' + HUGE + "}", json.dumps(EVENT)]
    result = validate_bytes("\n".join(lines).encode(), "events/e.ndjson", EVENTS)
    assert list(result.good.index) == [1, 4]
    assert result.rejected["reason"].tolist() == ["malformed_row", "malformed_row"]


def test_deep_or_huge_csv_attributes_are_not_allowed_with_the_reason():
    header = "timestamp,event_type,user_id,action,attributes\n"
    rows = [f'2025-11-18T08:00:00Z,a,u{i},x,"{value}"\n' for i, value in
            enumerate(['{""a"": 1}', '{""a"": ' + DEEP + "}", '{""a"": ' + HUGE + "}"])]  # fmt: skip
    result = validate_bytes((header + "".join(rows)).encode(), "events/e.csv", EVENTS)
    assert list(result.good.index) == [1]
    details = result.rejected["detail"].tolist()
    assert result.rejected["reason"].tolist() == ["not_allowed", "not_allowed"]
    assert details[0] == "JSON nested too deeply to read" and "4300" in details[1]


# --- numbers PostgreSQL cannot store (CSV attributes kept as written) ------------------------------


@pytest.mark.parametrize(
    ("token", "fits"),
    [("1e-16383", True), ("1e-16384", False), ("1e-20000", False), ("0e-20000", False), ("0e20000", True),
     ("1e131071", True), ("1e131072", False), ("1000e131069", False), ("-1.5e-16382", True),
     ("0." + "1" * 16383, True), ("0." + "1" * 16384, False), ("1" * 131072, True), ("1" * 131073, False)],
)  # fmt: skip
def test_numeric_fits_is_postgresqls_own_limit(token, fits):
    assert numeric_fits(token) is fits


def test_the_cheap_filter_never_misses_a_number_postgresql_cannot_store():
    # Every number the JSON readers take as finite but numeric cannot hold must reach the exact check.
    rng = random.Random(7)
    tokens = []
    for _ in range(600):
        whole = str(rng.randint(1, 9)) + "7" * rng.choice([0, 2, 19, 7000])
        fraction = rng.choice(["", ".5", "." + "3" * 6500, "." + "3" * 17000])
        exponent = rng.choice(["", f"e-{rng.randint(0, 30000)}", f"E-00{rng.randint(0, 30000)}",
                               f"e{rng.randint(0, 400)}", f"e+{rng.randint(0, 20)}"])  # fmt: skip
        tokens.append(rng.choice(["0", whole]) + fraction + exponent)
    unstorable = [token for token in tokens if not numeric_fits(token) and is_finite_json(token)]
    assert len(unstorable) > 50  # the generator does make such numbers
    for token in unstorable:
        text = '{"x": ' + token + "}"
        assert may_not_fit_numeric(text, len(text)), token[:60]


def is_finite_json(token: str) -> bool:
    try:
        return math.isfinite(json.loads(token, parse_int=float))
    except (ValueError, OverflowError):
        return False


def test_attributes_are_kept_as_written_only_when_postgresql_can_store_them():
    header = "timestamp,event_type,user_id,action,attributes\n"
    values = ['{""x"": 1e-20000}', '{""x"": 1.5, ""id"": ""e12345""}', '{""x"": 0.' + "1" * 17000 + "}",
              '{""x"": 12345678901234567890123}']  # fmt: skip
    rows = "".join(f'2025-11-18T08:00:00Z,a,u{i},x,"{value}"\n' for i, value in enumerate(values, start=1))
    result = validate_bytes((header + rows).encode(), "events/e.csv", EVENTS)
    assert list(result.good.index) == [2, 4]
    assert result.good["attributes"].tolist() == ['{"x": 1.5, "id": "e12345"}', '{"x": 12345678901234567890123}']
    assert result.rejected[["row_number", "reason"]].values.tolist() == [[1, "not_allowed"], [3, "not_allowed"]]


# --- what a file writes to /tmp ---------------------------------------------------------------------


def test_a_gzip_that_expands_beyond_the_budget_is_too_large():
    data = gzip.compress(b"timestamp,event_type,user_id,action\n" + b"2025-11-18T08:00:00Z,a,u,x\n" * 50_000)
    with pytest.raises(FileRejected) as raised:
        list(read_chunks(io.BytesIO(data), "events/e.csv.gz", EVENTS, max_bytes=len(data) * 2))
    assert raised.value.code == "too_large" and "decompressed" in raised.value.detail
    assert sum(chunk.rows_total for chunk in read_chunks(io.BytesIO(data), "events/e.csv.gz", EVENTS)) == 50_000


def test_rejected_rows_are_listed_up_to_the_limit_and_every_one_is_counted(tmp_path):
    rejections = RejectionsFile(tmp_path / "rejected_rows.csv", max_lines=5)
    for start in (1, 4, 9):
        reasons = ["missing_value", "out_of_range", "missing_value"]
        frame = pd.DataFrame(
            {"row_number": range(start, start + 3), "column": "c", "reason": reasons, "value": "", "detail": "d"}
        )
        rejections.write(frame)
    lines = (tmp_path / "rejected_rows.csv").read_text().splitlines()
    assert len(lines) == 1 + 5 and lines[-1].startswith("5,")
    assert rejections.summary() == {"rejections_by_reason": {"missing_value": 6, "out_of_range": 3},
                                    "rejected_rows_listed": 5, "rejected_rows_truncated": True}  # fmt: skip


def test_outputs_keep_a_bounded_number_of_files_open_and_lose_no_row(tmp_path):
    # GIVEN rows of 30 days in an order that returns to each day again and again, 4 open files at most
    days = [date(2024, 1, 1) + timedelta(days=i % 30) for i in range(300)]
    timestamps = pd.to_datetime([f"{day}T08:00:00Z" for day in days], utc=True).astype("datetime64[us, UTC]")
    good = pd.DataFrame(
        {"timestamp": timestamps,
         "event_type": "a", "user_id": [f"u{i}" for i in range(300)], "action": "x", "attributes": "{}"},
        index=pd.Index(range(1, 301), name="row_number"),
    )  # fmt: skip
    good = good.astype({"event_type": "string", "user_id": "string", "action": "string", "attributes": "string"})

    with Outputs(EVENTS, "f", "ab" * 32, date(2024, 1, 1), tmp_path, max_open_writers=4) as outputs:
        for start in range(0, 300, 7):
            part = good.iloc[start : start + 7]
            outputs.write(part, to_arrow(part, EVENTS))
            assert len(outputs.writers) <= 4
        written = outputs.close()

    # THEN every row is in exactly one file of its day; days that came back have more parts
    rows = []
    for key, path in written.items():
        table = pq.read_table(path)
        assert {value.date().isoformat() for value in table.column("timestamp").to_pylist()} == {key.split("/")[1][3:]}
        rows += table.column("source_row").to_pylist()
    assert sorted(rows) == list(range(1, 301))
    assert processed_key("events", "f", "ab" * 32, date(2024, 1, 1), part=2) in written


def test_outputs_closed_by_an_error_leave_no_file_open(tmp_path):
    table = pa.table({"source_row": [1]})
    outputs = Outputs(EVENTS, "f", "ab" * 32, date(2024, 1, 1), tmp_path)
    with pytest.raises(RuntimeError), outputs:
        outputs.writers[date(2024, 1, 1)] = pq.ParquetWriter(tmp_path / "x.parquet", table.schema)
        raise RuntimeError("boom")
    assert not outputs.writers


# --- messages every store takes; memory that does not grow with the keys --------------------------


def test_details_are_storable_and_bounded():
    assert storable("a\x00b\ud800c") == "a\\u0000b\\ud800c"
    long = storable("k" * 5000)
    assert len(long) == 1000 and long.endswith("…")
    assert FileRejected("missing_columns", "has: \x00").detail == "has: \\u0000"


def test_json_keys_are_remembered_in_bounded_memory():
    keys = KeysSeen()
    for i in range(100_000):
        keys.add_other(f"key-{i}")
    assert len(keys.others) == parse.MAX_KEYS_NAMED and keys.more
    assert keys.describe().endswith(", and more")


def unique_key_events(count: int, unique: bool) -> bytes:
    """NDJSON events with one extra top-level key each: the same key, or a key of its own."""
    return "\n".join(json.dumps({**EVENT, (f"k{i}" if unique else "k"): i}) for i in range(count)).encode()


def peak_bytes(data: bytes) -> int:
    tracemalloc.start()
    try:
        for chunk in read_chunks(io.BytesIO(data), "events/e.ndjson", EVENTS, chunk_chars=64 * 1024):
            del chunk
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_distinct_keys():
    # 20,000 distinct keys held for the whole file took 1.5 MB more than one key (3.2 MB at peak)
    shared, unique = peak_bytes(unique_key_events(20_000, False)), peak_bytes(unique_key_events(20_000, True))
    assert unique < shared * 1.1, (shared, unique)


def test_retina_dates_in_the_corpus_style_are_checked_strictly():
    scan = {"patient_id": "p", "patient_name": "n", "scan_date": "9999-12-31", "retina_thickness_microns": 250,
            "optic_disc_cup_ratio": 0.3, "diagnosis": "normal"}  # fmt: skip
    assert list(validate_bytes(json.dumps([scan]).encode(), "retina/r.json", RETINA).good.index) == [1]

