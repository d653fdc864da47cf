"""CloudWatch data points gathered in memory and sent as one PutMetricData a second.

LocalStack publishes a CloudWatch data point for every SQS send, receive and delete and for every
Lambda invocation, one PutMetricData (and one SQLite commit) each, from a pool of three threads
(SQS) or a new thread per invocation (Lambda). With files flowing faster than that pool commits,
its work queue grew without end: ~3 KB per SQS message still waiting, hundreds of MB over a soak.
The hooks in hooks.py route those data points here instead; a flush sends the same data points
(every value with its count, so each statistic is what it was) in one call per namespace.

Pure Python, no LocalStack import: unit-tested in tests/unit/test_metric_buffer.py.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

MAX_VALUES_PER_DATUM = 150  # PutMetricData's limit on Values/Counts of one datum
MAX_DATA_PER_CALL = 1000  # and on the data of one call


@dataclass(frozen=True)
class Series:
    account_id: str
    region: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str | None


@dataclass(frozen=True)
class Batch:
    """One PutMetricData call: who sends it (account, region) and what."""

    account_id: str
    region: str
    namespace: str
    metric_data: list[dict]


class MetricBuffer:
    """Thread-safe: add() from request threads, drain() from one flushing thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Series, Counter] = defaultdict(Counter)

    def add(self, series: Series, value: float) -> None:
        with self._lock:
            self._values[series][value] += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def drain(self, timestamp: datetime) -> list[Batch]:
        """Everything added since the last drain, as PutMetricData calls; the buffer is empty after."""
        with self._lock:
            values, self._values = self._values, defaultdict(Counter)
        calls: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for series, counts in values.items():
            for chunk in _chunks(sorted(counts.items()), MAX_VALUES_PER_DATUM):
                datum = {
                    "MetricName": series.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in series.dimensions],
                    "Timestamp": timestamp,
                    "Values": [value for value, _ in chunk],
                    "Counts": [float(count) for _, count in chunk],
                }
                if series.unit is not None:
                    datum["Unit"] = series.unit
                calls[(series.account_id, series.region, series.namespace)].append(datum)
        return [
            Batch(account_id, region, namespace, chunk)
            for (account_id, region, namespace), data in calls.items()
            for chunk in _chunks(data, MAX_DATA_PER_CALL)
        ]


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
