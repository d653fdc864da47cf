"""`tidewater logs`: the processor's CloudWatch Logs, newest last."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tidewater.aws import Pipeline


def log_events(logs: Any, group: str, start_ms: int) -> Iterator[dict[str, Any]]:
    """Every event of a log group from `start_ms` (epoch ms) on, page after page."""
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    while True:
        page = logs.filter_log_events(**kwargs)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def print_logs(pipeline: Pipeline, since_minutes: float, follow: bool) -> None:
    logs = pipeline.client("logs")
    group = f"/aws/lambda/{pipeline.outputs['processor_function_name']}"
    start = int((time.time() - since_minutes * 60) * 1000)
    seen: set[str] = set()
    while True:
        for event in log_events(logs, group, start):
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            stamp = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%H:%M:%S")
            print(f"{stamp} {event['message'].rstrip()}")
            start = max(start, event["timestamp"])
        if not follow:
            return
        time.sleep(1)
