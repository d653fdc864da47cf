"""`tidewater report --date YYYY-MM-DD`: run the reporter function now and print where the report
went and what it says. `last_report` is what `tidewater status` shows."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tidewater.aws import Pipeline


def invoke_reporter(pipeline: Pipeline, day: date) -> dict:
    """Invoke the reporter synchronously; its result, or SystemExit with the function's error."""
    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.outputs["reporter_function_name"],
        InvocationType="RequestResponse",
        Payload=json.dumps({"date": day.isoformat()}).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(payload, dict) or "error" in payload:
        detail = payload.get("errorMessage") or payload.get("error") if isinstance(payload, dict) else payload
        raise SystemExit(f"The reporter failed for {day}: {detail}. See `aws logs tail "
                         f"/aws/lambda/{pipeline.outputs['reporter_function_name']}`.")  # fmt: skip
    return payload


def run_report(pipeline: Pipeline, day_text: str | None, open_it: bool = False, copies: Path | None = None) -> int:
    if day_text:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise SystemExit(f"--date must be YYYY-MM-DD, got {day_text!r}") from None
    else:
        day = datetime.now(UTC).date() - timedelta(days=1)
    started = time.monotonic()
    result = invoke_reporter(pipeline, day)
    bucket_and_prefix = result["location"]
    print(f"report for {result['date']} written in {time.monotonic() - started:.2f}s "
          f"(reporter: {result['seconds']:.2f}s):", file=sys.stderr)  # fmt: skip
    for key in result["keys"]:
        print(f"  s3://{bucket_and_prefix.split('/')[2]}/{key}")
    print()
    text = pipeline.client("s3").get_object(Bucket=pipeline.outputs["reports_bucket"],
                                            Key=f"reports/{result['date']}/report.txt")["Body"].read()  # fmt: skip
    print(text.decode())
    if open_it:
        print(where_to_open(pipeline, result["date"], copies))
    return 0


def where_to_open(pipeline: Pipeline, day: str, copies: Path | None) -> str:
    """A presigned URL of the day's report.html (valid an hour), and - when `copies` is given - a local
    copy of it to open as a file (the page is self-contained: no fetches)."""
    s3 = pipeline.client("s3")
    bucket, key = pipeline.outputs["reports_bucket"], f"reports/{day}/report.html"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    lines = [f"open the report in a browser: {url}"]
    if copies is not None:
        path = copies / day / "report.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        lines.append(f"or its local copy: {path.resolve().as_uri()}")
    return "\n".join(lines)


def last_report(pipeline: Pipeline) -> str:
    """The newest report in the reports bucket (by date), with its one-line summary."""
    bucket = pipeline.outputs.get("reports_bucket")
    if not bucket:
        return "last report: unknown (no reports bucket)"
    s3 = pipeline.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/")
    keys = [o for page in pages for o in page.get("Contents", []) if o["Key"].endswith("/report.json")]
    if not keys:
        return "last report: none yet (daily schedule, or `tidewater report --date YYYY-MM-DD`)"
    newest = max(keys, key=lambda o: o["Key"])
    report = json.loads(s3.get_object(Bucket=bucket, Key=newest["Key"])["Body"].read())
    from_key = newest["Key"].rsplit("/", 1)[0]
    t = report["totals"]
    return (f"last report: {report['date']} (generated {report['generated_at']}, {report['trigger']}) "
            f"s3://{bucket}/{from_key}/report.html\n"
            f"  {t['received']:,} files received, {t['loaded']:,} loaded, {t['quarantined']:,} quarantined, "
            f"{t['rows_loaded']:,} rows loaded; dead-letter queue: {report['failed']['dlq_depth']}")  # fmt: skip
