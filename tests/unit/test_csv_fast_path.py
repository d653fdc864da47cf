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
from pathlib import Path

import pytest
from pipeline import parse
from pipeline.contracts import EVENTS, HOUSING
from pipeline.errors import FileRejected

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parents[1] / "fixtures" / "bad_inputs"
EVENTS_HEADER = "timestamp,event_type,user_id,action,attributes"
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
            columns = [list(chunk.values[name]) for name in chunk.columns]
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
