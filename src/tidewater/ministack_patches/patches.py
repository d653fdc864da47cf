"""MiniStack 1.5.33 start-up patches: where it differs from AWS in ways our stack cannot accept.

Each patch wraps one of MiniStack's module functions before the server starts (MiniStack looks
them up by name at call time). Each says what is wrong upstream; drop a patch when the pinned
MiniStack (requirements/ministack.txt) fixes its bug. tests/e2e/test_emulator_api.py shows each
fix through the real API (on LocalStack too, which needs none), and
tests/e2e/test_stack_lifecycle.py's plan-after-deploy shows what Terraform would see without them.

run_functions_with_the_runtime_venv - MiniStack starts a Python function's execution environment
  with its own interpreter (``sys.executable``, whatever the function's Runtime), so everything in
  MiniStack's venv is importable by the function, which AWS would refuse. We start it with
  ``$TIDEWATER_LAMBDA_RUNTIMES_DIR/<runtime>/bin/python`` instead: the venv that runs functions on
  LocalStack too, with only the boto3 of AWS's runtime. A runtime without a venv fails clearly.

describe_alarms_with_every_field - DescribeAlarms over the XML query protocol (what the aws
  provider 5.100 speaks) answers each metric alarm with name, ARN, state, metric, namespace,
  threshold, operator and evaluation periods only: Dimensions, Period, Statistic, AlarmActions,
  OKActions, InsufficientDataActions, TreatMissingData, ActionsEnabled, AlarmDescription, Unit and
  the timestamps are missing (they are stored; the JSON and CBOR answers have them), and values
  are not XML-escaped. Terraform then plans to change every alarm after each apply. We render the
  page MiniStack selects (its JSON answer) as complete, escaped XML.

keep_multipart_upload_tags - CreateMultipartUpload ignores its ``x-amz-tagging`` header, so an
  object uploaded in parts has no tags (an ``aws_s3_object`` over 5 MB: a ``tags_all`` change on
  every plan). We keep the tags with the upload and give them to the object CompleteMultipartUpload
  creates, as PutObject does with the same header.

give_log_events_ids - the log lines MiniStack writes itself (a Lambda function's output, START,
  END, REPORT) are stored without the ``eventId`` that PutLogEvents gives its events, so
  FilterLogEvents answers them without one, which AWS never does (`tidewater logs` dedupes by it).
  Every event stored without an id gets one, as PutLogEvents does.

page_object_versions_past_the_marker - ListObjectVersions resumes at its markers inclusively when
  the version-id marker is ``null``, which it answers for a key without versions (any key of an
  unversioned bucket) and after a common prefix: the next page lists that key again, or rolls the
  same prefix up again (boto3 stops: the same next token twice). We pass it the markers S3 would
  resume after: a key without versions is passed by itself, a common prefix by its last key.
"""

from __future__ import annotations

import html
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

from ministack.core import lambda_runtime
from ministack.core.responses import new_uuid
from ministack.services import cloudwatch, cloudwatch_logs, s3

# ---- run_functions_with_the_runtime_venv --------------------------------------------------------


def runtime_python(runtime: str, runtimes_dir: str | None) -> str:
    """The python of the runtime venv for `runtime` (python3.13 -> <dir>/python3.13/bin/python)."""
    if not runtimes_dir:
        raise RuntimeError("TIDEWATER_LAMBDA_RUNTIMES_DIR is not set: start MiniStack with `tidewater up`")
    python = Path(runtimes_dir) / runtime / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"runtime {runtime} is not installed: no {python} (TIDEWATER_LAMBDA_RUNTIMES_DIR)")
    return str(python)


def run_functions_with_the_runtime_venv() -> None:
    original = lambda_runtime._detect_runtime_binary

    def detect_runtime_binary(runtime: str) -> tuple[str, str]:
        binary, worker_script = original(runtime)
        if runtime.startswith("python"):
            binary = runtime_python(runtime, os.environ.get("TIDEWATER_LAMBDA_RUNTIMES_DIR"))
        return binary, worker_script

    lambda_runtime._detect_runtime_binary = detect_runtime_binary


