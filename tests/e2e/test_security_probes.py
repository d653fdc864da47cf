"""Security probes through the real stack: hostile names and contents never reach SQL unescaped and
never break a batch; no secret value shows up anywhere the suite can see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.test_housing_pipeline import put, wait_for_ledger
from tidewater.logs import log_events

pytestmark = pytest.mark.e2e

SEED = Path(__file__).resolve().parents[2] / "seed_data" / "housing" / "california_housing.csv"
HOUSING = b"".join(SEED.read_bytes().splitlines(keepends=True)[:4])  # header + 3 rows


def unique_housing(tag: str) -> bytes:
    """Three seed rows with house values nobody else uploads (so the file is never a duplicate)."""
    header, *rows = HOUSING.decode().splitlines()
    value = 100_000 + zlib.crc32(tag.encode()) % 400_000
    rows = [",".join([*row.split(",")[:8], str(value + i), row.split(",")[9]]) for i, row in enumerate(rows)]
    return ("\n".join([header, *rows]) + "\n").encode()


def hostile_cases(tag: str) -> dict[str, tuple[bytes, str]]:
    """key -> (bytes, the status it must end in)."""
    sql_header = f'timestamp,event_type,user_id,action,"x""); DROP TABLE events; --",$$ {tag} $$\n'
    sql_json = {"timestamp": "2025-11-18T08:00:00Z", "event_type": "probe", "user_id": f"u-{tag}",
                "action": "open", "'; DELETE FROM ingested_files; --": "1", "$$": "$$"}  # fmt: skip
    longest = "housing/" + tag + "/" + "k" * (1024 - len(f"housing/{tag}/") - 4) + ".csv"
    return {
        f"housing/{tag}/it's; DROP TABLE housing;--.csv": (unique_housing(tag + "1"), "loaded"),
        f"housing/{tag}/$$ dollar $$ %00 nul %2500.csv": (unique_housing(tag + "2"), "loaded"),
        longest: (unique_housing(tag + "3"), "loaded"),
        f"housing/{tag}/'\"quotes\".csv": (b"city,price\nFresno,1\n", "quarantined"),
        f"events/{tag}/sql-header.csv": (
            (sql_header + f"2025-11-18T08:00:00Z,probe,u-{tag},open,1,2\n").encode(), "loaded"),
        f"events/{tag}/sql-keys.ndjson": (json.dumps(sql_json).encode() + b"\n", "loaded"),
        f"{tag}'; DROP TABLE ingested_files; --/x.csv": (b"a\n1\n", "quarantined"),
    }  # fmt: skip


def test_hostile_names_and_contents_end_loaded_or_quarantined_and_touch_no_sql(stack):
    tag = uuid.uuid4().hex[:10]
    cases = hostile_cases(tag)
    assert len(max(cases, key=len).encode()) == 1024  # the longest key S3 takes

    uploaded = {key: put(stack, key, body) for key, (body, _) in cases.items()}

    q = stack.pipeline.query
    for key, (_, status) in cases.items():
        ledger = wait_for_ledger(stack, key, uploaded[key], timeout=180)
        assert ledger["status"] == status, key  # stored under exactly the key the user gave
        if status == "quarantined":
            reason = q("SELECT quarantine_key FROM ingested_files WHERE id = %s", (ledger["id"],))[0][0]
            s3 = stack.client("s3")
            assert s3.get_object(Bucket=stack.outputs["quarantine_bucket"], Key=reason)["Body"].read()
    # The tables the statements name still exist and hold what was uploaded, as data
    assert q("SELECT count(*) FROM ingested_files WHERE s3_key LIKE %s", (f"%{tag}%",))[0][0] == len(cases)
    attributes = [row[0] for row in q("SELECT attributes FROM events WHERE user_id = %s", (f"u-{tag}",))]
    assert {'x"); drop table events; --': "1", f"$$ {tag} $$": "2"} in attributes  # header names are lowercased
    assert any("'; DELETE FROM ingested_files; --" in row for row in attributes)
    assert q("SELECT count(*) FROM housing")[0][0] > 0


def secret_needles(stack) -> list[str]:
    """What must never be seen: the secret's JSON as stored, and the password in the forms code
    writes it (a JSON field, a DSN, a URL) - and bare, when it is long enough to mean something."""
    password = urlparse(stack.database_url).password or ""
    assert password, "the stack's database has a password"
    secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.outputs["database_secret_arn"])
    needles = [secret["SecretString"], f'"password": "{password}"', f'"password":"{password}"',
               f"password={password}", f":{password}@"]  # fmt: skip
    if len(password) >= 12:
        needles.append(password)
    return needles


def everything_the_suite_produced(stack) -> dict[str, str]:
    """Where-from -> text: CloudWatch logs, Terraform outputs and state, every object in the
    processed, quarantine and reports buckets, and what the CLI prints."""
    found: dict[str, str] = {}
    logs = stack.client("logs")
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            lines = [event["message"] for event in log_events(logs, group["logGroupName"], 0)]
            found[f"logs {group['logGroupName']}"] = "\n".join(lines)
    found["terraform outputs"] = json.dumps(stack.outputs)
    for state in (stack.state / "terraform").glob("*.tfstate*"):
        found[f"terraform state {state.name}"] = state.read_text(errors="replace")
    s3 = stack.client("s3")
    for output in ("processed_bucket", "quarantine_bucket", "reports_bucket"):
        bucket = stack.outputs[output]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found[f"s3://{bucket}/{item['Key']}"] = body.decode("utf-8", errors="replace")
    env = {**os.environ, "TIDEWATER_STATE_DIR": str(stack.state)}
    today = datetime.now(UTC).date().isoformat()
    for command in (["status"], ["doctor", "--min-age", "0"], ["replay-dlq", "--dry-run"], ["report", "--date", today],
                    ["logs", "--since", "600"]):  # fmt: skip
        result = subprocess.run([sys.executable, "-m", "tidewater", *command], env=env, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        found[f"tidewater {' '.join(command)}"] = result.stdout + result.stderr
    return found


def test_no_secret_value_appears_in_anything_the_suite_produced(stack):
    needles = secret_needles(stack)
    produced = everything_the_suite_produced(stack)
    assert any(where.startswith("logs /aws/lambda/") and text for where, text in produced.items())
    leaks = sorted(where for where, text in produced.items() for needle in needles if needle in text)
    assert leaks == [], f"a secret value appears in: {leaks}"
