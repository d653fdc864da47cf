"""Through the deployed pipeline: cold/warm invokes, housing latency, fan-out, the 30-day report."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tidewater.bench import datagen
from tidewater.bench.stack import FINAL_STATUSES, BenchFailure, BenchStack, parse_report
from tidewater.bench.stats import figure, median, percentile_figure

HOUSING_FILE = "seed_data/housing/california_housing.csv"
FANOUT_FILES = 1000
FANOUT_ROWS = 20
FANOUT_DAY = date(2025, 4, 1)
REPORT_FILES = 30
REPORT_ROWS = 100_000
REPORT_FIRST_DAY = date(2025, 6, 1)


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- cold and warm invoke -----------------------------------------------------------------------


def noop_event(bucket: str) -> dict:
    """An SQS batch of one s3:TestEvent: a valid event with no work (Powertools refuses an empty
    Records list), which the processor acknowledges."""
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": datetime.now(UTC).isoformat(),
                       "Bucket": bucket, "RequestId": uuid.uuid4().hex, "HostId": "bench"})  # fmt: skip
    return sqs_event([body])


def sqs_event(bodies: list[str], queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:bench",
              region: str = "us-east-1") -> dict:  # fmt: skip
    """What the SQS event source mapping hands the processor: one record per message body."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(_now_ms()), "SenderId": "bench",
                       "ApproximateFirstReceiveTimestamp": str(_now_ms())},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": region,
    } for body in bodies]}  # fmt: skip


def invoke_once(bench: BenchStack, function: str, payload: dict) -> tuple[float, dict | None]:
    """Client round trip in ms and the parsed REPORT line of the log tail (None if absent)."""
    lam = bench.client("lambda")
    started = time.perf_counter()
    response = lam.invoke(FunctionName=function, InvocationType="RequestResponse", LogType="Tail",
                          Payload=json.dumps(payload).encode())  # fmt: skip
    result = response["Payload"].read()
    ms = (time.perf_counter() - started) * 1000
    if response.get("FunctionError") or response.get("StatusCode") != 200:
        raise BenchFailure(f"invoking {function} failed: {response.get('FunctionError')} {result[:500]!r}")
    if json.loads(result or b"null") != {"batchItemFailures": []}:
        raise BenchFailure(f"{function} did not acknowledge the test event: {result[:500]!r}")
    tail = base64.b64decode(response.get("LogResult") or b"").decode(errors="replace")
    reports = [r for r in (parse_report(line) for line in tail.splitlines()) if r]
    return ms, (reports[-1] if reports else None)


def invokes(bench: BenchStack, runs: int) -> dict:
    """Cold = the first invoke after forcing a new execution environment; warm = the same again at once."""
    function = bench.outputs["processor_function_name"]
    payload = noop_event(bench.outputs["raw_bucket"])
    cold, warm, init = [], [], []
    for run in range(1, runs + 1):
        bench.fresh_environment(function)
        since = _now_ms()
        cold_ms, report = invoke_once(bench, function, payload)
        warm_ms, _ = invoke_once(bench, function, payload)
        if report is None:  # no log tail: the CloudWatch copy
            found = [r for r in bench.report_lines(function, since) if r["init_ms"] is not None]
            report = found[0] if found else None
        if report and report["init_ms"] is not None:
            init.append(report["init_ms"])
        cold.append(cold_ms)
        warm.append(warm_ms)
        bench.progress.say(f"invoke {run}/{runs}: cold {cold_ms:.0f} ms"
                           + (f" (Init Duration {report['init_ms']:.0f} ms)" if report and report["init_ms"] else "")
                           + f", warm {warm_ms:.1f} ms")  # fmt: skip
    out = {**figure("cold_invoke_ms", cold, 1), **figure("warm_invoke_ms", warm, 1)}
    if init:
        out.update(figure("cold_invoke_init_ms", init, 1))
    return out


# --- housing latency ----------------------------------------------------------------------------


def rotated_housing(lines: list[bytes], i: int) -> bytes:
    """The housing file with its data rows rotated by i: the same rows (and summary), distinct bytes
    (identical bytes would be recorded as a duplicate and load nothing)."""
    header, rows = lines[0], lines[1:]
    i %= len(rows)
    return header + b"".join(rows[i:] + rows[:i])


