"""`tidewater doctor`: the processed and quarantine buckets checked against the ledger.

The ledger (`ingested_files`) is the only truth about what was loaded: every object a file wrote is
in its row (`processed_keys`, `quarantine_keys`). A load that does not commit deletes what it wrote,
and a new version of a key deletes the old version's objects after its COMMIT - but a process killed
at the wrong moment (between its uploads and its COMMIT, or before that cleanup) cannot. Such objects
are *orphans*: no loaded or quarantined file names them, and a reader of the bucket must not see them.
`--fix` deletes them (in the versioned buckets a delete marker: the data stays recoverable as a
non-current version). Objects younger than `--min-age` minutes are left alone: they may belong to a
load that is still running (a Lambda runs for at most 15 minutes).

It also lists *missing* objects: named by the ledger but not in the bucket (nothing to fix
automatically: upload the source file again).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tidewater.aws import Pipeline

DEFAULT_MIN_AGE_MINUTES = 15.0
# Rows written before the ledger named every object (processed_keys/quarantine_keys are NULL): their
# Parquet/JSON outputs are recognised by the SHA-256 prefix in the name, `<stem>-<sha12>[-partN].<ext>`.
OUTPUT_SHA = re.compile(r"-([0-9a-f]{12})(?:-part\d+)?\.(?:parquet|json)$")
LIVE_PROCESSED = """
    SELECT unnest(processed_keys) FROM ingested_files WHERE status = 'loaded' AND processed_keys IS NOT NULL
"""
LIVE_QUARANTINE = """
    SELECT unnest(quarantine_keys) FROM ingested_files
    WHERE status IN ('loaded', 'quarantined') AND quarantine_keys IS NOT NULL
    UNION
    SELECT quarantine_key FROM ingested_files
    WHERE status IN ('loaded', 'quarantined') AND quarantine_keys IS NULL AND quarantine_key IS NOT NULL
    UNION
    SELECT s3_key || '/rejected_rows.csv' FROM ingested_files
    WHERE status IN ('loaded', 'quarantined') AND quarantine_keys IS NULL AND quarantine_key IS NOT NULL
      AND rows_quarantined > 0
"""
LEGACY_OUTPUT_SHAS = """
    SELECT DISTINCT dataset, left(content_sha256, 12) FROM ingested_files
    WHERE status = 'loaded' AND processed_keys IS NULL AND content_sha256 IS NOT NULL
"""


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class Findings:
    orphans: list[StoredObject]  # in a bucket, named by no current file
    young: list[StoredObject]  # would be orphans, but may belong to a load still running
    missing: list[tuple[str, str]]  # (bucket, key) named by the ledger, not in the bucket


def classify(
    objects: Iterable[StoredObject],
    live: dict[str, set[str]],
    legacy_shas: set[tuple[str, str]],
    processed_bucket: str,
    cutoff: datetime,
) -> Findings:
    """Pure: which stored objects are orphans (or too young to tell), which named ones are missing.
    `live`: bucket -> the keys current ledger rows name."""
    orphans, young, seen = [], [], set()
    for item in objects:
        seen.add((item.bucket, item.key))
        if item.key in live.get(item.bucket, set()) or (
            item.bucket == processed_bucket and is_legacy_output(item.key, legacy_shas)
        ):
            continue
        (young if item.last_modified > cutoff else orphans).append(item)
    missing = sorted((bucket, key) for bucket, keys in live.items() for key in keys if (bucket, key) not in seen)
    return Findings(orphans=orphans, young=young, missing=missing)


def is_legacy_output(key: str, legacy_shas: set[tuple[str, str]]) -> bool:
    match = OUTPUT_SHA.search(key)
    return match is not None and (key.partition("/")[0], match.group(1)) in legacy_shas


def examine(pipeline: Pipeline, min_age_minutes: float = DEFAULT_MIN_AGE_MINUTES) -> Findings:
    if not pipeline.query("SELECT 1 WHERE to_regclass('ingested_files') IS NOT NULL"):
        raise SystemExit(
            "No ledger (ingested_files) in this database: nothing was processed yet, or DATABASE_URL names "
            "another database. Refusing to judge the buckets without it."
        )
    processed, quarantine = pipeline.outputs["processed_bucket"], pipeline.outputs["quarantine_bucket"]
    live = {
        processed: {row[0] for row in pipeline.query(LIVE_PROCESSED)},
        quarantine: {row[0] for row in pipeline.query(LIVE_QUARANTINE)},
    }
    legacy = {(dataset, sha) for dataset, sha in pipeline.query(LEGACY_OUTPUT_SHAS)}
    cutoff = datetime.now(UTC) - timedelta(minutes=min_age_minutes)
    objects = [item for bucket in (processed, quarantine) for item in list_objects(pipeline, bucket)]
    return classify(objects, live, legacy, processed, cutoff)


def list_objects(pipeline: Pipeline, bucket: str) -> Iterable[StoredObject]:
    pages = pipeline.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    for page in pages:
        for item in page.get("Contents", []):
            yield StoredObject(bucket, item["Key"], item["Size"], item["LastModified"])


def remove(pipeline: Pipeline, orphans: list[StoredObject]) -> int:
    """Delete the orphans (a delete marker in a versioned bucket); the number deleted."""
    s3 = pipeline.client("s3")
    for item in orphans:
        s3.delete_object(Bucket=item.bucket, Key=item.key)
    return len(orphans)


def describe(findings: Findings, fixed: bool, min_age_minutes: float) -> str:
    lines = []
    verb = "removed" if fixed else "found"
    if findings.orphans:
        lines.append(f"{len(findings.orphans)} orphaned object(s) {verb} - named by no loaded or quarantined file:")
        lines += [f"  s3://{o.bucket}/{o.key}  ({o.size:,} bytes, {o.last_modified:%Y-%m-%d %H:%M:%S} UTC)"
                  for o in findings.orphans]  # fmt: skip
        if not fixed:
            lines.append("  run `tidewater doctor --fix` to delete them (they stay recoverable as old versions)")
    if findings.young:
        lines.append(f"{len(findings.young)} unnamed object(s) younger than {min_age_minutes:g} minutes left alone "
                     "(a load may still be running); run again later")  # fmt: skip
    if findings.missing:
        lines.append(f"{len(findings.missing)} object(s) the ledger names are missing from the buckets:")
        lines += [f"  s3://{bucket}/{key}" for bucket, key in findings.missing]
        lines.append("  upload their source files again to write them anew")
    return "\n".join(lines) or "the buckets hold exactly what the ledger names: nothing to do"


def doctor(pipeline: Pipeline, fix: bool = False, min_age_minutes: float = DEFAULT_MIN_AGE_MINUTES) -> int:
    """Print the findings (and fix orphans when asked); exit status 1 when something needs attention."""
    findings = examine(pipeline, min_age_minutes)
    if fix:
        remove(pipeline, findings.orphans)
    print(describe(findings, fix, min_age_minutes))
    unresolved = findings.missing or (findings.orphans and not fix)
    return 1 if unresolved else 0