# ---- describe_alarms_with_every_field -----------------------------------------------------------

# Metric-alarm members in the order of the API reference; lists and timestamps are handled apart.
_SCALARS = ("AlarmName", "AlarmArn", "AlarmDescription", "ActionsEnabled", "StateValue", "StateReason",
            "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Period", "Unit", "EvaluationPeriods",
            "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
            "EvaluateLowSampleCountPercentile", "ThresholdMetricId")  # fmt: skip
_ACTIONS = ("OKActions", "AlarmActions", "InsufficientDataActions")
_TIMESTAMPS = ("AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp")
_COMPOSITE = ("AlarmName", "AlarmArn", "AlarmDescription", "AlarmRule", "ActionsEnabled", "StateValue", "StateReason")


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return html.escape(str(value), quote=False)  # & < > as XML text wants them


def _timestamp(value) -> str:
    """Epoch seconds (MiniStack's JSON answer) as the query protocol's ISO 8601."""
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def alarm_xml(alarm: dict, members: tuple[str, ...] = _SCALARS) -> str:
    """One <member> of MetricAlarms (or CompositeAlarms, with members=_COMPOSITE), every field set."""
    parts = [f"<{key}>{_text(alarm[key])}</{key}>" for key in members if alarm.get(key) is not None]
    for key in _ACTIONS:
        if key in alarm:
            parts.append(f"<{key}>" + "".join(f"<member>{_text(a)}</member>" for a in alarm[key] or []) + f"</{key}>")
    if "Dimensions" in alarm and members is _SCALARS:
        dims = "".join(f"<member><Name>{_text(d['Name'])}</Name><Value>{_text(d['Value'])}</Value></member>"
                       for d in alarm["Dimensions"] or [])  # fmt: skip
        parts.append(f"<Dimensions>{dims}</Dimensions>")
    for key in _TIMESTAMPS:
        if alarm.get(key) is not None:
            parts.append(f"<{key}>{_timestamp(alarm[key])}</{key}>")
    return "<member>" + "".join(parts) + "</member>"


def query_request(params: dict) -> dict:
    """DescribeAlarms' query parameters as the JSON request MiniStack's own handler reads."""

    def value(key):
        return cloudwatch._p(params, key) or None

    def listed(prefix, most):
        return [v for i in range(1, most + 1) if (v := value(f"{prefix}.member.{i}"))]

    request = {"AlarmNames": listed("AlarmNames", 100), "AlarmTypes": listed("AlarmTypes", 10)}
    for key in ("AlarmNamePrefix", "StateValue", "MaxRecords", "NextToken"):
        if value(key) is not None:
            request[key] = value(key)
    return {key: v for key, v in request.items() if v}


def describe_alarms_xml(page: dict) -> str:
    metric = "".join(alarm_xml(a) for a in page.get("MetricAlarms", []))
    composite = "".join(alarm_xml(a, _COMPOSITE) for a in page.get("CompositeAlarms", []))
    token = f"<NextToken>{_text(page['NextToken'])}</NextToken>" if page.get("NextToken") else ""
    return (f"<DescribeAlarmsResult><MetricAlarms>{metric}</MetricAlarms>"
            f"<CompositeAlarms>{composite}</CompositeAlarms>{token}</DescribeAlarmsResult>")  # fmt: skip


def describe_alarms_with_every_field() -> None:
    original = cloudwatch._describe_alarms

    def describe_alarms(params, cbor_data, is_cbor, is_json=False):
        if is_cbor or is_json:
            return original(params, cbor_data, is_cbor, is_json)
        status, headers, body = original(params, query_request(params), False, True)
        if status != 200:  # a validation error: MiniStack's own XML error document
            return original(params, cbor_data, is_cbor, is_json)
        return cloudwatch._xml(200, "DescribeAlarmsResponse", describe_alarms_xml(json.loads(body)))

    cloudwatch._describe_alarms = describe_alarms


# ---- keep_multipart_upload_tags -----------------------------------------------------------------


def tags_of(header: str) -> dict[str, str]:
    """`x-amz-tagging: a=1&b=2` -> {"a": "1", "b": "2"} (a key sent twice keeps its last value)."""
    return {key: values[-1] for key, values in parse_qs(header, keep_blank_values=True).items()}


