"""The daily report end to end: uploads -> ledger -> reporter -> reports bucket + SNS -> SQS.

Expected numbers are computed here from the ledger and the dataset tables with our own SQL and
arithmetic, independently of pipeline.report. Other tests upload on the same day, so the test waits
for the ingest queue to drain and compares against the state right after the report.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pipeline.report import STATUSES

from tests.e2e.test_housing_pipeline import put, wait_for_ledger
from tests.stacks import wait_until
from tidewater.report import invoke_reporter, last_report, run_report
from tidewater.status import status

pytestmark = pytest.mark.e2e

SEED = Path(__file__).resolve().parents[2] / "seed_data"
DAY_WINDOW = "coalesce(event_time, started_at) >= %s AND coalesce(event_time, started_at) < %s"


def today() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def expected_from_database(stack, start: datetime) -> dict:
    window = (start, start + timedelta(days=1))
    q = stack.pipeline.query
    files = {}
    for dataset, status_, count, rows, rejected in q(
        f"SELECT dataset, status, count(*), sum(rows_loaded), sum(rows_quarantined) FROM ingested_files "
        f"WHERE {DAY_WINDOW} GROUP BY dataset, status",
        window,
    ):
        d = files.setdefault(dataset, {"received": 0, "loaded": 0, "duplicate": 0, "quarantined": 0,
                                       "superseded": 0, "rows_loaded": 0, "rows_quarantined": 0})  # fmt: skip
        d["received"] += count
        d[status_] += count
        if status_ != "superseded":  # replaced rows are not in the tables any more
            d["rows_loaded"] += rows
            d["rows_quarantined"] += rejected
    latencies = sorted(
        r[0] for r in q(f"SELECT extract(epoch FROM finished_at - event_time)::float FROM ingested_files "
                        f"WHERE {DAY_WINDOW} AND finished_at IS NOT NULL AND event_time IS NOT NULL", window)
    )  # fmt: skip
    # The report lists the 10 most frequent reasons, ties by name (the suite's corpus alone has 13).
    reasons = [tuple(r) for r in
        q(f"SELECT coalesce(error, 'rejected_rows'), count(*) FROM ingested_files WHERE {DAY_WINDOW} "
          f"AND (error IS NOT NULL OR rows_quarantined > 0) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10", window)
    ]  # fmt: skip
    day_files = f"SELECT id FROM ingested_files WHERE {DAY_WINDOW}"
    housing = {r[0]: (r[1], r[2]) for r in q(
        f"SELECT ocean_proximity, count(*), avg(median_house_value) FROM housing WHERE file_id IN ({day_files}) "
        f"GROUP BY 1", window)}  # fmt: skip
    events_by_type = dict(q(f"SELECT event_type, count(*) FROM events WHERE file_id IN ({day_files}) GROUP BY 1",
                            window))  # fmt: skip
    users = q(f"SELECT count(DISTINCT user_id) FROM events WHERE file_id IN ({day_files})", window)[0][0]
    diagnoses = dict(q(f"SELECT diagnosis, count(*) FROM retina_scans WHERE file_id IN ({day_files}) GROUP BY 1",
                       window))  # fmt: skip
    return {"files": files, "latencies": latencies, "reasons": reasons, "housing": housing,
            "events_by_type": events_by_type, "active_users": users, "diagnoses": diagnoses}  # fmt: skip


def nearest_rank(values: list[float], p: int) -> float:
    return values[math.ceil(p / 100 * len(values)) - 1]


def assert_report_matches(report: dict, expected: dict, dlq_depth: int) -> None:
    files = {name: {k: d[k] for k in expected["files"][name]} for name, d in report["files_by_dataset"].items()}
    assert files == expected["files"]
    assert report["totals"]["received"] == sum(d["received"] for d in expected["files"].values())
    assert report["totals"]["rows_loaded"] == sum(d["rows_loaded"] for d in expected["files"].values())
    lat = expected["latencies"]
    assert report["latency"]["files"] == len(lat)
    for p in (50, 90, 99):
        assert report["latency"][f"p{p}_seconds"] == pytest.approx(nearest_rank(lat, p), abs=0.002)
    assert [(e["reason"], e["files"]) for e in report["error_reasons"]] == expected["reasons"]
    assert sum(sum(h[s] for s in STATUSES) for h in report["files_per_hour"]) == \
        report["totals"]["received"]  # fmt: skip
    housing = {g["ocean_proximity"]: g for g in report["datasets"]["housing"]["by_ocean_proximity"]}
    assert {k: g["records"] for k, g in housing.items()} == {k: v[0] for k, v in expected["housing"].items()}
    for key, (_, avg) in expected["housing"].items():
        assert Decimal(str(housing[key]["avg_median_house_value"])) == pytest.approx(avg, abs=Decimal("0.01"))
    events = report["datasets"]["events"]
    assert {e["name"]: e["events"] for e in events["by_event_type"]} == expected["events_by_type"]
    assert events["active_users"] == expected["active_users"]
    retina = report["datasets"]["retina"]
    assert {d["diagnosis"]: d["scans"] for d in retina["by_diagnosis"]} == expected["diagnoses"]
    assert report["failed"]["dlq_depth"] == dlq_depth


def queue_drained(stack) -> bool:
    visible, in_flight = stack.pipeline.queue_depth(stack.outputs["ingest_queue_url"])
    return visible == 0 and in_flight == 0


def dlq_depth(stack) -> int:
    return sum(stack.pipeline.queue_depth(stack.outputs["dlq_url"]))


def notifications(stack, day: str) -> list[dict]:
    """SNS envelopes for `day` on the subscribed queue (deleted once read)."""
    sqs, url = stack.client("sqs"), stack.outputs["report_notifications_queue_url"]
    found = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", []):
        envelope = json.loads(message["Body"])
        if envelope.get("MessageAttributes", {}).get("date", {}).get("Value") == day:
            found.append(envelope)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.fixture(scope="module")
def uploaded_today(stack) -> list[str]:
    """A mix of outcomes: loaded (3 datasets), quarantined files, a file with rejected rows."""
    run = uuid.uuid4().hex[:8]
    housing_lines = (SEED / "housing" / "california_housing.csv").read_text().splitlines()
    bad_row = housing_lines[1].split(",")
    bad_row[-2] = "not-a-number"  # median_house_value
    uploads = {
        f"housing/report-{run}.csv": "\n".join([*housing_lines[:301], ",".join(bad_row)]).encode() + b"\n",
        f"events/report-{run}.csv": (SEED / "events" / "events.csv").read_bytes().rstrip(b"\n")
        + f"\n2025-11-18T00:03:17Z,auth,u-{run},login,/account,mobile\n".encode(),
        f"retina/report-{run}.json": (SEED / "retina" / "retina_scans.json").read_bytes() + b" ",
        f"housing/report-{run}-empty.csv": b"",
        f"weather/report-{run}.csv": b"a,b\n1,2\n",
    }
    versions = {key: put(stack, key, body) for key, body in uploads.items()}
    for key, version in versions.items():
        wait_for_ledger(stack, key, version)
    return list(uploads)


def test_report_for_today_matches_the_ledger_and_tables(stack, uploaded_today):
    # GIVEN today's uploads are all processed
    wait_until(lambda: queue_drained(stack), 120, "the ingest queue to drain")
    day = today()

    # WHEN the report for today is made (as `tidewater report --date` does)
    for _attempt in range(3):
        result = invoke_reporter(stack.pipeline, day.date())
        expected, depth = expected_from_database(stack, day), dlq_depth(stack)
        obj = stack.client("s3").get_object(Bucket=stack.outputs["reports_bucket"], Key=result["keys"][0])
        report = json.loads(obj["Body"].read())
        if report["totals"]["received"] == sum(d["received"] for d in expected["files"].values()):
            break  # nothing landed between the report and our queries

    # THEN the three files exist and the JSON says what the database says
    bucket = stack.outputs["reports_bucket"]
    assert result["keys"] == [f"reports/{day.date()}/report.{ext}" for ext in ("json", "txt", "html")]
    assert result["location"] == f"s3://{bucket}/reports/{day.date()}/"
    assert_report_matches(report, expected, depth)
    assert report["datasets"]["retina"]["scans"] >= 1 and report["datasets"]["events"]["events"] >= 1
    assert {"unknown_dataset", "empty_file", "rejected_rows"} <= {e["reason"] for e in report["error_reasons"]}

    s3 = stack.client("s3")
    text = s3.get_object(Bucket=bucket, Key=f"reports/{day.date()}/report.txt")["Body"].read().decode()
    html = s3.get_object(Bucket=bucket, Key=f"reports/{day.date()}/report.html")
    assert result["summary"] in text and "housing:" in text and "unknown_dataset" in text
    assert html["ContentType"].startswith("text/html")
    body = html["Body"].read().decode()
    assert body.count("<svg") == 3 and "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")
    print(f"report for {day.date()}: {report['totals']} in {result['seconds']}s")

    # AND the notification reached the SQS subscription of the reports topic
    envelopes = wait_until(lambda: notifications(stack, str(day.date())), 60, "the SNS notification on SQS")
    assert envelopes[-1]["Subject"].startswith(f"tidewater {day.date()}:")
    assert f"{result['location']}report.html" in envelopes[-1]["Message"]
    assert result["summary"] in envelopes[-1]["Message"]


def test_rerunning_a_date_overwrites_its_report(stack, uploaded_today):
    day = today().date()
    first = invoke_reporter(stack.pipeline, day)
    second = invoke_reporter(stack.pipeline, day)
    s3 = stack.client("s3")
    listing = s3.list_objects_v2(Bucket=stack.outputs["reports_bucket"], Prefix=f"reports/{day}/")
    assert sorted(o["Key"] for o in listing["Contents"]) == sorted(second["keys"]) == sorted(first["keys"])
    report = json.loads(s3.get_object(Bucket=stack.outputs["reports_bucket"], Key=second["keys"][0])["Body"].read())
    assert report["generated_at"] > (datetime.now(UTC) - timedelta(seconds=60)).isoformat()


def test_a_malformed_date_is_refused_with_a_message(stack):
    with pytest.raises(SystemExit, match="date must be YYYY-MM-DD"):
        run_report(stack.pipeline, "2025-13-45")


def test_status_shows_the_last_report(stack, uploaded_today):
    invoke_reporter(stack.pipeline, today().date())
    shown = status(stack.pipeline)
    assert "last report: " in shown
    assert last_report(stack.pipeline).startswith("last report: ")
    assert "report.html" in shown


def test_report_open_gives_a_url_and_a_local_copy_a_browser_can_open(stack, uploaded_today, tmp_path, capsys):
    run_report(stack.pipeline, today().date().isoformat(), open_it=True, copies=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    url = next(line for line in lines if line.startswith("open the report in a browser: ")).split(": ", 1)[1]
    copy = next(line for line in lines if line.startswith("or its local copy: ")).split(": ", 1)[1]
    with urllib.request.urlopen(url, timeout=10) as response:  # what a browser would fetch
        served = response.read()
    assert served.startswith(b"<!doctype html>") and b"tidewater daily report" in served
    assert Path(urllib.parse.urlparse(copy).path).read_bytes() == served


@pytest.mark.slow
def test_the_schedule_rule_fires_the_reporter_for_yesterday(stack):
    # GIVEN a test stack whose rule runs every minute (tests/stacks.py)
    rule = stack.client("events").describe_rule(Name=stack.outputs["report_rule_name"])
    if rule["ScheduleExpression"] != "rate(1 minute)":
        pytest.skip(f"the report rule runs {rule['ScheduleExpression']} on this stack, not every minute")
    yesterday = (today() - timedelta(days=1)).date()
    key = f"reports/{yesterday}/report.json"
    s3 = stack.client("s3")

    def scheduled_report():
        try:
            body = s3.get_object(Bucket=stack.outputs["reports_bucket"], Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        report = json.loads(body)
        return report if report["trigger"] == "schedule" else None

    # WHEN a minute or two passes, THEN the rule has run the reporter for the previous UTC day
    report = wait_until(scheduled_report, 150, f"the scheduled report {key}", interval=3)
    assert report["date"] == str(yesterday)
