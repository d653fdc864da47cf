"""The daily report's pure logic: which day, per-dataset counts, latency percentiles, hourly
buckets, error reasons and the dataset figures, fed with ledger rows built here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pipeline.report import (
    STATUSES,
    BadReportRequest,
    LedgerRow,
    build_report,
    error_reasons,
    events_metrics,
    files_per_hour,
    housing_metrics,
    latency,
    percentile,
    render_text,
    report_date,
    retina_metrics,
    summarize_files,
    summary_line,
)

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "functions" / "reporter" / "events"
DAY = date(2025, 1, 15)
T0 = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)


def row(dataset="housing", status="loaded", rows=10, rejected=0, error=None, hour=9, latency_s=1.0):
    event_time = T0.replace(hour=hour)
    return LedgerRow(dataset, status, rows, rejected, error, event_time, event_time,
                     event_time + timedelta(seconds=latency_s), 100)  # fmt: skip


def test_a_date_in_the_event_is_the_day_reported():
    assert report_date(json.loads((EVENTS / "report_date.json").read_text()), T0) == date(2025, 1, 15)


def test_a_scheduled_event_reports_the_utc_day_before_its_time():
    event = json.loads((EVENTS / "eventbridge_scheduled.json").read_text())  # time 2025-01-16T08:00:00Z
    assert report_date(event, datetime(2030, 1, 1, tzinfo=UTC)) == date(2025, 1, 15)


def test_no_date_reports_yesterday():
    assert report_date({}, datetime(2025, 3, 1, 0, 5, tzinfo=UTC)) == date(2025, 2, 28)


def test_a_malformed_date_is_refused():
    with pytest.raises(BadReportRequest, match="YYYY-MM-DD"):
        report_date({"date": "15/01/2025"}, T0)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def test_files_are_counted_per_dataset_and_status():
    rows = [row(), row(rejected=2), row(status="duplicate", rows=0), row(status="quarantined", rows=0,
            error="empty_file"), row("events", rows=5), row(status="superseded", rejected=1)]  # fmt: skip
    per = summarize_files(rows)
    # a superseded file's rows were replaced by a later version: not counted as rows loaded
    assert per["housing"] == {"received": 5, "loaded": 2, "duplicate": 1, "quarantined": 1, "superseded": 1,
                              "with_rejected_rows": 1, "rows_loaded": 20, "rows_quarantined": 2,
                              "bytes_received": 500}  # fmt: skip
    assert per["events"]["loaded"] == 1 and per["events"]["rows_loaded"] == 5
    assert list(per) == ["events", "housing"]


def test_latency_is_finished_at_minus_event_time():
    rows = [row(latency_s=s) for s in (0.5, 1.0, 2.0, 10.0)]
    assert latency(rows) == {"files": 4, "p50_seconds": 1.0, "p90_seconds": 10.0, "p99_seconds": 10.0,
                             "max_seconds": 10.0}  # fmt: skip
    unfinished = LedgerRow("housing", "loaded", 0, 0, None, None, T0, None)
    assert latency([unfinished])["files"] == 0 and latency([unfinished])["p50_seconds"] is None


def test_files_are_bucketed_by_utc_hour_of_receipt():
    hours = files_per_hour([row(hour=0), row(hour=23, status="quarantined", error="x"), row(hour=23)])
    assert len(hours) == 24
    assert hours[0]["loaded"] == 1
    assert hours[23] == {"hour": 23, "loaded": 1, "duplicate": 0, "quarantined": 1, "superseded": 0}


def test_error_reasons_rank_file_codes_and_rejected_rows():
    rows = [row(status="quarantined", error="empty_file"), row("events", status="quarantined", error="empty_file"),
            row(rejected=3), row(status="quarantined", error="unknown_dataset", dataset="weather"), row()]  # fmt: skip
    assert error_reasons(rows) == [
        {"reason": "empty_file", "files": 2, "datasets": {"events": 1, "housing": 1}},
        {"reason": "rejected_rows", "files": 1, "datasets": {"housing": 1}},
        {"reason": "unknown_dataset", "files": 1, "datasets": {"weather": 1}},
    ]


def test_dataset_figures():
    housing = housing_metrics([("NEAR BAY", 2, Decimal("150000.50"), Decimal("100000"), Decimal("200001"))])
    assert housing == {"records": 2, "by_ocean_proximity": [
        {"ocean_proximity": "NEAR BAY", "records": 2, "avg_median_house_value": 150000.5,
         "min_median_house_value": 100000, "max_median_house_value": 200001}]}  # fmt: skip
    events = events_metrics([("auth", 2), ("checkout", 5)], [("login", 2), ("start", 5)], 3)
    assert events["events"] == 7 and events["active_users"] == 3
    assert [e["name"] for e in events["by_event_type"]] == ["checkout", "auth"]
    retina = retina_metrics([("normal", 4), ("glaucoma suspect", 1)], 3)
    assert retina["scans"] == 5 and retina["patients"] == 3
    assert [d["diagnosis"] for d in retina["by_diagnosis"]] == ["normal", "glaucoma suspect"]


def sample_report() -> dict:
    rows = [row(hour=h % 24, latency_s=0.2 + h / 10) for h in range(30)]
    rows += [row(status="quarantined", rows=0, error="empty_file", hour=10), row(rejected=4, hour=11),
             row("events", rows=120, hour=12), row("retina", rows=6, hour=13),
             row("weather", status="quarantined", rows=0, error="unknown_dataset", hour=14)]  # fmt: skip
    datasets = {
        "housing": housing_metrics([("<1H OCEAN", 9136, Decimal("240084.28"), 17500, 500001),
                                    ("INLAND", 6551, Decimal("124805.39"), 14999, 500001)]),  # fmt: skip
        "events": events_metrics([("page_view", 60), ("checkout", 40), ("auth", 20)],
                                 [("view", 60), ("start", 40), ("login", 20)], 38),  # fmt: skip
        "retina": retina_metrics([("normal", 4), ("glaucoma suspect", 2)], 5),
    }
    return build_report(DAY, rows, datasets, 0, datetime(2025, 1, 16, 8, 0, 1, tzinfo=UTC), "schedule")


def test_the_report_is_json_and_adds_up():
    report = json.loads(json.dumps(sample_report()))
    assert report["date"] == "2025-01-15"
    assert report["window_utc"] == ["2025-01-15T00:00:00+00:00", "2025-01-16T00:00:00+00:00"]
    assert report["totals"]["received"] == 35 == sum(sum(h[s] for s in STATUSES) for h in report["files_per_hour"])
    assert report["totals"]["rows_loaded"] == 31 * 10 + 120 + 6


def test_the_text_report_names_every_section():
    text = render_text(sample_report(), "s3://bucket/reports/2025-01-15/")
    assert summary_line(sample_report()) in text
    for needle in ("Files by dataset", "unknown_dataset", "<1H OCEAN", "page_view", "glaucoma suspect", "p90",
                   "s3://bucket/reports/2025-01-15/", "dead-letter queue"):  # fmt: skip
        assert needle in text, needle
