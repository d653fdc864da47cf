"""`tidewater status`: queues, dead-letter queue, ledger counts per dataset, the housing summary and the
last daily report."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from tidewater.aws import Pipeline
from tidewater.dlq import counts_by_dataset, peek
from tidewater.report import last_report


def _table(headers: list[str], rows: list[tuple]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def housing_summary(pipeline: Pipeline) -> str:
    rows = pipeline.query(
        "SELECT ocean_proximity, record_count, round(avg_median_house_value, 2), min_median_house_value, "
        "max_median_house_value FROM housing_summary_statistics ORDER BY ocean_proximity"
    )
    if not rows:
        return "housing_summary_statistics: empty (no housing file loaded yet)"
    total = sum(r[1] for r in rows)
    table = _table(["ocean_proximity", "record_count", "avg_median_house_value", "min", "max"], rows)
    return f"housing_summary_statistics ({total:,} rows)\n{table}"


def status(pipeline: Pipeline, summary_only: bool = False) -> str:
    if summary_only:
        return housing_summary(pipeline)
    out = [f"stack: {pipeline.env.backend} at {pipeline.env.endpoint_url}"]
    queue_rows = []
    for name, key in (("ingest", "ingest_queue_url"), ("dead-letter", "dlq_url")):
        visible, in_flight = pipeline.queue_depth(pipeline.outputs[key])
        queue_rows.append((name, visible, in_flight))
    out.append(_table(["queue", "waiting", "in flight"], queue_rows))
    ledger = {
        row[0]: row[1:]
        for row in pipeline.query(
            "SELECT dataset, count(*) FILTER (WHERE status = 'loaded'), count(*) FILTER (WHERE status = 'duplicate'),"
            " count(*) FILTER (WHERE status = 'quarantined'), count(*) FILTER (WHERE status = 'superseded'),"
            # rows of superseded files were replaced by a later version of the same key: not in the tables
            " coalesce(sum(rows_loaded) FILTER (WHERE status <> 'superseded'), 0),"
            " coalesce(sum(rows_quarantined) FILTER (WHERE status <> 'superseded'), 0), max(finished_at)"
            " FROM ingested_files GROUP BY dataset"
        )
    }
    # Files whose processing failed for an infrastructure reason sit in the DLQ (not in the ledger).
    failed = counts_by_dataset(peek(pipeline))
    rows = []
    for name in sorted(set(ledger) | set(failed)):
        *counts, last = ledger.get(name, (0, 0, 0, 0, 0, 0, None))
        rows.append((name, *counts, failed[name], last))
    headers = ["dataset", "loaded", "duplicate", "quarantined", "superseded", "rows loaded", "rows quarantined",
               "failed (in DLQ)", "last finished"]  # fmt: skip
    out.append(_table(headers, rows) if rows else "ledger: no files processed yet")
    out.append(housing_summary(pipeline))
    out.append(last_report(pipeline))
    return "\n\n".join(out)


def watch(render: Callable[[], str], interval: float, stream: TextIO = sys.stdout, times: int | None = None) -> None:
    """Print `render()` again every `interval` seconds until Ctrl-C (or `times` renders): on a terminal
    over the previous one, elsewhere one after the other with the time above each."""
    shown = 0
    while times is None or shown < times:
        text = render()
        stamp = f"{datetime.now():%H:%M:%S} - every {interval:g}s, Ctrl-C to stop"
        if stream.isatty():
            stream.write("\033[H\033[2J")  # home, clear: the new view replaces the old
        stream.write(f"{stamp}\n\n{text}\n" + ("" if stream.isatty() else "\n"))
        stream.flush()
        shown += 1
        if times is None or shown < times:
            time.sleep(interval)
