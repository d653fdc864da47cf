"""CSV blocks read by Arrow must give exactly what reading record by record (csv module) gives.

parse.arrow_fields reads whole blocks with Arrow's CSV reader when it can prove the text is
simple, and hands everything else to the record-by-record reader. These tests read the same bytes
both ways - once as usual, once with arrow_fields disabled - and compare every row number, value,
rejection and file-level error. The fuzz cases mix quotes, doubled quotes, separators, blank lines,
CRLF/CR, spaces before quotes, short/long rows and quoted line breaks in small blocks, so that a
file switches from the fast path to the record path at many different places.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import numpy as np
import pytest
from pipeline import parse
from pipeline.contracts import EVENTS, HOUSING
from pipeline.errors import FileRejected
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parents[1] / "fixtures" / "bad_inputs"
EVENTS_HEADER = "timestamp,event_type,user_id,action,attributes"
HOUSING_HEADER = ",".join(HOUSING.column_names)
PIECES = ["a", "b c", " x", "y ", '"q"', '"a,b"', '"say ""hi"""', '""', '{"k": 1}', '"{""k"": 1}"']
PIECES += ["2025-01-01T00:00:00Z"]
NOISE = ['"', ' "quoted"', '"open', 'a"b', '"a"b', "\t", ";", ""]


def read_all(data: bytes, key: str, contract, chunk_chars: int):
    """Everything the parser produced: per row (number, values), the rejections, the total, or the
    file-level error."""
    try:
        rows, rejections, total = [], [], 0
        reader = parse.read_chunks(io.BytesIO(data), key, contract, chunk_chars)
        for chunk in reader:
            columns = [chunk.column_values(name) for name in chunk.columns]
            rows += [(number, *values) for number, *values in zip(chunk.rows, *columns, strict=True)]
            rejections += chunk.rejections
            total += chunk.rows_total
        return rows, rejections, total
    except FileRejected as exc:
        return ("rejected", exc.code, exc.detail)


def both_ways(monkeypatch, data: bytes, key: str, contract, chunk_chars: int):
    fast = read_all(data, key, contract, chunk_chars)
    with monkeypatch.context() as patched:
        patched.setattr(parse, "arrow_fields", lambda *args: None)
        by_record = read_all(data, key, contract, chunk_chars)
    return fast, by_record


def random_line(rng: random.Random, width: int) -> str:
    fields = [rng.choice(PIECES) for _ in range(width + rng.choice([0, 0, 0, 0, -1, 1]))]
    if rng.random() < 0.15:
        fields[rng.randrange(len(fields))] = rng.choice(NOISE)
    line = ",".join(fields)
    if rng.random() < 0.03:
        line = '"multi\nline",' + line
    if rng.random() < 0.03:
        line = rng.choice(["", "   ", ",,,,", " , , , , "])
    return line + rng.choice(["\n"] * 12 + ["\r\n", "\r"])