def housing_latency(bench: BenchStack, runs: int) -> dict:
    """Upload -> the file's ledger row says `loaded` (it commits with housing_summary_statistics),
    polled every 20 ms. One untimed warm-up upload first, so the runs meet a warm environment."""
    s3 = bench.client("s3")
    bucket = bench.outputs["raw_bucket"]
    lines = (bench.root / HOUSING_FILE).read_bytes().splitlines(keepends=True)
    if not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    bench.reset_housing()
    latencies = []
    for i in range(runs + 1):
        key = f"housing/bench-latency-{i}.csv"
        body = rotated_housing(lines, i + 1)
        started = time.monotonic()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        row, observed = bench.wait_final(key, 60, "housing latency", interval=0.02)
        if row["status"] != "loaded":
            raise BenchFailure(f"{key} was {row['status']} ({row['error']}: {row['error_detail']}), not loaded")
        if i == 0:
            bench.progress.say(f"housing: warm-up upload loaded in {observed - started:.2f}s (not counted)")
            continue
        latencies.append(observed - started)
        if i % 5 == 0 or i == runs:
            bench.progress.say(f"housing {i}/{runs}: {latencies[-1]:.2f}s (p50 so far {median(latencies):.2f}s)")
    return {**percentile_figure("housing_latency_p50_s", latencies, 50),
            **percentile_figure("housing_latency_p90_s", latencies, 90)}  # fmt: skip


# --- fan-out ------------------------------------------------------------------------------------


def fanout(bench: BenchStack, runs: int, files: int = FANOUT_FILES, rows: int = FANOUT_ROWS) -> dict:
    """`files` small distinct events files uploaded at once (16 threads); wall = first put -> the
    poll that sees the last file final."""
    s3 = bench.client("s3")
    bucket = bench.outputs["raw_bucket"]
    function = bench.outputs["processor_function_name"]
    processed, walls, per_s, put_s, total_rows, dlqs = [], [], [], [], [], []
    invocations, environments, invoke_ms, busy, file_ms = [], [], [], [], []
    for run in range(1, runs + 1):
        bench.reset_events()
        prefix = f"events/bench-fanout/{run}-{uuid.uuid4().hex[:6]}/"
        bodies = {f"{prefix}{i}.csv": datagen.events_csv_bytes(rows, FANOUT_DAY, salt=run * 100_000 + i)
                  for i in range(files)}  # fmt: skip
        since = _now_ms()
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), bodies.items()))
        put_s.append(time.monotonic() - started)
        bench.progress.say(f"fan-out {run}/{runs}: {files} files uploaded in {put_s[-1]:.1f}s; waiting")
        deadline, last_report = started + 600, time.monotonic()
        while True:
            counts = dict(bench.query(
                "SELECT status, count(*) FROM ingested_files WHERE s3_key LIKE %s GROUP BY status", (prefix + "%",)))
            final = sum(counts.get(s, 0) for s in FINAL_STATUSES)
            now = time.monotonic()
            if final >= files:
                break
            if now > deadline:
                raise BenchFailure(f"fan-out: {final}/{files} files final after 600s ({bench.queue_depths()})")
            depths = bench.queue_depths()
            if depths["dlq"] and not depths["visible"] and not depths["in_flight"]:
                raise BenchFailure(f"fan-out: {depths['dlq']} message(s) in the DLQ, {final}/{files} final")
            if now - last_report > 10:
                bench.progress.say(f"  fan-out {run}: {final}/{files} final after {now - started:.0f}s, queue {depths}")
                last_report = now
            time.sleep(0.25)
        walls.append(now - started)
        processed.append(counts.get("loaded", 0))
        per_s.append(files / walls[-1])
        total_rows.append(bench.query(
            "SELECT count(*) FROM events e JOIN ingested_files f ON f.id = e.file_id WHERE f.s3_key LIKE %s",
            (prefix + "%",))[0][0])  # fmt: skip
        durations = bench.query(
            "SELECT extract(epoch FROM finished_at - started_at) * 1000 FROM ingested_files WHERE s3_key LIKE %s",
            (prefix + "%",))  # fmt: skip
        file_ms.append(median([float(d[0]) for d in durations]))
        time.sleep(2)  # the last invocations' logs land just after their results
        reports = bench.report_lines(function, since)
        invocations.append(len(reports))
        environments.append(len({r["log_stream"] for r in reports}))
        invoke_ms.append(median([r["duration_ms"] for r in reports]) if reports else 0.0)
        # Share of the wall time some invocation was running (their durations added up).
        busy.append(100 * sum(r["duration_ms"] for r in reports) / 1000 / walls[-1])
        dlqs.append(bench.queue_depths()["dlq"])
        bench.progress.say(f"fan-out {run}/{runs}: {processed[-1]}/{files} loaded, {total_rows[-1]:,} rows, "
                           f"{walls[-1]:.1f}s ({per_s[-1]:.1f} files/s); {invocations[-1]} invocations in "
                           f"{environments[-1]} environment(s), median {invoke_ms[-1]:.0f} ms each, busy "
                           f"{busy[-1]:.0f}% of the wall time; median {file_ms[-1]:.0f} ms per file in the ledger; "
                           f"DLQ {dlqs[-1]}")  # fmt: skip
        if total_rows[-1] != files * rows:
            raise BenchFailure(f"fan-out: {total_rows[-1]:,} rows in events for the files, expected {files * rows:,}")
        if dlqs[-1]:
            raise BenchFailure(f"fan-out: {dlqs[-1]} message(s) in the dead-letter queue")
    return {
        **figure("fanout_files", [files] * runs, 0),
        **figure("fanout_processed", processed, 0),
        **figure("fanout_wall_s", walls, 2),
        **figure("fanout_files_per_s", per_s, 2),
        **figure("fanout_put_s", put_s, 2),
        **figure("fanout_invocations", invocations, 0),
        **figure("fanout_environments", environments, 0),
        **figure("fanout_invoke_ms", invoke_ms, 1),
        **figure("fanout_busy_pct", busy, 1),
        **figure("fanout_file_ms", file_ms, 1),
        "fanout_rows": max(total_rows),
        "fanout_dlq": max(dlqs),
        "fanout_rows_per_file": rows,
    }


