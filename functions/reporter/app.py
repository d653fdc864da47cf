"""Reporter: the daily report of one UTC day, written to the reports bucket and announced on SNS.

Invoked by the EventBridge schedule (reports the UTC day before the event's time) or directly with
{"date": "YYYY-MM-DD"} (`tidewater report`). Re-running a date overwrites its report.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pipeline import db
from pipeline.report import (
    BadReportRequest,
    build_report,
    collect,
    render_text,
    report_date,
    report_prefix,
    summary_line,
)
from pipeline.report_html import render_html

logger = Logger()
_config = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=30)
s3 = boto3.client("s3", config=_config)
sns = boto3.client("sns", config=_config)
sqs = boto3.client("sqs", config=_config)

CONTENT_TYPES = {
    "report.json": "application/json",
    "report.txt": "text/plain; charset=utf-8",
    "report.html": "text/html; charset=utf-8",
}


def dlq_depth(queue_url: str | None) -> int | None:
    """Messages in the dead-letter queue now (visible + in flight); None when unknown."""
    if not queue_url:
        return None
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def publish(topic_arn: str, report: dict, location: str) -> str:
    t = report["totals"]
    subject = (f"tidewater {report['date']}: {t['received']} files, {t['quarantined']} quarantined, "
               f"DLQ {report['failed']['dlq_depth']}")  # fmt: skip
    message = (f"{summary_line(report)}\n\nReport: {location}report.html\n"
               f"Also: {location}report.txt, {location}report.json\n")  # fmt: skip
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=subject[:100],  # SNS limit
        Message=message,
        MessageAttributes={"date": {"DataType": "String", "StringValue": report["date"]}},
    )
    return response["MessageId"]


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    started = time.monotonic()
    now = datetime.now(UTC)
    try:
        day = report_date(event, now)
    except BadReportRequest as exc:
        logger.error("Bad report request", error=str(exc))
        return {"error": str(exc)}
    trigger = "schedule" if (event or {}).get("source") == "aws.events" else "manual"
    bucket = os.environ["REPORTS_BUCKET"]
    prefix = report_prefix(day)
    location = f"s3://{bucket}/{prefix}"

    ledger, datasets = collect(db.connection(), day)
    report = build_report(day, ledger, datasets, dlq_depth(os.environ.get("DLQ_URL")), now, trigger)
    bodies = {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.txt": render_text(report, location),
        "report.html": render_html(report, location),
    }
    for name, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body.encode(), ContentType=CONTENT_TYPES[name])
    topic = os.environ.get("REPORTS_TOPIC_ARN")
    message_id = publish(topic, report, location) if topic else None
    seconds = round(time.monotonic() - started, 3)
    logger.info("Wrote the daily report", date=day.isoformat(), location=location, seconds=seconds,
                files=report["totals"]["received"], trigger=trigger)  # fmt: skip
    return {
        "date": day.isoformat(),
        "location": location,
        "keys": [prefix + name for name in bodies],
        "summary": summary_line(report),
        "totals": report["totals"],
        "sns_message_id": message_id,
        "seconds": seconds,
    }
