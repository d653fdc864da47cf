"""The daily report: what happened to the files received on one UTC day, and what they loaded.

Source of truth is PostgreSQL (the ledger `ingested_files` and the dataset tables), never S3
listings. A file belongs to the day its S3 event happened (`event_time`, UTC; `started_at` when a
ledger row has none), and the dataset figures cover the rows loaded from those files. Files that
failed for an infrastructure reason have no ledger row: they sit in the dead-letter queue, whose
depth at report time is reported as `failed`.

`collect` runs the queries; everything else is pure (rows in, report dict / text out) so unit tests
feed it rows directly.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

# superseded: a later version of the same key replaced the file's rows (its rows are not counted).
STATUSES = ("loaded", "duplicate", "quarantined", "superseded")
LATENCY_PERCENTILES = (50, 90, 99)
TOP_ERROR_REASONS = 10
# A file loaded with some rows rejected has no file-level error code; its reason.json says this.
REJECTED_ROWS = "rejected_rows"


@dataclass(frozen=True)
class LedgerRow:
    """The ledger columns the report needs, one per file received on the day."""

    dataset: str
    status: str
    rows_loaded: int
    rows_quarantined: int
    error: str | None
    event_time: datetime | None
    started_at: datetime
    finished_at: datetime | None
    size_bytes: int | None = None

    @property
    def received_at(self) -> datetime:
        return self.event_time or self.started_at

    @property
    def reason(self) -> str | None:
        if self.error:
            return self.error
        return REJECTED_ROWS if self.rows_quarantined else None

    @property
    def latency_seconds(self) -> float | None:
        """Ledger finished_at - S3 event time: how long a file waited and was processed."""
        if self.finished_at is None or self.event_time is None:
            return None
        return max(0.0, (self.finished_at - self.event_time).total_seconds())


# --- which day -------------------------------------------------------------------------------


class BadReportRequest(ValueError):
    """The event asks for a report that cannot be made (e.g. a malformed date)."""


def report_date(event: dict | None, now: datetime) -> date:
    """{"date": "YYYY-MM-DD"} -> that day; anything else (a scheduled EventBridge event, {}) -> the
    UTC day before the event's `time` (or before `now`)."""
    event = event or {}
    if event.get("date"):
        try:
            return date.fromisoformat(str(event["date"]))
        except ValueError as exc:
            raise BadReportRequest(f"date must be YYYY-MM-DD, got {event['date']!r}") from exc
    moment = now
    if isinstance(event.get("time"), str):
        try:
            moment = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        except ValueError:
            moment = now
    return moment.astimezone(UTC).date() - timedelta(days=1)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def report_prefix(day: date) -> str:
    return f"reports/{day.isoformat()}/"


# --- pure aggregation ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p% of the values <= it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize_files(rows: list[LedgerRow]) -> dict[str, dict[str, int]]:
    """Per dataset: files received and by final status, rows loaded and quarantined, files with
    rejected rows. The rows of a file that a later version replaced are not counted: the rows
    figures are what the day's files hold in the tables now."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        d = out.setdefault(
            row.dataset,
            {"received": 0, **{s: 0 for s in STATUSES}, "with_rejected_rows": 0, "rows_loaded": 0,
             "rows_quarantined": 0, "bytes_received": 0},
        )  # fmt: skip
        d["received"] += 1
        d[row.status] = d.get(row.status, 0) + 1
        if row.status != "superseded":
            d["rows_loaded"] += row.rows_loaded or 0
            d["rows_quarantined"] += row.rows_quarantined or 0
        d["bytes_received"] += row.size_bytes or 0
        if row.status == "loaded" and row.rows_quarantined:
            d["with_rejected_rows"] += 1
    return dict(sorted(out.items()))


def totals(per_dataset: dict[str, dict[str, int]]) -> dict[str, int]:
    keys = ("received", *STATUSES, "with_rejected_rows", "rows_loaded", "rows_quarantined", "bytes_received")
    return {key: sum(d.get(key, 0) for d in per_dataset.values()) for key in keys}


def latency(rows: list[LedgerRow]) -> dict[str, Any]:
    values = [v for v in (row.latency_seconds for row in rows) if v is not None]
    result: dict[str, Any] = {"files": len(values)}
    for p in LATENCY_PERCENTILES:
        value = percentile(values, p)
        result[f"p{p}_seconds"] = None if value is None else round(value, 3)
    result["max_seconds"] = round(max(values), 3) if values else None
    return result


def files_per_hour(rows: list[LedgerRow]) -> list[dict[str, int]]:
    """24 buckets (UTC hour of receipt), each with counts per final status."""
    hours = [{"hour": h, **{s: 0 for s in STATUSES}} for h in range(24)]
    for row in rows:
        hour = row.received_at.astimezone(UTC).hour
        hours[hour][row.status] = hours[hour].get(row.status, 0) + 1
    return hours


def error_reasons(rows: list[LedgerRow], limit: int = TOP_ERROR_REASONS) -> list[dict[str, Any]]:
    """The most frequent reasons (file-level codes, `rejected_rows`), most frequent first."""
    counts = Counter((row.reason, row.dataset) for row in rows if row.reason)
    by_reason: dict[str, dict[str, Any]] = {}
    for (reason, dataset), count in counts.items():
        entry = by_reason.setdefault(reason, {"reason": reason, "files": 0, "datasets": {}})
        entry["files"] += count
        entry["datasets"][dataset] = count
    ranked = sorted(by_reason.values(), key=lambda e: (-e["files"], e["reason"]))
    for entry in ranked:
        entry["datasets"] = dict(sorted(entry["datasets"].items()))
    return ranked[:limit]


def _plain(value: Any) -> Any:
    """JSON-friendly numbers: Decimal -> float rounded to cents, keep ints."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else round(float(value), 2)
    return value


