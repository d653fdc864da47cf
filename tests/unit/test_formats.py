"""Formats: extension and content detection, gzip, encodings, JSON arrays and NDJSON, and the
file-level and row-level reasons each can produce."""

from __future__ import annotations

import gzip
import json

import pytest
from pipeline.contracts import EVENTS, RETINA
from pipeline.errors import FileRejected
from pipeline.formats import split_name
from pipeline.parse import MAX_RECORD_CHARS
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

SCAN = {"patient_id": "A12345", "patient_name": "Ikerian A", "scan_date": "2025-01-01",
        "retina_thickness_microns": 275, "optic_disc_cup_ratio": 0.4, "diagnosis": "normal"}  # fmt: skip
EVENT = {"timestamp": "2025-11-18T08:00:00Z", "event_type": "click", "user_id": "u1", "action": "buy"}
EVENT_CSV = b"timestamp,event_type,user_id,action\n2025-11-18T08:00:00Z,click,u1,buy\n"


def as_array(*records) -> bytes:
    return json.dumps(list(records)).encode()


def as_lines(*records) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def code_of(data: bytes, key: str) -> str:
    contract = RETINA if key.startswith("retina/") else EVENTS
    with pytest.raises(FileRejected) as caught:
        validate_bytes(data, key, contract)
    return caught.value.code


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("events/day.csv", ("day", "csv", False)),
        ("events/day.TSV", ("day", "csv", False)),
        ("events/2025/day one.csv.gz", ("day one", "csv", True)),
        ("events/day.ndjson", ("day", "ndjson", False)),
        ("events/day.jsonl.GZ", ("day", "ndjson", True)),
        ("retina/scans.json", ("scans", "json", False)),
        ("retina/2025/scans.v2.json.gz", ("scans.v2", "json", True)),
    ],
)
def test_the_format_comes_from_the_extension(key, expected):
    assert split_name(key) == expected


@pytest.mark.parametrize(
    "key", ["events/a.xlsx", "events/a.parquet", "events/a.txt", "events/a.xml.gz", "events/a.zip"]
)
def test_other_extensions_are_unsupported(key):
    with pytest.raises(FileRejected) as caught:
        split_name(key)
    assert caught.value.code == "unsupported_format"


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("events/a.json", as_array(EVENT, EVENT)),
        ("events/a.json", json.dumps([EVENT, EVENT], indent=2).replace("\n", "\r\n").encode()),
        ("events/a.ndjson", as_lines(EVENT, EVENT)),
        ("events/a.jsonl", as_lines(EVENT, EVENT).replace(b"\n", b"\r\n")),
        ("events/a.json", b"\xef\xbb\xbf" + as_array(EVENT, EVENT)),
        ("events/a.json.gz", gzip.compress(as_array(EVENT, EVENT))),
        ("events/a.ndjson.gz", gzip.compress(as_lines(EVENT, EVENT))),
        ("events/a.jsonl.gz", gzip.compress(as_lines(EVENT, EVENT))),
        ("events/a.csv.gz", gzip.compress(EVENT_CSV + EVENT_CSV.split(b"\n")[1] + b"\n")),
        ("events/a.tsv.gz", gzip.compress((EVENT_CSV + EVENT_CSV.split(b"\n")[1] + b"\n").replace(b",", b"\t"))),
        ("events/a.csv", gzip.compress(EVENT_CSV + EVENT_CSV.split(b"\n")[1] + b"\n")),  # gzip magic, no .gz
    ],
    ids=["array", "array-pretty-crlf", "ndjson", "jsonl-crlf", "bom-array", "array-gz", "ndjson-gz", "jsonl-gz",
         "csv-gz", "tsv-gz", "gzip-magic"],
)  # fmt: skip
def test_every_format_reads_the_same_two_events(key, data):
    result = validate_bytes(data, key, EVENTS)
    assert len(result.good) == 2 and result.rejected.empty
    assert result.good["event_type"].tolist() == ["click", "click"]