# --- the 30-day report --------------------------------------------------------------------------


def report_files(bench: BenchStack) -> list:
    """30 files of 100,000 events, file i covering REPORT_FIRST_DAY + i (cached: deterministic)."""
    folder = bench.data_dir / "report-30d"
    paths = []
    for i in range(REPORT_FILES):
        day = REPORT_FIRST_DAY + timedelta(days=i)
        paths.append(datagen.cached_events_csv(folder / f"events-{day}.csv", REPORT_ROWS, day, salt=7000 + i))
    return paths


def report_30d(bench: BenchStack, runs: int) -> dict:
    """Load 30 x 100,000 events (30 days) through the pipeline, all received today, then invoke the
    reporter for today `runs` times; round trip of the invoke."""
    say = bench.progress.say
    s3 = bench.client("s3")
    bucket = bench.outputs["raw_bucket"]
    say("report: generating 30 files of 100,000 events (cached after the first run)")
    paths = report_files(bench)
    bench.reset_events()
    keys = [f"events/bench-report/{path.name}" for path in paths]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda item: s3.upload_file(str(item[0]), bucket, item[1]), zip(paths, keys, strict=True)))
    say(f"report: {len(keys)} files uploaded in {time.monotonic() - started:.1f}s; waiting for the pipeline")
    deadline, last_report = started + 1200, time.monotonic()
    while True:
        rows = bench.query("SELECT status, rows_loaded FROM ingested_files WHERE s3_key = ANY(%s)", (keys,))
        final = [r for r in rows if r[0] in FINAL_STATUSES]
        if len(final) == len(keys):
            break
        if time.monotonic() > deadline:
            raise BenchFailure(f"report: {len(final)}/{len(keys)} files final after 1200s ({bench.queue_depths()})")
        if time.monotonic() - last_report > 15:
            say(f"  report: {len(final)}/{len(keys)} files loaded ({sum(r[1] for r in final):,} rows) "
                f"after {time.monotonic() - started:.0f}s")
            last_report = time.monotonic()
        time.sleep(0.5)
    load_s = time.monotonic() - started
    loaded_rows = sum(r[1] for r in final if r[0] == "loaded")
    if loaded_rows != REPORT_FILES * REPORT_ROWS:
        raise BenchFailure(f"report: {loaded_rows:,} rows loaded, expected {REPORT_FILES * REPORT_ROWS:,}: {rows}")
    say(f"report: {loaded_rows:,} events loaded in {load_s:.1f}s; invoking the reporter")
    lam = bench.client("lambda")
    function = bench.outputs["reporter_function_name"]
    today = datetime.now(UTC).date()
    times, events = [], None
    for run in range(1, runs + 1):
        t0 = time.perf_counter()
        response = lam.invoke(FunctionName=function, InvocationType="RequestResponse",
                              Payload=json.dumps({"date": today.isoformat()}).encode())  # fmt: skip
        payload = json.loads(response["Payload"].read() or b"null")
        seconds = time.perf_counter() - t0
        if response.get("FunctionError") or not isinstance(payload, dict) or "error" in payload:
            raise BenchFailure(f"the reporter failed: {payload}")
        report = json.loads(s3.get_object(Bucket=bench.outputs["reports_bucket"],
                                          Key=f"reports/{today}/report.json")["Body"].read())  # fmt: skip
        events = report["datasets"]["events"]["events"]
        times.append(seconds)
        say(f"report {run}/{runs}: {seconds:.2f}s round trip (reporter: {payload['seconds']:.2f}s), "
            f"{events:,} events in the report")
    if events < REPORT_FILES * REPORT_ROWS:
        raise BenchFailure(f"report: the report counts {events:,} events, expected {REPORT_FILES * REPORT_ROWS:,}")
    return {**figure("report_30d_s", times, 3), "report_30d_rows": events, "report_30d_load_s": round(load_s, 1),
            "report_30d_load_rows_per_s": round(loaded_rows / load_s)}  # fmt: skip