def housing_metrics(rows: list[tuple]) -> dict[str, Any]:
    """rows: (ocean_proximity, count, avg, min, max of median_house_value)."""
    groups = [
        {"ocean_proximity": r[0], "records": int(r[1]), "avg_median_house_value": _plain(r[2]),
         "min_median_house_value": _plain(r[3]), "max_median_house_value": _plain(r[4])}
        for r in sorted(rows)
    ]  # fmt: skip
    return {"records": sum(g["records"] for g in groups), "by_ocean_proximity": groups}


def events_metrics(by_type: list[tuple], by_action: list[tuple], active_users: int) -> dict[str, Any]:
    """by_type / by_action: (name, count)."""
    rank = lambda rows: [{"name": r[0], "events": int(r[1])} for r in sorted(rows, key=lambda r: (-r[1], r[0]))]  # noqa: E731
    return {
        "events": sum(int(r[1]) for r in by_type),
        "active_users": int(active_users),
        "by_event_type": rank(by_type),
        "by_action": rank(by_action),
    }


def retina_metrics(by_diagnosis: list[tuple], patients: int) -> dict[str, Any]:
    """by_diagnosis: (diagnosis, scans)."""
    ranked = sorted(by_diagnosis, key=lambda r: (-r[1], r[0]))
    return {
        "scans": sum(int(r[1]) for r in ranked),
        "patients": int(patients),
        "by_diagnosis": [{"diagnosis": r[0], "scans": int(r[1])} for r in ranked],
    }


def build_report(
    day: date,
    ledger: list[LedgerRow],
    datasets: dict[str, Any],
    dlq_depth: int | None,
    generated_at: datetime,
    trigger: str = "manual",
) -> dict[str, Any]:
    per_dataset = summarize_files(ledger)
    return {
        "report": "tidewater daily report",
        "date": day.isoformat(),
        "window_utc": [b.isoformat() for b in day_bounds(day)],
        "generated_at": generated_at.astimezone(UTC).isoformat(),
        "trigger": trigger,
        "totals": totals(per_dataset),
        "files_by_dataset": per_dataset,
        "failed": {"dlq_depth": dlq_depth, "note": "infrastructure failures waiting in the dead-letter queue now"},
        "latency": latency(ledger),
        "files_per_hour": files_per_hour(ledger),
        "error_reasons": error_reasons(ledger),
        "datasets": datasets,
    }


# --- text ------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [headers] + [["" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ["  " + line.rstrip() for line in lines]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def summary_line(report: dict[str, Any]) -> str:
    t = report["totals"]
    dlq = report["failed"]["dlq_depth"]
    return (
        f"{report['date']}: {t['received']:,} files received, {t['loaded']:,} loaded, "
        f"{t['duplicate']:,} duplicate, {t['quarantined']:,} quarantined, {t['superseded']:,} superseded, "
        f"{t['rows_loaded']:,} rows loaded; "
        f"dead-letter queue: {'?' if dlq is None else dlq}"
    )


