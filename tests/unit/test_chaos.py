"""The pure parts of `make chaos` (src/tidewater/chaos/): the files it uploads, the invariants it
judges, the S3 error switch and the report. The invariants must fail for every kind of broken state
they name: a chaos run whose check cannot fail would prove nothing."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess

import pytest
from pipeline.contracts import CONTRACTS
from pipeline.validate import validate_bytes

from tidewater.chaos import s3_faults
from tidewater.chaos.faults import socket_owner
from tidewater.chaos.files import LOADED, QUARANTINED, chaos_file, events
from tidewater.chaos.invariants import LedgerRow, Observed, Upload, Uploads, Verdict, judge
from tidewater.chaos.report import epoch_ends, passed, summarize, table
from tidewater.chaos.soak import S3_BOOKKEEPING_PER_VERSION, S3_IN_MEMORY_BELOW, beyond_stored, stored_in_emulator
from tidewater.chaos.stack import kill_if_working_in, pids_working_in
from tidewater.chaos.trials import TrialResult

pytestmark = pytest.mark.unit


# --- the files ------------------------------------------------------------------------------------


def test_the_same_run_and_number_give_the_same_bytes():
    assert chaos_file("r1", 7) == chaos_file("r1", 7)
    assert chaos_file("r1", 7).body != chaos_file("r2", 7).body


def test_every_file_is_distinct_and_about_one_in_ten_is_bad():
    files = [chaos_file("r1", n) for n in range(400)]
    assert len({hashlib.sha256(f.body).hexdigest() for f in files}) == 400
    bad = [f for f in files if f.status == QUARANTINED or f.good_rows < rows_in(f)]
    assert 0.08 <= len(bad) / len(files) <= 0.12
    assert {f.dataset for f in files} == {"housing", "events", "retina"}


def rows_in(file) -> int:
    if file.key.endswith(".json"):
        return len(json.loads(file.body)) if file.body.startswith(b"[") else 0
    return file.body.count(b"\n") - 1


def test_the_harness_knows_exactly_how_many_rows_of_each_file_load():
    for number in range(120):
        file = chaos_file("r1", number)
        contract = CONTRACTS.get(file.dataset)
        if file.status == LOADED:
            assert len(validate_bytes(file.body, file.key, contract).good) == file.good_rows, file.key
        else:
            assert file.good_rows == 0 and file.reason


# --- the invariants -------------------------------------------------------------------------------


def healthy(**changes) -> tuple[Uploads, Observed]:
    """Two files, a key with two versions and two keys with the same bytes - all as they should be."""
    a = events("events/a.csv", "a", 1, 10)
    b = events("events/b.csv", "b", 2, 7, bad_rows=2)
    v1, v2 = events("events/k.csv", "v1", 3, 4), events("events/k.csv", "v2", 4, 6)
    uploads = Uploads()
    for key, version, file in ((a.key, "1", a), (b.key, "2", b), ("events/k.csv", "3", v1), ("events/k.csv", "4", v2),
                               ("events/same-1.csv", "5", a), ("events/same-2.csv", "6", a)):  # fmt: skip
        uploads.add(Upload(key, version, file))
    ledger = [LedgerRow(*row) for row in (
        (1, "events/a.csv", "1", "loaded", None, 10), (2, "events/b.csv", "2", "loaded", None, 5),
        (3, "events/k.csv", "3", "superseded", None, 4), (4, "events/k.csv", "4", "loaded", None, 6),
        (5, "events/same-1.csv", "5", "duplicate", None, 0),
        (6, "events/same-2.csv", "6", "duplicate", None, 0))]  # fmt: skip
    observed = Observed(ledger=ledger, rows={1: (10, 10), 2: (5, 5), 4: (6, 6)},
                        summary_differences={"event_counts_by_type": 0}, orphans=[], missing=[], ingest_queue=0,
                        dlq_after_replay=0)  # fmt: skip
    for name, value in changes.items():
        setattr(observed, name, value)
    return uploads, observed


def test_a_healthy_stack_passes():
    verdict = judge(*healthy())
    assert verdict.ok, verdict.problems
    assert (verdict.lost_files, verdict.lost_rows, verdict.doubled_rows) == (0, 0, 0)


@pytest.mark.parametrize(
    ("change", "figure", "value"),
    [
        ({"rows": {1: (9, 9), 2: (5, 5), 4: (6, 6)}}, "lost_rows", 1),  # a row lost
        ({"rows": {1: (11, 11), 2: (5, 5), 4: (6, 6)}}, "doubled_rows", 1),  # a row too many
        ({"rows": {1: (10, 10), 2: (5, 5), 3: (4, 4), 4: (6, 6)}}, "doubled_rows", 4),  # the old version's rows stayed
        ({"rows": {1: (10, 9), 2: (5, 5), 4: (6, 6)}}, "doubled_rows", 1),  # a source row stored twice
        ({"rows": {1: (10, 10), 2: (5, 5), 4: (6, 6), 99: (3, 3)}}, "doubled_rows", 3),  # rows of no file
    ],
)
def test_rows_lost_or_doubled_are_counted(change, figure, value):
    verdict = judge(*healthy(**change))
    assert not verdict.ok
    assert getattr(verdict, figure) == value, verdict.problems


def test_a_version_without_a_ledger_row_is_a_lost_file_with_its_rows():
    uploads, observed = healthy()
    observed.ledger = [row for row in observed.ledger if row.id != 1]
    observed.rows = {2: (5, 5), 4: (6, 6)}
    verdict = judge(uploads, observed)
    assert (verdict.lost_files, verdict.lost_rows) == (1, 10)


@pytest.mark.parametrize(
    "ledger_change",
    [
        {3: "loaded"},  # the older version of a key not superseded
        {5: "loaded"},  # two keys with the same bytes both loaded
        {2: "quarantined"},  # a file with some bad rows quarantined as a whole
    ],
)
def test_a_wrong_status_is_a_problem(ledger_change):
    uploads, observed = healthy()
    observed.ledger = [LedgerRow(r.id, r.key, r.version_id, ledger_change.get(r.id, r.status), r.error, r.rows_loaded)
                       for r in observed.ledger]  # fmt: skip
    verdict = judge(uploads, observed)
    assert not verdict.ok and verdict.wrong_status >= 1, verdict.problems


@pytest.mark.parametrize(
    "change",
    [
        {"summary_differences": {"event_counts_by_type": 2}},
        {"orphans": ["s3://processed/events/x.parquet"]},
        {"missing": ["s3://processed/events/y.parquet"]},
        {"ingest_queue": 1},
        {"dlq_after_replay": 1},
    ],
)
def test_summaries_objects_and_queues_are_checked(change):
    assert not judge(*healthy(**change)).ok


def test_a_ledger_row_for_nothing_uploaded_is_a_problem():
    uploads, observed = healthy()
    observed.ledger.append(LedgerRow(7, "events/ghost.csv", "9", "loaded", None, 0))
    assert not judge(uploads, observed).ok


def test_enospcs_file_may_end_loaded_or_too_large_but_nothing_else():
    big = events("events/big.csv", "big", 5, 10)
    for status, error, rows, ok in (("loaded", None, {1: (10, 10)}, True), ("quarantined", "too_large", {}, True),
                                    ("quarantined", "unparseable", {}, False)):  # fmt: skip
        uploads = Uploads()
        uploads.add(Upload(big.key, "1", big, too_large_allowed=True))
        observed = Observed([LedgerRow(1, big.key, "1", status, error, 10 if status == "loaded" else 0)], rows, {}, [],
                            [], 0, 0)  # fmt: skip
        assert judge(uploads, observed).ok is ok


# --- the S3 error switch ----------------------------------------------------------------------------


def test_s3_errors_only_for_the_operations_and_buckets_named(tmp_path):
    control = tmp_path / "s3-faults.json"
    switch = s3_faults.Switch(control, chance=lambda: 0.0)
    assert not switch.fails("GetObject", "raw", "k")  # no control file: off
    control.write_text(json.dumps({"rate": 0.5, "operations": {"GetObject": ["raw"], "PutObject": ["out"]}}))
    switch._checked = 0.0  # read it now, not after RELOAD_SECONDS
    assert switch.fails("GetObject", "raw", "k")
    assert switch.fails("PutObject", "out", "k2")
    assert not switch.fails("PutObject", "raw", "k")  # the harness's own uploads are never failed
    assert not switch.fails("GetObject", "out", "k")
    assert switch.log.read_text().count("\n") == 2


def test_s3_errors_follow_the_rate(tmp_path):
    control = tmp_path / "s3-faults.json"
    control.write_text(json.dumps({"rate": 0.25, "operations": {"GetObject": ["raw"]}}))
    assert s3_faults.Switch(control, chance=lambda: 0.3).fails("GetObject", "raw", "k") is False
    assert s3_faults.Switch(control, chance=lambda: 0.2).fails("GetObject", "raw", "k") is True


def test_an_unknown_operation_in_the_control_file_is_refused():
    with pytest.raises(ValueError, match="unknown S3 operations"):
        s3_faults.Plan.parse(json.dumps({"rate": 1, "operations": {"DeleteBucket": ["raw"]}}))


def test_the_bucket_and_key_of_both_call_shapes():
    assert s3_faults.request_target(({"Bucket": "b", "Key": "k"},), {}) == ("b", "k")
    assert s3_faults.request_target((), {"bucket": "b", "key": "k"}) == ("b", "k")


# --- the report ------------------------------------------------------------------------------------


def trial(kind: str, number: int, faults: int, **figures) -> TrialResult:
    return TrialResult(kind, number, faults, 10, 1.0, 0, 0, Verdict(**figures))


def test_lost_and_doubled_come_from_the_last_check_on_each_stack():
    trials = [trial("sigkill", 1, 30, lost_rows=2), trial("sigkill", 2, 30, lost_rows=2),
              trial("emulator_restart", 3, 1), trial("overwrite", 4, 4, doubled_rows=1)]  # fmt: skip
    assert [t.number for t in epoch_ends(trials)] == [2, 4]
    results = summarize(trials, 40, wall_s=10.0)
    assert (results["lost_rows"], results["doubled_rows"]) == (2, 1)
    assert results["faults"]["sigkill"] == 60 and results["faults_total"] == 65


def test_the_run_fails_when_any_trial_broke_an_invariant():
    broken = Verdict()
    broken.problem("a lost row")
    results = summarize([trial("sigkill", 1, 5), TrialResult("overwrite", 2, 1, 1, 1.0, 0, 0, broken)], 2, wall_s=1.0)
    assert not passed(results)
    assert "INVARIANTS BROKEN in 1 trial(s)" in table(results)
    assert passed(summarize([trial("sigkill", 1, 5)], 1, wall_s=1.0))


# --- what the harness may signal -------------------------------------------------------------------


def test_a_process_is_killed_only_when_it_works_in_the_folder_named(tmp_path):
    ours, elsewhere = tmp_path / "instance", tmp_path / "elsewhere"
    ours.mkdir()
    elsewhere.mkdir()
    child = subprocess.Popen(["sleep", "30"], cwd=elsewhere)
    try:
        assert child.pid not in pids_working_in(ours)
        assert kill_if_working_in(child.pid, ours) is False
        assert child.poll() is None  # untouched
        assert child.pid in pids_working_in(elsewhere)
        assert kill_if_working_in(child.pid, elsewhere) is True
        assert child.wait(timeout=10) == -9
    finally:
        child.kill()
        child.wait()


def test_a_database_session_is_traced_to_the_process_holding_its_socket():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        try:
            port = client.getsockname()[1]
            assert socket_owner(port, [os.getpid()]) == os.getpid()
            assert socket_owner(port, []) is None
        finally:
            client.close()


def soak_checks(emulator_mb, s3_mb, logs_mb):
    return [{"files": 2500 * (i + 1), "emulator_mb": e, "s3_in_memory_mb": s, "log_events_mb": g}
            for i, (e, s, g) in enumerate(zip(emulator_mb, s3_mb, logs_mb, strict=True))]  # fmt: skip


def test_emulator_memory_that_follows_what_it_stores_levels_off():
    result = beyond_stored(soak_checks([700, 800, 900, 1000], [50, 150, 250, 350], [5, 10, 15, 20]))
    assert result["net_mb"] == [645, 640, 635, 630]
    assert result["levels_off"] is True
    assert result["emulator_kb_per_file"] == round(300 * 1024 / 7500, 1)
    assert result["beyond_stored_kb_per_file"] == round(-15 * 1024 / 7500, 1)


def test_emulator_memory_growing_beyond_what_it_stores_does_not_level_off():
    result = beyond_stored(soak_checks([700, 800, 900, 1000], [50, 60, 70, 80], [5, 5, 5, 5]))
    assert result["growth_mb"] == 180
    assert result["levels_off"] is False


class FakeEmulator:
    """Just enough of a chaos stack for stored_in_emulator: two buckets of versions, a log group."""

    pages = {"raw": [{"Versions": [{"Size": 10_000}] * 60 + [{"Size": S3_IN_MEMORY_BELOW}]},
                     {"Versions": [{"Size": 10_000}] * 40}],
             "processed": [{"DeleteMarkers": [{"Key": "gone"}]}]}  # fmt: skip

    def client(self, service):
        return self

    def list_buckets(self):
        return {"Buckets": [{"Name": name} for name in self.pages]}

    def get_paginator(self, operation):
        if operation == "list_object_versions":
            return type("Paginator", (), {"paginate": lambda _, Bucket: self.pages[Bucket]})()
        return type("Paginator", (), {"paginate": lambda _: [{"logGroups": [{"storedBytes": 3 * 1024 * 1024}, {}]}]})()

    def emulator_pid(self):
        return 1

    def rss_mb(self, pids):
        return 700.0


def test_what_the_emulator_stores_counts_each_version_it_keeps_in_memory_with_its_bookkeeping():
    check = stored_in_emulator(type("H", (), {"stack": FakeEmulator()})())
    # the version of 512 KiB lives in a temp file, not in memory; the delete marker holds no bytes
    assert check["s3_versions_in_memory"] == 100
    assert check["s3_in_memory_mb"] == round(100 * (10_000 + S3_BOOKKEEPING_PER_VERSION) / 1024 / 1024, 1) == 1.3
    assert check["log_events_mb"] == 3.0 and check["emulator_mb"] == 700.0


def test_too_few_soak_checks_say_so():
    assert beyond_stored(soak_checks([700, 800], [50, 60], [5, 5]))["levels_off"] is None
