"""What our stack needs of the emulator's AWS API, checked on whichever emulator the session runs.

Each test shows one behaviour AWS has and Terraform, the functions or the tools rely on; some hold
only thanks to our start-up patches - on MiniStack src/tidewater/ministack_patches/patches.py, on
LocalStack src/tidewater/executor/hooks.py (the listings) - and the function's imports only thanks
to the runtime venv (on LocalStack: our executor plugin).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.test_host_executor import ROLE, RUNTIME, make_zip
from tests.stacks import wait_until
from tidewater.stack.env import EMULATOR_CREDENTIALS

pytestmark = pytest.mark.e2e

NS = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}


def query_api(stack, service: str, params: dict[str, str]) -> ET.Element:
    """A signed AWS query-protocol call (form-encoded POST, XML answer), the protocol the aws
    provider 5.100 uses for CloudWatch; boto3 speaks CBOR or JSON to it now."""
    body = urlencode(params)
    request = AWSRequest("POST", stack.endpoint_url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})  # fmt: skip
    credentials = Credentials(EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"], EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    SigV4Auth(credentials, service, stack.region).add_auth(request)
    prepared = urllib.request.Request(stack.endpoint_url + "/", data=body.encode(), method="POST",
                                      headers=dict(request.headers.items()))  # fmt: skip
    with urllib.request.urlopen(prepared, timeout=30) as response:  # nosec B310 - the local emulator
        return ET.fromstring(response.read())


def test_describe_alarms_over_the_query_protocol_returns_every_field(stack):
    # GIVEN an alarm with dimensions, actions and a description that needs XML escaping
    cloudwatch = stack.client("cloudwatch")
    name = f"tw-api-{uuid.uuid4().hex[:8]}"
    topic = f"arn:aws:sns:{stack.region}:000000000000:tw-api-alerts"
    cloudwatch.put_metric_alarm(
        AlarmName=name, AlarmDescription="DLQ <not> empty & more", Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible", Dimensions=[{"Name": "QueueName", "Value": "tw-dlq"}],
        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching", AlarmActions=[topic], OKActions=[topic], ActionsEnabled=True,
    )  # fmt: skip
    try:
        # WHEN it is described over the XML query protocol
        root = query_api(stack, "monitoring", {"Action": "DescribeAlarms", "Version": "2010-08-01",
                                               "AlarmNames.member.1": name})  # fmt: skip
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])
    alarms = root.findall(".//cw:MetricAlarms/cw:member", NS)
    assert len(alarms) == 1

    # THEN everything Terraform compares is there, as it was set
    alarm = alarms[0]

    def text(path: str) -> str | None:
        return alarm.findtext(path, namespaces=NS)

    assert text("cw:AlarmDescription") == "DLQ <not> empty & more"
    assert text("cw:Statistic") == "Maximum"
    assert text("cw:Period") == "60"
    assert text("cw:TreatMissingData") == "notBreaching"
    assert text("cw:ActionsEnabled") == "true"
    assert [m.text for m in alarm.findall("cw:AlarmActions/cw:member", NS)] == [topic]
    assert [m.text for m in alarm.findall("cw:OKActions/cw:member", NS)] == [topic]
    dimensions = [(d.findtext("cw:Name", namespaces=NS), d.findtext("cw:Value", namespaces=NS))
                  for d in alarm.findall("cw:Dimensions/cw:member", NS)]  # fmt: skip
    assert dimensions == [("QueueName", "tw-dlq")]


def test_tags_sent_with_a_multipart_upload_reach_the_object(stack):
    # GIVEN a bucket, WHEN an object is uploaded in parts with tags (as Terraform does above 5 MB)
    s3 = stack.client("s3")
    bucket = f"tw-api-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    try:
        upload = s3.create_multipart_upload(Bucket=bucket, Key="big.zip", Tagging="project=tidewater&owner=data%20team")
        part = s3.upload_part(Bucket=bucket, Key="big.zip", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024)
        s3.complete_multipart_upload(Bucket=bucket, Key="big.zip", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})  # fmt: skip
        # THEN the object has them
        tags = s3.get_object_tagging(Bucket=bucket, Key="big.zip")["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags} == {"project": "tidewater", "owner": "data team"}
    finally:
        s3.delete_object(Bucket=bucket, Key="big.zip")
        s3.delete_bucket(Bucket=bucket)


def test_every_log_line_of_a_function_has_an_event_id(stack):
    # GIVEN a function that prints, invoked once (its lines: START, the print, END, REPORT)
    lam, logs = stack.client("lambda"), stack.client("logs")
    name = f"tw-api-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": PRINTS})})  # fmt: skip

    def logged() -> list[dict]:
        """Its log lines once the print and the REPORT line are in (FilterLogEvents, as `tidewater logs`)."""
        if not logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]:
            return []
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        messages = " ".join(event["message"] for event in events)
        return events if "hello from the function" in messages and "REPORT" in messages else []

    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        lam.invoke(FunctionName=name, Payload=b"{}")
        # WHEN its log group is read
        events = wait_until(logged, 30, "the function's log lines")
    finally:
        lam.delete_function(FunctionName=name)
    # THEN each line has an event id, none twice, as on AWS
    ids = [event.get("eventId") for event in events]
    assert None not in ids and len(set(ids)) == len(ids), events


PRINTS = """
def handler(event, context):
    print("hello from the function")
    return {}