@pytest.mark.parametrize("seed", range(300))
def test_random_csv_reads_the_same_both_ways(monkeypatch, seed):
    rng = random.Random(seed)
    width = 5
    lines = [random_line(rng, width) for _ in range(rng.randint(1, 40))]
    data = (EVENTS_HEADER + "\n" + "".join(lines)).encode()
    chunk_chars = rng.choice([1, 40, 200, 10_000])
    fast, by_record = both_ways(monkeypatch, data, "events/fuzz.csv", EVENTS, chunk_chars)
    assert fast == by_record


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*/*.csv*")), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_the_bad_input_corpus_reads_the_same_both_ways(monkeypatch, path):
    contract = EVENTS if path.parent.name == "events" else HOUSING
    for chunk_chars in (64, parse.CHUNK_CHARS):
        key = f"{path.parent.name}/{path.name}"
        fast, by_record = both_ways(monkeypatch, path.read_bytes(), key, contract, chunk_chars)
        assert fast == by_record


def test_clean_blocks_take_the_fast_path(monkeypatch):
    """The equivalence above would hold trivially if the fast path never ran."""
    calls = []
    real = parse.arrow_fields
    monkeypatch.setattr(parse, "arrow_fields", lambda *args: calls.append(real(*args)) or calls[-1])
    row = '2025-01-01T00:00:00Z,click,u1,open,"{""page"": ""/""}"\n'
    read_all((EVENTS_HEADER + "\n" + row * 50).encode(), "events/x.csv", EVENTS, chunk_chars=200)
    assert len(calls) > 1 and all(fields is not None for fields in calls)


@pytest.mark.parametrize(
    "text",
    [
        'a,"b"c\n',  # characters after a closing quote: the csv module rejects the file
        'a, "b,c"\n',  # a space before an opening quote
        'a,b"c\n',  # a quote inside an unquoted field
        '"a\nb",c\n',  # a quoted line break
        "a,b\rc,d\n",  # a lone CR ends a line
        "a,b\n\nc,d\n",  # a blank line
    ],
)
def test_text_arrow_could_read_differently_goes_record_by_record(text):
    assert parse.arrow_fields(text, 2, ",") is None


QUOTED_FIELD = re.compile(r'"[^"\r\n]*(?:""[^"\r\n]*)*"')  # on one line; "" is a quote inside


def quoting_by_regex(block: str, delimiter: str) -> bool:
    """The quoting check as first written (a regular expression over the text): the reference
    for parse.simple_quoting, which checks the same with numpy on the bytes."""
    marked = QUOTED_FIELD.sub("\x01", block)
    if '"' in marked:
        return False
    opened = marked.count(delimiter + "\x01") + marked.count("\n\x01") + marked.startswith("\x01")
    closed = marked.count("\x01" + delimiter) + marked.count("\x01\n") + marked.count("\x01\r\n")
    return marked.count("\x01") == opened == closed + marked.endswith("\x01")


@pytest.mark.parametrize("seed", range(40))
def test_the_quoting_check_agrees_with_the_regular_expression(seed):
    rng = random.Random(seed)
    pieces = ['"', '""', ",", ";", "a", "é", " ", "\n", "\r\n"]
    for _ in range(250):
        delimiter = rng.choice([",", ";"])
        block = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        raw = np.frombuffer(block.encode(), dtype=np.uint8)
        line_ends = np.flatnonzero(raw == parse.NEWLINE)
        assert parse.simple_quoting(raw, line_ends, delimiter) == quoting_by_regex(block, delimiter), repr(block)


def validated(data: bytes, key: str, contract, chunk_chars: int):
    """What validation makes of a file: the good rows (values and dtypes), the rejections, the
    total; or the file-level error."""
    try:
        result = validate_bytes(data, key, contract, chunk_chars)
    except FileRejected as exc:
        return ("rejected", exc.code, exc.detail)
    good = result.good
    return (
        list(good.index),
        {name: (str(good[name].dtype), good[name].astype("object").tolist()) for name in good.columns},
        result.rejected.astype("object").values.tolist(),
        result.rows_total,
    )


TIMESTAMPS = ["2025-01-01T00:00:00Z", "2025-01-01 08:00+02:00", "2025-02-30T00:00:00Z", "2025", "", " 2025-01-02",
              "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z", "2025-01-01T00:00:00.123456789"]
EVENT_VALUES = ["click", "", " padded ", "ü", "a,b", '"quoted"']
HOUSING_VALUES = ["-122.2", "37.8", "41", "880", "", "x", "1e3", "-1", "NEAR BAY", "INLAND", "nowhere", " ISLAND "]


def random_validated_line(rng: random.Random, contract) -> str:
    if contract is EVENTS:
        values = [rng.choice(TIMESTAMPS), *(rng.choice(EVENT_VALUES) for _ in range(3)), rng.choice(ATTRIBUTES)]
    else:
        values = [rng.choice(HOUSING_VALUES) for _ in range(10)]
    line = ",".join(f'"{value}"' if "," in value and not value.startswith('"') else value for value in values)
    return line + rng.choice(["\n"] * 10 + ["\r\n"])


ATTRIBUTES = ['"{""k"": 1}"', "", '"{}"', '"[1]"', "not json", '"{""n"": ""\\u0000""}"']


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("contract", [EVENTS, HOUSING], ids=["events", "housing"])
def test_random_csv_validates_the_same_both_ways(monkeypatch, seed, contract):
    # GIVEN a CSV file of good and bad values (columns Arrow reads are checked in Arrow)
    rng = random.Random(seed)
    header = EVENTS_HEADER if contract is EVENTS else HOUSING_HEADER
    data = (header + "\n" + "".join(random_validated_line(rng, contract) for _ in range(rng.randint(1, 60)))).encode()
    chunk_chars = rng.choice([200, 10_000])
    # WHEN it is validated with the fast path and record by record THEN everything is the same
    fast = validated(data, "x/fuzz.csv", contract, chunk_chars)
    with monkeypatch.context() as patched:
        patched.setattr(parse, "arrow_fields", lambda *args: None)
        by_record = validated(data, "x/fuzz.csv", contract, chunk_chars)
    assert fast == by_record