# --- the inner loop: a saved edit -> the next file processed by it ---------------------------------


def logged(bench: BenchStack, text: str, within_s: float) -> bool:
    """Whether a log line of the processor holds `text`, polled for up to `within_s`: the ledger row is
    final before the function has logged it, and an invocation's lines reach the log group after it."""
    deadline = time.monotonic() + within_s
    while True:
        events = bench.log_events(bench.outputs["processor_function_name"], int((time.time() - 120) * 1000))
        if any(text in event["message"] for event in events):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def edit_to_effect(bench: BenchStack, runs: int) -> dict:
    """`tidewater dev` on a copy of functions/: save an edit of the processor's code, upload a file at
    once, and time until the file is final in the ledger - processed by the edited code (its log line
    says so, checked afterwards). Dev mode is stopped again, so the stack runs its deployed zips."""
    from tidewater import dev

    if reason := dev.supported(bench.pipeline):
        raise BenchFailure(reason)
    with tempfile.TemporaryDirectory(prefix="tidewater-bench-dev-") as folder:
        tree = Path(folder)
        for name in ("processor", "shared"):
            shutil.copytree(bench.root / "functions" / name, tree / "functions" / name,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        app = tree / "functions" / "processor" / "app.py"
        original = app.read_text()
        record = tree / "dev.json"
        s3, bucket = bench.client("s3"), bench.outputs["raw_bucket"]
        # more rows than uploads, so every rotation is distinct bytes (a repeat would be a duplicate)
        lines = (bench.root / HOUSING_FILE).read_bytes().splitlines(keepends=True)[: runs + 4]
        timings = []
        dev.start(bench.pipeline, tree, record)
        try:
            for run in range(1, runs + 2):  # the first run warms the environment up: not counted
                marker = f"Loaded the file (edit {run} {uuid.uuid4().hex[:6]})"
                app.write_text(original.replace('"Loaded the file"', f'"{marker}"'))
                saved = time.monotonic()
                key = f"housing/bench-dev-{uuid.uuid4().hex[:8]}.csv"
                s3.put_object(Bucket=bucket, Key=key, Body=rotated_housing(lines, run))
                row, observed = bench.wait_final(key, 60, "the edited processor", interval=0.02)
                if row["status"] != "loaded":
                    raise BenchFailure(f"{key} was {row['status']} after the edit, not loaded")
                if not logged(bench, marker, within_s=15):
                    raise BenchFailure(f"the edit {marker!r} did not run: no log line of it within 15 s")
                if run > 1:
                    timings.append(observed - saved)
                    bench.progress.say(f"edit {run - 1}/{runs}: saved -> processed by it in {timings[-1]:.2f}s")
        finally:
            dev.stop(bench.pipeline, record)
    return figure("edit_to_effect_s", timings, 2)
