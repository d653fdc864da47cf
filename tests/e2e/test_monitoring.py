"""CloudWatch as the pipeline's alarms use it (terraform/modules/monitoring): metrics the services
publish themselves, and alarms that evaluate them. Each test builds a private alarm of the same
shape as one of ours, so nothing here touches the deployed pipeline.

MiniStack records no AWS/SQS metrics and evaluates an alarm only when PutMetricData or
PutMetricAlarm is called: docs/emulators.md lists what that means for the pipeline's alarms.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_host_executor import ROLE, RUNTIME, make_zip
from tests.stacks import wait_until

pytestmark = pytest.mark.e2e

ALARM_WAIT_S = 200  # LocalStack: metrics reported every 10 s (host settings), alarms evaluated every Period


def alarm_state(cloudwatch, name: str) -> str:
    return cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def threshold_alarm(cloudwatch, name: str, namespace: str, metric: str, dimensions: dict[str, str],
                    statistic: str, period: int = 60) -> None:  # fmt: skip
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace=namespace, MetricName=metric, Statistic=statistic, Period=period,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()], EvaluationPeriods=1, Threshold=0,
        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
    )  # fmt: skip


@pytest.mark.emulator_gap("ministack", "its SQS publishes no AWS/SQS metrics, so the DLQ alarm cannot fire")
def test_an_alarm_on_a_queues_visible_messages_fires_when_one_waits(stack):
    # GIVEN a queue and an alarm shaped like <name>-dlq-not-empty
    sqs, cloudwatch = stack.client("sqs"), stack.client("cloudwatch")
    name = f"tw-mon-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    threshold_alarm(cloudwatch, name, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": name}, "Maximum")
    try:
        # WHEN a message waits in the queue THEN the alarm fires
        sqs.send_message(QueueUrl=url, MessageBody="dead letter")
        wait_until(lambda: alarm_state(cloudwatch, name) == "ALARM", ALARM_WAIT_S, f"{name} in ALARM", interval=3)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])
        sqs.delete_queue(QueueUrl=url)


@pytest.mark.emulator_gap("ministack", "alarms are evaluated only on PutMetricData/PutMetricAlarm, never on the "
                                       "AWS/Lambda metrics it records itself, so the errors alarms cannot fire")
def test_an_alarm_on_lambda_errors_fires_when_the_function_fails(stack):
    # GIVEN a function and an alarm shaped like <name>-processor-errors
    lam, cloudwatch = stack.client("lambda"), stack.client("cloudwatch")
    name = f"tw-mon-{uuid.uuid4().hex[:8]}"
    failing = make_zip({"app.py": "def handler(event, context):\n    raise ValueError('x')\n"})
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler", Code={"ZipFile": failing})
    threshold_alarm(cloudwatch, name, "AWS/Lambda", "Errors", {"FunctionName": name}, "Sum")
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        # WHEN it fails THEN the alarm fires
        assert lam.invoke(FunctionName=name, Payload=b"{}").get("FunctionError") == "Unhandled"
        wait_until(lambda: alarm_state(cloudwatch, name) == "ALARM", ALARM_WAIT_S, f"{name} in ALARM", interval=3)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])
        lam.delete_function(FunctionName=name)


def test_an_alarm_fires_on_the_metric_data_put_to_it(stack):
    # GIVEN an alarm on a custom metric (high resolution: a 10 s period)
    cloudwatch = stack.client("cloudwatch")
    name = f"tw-mon-{uuid.uuid4().hex[:8]}"
    threshold_alarm(cloudwatch, name, "Tidewater/Test", "Failures", {"Test": name}, "Sum", period=10)
    try:
        # WHEN a datapoint over the threshold arrives THEN the alarm fires
        cloudwatch.put_metric_data(Namespace="Tidewater/Test", MetricData=[
            {"MetricName": "Failures", "Dimensions": [{"Name": "Test", "Value": name}], "Value": 1,
             "StorageResolution": 1}])  # fmt: skip
        wait_until(lambda: alarm_state(cloudwatch, name) == "ALARM", ALARM_WAIT_S, f"{name} in ALARM", interval=1)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])


@pytest.mark.emulator_gap("ministack", "its SQS publishes no AWS/SQS metrics")
def test_every_message_sent_received_and_deleted_is_counted_once(stack):
    # LocalStack's per-message SQS data points go through our batch_cloudwatch_metrics hook (a buffer
    # sent once a second): the statistics must be exactly what one data point per call gives.
    sqs, cloudwatch = stack.client("sqs"), stack.client("cloudwatch")
    name = f"tw-mon-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    start = datetime.now(UTC) - timedelta(minutes=5)
    bodies = [f"message {i}" + "x" * (i % 7) for i in range(57)]
    try:
        for first in range(0, len(bodies), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[first:first + 10])])  # fmt: skip
        received = 0
        while received < len(bodies):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
            received += len(messages)
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])  # fmt: skip

        def statistic(metric: str, stat: str) -> float | None:
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/SQS", MetricName=metric, Dimensions=[{"Name": "QueueName", "Value": name}],
                StartTime=start, EndTime=datetime.now(UTC) + timedelta(minutes=5), Period=3600, Statistics=[stat],
            )["Datapoints"]  # fmt: skip
            return sum(p[stat] for p in points) if points else None

        wait_until(lambda: statistic("NumberOfMessagesDeleted", "Sum") == len(bodies), 30, "every delete counted")
        assert statistic("NumberOfMessagesSent", "Sum") == len(bodies)
        assert statistic("NumberOfMessagesReceived", "Sum") == len(bodies)
        assert statistic("SentMessageSize", "SampleCount") == len(bodies)
        assert statistic("SentMessageSize", "Sum") == sum(len(b) for b in bodies)
        assert statistic("SentMessageSize", "Maximum") == max(len(b) for b in bodies)
    finally:
        sqs.delete_queue(QueueUrl=url)