def keep_multipart_upload_tags() -> None:
    create, complete = s3._create_multipart_upload, s3._complete_multipart_upload

    def create_multipart_upload(bucket_name, key, headers):
        response = create(bucket_name, key, headers)
        tagging = headers.get("x-amz-tagging", "")
        if response[0] == 200 and tagging:
            upload_id = response[2].decode().split("<UploadId>", 1)[1].split("</UploadId>", 1)[0]
            s3._multipart_uploads[upload_id]["tidewater_tags"] = tags_of(tagging)
        return response

    def complete_multipart_upload(bucket_name, key, body, query_params, headers=None):
        upload = s3._multipart_uploads.get(s3._qp(query_params, "uploadId")) or {}
        tags = upload.get("tidewater_tags")
        response = complete(bucket_name, key, body, query_params, headers)
        if response[0] == 200 and tags:
            obj = s3._buckets[bucket_name]["objects"][key]
            s3._object_tags[(bucket_name, key, obj.get("version_id"))] = dict(tags)
        return response

    s3._create_multipart_upload = create_multipart_upload
    s3._complete_multipart_upload = complete_multipart_upload


# ---- give_log_events_ids ------------------------------------------------------------------------


def give_log_events_ids() -> None:
    append = cloudwatch_logs._append_log_events

    def append_log_events(stream, events):
        for event in events:
            event.setdefault("eventId", new_uuid())
        return append(stream, events)

    cloudwatch_logs._append_log_events = append_log_events


# ---- page_object_versions_past_the_marker -------------------------------------------------------


def resume_after(key_marker: str, version_id_marker: str, prefix: str, delimiter: str,
                 keys: set[str], keys_with_versions: set[str]) -> tuple[str, str]:  # fmt: skip
    """The key and version-id markers to hand MiniStack so that its page starts where S3's does."""
    tail = key_marker[len(prefix) :] if key_marker.startswith(prefix) else None
    if delimiter and tail and tail.find(delimiter) == len(tail) - len(delimiter):  # a common prefix
        return max((k for k in keys if k.startswith(key_marker)), default=key_marker), ""
    if version_id_marker == "null" and key_marker not in keys_with_versions:
        return key_marker, ""
    return key_marker, version_id_marker


def echo(body: bytes, element: str, given: str, sent: str) -> bytes:
    """The XML answer with <element> holding what the client sent instead of what MiniStack was given."""
    answered = f"<{element}>{html.escape(given, quote=False)}</{element}>" if given else f"<{element} />"
    return body.replace(answered.encode(), f"<{element}>{html.escape(sent, quote=False)}</{element}>".encode(), 1)


def page_object_versions_past_the_marker() -> None:
    list_versions = s3._list_object_versions

    def list_object_versions(bucket_name, query_params):
        bucket = s3._ensure_bucket(bucket_name)
        sent = s3._qp(query_params, "key-marker"), s3._qp(query_params, "version-id-marker")
        if bucket is None or not sent[0]:
            return list_versions(bucket_name, query_params)
        with_versions = {key for name, key in s3._object_versions if name == bucket_name}
        markers = resume_after(*sent, s3._qp(query_params, "prefix"), s3._qp(query_params, "delimiter"),
                               set(bucket["objects"]) | with_versions, with_versions)  # fmt: skip
        if markers == sent:
            return list_versions(bucket_name, query_params)
        status, headers, body = list_versions(
            bucket_name, {**query_params, "key-marker": [markers[0]], "version-id-marker": [markers[1]]}
        )
        # the answer echoes the markers the client sent, as S3 does
        body = echo(body, "KeyMarker", markers[0], sent[0])
        body = echo(body, "VersionIdMarker", markers[1], sent[1])
        return status, headers, body

    s3._list_object_versions = list_object_versions


def apply_all() -> None:
    run_functions_with_the_runtime_venv()
    describe_alarms_with_every_field()
    keep_multipart_upload_tags()
    give_log_events_ids()
    page_object_versions_past_the_marker()
