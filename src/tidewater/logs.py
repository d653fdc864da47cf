"""`tidewater logs`: the processor's CloudWatch Logs, newest last."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tidewater.aws import Pipeline


def print_logs(pipeline: Pipeline, since_minutes: float, follow: bool) -> None:
    logs = pipeline.client("logs")
    group = f"/aws/lambda/{pipeline.outputs['processor_function_name']}"
    start = int((time.time() - since_minutes * 60) * 1000)
    seen: set[str] = set()
    while True:
        kwargs = {"logGroupName": group, "startTime": start}
        while True:
            page = logs.filter_log_events(**kwargs)
            for event in page["events"]:
                if event["eventId"] in seen:
                    continue
                seen.add(event["eventId"])
                stamp = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%H:%M:%S")
                print(f"{stamp} {event['message'].rstrip()}")
                start = max(start, event["timestamp"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if not follow:
            return
        time.sleep(1)
