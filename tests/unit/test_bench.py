"""The pure parts of `make bench` (src/tidewater/bench/): data, statistics, results and the doc table.
Nothing here is timed."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from pipeline.contracts import EVENTS
from pipeline.validate import validate_bytes

from tidewater.bench import datagen, results, stats
from tidewater.bench.measures import noop_event, rotated_housing
from tidewater.bench.stack import parse_report
from tidewater.deploy import terraform_args

pytestmark = pytest.mark.unit

DAY = date(2025, 5, 1)


# --- datagen --------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_bytes(tmp_path):
    a = datagen.write_events_csv(tmp_path / "a.csv", 2_000, DAY, days=2, salt=3).read_bytes()
    b = datagen.write_events_csv(tmp_path / "b.csv", 2_000, DAY, days=2, salt=3).read_bytes()
    assert a == b
    assert a == datagen.events_csv_bytes(2_000, DAY, days=2, salt=3)


def test_a_different_salt_gives_different_bytes():
    assert datagen.events_csv_bytes(20, DAY, salt=1) != datagen.events_csv_bytes(20, DAY, salt=2)
    files = {datagen.events_csv_bytes(20, DAY, salt=i) for i in range(200)}
    assert len(files) == 200  # the fan-out's files are never duplicates of each other


def test_rows_spread_over_the_days_asked_for():
    text = datagen.events_csv_bytes(3_000, DAY, days=3).decode()
    days = {row["timestamp"][:10] for row in csv.DictReader(io.StringIO(text))}
    assert days == {"2025-05-01", "2025-05-02", "2025-05-03"}


def test_every_generated_row_is_valid_for_the_events_contract():
    data = datagen.events_csv_bytes(5_000, DAY, salt=11)
    result = validate_bytes(data, "events/x.csv", EVENTS)
    assert len(result.rejected) == 0
    assert len(result.good) == 5_000


def test_the_attributes_are_one_json_object_per_row():
    rows = list(csv.DictReader(io.StringIO(datagen.events_csv_bytes(500, DAY).decode())))
    assert list(rows[0]) == list(datagen.EVENT_COLUMNS)
    for row in rows:
        attributes = json.loads(row["attributes"])
        assert isinstance(attributes, dict) and {"page", "device"} <= set(attributes)
        assert ("amount" in attributes) == (row["event_type"] == "checkout")


def test_cached_file_is_written_once_and_rewritten_when_the_arguments_change(tmp_path):
    path = tmp_path / "data" / "events.csv"
    datagen.cached_events_csv(path, 100, DAY)
    path.write_bytes(b"sentinel")  # the cache trusts its sidecar: not rewritten
    datagen.cached_events_csv(path, 100, DAY)
    assert path.read_bytes() == b"sentinel"
    datagen.cached_events_csv(path, 101, DAY)
    assert path.read_bytes() == datagen.events_csv_bytes(101, DAY)
    assert not list(tmp_path.glob("data/*.partial"))


def test_rotated_housing_files_keep_the_rows_but_differ():
    lines = [b"h1,h2\n", b"1,a\n", b"2,b\n", b"3,c\n"]
    rotated = {rotated_housing(lines, i) for i in range(1, 3)}
    assert len(rotated) == 2
    for body in rotated:
        assert body.startswith(b"h1,h2\n")
        assert sorted(body.splitlines()[1:]) == [b"1,a", b"2,b", b"3,c"]


# --- statistics -----------------------------------------------------------------------------------


def test_median_min_max_and_runs():
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert stats.figure("x_s", [3.0, 1.0, 2.0]) == {"x_s": 2.0, "x_s_min": 1.0, "x_s_max": 3.0, "x_s_runs": 3}
    whole = stats.figure("rows_per_s", [1000.4, 2000.6], digits=0)
    assert whole == {"rows_per_s": 1500, "rows_per_s_min": 1000, "rows_per_s_max": 2001, "rows_per_s_runs": 2}
    assert all(isinstance(v, int) for v in whole.values())


def test_nearest_rank_percentiles():
    values = list(range(1, 21))  # 1..20
    assert stats.percentile(values, 50) == 10
    assert stats.percentile(values, 90) == 18
    assert stats.percentile(values, 100) == 20
    assert stats.percentile([5.0], 90) == 5.0
    assert stats.percentile([3, 1, 2], 50) == 2  # order does not matter
    p90 = stats.percentile_figure("lat_p90_s", [0.5, 0.9, 0.7, 0.6], 90)
    assert p90 == {"lat_p90_s": 0.9, "lat_p90_s_min": 0.5, "lat_p90_s_max": 0.9, "lat_p90_s_runs": 4}


@pytest.mark.parametrize("call", [lambda: stats.median([]), lambda: stats.percentile([], 50),
                                  lambda: stats.percentile([1], 0)])  # fmt: skip
def test_no_values_is_an_error(call):
    with pytest.raises(ValueError):
        call()


# --- results --------------------------------------------------------------------------------------


def sample_results() -> dict:
    out: dict = {}
    for key in results.REQUIRED_FIGURES:
        out.update(stats.figure(key, [1.0, 2.0, 3.0]))
    out.update(stats.figure("events_1m_rows_per_s", [300_000, 310_000, 320_000], 0))
    out.update(stats.figure("copy_floor_rows_per_s", [500_000, 520_000, 540_000], 0))
    out.update(stats.figure("naive_to_sql_rows_per_s", [20_000, 25_000, 30_000], 0))
    out.update(stats.figure("fanout_files", [1000, 1000], 0))
    out.update(stats.figure("fanout_processed", [1000, 999], 0))
    out.update(stats.figure("fanout_files_per_s", [90, 110, 120], 0))
    out.update(stats.figure("cold_invoke_ms", [250, 280, 900], 0))
    out.update({"durable_events_1m_rows_per_s": 290_000, "durable_copy_floor_rows_per_s": 280_000})
    out.update({"localstack_idle_rss_mb": 180.5, "ministack_idle_rss_mb": 45.2})
    out.update({"machine_cores": 2, "python_version": "3.13.0", "localstack_version": "4.14.0",
                "date": "2026-01-01T00:00:00+00:00", "bench_wall_s": 900.0, "naive_to_sql_rows": 100_000})  # fmt: skip
    return results.with_ratios(out)


def test_the_results_are_flat_and_hold_every_required_key(tmp_path):
    data = sample_results()
    assert results.missing_keys(data) == []
    for key in ("housing_latency_p50_s", "make_deploy_s", "report_30d_s"):
        assert {f"{key}_min", f"{key}_max", f"{key}_runs"} <= set(data)
    assert data["events_1m_vs_floor"] == round(310_000 / 520_000, 3)
    assert data["events_1m_vs_naive"] == round(310_000 / 25_000, 3)
    assert data["durable_events_1m_vs_floor"] == round(290_000 / 280_000, 3)
    path = tmp_path / "bench" / "results.json"
    results.write_json(path, data)
    written = json.loads(path.read_text())
    assert written == data
    assert all(isinstance(v, int | float | str) for v in written.values())


def test_nested_values_are_refused(tmp_path):
    with pytest.raises(ValueError):
        results.write_json(tmp_path / "r.json", {"a": {"b": 1}})


def test_missing_keys_names_them():
    data = sample_results()
    del data["fanout_wall_s_runs"], data["date"]
    assert results.missing_keys(data) == ["fanout_wall_s_runs", "date"]


def test_merge_keeps_earlier_figures_and_recomputes_the_ratios():
    merged = results.merge(sample_results(), stats.figure("events_1m_rows_per_s", [260_000], 0))
    assert merged["make_up_s"] == 2.0
    assert merged["events_1m_rows_per_s"] == 260_000
    assert merged["events_1m_vs_floor"] == round(260_000 / 520_000, 3)


def test_the_table_shows_goals_and_whether_they_are_met():
    table = results.markdown_table(sample_results())
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "| figure | median | min | max | runs | goal | met |" in table
    assert rows["processor ÷ floor (×)"].endswith("| ≥ 1 | ✗ |")  # 310,000 / 520,000
    assert rows["processor ÷ naive (×)"].endswith("| ≥ 10 | ✓ |")
    assert rows["processor ÷ floor, PostgreSQL durable (×)"].endswith("| ≥ 1 | ✓ |")
    assert rows["fan-out: files loaded (of 1,000)"].endswith("| all | ✗ |")  # one run missed a file
    assert rows["fan-out: files/s"].endswith("| ≥ 100 | ✓ |")  # the median: 110
    assert rows["processor cold invoke, round trip (ms)"].endswith("| < 300 | ✓ |")
    assert rows["housing file: upload → loaded, p50 (s)"].endswith("| < 0.25 s | ✗ |")
    assert "naive pandas to_sql (rows/s), first 100,000 rows" in rows
    assert "2 cores" in table and "LocalStack 4.14.0" in table


def test_the_doc_table_between_the_markers_is_replaced_and_the_prose_stays():
    doc = (f"# Performance\n\nprose before\n\n{results.BEGIN_MARKER}\nold table\n{results.END_MARKER}\n\n"
           "prose after\n")  # fmt: skip
    new = results.replace_results(doc, "| new | table |\n")
    assert new == (f"# Performance\n\nprose before\n\n{results.BEGIN_MARKER}\n| new | table |\n"
                   f"{results.END_MARKER}\n\nprose after\n")  # fmt: skip
    assert results.replace_results(new, "| new | table |\n") == new  # idempotent
    assert "old table" not in new


def test_markers_are_added_when_the_doc_has_none():
    new = results.replace_results("# Performance\n\nprose\n", "table")
    assert new == f"# Performance\n\nprose\n\n{results.BEGIN_MARKER}\ntable\n{results.END_MARKER}\n"


def test_update_doc_rewrites_only_the_generated_part(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text(f"intro\n{results.BEGIN_MARKER}\nx\n{results.END_MARKER}\noutro\n")
    results.update_doc(doc, sample_results())
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert text.count(results.BEGIN_MARKER) == 1 and "| figure |" in text


@pytest.mark.parametrize("doc", ["performance.md", "emulators.md"])
def test_the_committed_doc_has_the_markers(doc):
    from tidewater.stack.env import repo_root

    text = (repo_root() / "docs" / doc).read_text()
    assert text.count(results.BEGIN_MARKER) == 1 and text.count(results.END_MARKER) == 1


def test_the_emulators_table_puts_each_figure_of_localstack_beside_ministacks():
    data = sample_results()
    data.update(stats.figure("ministack_make_up_s", [0.5, 0.7, 0.9], 2))
    table = results.emulators_table(data)
    assert "| figure | LocalStack 4.14.0 | MiniStack 1.5.33 |" in table
    assert "| `make up`, fresh stack (s) | 2.0 (1.0–3.0) | 0.7 (0.5–0.9) |" in table
    assert "| emulator process idle after deploy, resident (MB) | 180 | 45 |" in table
    assert "| housing file: upload → loaded, p90 (s) | 2.00 (1.00–3.00) | — |" in table


# --- the bench's own parsing ----------------------------------------------------------------------


def test_report_lines_are_parsed():
    line = ("REPORT RequestId: 0f1e-2d\tDuration: 23712.05 ms\tBilled Duration: 23713 ms\tMemory Size: 1024 MB\t"
            "Max Memory Used: 470 MB\tInit Duration: 495.20 ms\t")  # fmt: skip
    assert parse_report(line) == {"request_id": "0f1e-2d", "duration_ms": 23712.05, "max_memory_mb": 470.0,
                                  "init_ms": 495.2}  # fmt: skip
    warm = parse_report("REPORT RequestId: ab\tDuration: 1.00 ms\tMax Memory Used: 90 MB\t")
    assert warm["init_ms"] is None and warm["max_memory_mb"] == 90.0
    assert parse_report("START RequestId: ab Version: $LATEST") is None


def test_the_invoke_event_is_an_sqs_batch_with_one_s3_test_event():
    from pipeline.events import parse_message

    event = noop_event("raw-bucket")
    assert len(event["Records"]) == 1 and event["Records"][0]["eventSource"] == "aws:sqs"
    assert parse_message(event["Records"][0]["body"]) == []  # a TestEvent names no object


def test_extra_var_files_come_after_local_tfvars(tmp_path):
    args = terraform_args(tmp_path, [tmp_path / "bench.tfvars", tmp_path / "more.tfvars"])
    var_files = [a for a in args if a.startswith("-var-file=")]
    assert var_files == ["-var-file=envs/local.tfvars", f"-var-file={tmp_path / 'bench.tfvars'}",
                         f"-var-file={tmp_path / 'more.tfvars'}"]  # fmt: skip
    assert [a for a in terraform_args(tmp_path) if a.startswith("-var-file=")] == ["-var-file=envs/local.tfvars"]


@pytest.mark.parametrize(("runs", "says"), [(None, "from a later `--only` run (d2)"),
                                            (2, "from 2 later `--only` runs, the last (d2)")])  # fmt: skip
def test_the_caption_names_the_groups_measured_after_the_full_run(runs, says):
    figures = {"date": "d1", "bench_only_groups": "fanout,throughput", "bench_only_date": "d2"}
    if runs:
        figures["bench_only_runs"] = runs
    assert f"Figures of fanout, throughput {says}." in results.caption(figures)


def test_only_runs_after_a_full_run_add_up_in_the_marks():
    full = {"date": "d1", "fanout_files_per_s": 30.0, "events_1m_rows_per_s": 1.0}
    first = results.merge_only_run(full, {"date": "d2", "fanout_files_per_s": 28.0}, ["fanout"], 40.0)
    second = results.merge_only_run(first, {"date": "d3", "events_1m_rows_per_s": 2.0}, ["throughput"], 30.0)
    assert (second["date"], second["fanout_files_per_s"], second["events_1m_rows_per_s"]) == ("d1", 28.0, 2.0)
    assert (second["bench_only_groups"], second["bench_only_runs"], second["bench_only_date"]) == \
        ("fanout,throughput", 2, "d3")