@pytest.mark.parametrize(
    ("key", "data", "code"),
    [
        ("retina/a.json", b"", "empty_file"),
        ("retina/a.json", b"  \n\t ", "empty_file"),
        ("retina/a.json", gzip.compress(b""), "empty_file"),
        ("retina/a.json.gz", gzip.compress(b"\xef\xbb\xbf\n"), "empty_file"),
        ("events/a.ndjson", b"\n\n", "empty_file"),
        ("retina/a.json", b"[]", "header_only"),
        ("retina/a.json", b" [ \n ] \n", "header_only"),
        ("retina/a.json", b"[" + json.dumps(SCAN).encode(), "unparseable"),
        ("retina/a.json", b"[" + json.dumps(SCAN).encode() + b",]", "unparseable"),
        ("retina/a.json", b"[" + json.dumps(SCAN).encode() + b"] []", "unparseable"),
        ("retina/a.json", b'[{"patient_id": "A1" "x": 2}]', "unparseable"),
        ("retina/a.json", b'"just a string"', "unparseable"),
        ("retina/a.json", b"42", "unparseable"),
        ("retina/a.json", b'{\n  "patient_id": "A1"\n}\n', "unparseable"),
        ("retina/a.json", json.dumps(SCAN).encode(), "unparseable"),
        ("retina/a.json", json.dumps({"scans": [SCAN]}).encode(), "unparseable"),
        ("retina/a.json", as_array({**SCAN, "notes": "x" * MAX_RECORD_CHARS}), "line_too_long"),
        ("events/a.ndjson", json.dumps({**EVENT, "x": "y" * MAX_RECORD_CHARS}).encode(), "line_too_long"),
        ("retina/a.json.gz", gzip.compress(as_array(SCAN))[:-12], "truncated_gzip"),
        ("retina/a.json.gz", gzip.compress(as_array(SCAN))[:20], "truncated_gzip"),
        ("retina/a.json.gz", as_array(SCAN), "truncated_gzip"),
        ("retina/a.json.gz", gzip.compress(as_array(SCAN))[:-30] + b"garbage!" * 4, "truncated_gzip"),
        ("retina/a.json", as_array(SCAN).replace(b"Ikerian", b"Ik\xe9rian"), "bad_encoding"),
        ("retina/a.json", as_array(SCAN).decode().encode("utf-16"), "binary_file"),
        ("retina/a.json", as_array(SCAN).decode().encode("utf-16-le"), "binary_file"),
        ("retina/a.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_file"),
        ("retina/a.json", as_array({k: v for k, v in SCAN.items() if k != "diagnosis"}), "missing_columns"),
        ("events/a.ndjson", as_lines({"Timestamp": "2025-01-01"}, {"user_id": "u"}), "missing_columns"),
        ("retina/a.json", as_array(1, "two", [3]), "no_valid_rows"),
        ("events/a.ndjson", b"{bad json\n[1, 2]\n", "no_valid_rows"),
    ],
    ids=["zero", "whitespace", "gzip-of-nothing", "gzip-of-bom", "ndjson-blank-lines", "empty-array",
         "empty-array-spaced", "no-closing-bracket", "trailing-comma", "data-after-array", "missing-comma",
         "top-level-string", "top-level-number", "pretty-single-object", "single-object", "wrapped-array",
         "long-element", "long-line",
         "gzip-cut-short", "gzip-header-only", "gz-not-gzip", "gzip-corrupt-tail", "latin1", "utf16-bom",
         "utf16-no-bom", "png", "field-in-no-record", "ndjson-required-field-in-no-record", "no-objects",
         "ndjson-nothing-valid"],
)  # fmt: skip
def test_files_that_cannot_be_used_are_rejected_whole(key, data, code):
    assert code_of(data, key) == code


def test_an_element_that_is_not_an_object_is_a_malformed_row():
    result = validate_bytes(as_array(SCAN, [1, 2], "x", None, SCAN), "retina/a.json", RETINA)
    assert list(result.good.index) == [1, 5]
    rejected = result.rejected.to_dict("records")
    assert [(r["row_number"], r["column"], r["reason"]) for r in rejected] == [
        (2, "", "malformed_row"),
        (3, "", "malformed_row"),
        (4, "", "malformed_row"),
    ]
    assert rejected[0]["detail"] == "expected a JSON object, found an array" and rejected[0]["value"] == "[1, 2]"


def test_an_ndjson_line_that_is_not_json_or_not_an_object_is_a_malformed_row_numbered_by_line():
    data = as_lines(EVENT) + b"\n{not json\n" + as_lines([EVENT]) + as_lines(EVENT)
    result = validate_bytes(data, "events/a.ndjson", EVENTS)
    assert list(result.good.index) == [1, 5] and result.rows_total == 4
    assert result.rejected[["row_number", "reason"]].values.tolist() == [[3, "malformed_row"], [4, "malformed_row"]]
    assert result.rejected["detail"][0].startswith("not valid JSON")


@pytest.mark.parametrize("value", [{"nested": 1}, [275], True])
def test_a_non_scalar_where_a_value_is_required_is_the_wrong_type(value):
    result = validate_bytes(as_array(SCAN, {**SCAN, "retina_thickness_microns": value}), "retina/a.json", RETINA)
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [
        [2, "retina_thickness_microns", "wrong_type"]
    ]


def test_json_keys_match_columns_ignoring_case_and_numbers_may_be_strings():
    record = {"Patient_ID ": "A1", "PATIENT_NAME": "B", "scan_date": "2025-03-04",
              "retina_thickness_microns": "301.5", "optic_disc_cup_ratio": 1, "diagnosis": "normal"}  # fmt: skip
    good = validate_bytes(as_array(record), "retina/a.json", RETINA).good
    assert good["patient_id"].tolist() == ["A1"] and good["retina_thickness_microns"].tolist() == [301.5]


def test_a_null_or_absent_required_value_is_missing():
    result = validate_bytes(
        as_array(SCAN, {**SCAN, "diagnosis": None}, {k: v for k, v in SCAN.items() if k != "patient_name"}),
        "retina/a.json",
        RETINA,
    )
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [
        [2, "diagnosis", "missing_value"],
        [3, "patient_name", "missing_value"],
    ]
