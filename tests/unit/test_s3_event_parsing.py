"""S3 notifications inside SQS bodies: decoded keys, versions, the test event, malformed bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pipeline.events import MalformedMessage, parse_message

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "functions" / "processor" / "events"


def body_of(event_file: str) -> str:
    return json.loads((EVENTS / event_file).read_text())["Records"][0]["body"]


def s3_body(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def record(key: str, **object_fields) -> dict:
    return {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2025-11-20T08:15:30.123Z",
        "s3": {"bucket": {"name": "raw"}, "object": {"key": key, **object_fields}},
    }


def test_object_created_event_names_bucket_key_etag_and_time():
    (ref,) = parse_message(body_of("sqs_s3_object_created.json"))
    assert ref.bucket == "tidewater-local-raw"
    assert ref.key == "housing/california_housing.csv"
    assert ref.dataset == "housing"
    assert ref.etag == "d1c47305887e2252bf1ccbd74ff159a6" and ref.version_id is None
    assert ref.idempotency_version == ref.etag  # unversioned bucket: the ETag identifies the version
    assert ref.size == 1423529
    assert ref.event_time == datetime(2025, 11, 20, 8, 15, 30, 123000, tzinfo=UTC)
    assert ref.is_created and not ref.is_folder_marker


def test_keys_are_url_decoded_and_the_version_id_wins():
    (ref,) = parse_message(body_of("sqs_s3_encoded_key.json"))
    assert ref.key == "housing/2025 Q4/california housing (copy).csv"
    assert ref.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert ref.idempotency_version == ref.version_id


def test_a_plus_sign_in_a_key_arrives_encoded_as_2b():
    (ref,) = parse_message(s3_body(record("housing/a%2Bb+c.csv", eTag="e")))
    assert ref.key == "housing/a+b c.csv"


def test_the_s3_test_event_names_no_object():
    assert parse_message(body_of("sqs_s3_test_event.json")) == []


def test_one_message_may_carry_several_records():
    refs = parse_message(s3_body(record("housing/a.csv", eTag="1"), record("events/b.json", eTag="2")))
    assert [(r.key, r.dataset) for r in refs] == [("housing/a.csv", "housing"), ("events/b.json", "events")]


def test_a_key_without_a_prefix_has_no_dataset():
    (ref,) = parse_message(s3_body(record("loose.csv", eTag="1")))
    assert ref.dataset == ""


def test_quoted_etags_are_unquoted():
    (ref,) = parse_message(s3_body(record("housing/a.csv", eTag='"abc"')))
    assert ref.etag == "abc"


def test_a_notification_forwarded_through_sns_is_unwrapped():
    envelope = {"Type": "Notification", "Message": s3_body(record("housing/a.csv", eTag="1"))}
    (ref,) = parse_message(json.dumps(envelope))
    assert ref.key == "housing/a.csv"


def test_removal_events_are_recognised_as_not_creating_a_file():
    removed = dict(record("housing/a.csv"), eventName="ObjectRemoved:Delete")
    (ref,) = parse_message(s3_body(removed))
    assert not ref.is_created


@pytest.mark.parametrize(
    "body",
    [
        "this is not an S3 notification",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        json.dumps({"Records": "nope"}),
        s3_body({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "raw"}}}),
        s3_body(dict(record("housing/a.csv"), eventTime="yesterday")),
    ],
    ids=["text", "json-array", "json-object", "records-not-list", "record-without-object", "bad-time"],
)
def test_malformed_bodies_raise_malformed_message(body):
    with pytest.raises(MalformedMessage):
        parse_message(body)


def test_the_malformed_example_event_is_malformed():
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_message(body_of("sqs_malformed_body.json"))


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("housing/may+2024/county+export.csv", "housing/may 2024/county export.csv"),
        ("housing/caf%C3%A9+donn%C3%A9es.csv", "housing/café données.csv"),
        ("housing/q1%2Bq2+totals.csv", "housing/q1+q2 totals.csv"),
        ("housing/../housing/dot-dot+segments.csv", "housing/../housing/dot-dot segments.csv"),
        ("housing/100%25+sample+%2541+literal.csv", "housing/100% sample %41 literal.csv"),
        ("housing/report+%233%3F+%28final%29.csv", "housing/report #3? (final).csv"),
        ("events/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E3%83%AD%E3%82%B0+%F0%9F%9A%80.ndjson", "events/日本語/ログ 🚀.ndjson"),
    ],
)
def test_keys_are_decoded_exactly_once(encoded, decoded):
    (ref,) = parse_message(s3_body(record(encoded, eTag="e")))
    assert ref.key == decoded
    assert ref.dataset == decoded.partition("/")[0]
