"""The buffer behind the batch_cloudwatch_metrics LocalStack hook: the same data points, fewer calls."""

import threading
from datetime import UTC, datetime

import pytest

from tidewater.executor.metric_buffer import MAX_DATA_PER_CALL, MAX_VALUES_PER_DATUM, MetricBuffer, Series

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def sqs(metric: str, queue: str = "tw-ingest", unit: str | None = "Count", account: str = "000000000000") -> Series:
    return Series(account, "us-east-1", "AWS/SQS", metric, (("QueueName", queue),), unit)


def expand(batches) -> dict[tuple, list[float]]:
    """Every data point a drain sends, per (account, namespace, metric, dimensions, unit), sorted."""
    points: dict[tuple, list[float]] = {}
    for batch in batches:
        for datum in batch.metric_data:
            dims = tuple((d["Name"], d["Value"]) for d in datum["Dimensions"])
            key = (batch.account_id, batch.namespace, datum["MetricName"], dims, datum.get("Unit"))
            for value, count in zip(datum["Values"], datum["Counts"], strict=True):
                points.setdefault(key, []).extend([value] * int(count))
    return {k: sorted(v) for k, v in points.items()}


def test_a_drain_sends_every_data_point_with_its_count():
    buffer = MetricBuffer()
    sent, size = sqs("NumberOfMessagesSent"), sqs("SentMessageSize", unit="Bytes")
    for body in (120, 120, 300):
        buffer.add(sent, 1)
        buffer.add(size, body)
    buffer.add(sqs("NumberOfMessagesReceived"), 10)

    batches = buffer.drain(NOW)

    assert len(batches) == 1 and batches[0].namespace == "AWS/SQS" and batches[0].region == "us-east-1"
    assert expand(batches) == {
        ("000000000000", "AWS/SQS", "NumberOfMessagesSent", (("QueueName", "tw-ingest"),), "Count"): [1, 1, 1],
        ("000000000000", "AWS/SQS", "SentMessageSize", (("QueueName", "tw-ingest"),), "Bytes"): [120, 120, 300],
        ("000000000000", "AWS/SQS", "NumberOfMessagesReceived", (("QueueName", "tw-ingest"),), "Count"): [10],
    }
    assert all(d["Timestamp"] == NOW for d in batches[0].metric_data)
    assert len(buffer) == 0 and buffer.drain(NOW) == []


def test_no_unit_means_no_unit_field_as_lambdas_own_data_points():
    buffer = MetricBuffer()
    buffer.add(Series("000000000000", "us-east-1", "AWS/Lambda", "Invocations", (("FunctionName", "f"),), None), 1)
    (batch,) = buffer.drain(NOW)
    assert "Unit" not in batch.metric_data[0]


def test_accounts_regions_and_namespaces_are_separate_calls():
    buffer = MetricBuffer()
    buffer.add(sqs("NumberOfMessagesSent", account="111111111111"), 1)
    buffer.add(sqs("NumberOfMessagesSent", account="222222222222"), 1)
    eu = Series("111111111111", "eu-west-1", "AWS/SQS", "NumberOfMessagesSent", (("QueueName", "q"),), "Count")
    buffer.add(eu, 1)
    buffer.add(Series("111111111111", "us-east-1", "AWS/Lambda", "Errors", (("FunctionName", "f"),), None), 1)
    calls = {(b.account_id, b.region, b.namespace) for b in buffer.drain(NOW)}
    assert calls == {
        ("111111111111", "us-east-1", "AWS/SQS"), ("222222222222", "us-east-1", "AWS/SQS"),
        ("111111111111", "eu-west-1", "AWS/SQS"), ("111111111111", "us-east-1", "AWS/Lambda"),
    }


def test_limits_of_put_metric_data_are_kept():
    buffer = MetricBuffer()
    size = sqs("SentMessageSize", unit="Bytes")
    for value in range(MAX_VALUES_PER_DATUM * 2 + 7):  # distinct values: more than one datum holds
        buffer.add(size, value)
    for queue in range(MAX_DATA_PER_CALL + 5):  # distinct series: more than one call holds
        buffer.add(sqs("NumberOfMessagesSent", queue=f"q{queue}"), 1)

    batches = buffer.drain(NOW)

    assert all(len(b.metric_data) <= MAX_DATA_PER_CALL for b in batches)
    assert all(len(d["Values"]) <= MAX_VALUES_PER_DATUM for b in batches for d in b.metric_data)
    points = expand(batches)
    assert points[("000000000000", "AWS/SQS", "SentMessageSize", (("QueueName", "tw-ingest"),), "Bytes")] == list(
        range(MAX_VALUES_PER_DATUM * 2 + 7))
    assert sum(len(v) for v in points.values()) == MAX_VALUES_PER_DATUM * 2 + 7 + MAX_DATA_PER_CALL + 5


def test_memory_is_per_distinct_value_not_per_call():
    buffer = MetricBuffer()
    for _ in range(100_000):
        buffer.add(sqs("NumberOfMessagesDeleted"), 1)
    (batch,) = buffer.drain(NOW)
    assert batch.metric_data[0]["Values"] == [1] and batch.metric_data[0]["Counts"] == [100_000.0]


def test_adds_from_many_threads_while_draining_lose_nothing():
    buffer = MetricBuffer()
    series = sqs("NumberOfMessagesSent")
    per_thread, threads = 20_000, 4
    drained: list = []
    done = threading.Event()

    def drain_until_done():
        while not done.is_set():
            drained.extend(buffer.drain(NOW))
        drained.extend(buffer.drain(NOW))

    def add():
        for _ in range(per_thread):
            buffer.add(series, 1)

    drainer = threading.Thread(target=drain_until_done)
    drainer.start()
    adders = [threading.Thread(target=add) for _ in range(threads)]
    for t in adders:
        t.start()
    for t in adders:
        t.join()
    done.set()
    drainer.join()
    assert sum(sum(d["Counts"]) for b in drained for d in b.metric_data) == per_thread * threads
