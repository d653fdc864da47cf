"""`tidewater doctor` decides from the ledger alone what in the buckets is an orphan or missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidewater.doctor import Findings, StoredObject, classify, describe

pytestmark = pytest.mark.unit

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(minutes=15)
OLD, RECENT = NOW - timedelta(hours=2), NOW - timedelta(minutes=1)


def stored(bucket: str, key: str, when: datetime = OLD) -> StoredObject:
    return StoredObject(bucket, key, 10, when)


def test_objects_no_current_file_names_are_orphans_unless_a_load_may_still_be_running():
    objects = [
        stored("processed", "housing/dt=2025-11-20/a-111111111111.parquet"),  # named by a loaded file
        stored("processed", "housing/dt=2025-11-20/killed-222222222222.parquet"),  # a killed load's
        stored("processed", "housing/dt=2025-11-20/running-333333333333.parquet", RECENT),  # maybe in flight
        stored("quarantine", "housing/a.csv/reason.json"),
        stored("quarantine", "housing/old.csv/rejected_rows.csv"),  # of a superseded version
    ]
    live = {"processed": {"housing/dt=2025-11-20/a-111111111111.parquet"},
            "quarantine": {"housing/a.csv/reason.json", "housing/b.csv/reason.json"}}  # fmt: skip

    findings = classify(objects, live, set(), "processed", CUTOFF)

    assert [o.key for o in findings.orphans] == ["housing/dt=2025-11-20/killed-222222222222.parquet",
                                                 "housing/old.csv/rejected_rows.csv"]  # fmt: skip
    assert [o.key for o in findings.young] == ["housing/dt=2025-11-20/running-333333333333.parquet"]
    assert findings.missing == [("quarantine", "housing/b.csv/reason.json")]


def test_outputs_of_files_loaded_before_the_ledger_named_them_are_recognised_by_their_hash():
    legacy = {("events", "abcdefabcdef")}
    objects = [stored("processed", "events/dt=2025-11-18/day-abcdefabcdef.parquet"),
               stored("processed", "events/dt=2025-11-19/day-abcdefabcdef-part2.parquet"),
               stored("processed", "housing/dt=2025-11-19/day-abcdefabcdef.parquet")]  # fmt: skip
    findings = classify(objects, {"processed": set(), "quarantine": set()}, legacy, "processed", CUTOFF)
    assert [o.key for o in findings.orphans] == ["housing/dt=2025-11-19/day-abcdefabcdef.parquet"]


def test_the_report_says_what_to_do():
    findings = Findings(orphans=[stored("processed", "x.parquet")], young=[], missing=[("quarantine", "k/reason.json")])
    text = describe(findings, fixed=False, min_age_minutes=15)
    assert "tidewater doctor --fix" in text and "upload their source files again" in text
    assert describe(Findings([], [], []), fixed=False, min_age_minutes=15).startswith("the buckets hold exactly")