"""


IMPORTS = """
import importlib, json, sys
def handler(event, context):
    found = {}
    for name in event["modules"]:
        try:
            importlib.import_module(name)
            found[name] = True
        except ImportError:
            found[name] = False
    import boto3
    return {"imports": found, "boto3": boto3.__version__, "python": sys.version_info[:2],
            "executable": sys.executable}
"""
# Importable in one of the emulators' venvs or ours, never on AWS's python3.13 runtime.
NOT_ON_AWS = ("pandas", "yaml", "hypercorn", "defusedxml", "localstack", "ministack", "tidewater", "psycopg2", "pytest")


def runtime_boto3() -> str:
    pins = Path(__file__).resolve().parents[2] / "src" / "tidewater" / "stack" / "lambda-runtime-requirements.txt"
    return next(line.split("==")[1] for line in pins.read_text().splitlines() if line.startswith("boto3=="))


def test_a_function_imports_only_its_zip_the_standard_library_and_the_runtime_boto3(stack):
    if stack.backend != "host":
        pytest.skip(f"checks the host backend's runtime venv, not {stack.backend!r}")
    lam = stack.client("lambda")
    name = f"tw-api-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler", Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": IMPORTS})})  # fmt: skip
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        # WHEN the function tries to import what AWS's runtime does not have
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"modules": list(NOT_ON_AWS)}))
        result = json.loads(response["Payload"].read())
    finally:
        lam.delete_function(FunctionName=name)
    # THEN nothing of it imports; boto3 is the runtime's, on Python 3.13, from the runtime venv
    assert "FunctionError" not in response, result
    assert result["imports"] == dict.fromkeys(NOT_ON_AWS, False)
    assert result["boto3"] == runtime_boto3()
    assert result["python"] == [3, 13]
    assert "/venvs/runtimes/python3.13/" in result["executable"]


def partitioned_bucket(s3, keys: list[str], versioned: bool) -> str:
    bucket = f"tw-api-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket


def remove_bucket(s3, bucket: str) -> None:
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=bucket)


# Keys as the processed bucket names them (`dt=` partitions: boto3 always asks for EncodingType=url,
# and '=' is encoded as %3D), in two partitions, beside a key that sorts between them raw but not
# encoded ('-' is above '%' and below '='), and one that needs its encoding to survive the way back.
PARTITIONED_KEYS = sorted([f"events/dt=2025-07-0{day}/{n:06d}.parquet" for day in (1, 2) for n in range(3)]
                          + ["events/dt-legacy.txt", "housing/dt=2025-07-01/a b+c%.csv"])  # fmt: skip


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_listing_pages_through_every_key_of_a_partitioned_bucket(stack, versioned):
    # GIVEN a bucket of partitioned keys
    s3 = stack.client("s3")
    bucket = partitioned_bucket(s3, PARTITIONED_KEYS, versioned)
    try:
        # WHEN they are listed two at a time, by every listing that pages with a key marker
        pages = {"ListObjectVersions": [v["Key"] for page in s3.get_paginator("list_object_versions").paginate(
                     Bucket=bucket, PaginationConfig={"PageSize": 2}) for v in page.get("Versions", [])],
                 "ListObjects": [o["Key"] for page in s3.get_paginator("list_objects").paginate(
                     Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])],
                 "ListObjectsV2": [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
                     Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]}  # fmt: skip
        # THEN each lists every key once, in order
        assert pages == {operation: PARTITIONED_KEYS for operation in pages}
    finally:
        remove_bucket(s3, bucket)


def test_object_versions_page_through_the_partitions_by_prefix_and_delimiter(stack):
    # GIVEN a versioned bucket of partitioned keys
    s3 = stack.client("s3")
    bucket = partitioned_bucket(s3, PARTITIONED_KEYS, versioned=True)
    try:
        # WHEN its versions are listed under a prefix, by partition, one at a time
        prefixes = [p["Prefix"] for page in s3.get_paginator("list_object_versions").paginate(
                    Bucket=bucket, Prefix="events/dt=", Delimiter="/", PaginationConfig={"PageSize": 1})
                    for p in page.get("CommonPrefixes", [])]  # fmt: skip
        # THEN each partition comes once
        assert prefixes == ["events/dt=2025-07-01/", "events/dt=2025-07-02/"]
    finally:
        remove_bucket(s3, bucket)
