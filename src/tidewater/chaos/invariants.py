"""What must hold after every trial, whatever the faults: the harness's record of what it uploaded
(`Uploads`) judged against what the stack holds (`Observed`).

- every uploaded object version has exactly one ledger row, with a final status, and the status it
  must have: a file on its own `loaded` or `quarantined` (with its reason); of the versions of one
  key the newest `loaded` and the older ones `superseded`; of the current versions holding the same
  bytes exactly one `loaded` and the others `duplicate`;
- a loaded file has exactly its good rows in its table (none lost, none doubled) and nothing else
  has rows: no row belongs to a file that is not `loaded`;
- the summaries equal a recompute from the tables (housing_summary_statistics,
  event_counts_by_type);
- every object the ledger names exists and no object is named by nobody (`tidewater doctor`, with no
  minimum age: the stack is quiet);
- the ingest queue is empty, and the dead-letter queue is empty after `replay-dlq`.

`judge` is pure (unit-tested with made-up observations); `observe` reads the stack.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from tidewater import doctor
from tidewater.aws import Pipeline
from tidewater.chaos.files import LOADED, QUARANTINED, ChaosFile

FINAL = ("loaded", "duplicate", "quarantined", "superseded")
TABLES = {"housing": "housing", "events": "events", "retina": "retina_scans"}
SUMMARY_DIFFERENCES = {
    "housing_summary_statistics": """
        WITH stored AS (SELECT ocean_proximity, record_count, avg_median_house_value, min_median_house_value,
                               max_median_house_value FROM housing_summary_statistics),
             recomputed AS (SELECT ocean_proximity, count(*), avg(median_house_value), min(median_house_value),
                                   max(median_house_value) FROM housing GROUP BY ocean_proximity)
        SELECT count(*) FROM ((TABLE stored EXCEPT TABLE recomputed) UNION ALL (TABLE recomputed EXCEPT TABLE stored)) d
    """,
    "event_counts_by_type": """
        WITH stored AS (SELECT event_type, event_date, count FROM event_counts_by_type),
             recomputed AS (SELECT event_type, event_date, count(*) FROM events GROUP BY event_type, event_date)
        SELECT count(*) FROM ((TABLE stored EXCEPT TABLE recomputed) UNION ALL (TABLE recomputed EXCEPT TABLE stored)) d
    """,
}
MAX_PROBLEMS = 50  # problems listed (all are counted)


@dataclass(frozen=True)
class Upload:
    key: str
    version_id: str
    file: ChaosFile
    too_large_allowed: bool = False  # ENOSPC's file: `quarantined` as too_large is right too

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.file.body).hexdigest()


@dataclass(frozen=True)
class Expectation:
    upload: Upload
    statuses: tuple[str, ...]  # the statuses it may end in
    group: tuple[str, ...]  # version ids of the current versions with the same bytes (itself included)


class Uploads:
    """Every object version the harness put into the raw bucket of the current stack, in order."""

    def __init__(self) -> None:
        self.versions: list[Upload] = []

    def add(self, upload: Upload) -> None:
        self.versions.append(upload)

    def clear(self) -> None:
        self.versions.clear()

    def __len__(self) -> int:
        return len(self.versions)

    def latest_by_key(self) -> dict[str, Upload]:
        latest: dict[str, Upload] = {}
        for upload in self.versions:
            latest[upload.key] = upload
        return latest

    def expectations(self) -> list[Expectation]:
        latest = self.latest_by_key()
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for upload in latest.values():
            if upload.file.status == LOADED:
                groups[(upload.file.dataset, upload.sha256)].append(upload.version_id)
        out = []
        for upload in self.versions:
            if latest[upload.key] is not upload:
                out.append(Expectation(upload, ("superseded",), (upload.version_id,)))
            elif upload.file.status == QUARANTINED:
                out.append(Expectation(upload, (QUARANTINED,), (upload.version_id,)))
            else:
                group = tuple(groups[(upload.file.dataset, upload.sha256)])
                statuses = ("loaded", "duplicate") if len(group) > 1 else ("loaded",)
                if upload.too_large_allowed:
                    statuses += (QUARANTINED,)
                out.append(Expectation(upload, statuses, group))
        return out


@dataclass(frozen=True)
class LedgerRow:
    id: int
    key: str
    version_id: str
    status: str
    error: str | None
    rows_loaded: int


@dataclass
class Observed:
    ledger: list[LedgerRow]
    rows: dict[int, tuple[int, int]]  # file_id -> (rows, distinct source rows), over every dataset table
    summary_differences: dict[str, int]  # summary table -> rows that differ from a recompute
    orphans: list[str]  # s3://bucket/key named by no current ledger row
    missing: list[str]  # named by the ledger, not in the bucket
    ingest_queue: int  # visible + in flight
    dlq_after_replay: int


@dataclass
class Verdict:
    lost_files: int = 0
    lost_rows: int = 0
    doubled_rows: int = 0
    wrong_status: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def judge(uploads: Uploads, observed: Observed) -> Verdict:
    verdict = Verdict()
    ledger: dict[tuple[str, str], LedgerRow] = {}
    for row in observed.ledger:
        if (row.key, row.version_id) in ledger:
            verdict.problem(f"{row.key} version {row.version_id}: two ledger rows")
        ledger[(row.key, row.version_id)] = row
    expectations = uploads.expectations()
    for expectation in expectations:
        check_status(verdict, expectation, ledger.get((expectation.upload.key, expectation.upload.version_id)))
    units: dict[tuple[str, ...], list[Expectation]] = defaultdict(list)
    for expectation in expectations:
        units[expectation.group].append(expectation)
    for unit in units.values():
        check_rows(verdict, unit, ledger, observed.rows)
    uploaded = {(e.upload.key, e.upload.version_id) for e in expectations}
    for row in observed.ledger:
        if (row.key, row.version_id) not in uploaded:
            verdict.problem(f"{row.key} version {row.version_id}: a ledger row ({row.status}) for no upload")
    # Rows of the uploads' ledger rows were judged per unit; any others belong to no loaded file.
    judged = {ledger[version].id for version in uploaded if version in ledger}
    loaded_ids = {row.id for row in observed.ledger if row.status == LOADED}
    for file_id, (count, _) in observed.rows.items():
        if file_id not in judged and file_id not in loaded_ids:
            verdict.doubled_rows += count
            verdict.problem(f"{count} row(s) of file id {file_id}, which is not a loaded file")
    for table, differences in observed.summary_differences.items():
        if differences:
            verdict.problem(f"{table}: {differences} row(s) differ from a recompute from the table")
    for uri in observed.orphans:
        verdict.problem(f"orphaned object {uri}: no loaded or quarantined file names it")
    for uri in observed.missing:
        verdict.problem(f"missing object {uri}: the ledger names it")
    if observed.ingest_queue:
        verdict.problem(f"{observed.ingest_queue} message(s) left in the ingest queue")
    if observed.dlq_after_replay:
        verdict.problem(f"{observed.dlq_after_replay} message(s) in the dead-letter queue after replay-dlq")
    return verdict


def check_status(verdict: Verdict, expectation: Expectation, row: LedgerRow | None) -> None:
    upload = expectation.upload
    if row is None or row.status not in FINAL:
        verdict.lost_files += 1
        state = "no ledger row" if row is None else f"status {row.status}, not final"
        verdict.problem(f"{upload.key} version {upload.version_id}: {state}")
        return
    if row.status not in expectation.statuses:
        wrong = f"expected {' or '.join(expectation.statuses)}"
    elif row.status == QUARANTINED and upload.file.status == QUARANTINED and row.error != upload.file.reason:
        wrong = f"expected quarantined as {upload.file.reason}"
    elif row.status == QUARANTINED and upload.too_large_allowed and row.error != "too_large":
        wrong = "expected loaded or quarantined as too_large"
    else:
        return
    verdict.wrong_status += 1
    verdict.problem(f"{upload.key} version {upload.version_id}: {row.status} ({row.error}), {wrong}")


def check_rows(verdict: Verdict, unit: list[Expectation], ledger: dict, rows: dict[int, tuple[int, int]]) -> None:
    """One unit: a version on its own, or the current versions of several keys holding the same bytes,
    which together hold exactly one copy of the good rows (in the one `loaded`)."""
    first = unit[0].upload
    members = [row for e in unit if (row := ledger.get((e.upload.key, e.upload.version_id))) is not None]
    loaded = [row for row in members if row.status == LOADED]
    if "superseded" in unit[0].statuses or first.file.status == QUARANTINED or (first.too_large_allowed and not loaded):
        wanted = 0
    else:
        wanted = first.file.good_rows
    if len(unit) > 1 and len(loaded) != 1:
        verdict.wrong_status += 1
        verdict.problem(f"{first.key} and {len(unit) - 1} other key(s) with the same bytes: {len(loaded)} loaded, "
                        "expected exactly 1")  # fmt: skip
    for row in loaded:
        if row.rows_loaded != wanted:
            verdict.problem(f"{row.key}: the ledger says {row.rows_loaded} rows loaded, expected {wanted}")
    actual = sum(rows.get(row.id, (0, 0))[0] for row in members)
    distinct = sum(rows.get(row.id, (0, 0))[1] for row in members)
    if actual < wanted:
        verdict.lost_rows += wanted - actual
        verdict.problem(f"{first.key}: {actual} rows in its table, expected {wanted}")
    elif actual > wanted:
        verdict.doubled_rows += actual - wanted
        verdict.problem(f"{first.key}: {actual} rows in its table, expected {wanted}")
    if distinct != actual:
        verdict.doubled_rows += actual - distinct
        verdict.problem(f"{first.key}: {actual - distinct} source row(s) stored more than once")


def observe(pipeline: Pipeline, dlq_after_replay: int) -> Observed:
    """Read the ledger, the tables, the summaries, the buckets and the ingest queue."""
    bucket = pipeline.outputs["raw_bucket"]
    ledger = [LedgerRow(*row) for row in pipeline.query(
        "SELECT id, s3_key, version_id, status, error, coalesce(rows_loaded, 0) FROM ingested_files WHERE bucket = %s",
        (bucket,))]  # fmt: skip
    rows: dict[int, tuple[int, int]] = {}
    for table in TABLES.values():
        for file_id, count, distinct in pipeline.query(
            f"SELECT file_id, count(*), count(DISTINCT source_row) FROM {table} GROUP BY file_id"  # nosec B608 - our names
        ):
            before = rows.get(file_id, (0, 0))
            rows[file_id] = (before[0] + count, before[1] + distinct)
    summaries = {table: pipeline.query(sql)[0][0] for table, sql in SUMMARY_DIFFERENCES.items()}
    findings = doctor.examine(pipeline, min_age_minutes=0)
    visible, in_flight = pipeline.queue_depth(pipeline.outputs["ingest_queue_url"])
    return Observed(
        ledger=ledger,
        rows=rows,
        summary_differences=summaries,
        orphans=[f"s3://{o.bucket}/{o.key}" for o in findings.orphans + findings.young],
        missing=[f"s3://{b}/{k}" for b, k in findings.missing],
        ingest_queue=visible + in_flight,
        dlq_after_replay=dlq_after_replay,
    )
