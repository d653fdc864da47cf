"""LocalStack start-up hooks of the host backend.

isolate_s3_storage - for running several host-mode LocalStacks on one machine. LocalStack keeps
S3 object bodies under a fixed ``/tmp/localstack-s3-storage`` (a path meant for its container),
shared by every LocalStack process on the host: deleting a bucket in one instance (``terraform
destroy``, test teardown) deletes the same-named bucket's data of every other one. Point it at
this instance's own tmp directory before the S3 provider is created.

cap_event_source_backoff - for a tight upload -> loaded loop. LocalStack's event source mapping
backs off after an empty poll, starting from a hard-coded 1 s randomised to 0.5-1.5 s;
LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC caps only the later intervals. A file
uploaded just after the queue ran dry waited up to 1.5 s for its poll (measured: the housing
latency's p90 of 1.07-1.30 s against a p50 of 0.33 s). Every wait is capped at max_interval.

long_poll_sqs_event_sources - the same loop, between two files. Without a batching window
LocalStack's SQS event source polls the queue without waiting (WaitTimeSeconds=0) and, when it was
empty, backs off before the next poll: a file arriving in that pause waited for it (measured: half
of the housing latency runs started ~210 ms after the S3 event, the others ~40 ms). AWS's pollers
long-poll. A mapping without a batching window now long-polls for up to LONG_POLL_SECONDS: the
first message ends the wait at once, and the ones already there come with it (LocalStack's
receive, without its override header, does not wait to fill the batch). A mapping with a window
keeps it.

batch_cloudwatch_metrics - for a stack that takes files for hours. LocalStack sends a CloudWatch
data point for every SQS send, receive and delete (three threads, one PutMetricData and one SQLite
commit each: they fell behind at a few messages a second, and the waiting work grew by ~3 KB a
message without end) and starts a thread per Lambda invocation for its Invocations data point,
which it keeps in its shutdown list for good (~5 KB an invocation). Both grew LocalStack by tens of
KB per file in a soak. The data points now go to a buffer (metric_buffer.py) sent once a second,
the same values and counts, so alarms and statistics see what they saw; the per-invocation threads
are no longer kept.

several_sqs_pollers - for a folder of files landing at once. LocalStack's event source mapping runs
one poller: it receives a batch, invokes the function, waits for it, deletes, and only then
receives again, so a standard queue feeds one execution environment at a time (measured: 30
files/s over 1,000 files, one environment busy 69% of the time). AWS starts five pollers per SQS
mapping and adds more as the queue backs up, each invoking on its own, never more than the
mapping's ScalingConfig.MaximumConcurrency. Each mapping of a standard queue now runs
SQS_POLLERS pollers (TIDEWATER_SQS_POLLERS, default 5), at most MaximumConcurrency; FIFO queues keep
one, as their order needs. LocalStack's own loop stays the first poller and keeps the mapping's
states; the others stop with it, and it closes the poller only after they have stopped.

list_by_raw_key - for listing a partitioned bucket. boto3 (and the AWS CLI) ask every
ListObjects, ListObjectsV2 and ListObjectVersions for EncodingType=url. LocalStack then compares the
URL-encoded keys with the raw key marker the client sends back, and sorts by the raw key but
compares encoded ones: in a bucket of `dt=` partition keys ('=' becomes %3D, which sorts below '=')
the next page skipped every key after the marker up to the next top-level prefix (measured: 3,000 of
the 9,499 objects of the chaos stack's processed bucket listed by ListObjectVersions; the soak took
the rest for memory nobody stored), and ListObjectsV2 listed keys twice. Each listing now pages by
raw keys, as S3 does, and encodes the key-valued fields of its answer afterwards, as S3 does.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from datetime import UTC, datetime

from localstack import config
from localstack.runtime import hooks

from tidewater.executor.metric_buffer import MetricBuffer, Series

LOG = logging.getLogger(__name__)

LONG_POLL_SECONDS = 2  # also bounds how long a deleted or disabled mapping's last poll can block
METRIC_FLUSH_SECONDS = 1.0
SQS_POLLERS = int(os.environ.get("TIDEWATER_SQS_POLLERS") or 5)  # AWS's initial pollers per SQS mapping


@hooks.on_infra_start(priority=100)
def isolate_s3_storage() -> None:
    from localstack.services.s3 import provider

    provider.DEFAULT_S3_TMP_DIR = os.path.join(config.dirs.tmp, "s3-storage")


@hooks.on_infra_start(priority=100)
def cap_event_source_backoff() -> None:
    from localstack.services.lambda_.event_source_mapping import esm_worker

    class CappedBackoff(esm_worker.ExponentialBackoff):
        def next_backoff(self) -> float:
            return min(super().next_backoff(), self.max_interval)

    esm_worker.ExponentialBackoff = CappedBackoff


@hooks.on_infra_start(priority=100)
def long_poll_sqs_event_sources() -> None:
    from localstack.services.lambda_.event_source_mapping.pollers import sqs_poller

    create = sqs_poller.SqsPoller.__init__

    def create_long_polling(self, *args, **kwargs) -> None:
        create(self, *args, **kwargs)
        if not self.maximum_batching_window:
            self.maximum_batching_window = LONG_POLL_SECONDS

    sqs_poller.SqsPoller.__init__ = create_long_polling


@hooks.on_infra_start(priority=100)
def batch_cloudwatch_metrics() -> None:
    from localstack.aws.connect import connect_to
    from localstack.services.lambda_.invocation import version_manager
    from localstack.services.sqs.provider import CloudwatchDispatcher
    from localstack.utils import threads

    buffer = MetricBuffer()

    # Same signature as CloudwatchDispatcher.dispatch_sqs_metric (LocalStack 4.14.0).
    def dispatch_sqs_metric(self, account_id, region, queue_name, metric, value=1, unit="Count"):
        if self.running:
            buffer.add(Series(account_id, region, "AWS/SQS", metric, (("QueueName", queue_name),), unit), value)

    def lambda_metrics(*metrics: str):
        # Same signature as record_cw_metric_invocation / record_cw_metric_error.
        def record(function_name: str, account_id: str, region_name: str) -> None:
            for metric in metrics:
                buffer.add(Series(account_id, region_name, "AWS/Lambda", metric,
                                  (("FunctionName", function_name),), None), 1)
        return record

    CloudwatchDispatcher.dispatch_sqs_metric = dispatch_sqs_metric
    version_manager.record_cw_metric_invocation = lambda_metrics("Invocations")
    version_manager.record_cw_metric_error = lambda_metrics("Invocations", "Errors")
    version_manager.start_thread = functools.partial(threads.start_thread, _shutdown_hook=False)

    def flush_forever() -> None:
        while True:
            time.sleep(METRIC_FLUSH_SECONDS)
            for batch in buffer.drain(datetime.now(UTC)):
                try:
                    cloudwatch = connect_to(aws_access_key_id=batch.account_id, region_name=batch.region).cloudwatch
                    cloudwatch.put_metric_data(Namespace=batch.namespace, MetricData=batch.metric_data)
                except Exception as e:  # as LocalStack's own publishers: a lost data point is logged, not raised
                    LOG.info("Unable to put %d %s data points to CloudWatch: %s",
                             len(batch.metric_data), batch.namespace, e)

    threading.Thread(target=flush_forever, name="tidewater-cloudwatch-metrics", daemon=True).start()


@hooks.on_infra_start(priority=100)
def several_sqs_pollers() -> None:
    from localstack.services.lambda_.event_source_mapping import esm_worker
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.event_source_mapping.pollers.poller import EmptyPollResultsException
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller
    from localstack.utils.threads import FuncThread

    def pollers_for(worker: EsmWorker) -> int:
        if not isinstance(worker.poller, SqsPoller) or worker.poller.is_fifo_queue:
            return 1
        limit = (worker.esm_config.get("ScalingConfig") or {}).get("MaximumConcurrency")
        return max(1, min(SQS_POLLERS, limit or SQS_POLLERS))

    def poll_beside(worker: EsmWorker, done: threading.Event) -> None:
        # LocalStack's poller_loop without the state changes, which stay with the first poller.
        # esm_worker.ExponentialBackoff, read now: cap_event_source_backoff may have replaced it.
        on_empty = esm_worker.ExponentialBackoff(
            initial_interval=1, max_interval=config.LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC)
        on_error = esm_worker.ExponentialBackoff(
            initial_interval=2, max_interval=config.LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_ERROR_SEC)
        while not (worker._shutdown_event.is_set() or done.is_set()):
            wait = config.LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC
            try:
                worker.poller.poll_events()
                on_empty.reset()
                on_error.reset()
            except EmptyPollResultsException:
                wait = on_empty.next_backoff()
            except Exception as e:
                LOG.error("Error while polling %s: %s", worker.esm_config.get("EventSourceArn"), e)
                wait = on_error.next_backoff()
            worker._shutdown_event.wait(wait)

    first_poller_loop = EsmWorker.poller_loop

    def poller_loop(self: EsmWorker, *args, **kwargs) -> None:
        done = threading.Event()
        others = [
            FuncThread(lambda _: poll_beside(self, done), name=f"event-source-mapping-poller-{self.uuid}-{n}")
            for n in range(1, pollers_for(self))
        ]
        close = self.poller.close

        def close_after_the_others() -> None:
            done.set()
            for thread in others:
                thread.join()
            close()

        self.poller.close = close_after_the_others
        for thread in others:
            thread.start()
        try:
            first_poller_loop(self, *args, **kwargs)
        finally:
            done.set()
            self.poller.close = close

    EsmWorker.poller_loop = poller_loop


# The key-valued fields S3 URL-encodes when a listing asks for EncodingType=url (and botocore
# decodes): in each listed item, and at the top of the answer.
ENCODED_ITEMS = {"Contents": "Key", "Versions": "Key", "DeleteMarkers": "Key", "CommonPrefixes": "Prefix"}
ENCODED_FIELDS = ("Prefix", "Delimiter", "Marker", "NextMarker", "KeyMarker", "NextKeyMarker", "StartAfter")


@hooks.on_infra_start(priority=100)
def list_by_raw_key() -> None:
    from urllib.parse import quote  # as LocalStack's S3 provider encodes

    from localstack.services.s3.provider import S3Provider

    def paged_by_raw_key(listing):
        @functools.wraps(listing)
        def list_then_encode(self, *args, **kwargs):
            if kwargs.get("encoding_type") != "url":
                return listing(self, *args, **kwargs)
            response = listing(self, *args, **(kwargs | {"encoding_type": None}))
            for items, field in ENCODED_ITEMS.items():
                for item in response.get(items, ()):
                    item[field] = quote(item[field])
            for field in ENCODED_FIELDS:
                if response.get(field):
                    response[field] = quote(response[field])
            response["EncodingType"] = "url"
            return response

        return list_then_encode

    for name in ("list_objects", "list_objects_v2", "list_object_versions"):
        setattr(S3Provider, name, paged_by_raw_key(getattr(S3Provider, name)))