def render_text(report: dict[str, Any], location: str | None = None) -> str:
    t, lat = report["totals"], report["latency"]
    out = [f"tidewater daily report — {report['date']} (UTC)", "=" * 44, "",
           f"generated {report['generated_at']} ({report['trigger']})"]  # fmt: skip
    if location:
        out.append(f"location  {location}")
    out += ["", summary_line(report), "", "Files by dataset"]
    headers = ["dataset", "received", *STATUSES, "rejected rows in", "rows loaded", "rows quarantined"]
    keys = ["received", *STATUSES, "with_rejected_rows", "rows_loaded", "rows_quarantined"]
    rows = [[name, *(d[k] for k in keys)] for name, d in report["files_by_dataset"].items()]
    rows.append(["total", *(t[k] for k in keys)])
    out += _table(headers, rows)
    out += ["", f"Failed (infrastructure, in the dead-letter queue now): {report['failed']['dlq_depth']}", "",
            f"Processing latency (S3 event -> ledger), {lat['files']} files: "
            f"p50 {_seconds(lat['p50_seconds'])}, p90 {_seconds(lat['p90_seconds'])}, "
            f"p99 {_seconds(lat['p99_seconds'])}, max {_seconds(lat['max_seconds'])}",
            "", "Top error reasons"]  # fmt: skip
    if report["error_reasons"]:
        out += _table(["reason", "files", "datasets"],
                      [[e["reason"], e["files"], ", ".join(f"{k} {v}" for k, v in e["datasets"].items())]
                       for e in report["error_reasons"]])  # fmt: skip
    else:
        out.append("  none")
    busy = [h for h in report["files_per_hour"] if sum(h[s] for s in STATUSES)]
    out += ["", "Files per hour (UTC)"]
    out += [f"  {h['hour']:02d}:00  {sum(h[s] for s in STATUSES):>6,}  " + "#" * min(60, sum(h[s] for s in STATUSES))
            for h in busy] or ["  none"]  # fmt: skip
    ds = report["datasets"]
    housing = ds.get("housing", {})
    out += ["", f"housing: {housing.get('records', 0):,} records loaded"]
    if housing.get("by_ocean_proximity"):
        out += _table(["ocean_proximity", "records", "avg median_house_value", "min", "max"],
                      [[g["ocean_proximity"], g["records"], f"{g['avg_median_house_value']:,.2f}",
                        g["min_median_house_value"], g["max_median_house_value"]]
                       for g in housing["by_ocean_proximity"]])  # fmt: skip
    events = ds.get("events", {})
    out += ["", f"events: {events.get('events', 0):,} events, {events.get('active_users', 0):,} active users"]
    if events.get("by_event_type"):
        out += _table(["event_type", "events"], [[e["name"], e["events"]] for e in events["by_event_type"]])
        out += [""] + _table(["action", "events"], [[e["name"], e["events"]] for e in events["by_action"]])
    retina = ds.get("retina", {})
    out += ["", f"retina: {retina.get('scans', 0):,} scans of {retina.get('patients', 0):,} patients"]
    if retina.get("by_diagnosis"):
        out += _table(["diagnosis", "scans"], [[d["diagnosis"], d["scans"]] for d in retina["by_diagnosis"]])
    return "\n".join(out) + "\n"


# --- queries ---------------------------------------------------------------------------------

# The day's files: received (S3 event time, else started_at) in [start, end).
# The queries below are built from these constant fragments only; every value is a bound parameter,
# hence the `nosec B608` (bandit flags any f-string that contains SQL).
DAY_FILES = """
    SELECT id FROM ingested_files
    WHERE coalesce(event_time, started_at) >= %(start)s AND coalesce(event_time, started_at) < %(end)s
"""

LEDGER_QUERY = (
    "SELECT dataset, status, rows_loaded, rows_quarantined, error, event_time, started_at, finished_at,"  # nosec B608
    f" size_bytes FROM ingested_files WHERE id IN ({DAY_FILES}) ORDER BY id"
)

HOUSING_QUERY = (
    "SELECT ocean_proximity, count(*), avg(median_house_value), min(median_house_value),"  # nosec B608
    f" max(median_house_value) FROM housing WHERE file_id IN ({DAY_FILES}) GROUP BY ocean_proximity"
)
EVENTS_BY_TYPE_QUERY = (
    f"SELECT event_type, count(*) FROM events WHERE file_id IN ({DAY_FILES}) GROUP BY event_type"  # nosec B608
)
EVENTS_BY_ACTION_QUERY = (
    f"SELECT action, count(*) FROM events WHERE file_id IN ({DAY_FILES}) GROUP BY action"  # nosec B608
)
ACTIVE_USERS_QUERY = f"SELECT count(DISTINCT user_id) FROM events WHERE file_id IN ({DAY_FILES})"  # nosec B608
RETINA_BY_DIAGNOSIS_QUERY = (
    f"SELECT diagnosis, count(*) FROM retina_scans WHERE file_id IN ({DAY_FILES}) GROUP BY diagnosis"  # nosec B608
)
RETINA_PATIENTS_QUERY = (
    f"SELECT count(DISTINCT patient_id) FROM retina_scans WHERE file_id IN ({DAY_FILES})"  # nosec B608
)


def collect(conn, day: date) -> tuple[list[LedgerRow], dict[str, Any]]:
    """The day's ledger rows and dataset figures, read in one snapshot."""
    start, end = day_bounds(day)
    params = {"start": start, "end": end}

    def rows(cur, query: str) -> list[tuple]:
        cur.execute(query, params)
        return cur.fetchall()

    # REPEATABLE READ: every query sees the same committed files, even while loads go on.
    with conn.cursor() as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            ledger = [LedgerRow(*r) for r in rows(cur, LEDGER_QUERY)]
            datasets = {
                "housing": housing_metrics(rows(cur, HOUSING_QUERY)),
                "events": events_metrics(rows(cur, EVENTS_BY_TYPE_QUERY), rows(cur, EVENTS_BY_ACTION_QUERY),
                                         rows(cur, ACTIVE_USERS_QUERY)[0][0]),  # fmt: skip
                "retina": retina_metrics(rows(cur, RETINA_BY_DIAGNOSIS_QUERY), rows(cur, RETINA_PATIENTS_QUERY)[0][0]),
            }
        finally:
            cur.execute("COMMIT")
    return ledger, datasets
