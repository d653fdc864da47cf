"""The retina and events contracts: the seed files load whole; each rule rejects with its code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline.contracts import CONTRACTS, EVENTS, JSON, PARQUET, RETINA, contract_for
from pipeline.validate import validate_bytes

pytestmark = pytest.mark.unit

SEED = Path(__file__).resolve().parents[2] / "seed_data"
SCAN = {"patient_id": "A12345", "patient_name": "Ikerian A", "scan_date": "2025-01-01",
        "retina_thickness_microns": 275, "optic_disc_cup_ratio": 0.4, "diagnosis": "normal"}  # fmt: skip
EVENT = {"timestamp": "2025-11-18T08:00:00Z", "event_type": "click", "user_id": "u1", "action": "buy"}


def test_every_dataset_has_a_contract_with_a_table_and_an_output():
    assert set(CONTRACTS) == {"housing", "retina", "events"}
    assert contract_for("retina") is RETINA and contract_for("events") is EVENTS
    assert (RETINA.table, RETINA.output, RETINA.json_fields) == ("retina_scans", JSON, ("patient_id", "patient_name"))
    assert (EVENTS.table, EVENTS.output, EVENTS.summary_table) == ("events", PARQUET, "event_counts_by_type")
    assert EVENTS.output_columns == ["timestamp", "event_type", "user_id", "action", "attributes"]


def test_the_retina_seed_loads_completely_and_typed():
    data = (SEED / "retina" / "retina_scans.json").read_bytes()
    result = validate_bytes(data, "retina/retina_scans.json", RETINA)
    assert len(result.good) == len(json.loads(data)) and result.rejected.empty
    assert str(result.good["retina_thickness_microns"].dtype) == "float64"
    assert str(result.good["scan_date"].iloc[0]) == "2025-01-01"


@pytest.mark.parametrize(
    ("name", "rows"),
    [("events.csv", 400), ("events.ndjson", 350), ("events.json", 300)],
)
def test_the_events_seeds_load_completely(name, rows):
    result = validate_bytes((SEED / "events" / name).read_bytes(), f"events/{name}", EVENTS)
    assert len(result.good) == rows and result.rejected.empty
    assert str(result.good["timestamp"].dtype) == "datetime64[us, UTC]"
    assert all(json.loads(text)["page"] for text in result.good["attributes"])


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("patient_id", "", "missing_value"),
        ("patient_id", None, "missing_value"),
        ("patient_name", "  ", "missing_value"),
        ("scan_date", "14/03/2024", "bad_date"),
        ("scan_date", "2024-02-30", "bad_date"),
        ("scan_date", 20240101, "bad_date"),
        ("retina_thickness_microns", 0, "out_of_range"),
        ("retina_thickness_microns", 1500, "out_of_range"),
        ("retina_thickness_microns", "thick", "not_a_number"),
        ("optic_disc_cup_ratio", 1.35, "out_of_range"),
        ("optic_disc_cup_ratio", -0.1, "out_of_range"),
        ("diagnosis", "", "missing_value"),
        ("patient_name", {"first": "A"}, "wrong_type"),
    ],
)
def test_each_retina_rule_rejects_the_scan(column, value, reason):
    result = validate_bytes(json.dumps([SCAN, {**SCAN, column: value}]).encode(), "retina/a.json", RETINA)
    assert list(result.good.index) == [1]
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [[2, column, reason]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-11-18T08:00:00Z", "2025-11-18 08:00:00+00:00"),
        ("2025-11-18T10:00:00+02:00", "2025-11-18 08:00:00+00:00"),
        ("2025-11-18 08:00:00.123456", "2025-11-18 08:00:00.123456+00:00"),  # no offset: UTC
        ("2025-11-18", "2025-11-18 00:00:00+00:00"),
    ],
)
def test_timestamps_are_iso_8601_and_stored_in_utc(value, expected):
    good = validate_bytes(json.dumps([{**EVENT, "timestamp": value}]).encode(), "events/a.json", EVENTS).good
    assert str(good["timestamp"].iloc[0]) == expected


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", "2025-02-30T10:00:00Z", "11/18/2025 08:00",
                                   "2025-11-18T25:00:00Z"])  # fmt: skip
def test_a_timestamp_that_is_not_iso_8601_is_a_bad_timestamp(value):
    result = validate_bytes(json.dumps([EVENT, {**EVENT, "timestamp": value}]).encode(), "events/a.json", EVENTS)
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [[2, "timestamp", "bad_timestamp"]]


def test_extra_keys_and_an_attributes_object_become_the_attributes():
    records = [
        {**EVENT, "attributes": {"page": "/", "n": 2}, "device": "mobile"},
        {**EVENT, "Page": "/cart"},
        EVENT,
        {**EVENT, "attributes": "not an object"},
        {**EVENT, "attributes": None, "x": "\u0000"},
    ]
    result = validate_bytes(json.dumps(records).encode(), "events/a.json", EVENTS)
    assert [json.loads(text) for text in result.good["attributes"]] == [
        {"page": "/", "n": 2, "device": "mobile"},
        {"Page": "/cart"},
        {},
    ]
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [
        [4, "attributes", "wrong_type"],
        [5, "attributes", "not_allowed"],
    ]


def test_extra_csv_columns_become_attributes_and_empty_cells_are_left_out():
    data = (
        b"timestamp;event_type;user_id;action;page;referrer\r\n"
        b'2025-11-18T08:00:00Z;click;u1;buy;"/a;b";\r\n'
        b"2025-11-18T09:00:00Z;view;u2;open;/;google\r\n"
    )
    good = validate_bytes(b"\xef\xbb\xbf" + data, "events/a.csv", EVENTS).good
    assert [json.loads(text) for text in good["attributes"]] == [{"page": "/a;b"}, {"page": "/", "referrer": "google"}]


def test_a_nul_character_escaped_in_json_is_not_allowed_in_text():
    result = validate_bytes(json.dumps([SCAN, {**SCAN, "diagnosis": "a\u0000b"}]).encode(), "retina/a.json", RETINA)
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [[2, "diagnosis", "not_allowed"]]


def test_an_attribute_jsonb_cannot_hold_is_not_allowed_instead_of_failing_the_load():
    # NaN/Infinity parse as JSON numbers in Python but are not JSON: PostgreSQL would reject the COPY.
    lines = [json.dumps({**EVENT, "attributes": {"score": 1}}), json.dumps({**EVENT, "score": float("nan")})]
    result = validate_bytes("\n".join(lines).encode(), "events/a.ndjson", EVENTS)
    assert [json.loads(text) for text in result.good["attributes"]] == [{"score": 1}]
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [[2, "attributes", "not_allowed"]]


def test_a_csv_attributes_object_is_kept_as_written_and_a_bad_one_is_reported():
    data = (
        b"timestamp,event_type,user_id,action,attributes\n"
        b'2025-11-18T08:00:00Z,click,u1,buy,"{""b"": 1, ""a"": [2]}"\n'
        b"2025-11-18T08:00:01Z,click,u1,buy,\n"
        b'2025-11-18T08:00:02Z,click,u1,buy,"[1, 2]"\n'
        b'2025-11-18T08:00:03Z,click,u1,buy,"{""n"": NaN}"\n'
    )
    result = validate_bytes(data, "events/a.csv", EVENTS)
    assert result.good["attributes"].tolist() == ['{"b": 1, "a": [2]}', "{}"]
    assert result.rejected[["row_number", "column", "reason"]].values.tolist() == [
        [3, "attributes", "wrong_type"],
        [4, "attributes", "not_allowed"],
    ]
