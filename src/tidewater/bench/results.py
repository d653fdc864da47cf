"""bench/results.json (flat) and the results table (terminal and docs/performance.md). Pure, except
for the two small writers at the end."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Figures: the median of repeated runs, each with `_min`, `_max` and `_runs` siblings.
REQUIRED_FIGURES = (
    "housing_latency_p50_s",
    "housing_latency_p90_s",
    "events_1m_rows_per_s",
    "events_1m_peak_rss_mb",
    "copy_floor_rows_per_s",
    "naive_to_sql_rows_per_s",
    "fanout_files",
    "fanout_processed",
    "fanout_wall_s",
    "make_up_s",
    "make_deploy_s",
    "cold_invoke_ms",
    "warm_invoke_ms",
    "report_30d_s",
    "edit_to_effect_s",
    # The same figures on MiniStack, beside LocalStack's (the `ministack` group).
    "ministack_make_up_s",
    "ministack_make_deploy_s",
    "ministack_cold_invoke_ms",
    "ministack_warm_invoke_ms",
    "ministack_housing_latency_p50_s",
    "ministack_fanout_wall_s",
)
# Single measurements (no _min/_max/_runs): each emulator process alone, idle after a deploy.
SINGLE_FIGURES = ("localstack_idle_rss_mb", "ministack_idle_rss_mb")
RATIOS = ("events_1m_vs_floor", "events_1m_vs_naive", "durable_events_1m_vs_floor")
MACHINE = ("machine_cores", "python_version", "localstack_version", "date")
SIBLINGS = ("_min", "_max", "_runs")

BEGIN_MARKER = "<!-- bench:results:begin -->"
END_MARKER = "<!-- bench:results:end -->"


def required_keys() -> list[str]:
    return ([f"{key}{suffix}" for key in REQUIRED_FIGURES for suffix in ("", *SIBLINGS)]
            + [*SINGLE_FIGURES, *RATIOS, *MACHINE])  # fmt: skip


def missing_keys(results: dict[str, Any]) -> list[str]:
    return [key for key in required_keys() if key not in results]


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float) or not denominator:
        return None
    return round(numerator / denominator, 3)


def with_ratios(results: dict[str, Any]) -> dict[str, Any]:
    """The results plus the ratios of medians (each left out while a side is missing):
    events_1m_vs_floor = pipeline rows/s / COPY floor rows/s (goal >= 1: faster than `psql \\copy`),
    events_1m_vs_naive = pipeline rows/s / naive to_sql rows/s (goal >= 10),
    durable_events_1m_vs_floor = the first with PostgreSQL durable (the durability group; goal >= 1)."""
    out = {k: v for k, v in results.items() if k not in RATIOS}
    pipeline = results.get("events_1m_rows_per_s")
    for key, value in (
        ("events_1m_vs_floor", _ratio(pipeline, results.get("copy_floor_rows_per_s"))),
        ("events_1m_vs_naive", _ratio(pipeline, results.get("naive_to_sql_rows_per_s"))),
        ("durable_events_1m_vs_floor",
         _ratio(results.get("durable_events_1m_rows_per_s"), results.get("durable_copy_floor_rows_per_s"))),
    ):  # fmt: skip
        if value is not None:
            out[key] = value
    return out


def merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`--only` runs: the new figures over the previous file's (ratios recomputed)."""
    return with_ratios({**previous, **new})


def merge_only_run(previous: dict[str, Any], new: dict[str, Any], groups: list[str], wall_s: float) -> dict[str, Any]:
    """An `--only` run's figures over the previous file's; the marks name every group measured since
    the last full run (not only this run's), how many such runs there were and when the last one was."""
    earlier = [g for g in previous.get("bench_only_groups", "").split(",") if g and g not in groups]
    marks = {"bench_only_groups": ",".join([*earlier, *groups]), "bench_only_date": new.get("date"),
             "bench_only_runs": previous.get("bench_only_runs", 0) + 1, "bench_only_wall_s": wall_s}  # fmt: skip
    return merge(previous, {**{k: v for k, v in new.items() if k != "date"}, **marks})


def check_flat(results: dict[str, Any]) -> None:
    for key, value in results.items():
        if not isinstance(key, str) or isinstance(value, dict | list | tuple | set) or value is None:
            raise ValueError(f"results must be flat: {key!r} = {value!r}")
        if not isinstance(value, int | float | str | bool):
            raise ValueError(f"results hold numbers and strings only: {key!r} = {value!r}")


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    label: str  # with the unit
    goal: str = ""
    # True/False = goal met or not; None = no goal, or the figure is missing
    check: Callable[[dict[str, Any]], bool] | None = None
    digits: int = 2


def _get(results: dict[str, Any], key: str) -> float:
    return float(results[key])


# Goals: issue 12 (round 2); each a figure or a ratio of the same run.
ROWS = (
    Row("housing_latency_p50_s", "housing file: upload → loaded, p50 (s)", "< 0.25 s",
        lambda r: _get(r, "housing_latency_p50_s") < 0.25),
    Row("housing_latency_p90_s", "housing file: upload → loaded, p90 (s)"),
    Row("events_1m_rows_per_s", "1M-row events file: processor (rows/s)", digits=0),
    Row("events_1m_e2e_s", "1M-row events file: upload → committed (s)"),
    Row("events_1m_peak_rss_mb", "1M-row events file: peak RSS (MB)", "≤ 512",
        lambda r: _get(r, "events_1m_peak_rss_mb") <= 512, 0),
    Row("copy_floor_rows_per_s", "COPY floor, psql \\copy (rows/s)", digits=0),
    Row("events_1m_vs_floor", "processor ÷ floor (×)", "≥ 1", lambda r: _get(r, "events_1m_vs_floor") >= 1),
    Row("naive_to_sql_rows_per_s", "naive pandas to_sql (rows/s)", digits=0),
    Row("events_1m_vs_naive", "processor ÷ naive (×)", "≥ 10", lambda r: _get(r, "events_1m_vs_naive") >= 10),
    Row("fanout_processed", "fan-out: files loaded", "all",
        lambda r: _get(r, "fanout_processed_min") >= _get(r, "fanout_files"), 0),
    Row("fanout_wall_s", "fan-out: first put → last loaded (s)"),
    Row("fanout_files_per_s", "fan-out: files/s", "≥ 100", lambda r: _get(r, "fanout_files_per_s") >= 100),
    Row("report_30d_s", "report over 30 days, 3M events (s)", "< 5", lambda r: _get(r, "report_30d_s") < 5),
    Row("edit_to_effect_s", "`tidewater dev`: edit saved → next file processed by it (s)", "< 2",
        lambda r: _get(r, "edit_to_effect_s") < 2),
    Row("make_up_s", "`make up`, fresh stack (s)", digits=1),
    Row("make_deploy_s", "`make deploy`, fresh stack (s)", digits=1),
    Row("cold_invoke_ms", "processor cold invoke, round trip (ms)", "< 300",
        lambda r: _get(r, "cold_invoke_ms") < 300, 0),
    Row("cold_invoke_init_ms", "processor cold invoke, Init Duration (ms)", digits=0),
    Row("warm_invoke_ms", "processor warm invoke, round trip (ms)", digits=1),
    # The durability group: PostgreSQL with fsync & co. on (TIDEWATER_POSTGRES_DURABLE=1) vs off, same run.
    Row("durable_events_1m_rows_per_s", "1M-row events file, PostgreSQL durable (rows/s)", digits=0),
    Row("durable_copy_floor_rows_per_s", "COPY floor, PostgreSQL durable (rows/s)", digits=0),
    Row("durable_events_1m_vs_floor", "processor ÷ floor, PostgreSQL durable (×)", "≥ 1",
        lambda r: _get(r, "durable_events_1m_vs_floor") >= 1),
    Row("fast_events_1m_rows_per_s", "1M-row events file, PostgreSQL fast (rows/s)", digits=0),
    Row("durable_fanout_wall_s", "fan-out of 1,000 files, PostgreSQL durable (s)", digits=1),
    Row("fast_fanout_wall_s", "fan-out of 1,000 files, PostgreSQL fast (s)", digits=1),
)  # fmt: skip

HEADERS = ("figure", "median", "min", "max", "runs", "goal", "met")


def _number(value: Any, digits: int) -> str:
    if not isinstance(value, int | float):
        return "—" if value is None else str(value)
    return f"{value:,.{digits}f}"


def goal_met(row: Row, results: dict[str, Any]) -> bool | None:
    if row.check is None:
        return None
    try:
        return bool(row.check(results))
    except (KeyError, TypeError, ValueError):
        return None


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per figure present in the results: figure, median, min, max, runs, goal, met."""
    rows = []
    for row in ROWS:
        if row.key not in results:
            continue
        label = row.label
        naive_rows = results.get("naive_to_sql_rows")
        if row.key == "naive_to_sql_rows_per_s" and naive_rows and naive_rows < results.get("events_1m_rows", 10**6):
            label += f", first {naive_rows:,} rows"
        if row.key == "fanout_processed" and results.get("fanout_files"):
            label += f" (of {results['fanout_files']:,})"
        met = goal_met(row, results)
        rows.append([
            label,
            _number(results[row.key], row.digits),
            _number(results.get(f"{row.key}_min"), row.digits),
            _number(results.get(f"{row.key}_max"), row.digits),
            _number(results.get(f"{row.key}_runs"), 0),
            row.goal or "—",
            {True: "✓", False: "✗", None: "—"}[met] if row.goal else "",
        ])  # fmt: skip
    return rows


def caption(results: dict[str, Any]) -> str:
    parts = [
        f"Measured {results.get('date', '?')} on {results.get('machine_cores', '?')} cores",
        f"Python {results.get('python_version', '?')}",
        f"LocalStack {results.get('localstack_version', '?')} (host backend)",
    ]
    if isinstance(results.get("bench_wall_s"), int | float):
        parts.append(f"`make bench` took {results['bench_wall_s'] / 60:.1f} min")
    text = ", ".join(parts) + "."
    if results.get("bench_only_groups"):
        runs = results.get("bench_only_runs", 1)
        text += (f" Figures of {results['bench_only_groups'].replace(',', ', ')} from "
                 + ("a later `--only` run" if runs == 1 else f"{runs} later `--only` runs, the last")
                 + f" ({results.get('bench_only_date', '?')}).")  # fmt: skip
    return text


def markdown_table(results: dict[str, Any]) -> str:
    lines = [caption(results), "", "| " + " | ".join(HEADERS) + " |",
             "|" + "|".join(["---", *["---:"] * 4, "---", ":---:"]) + "|"]  # fmt: skip
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(results)]
    return "\n".join(lines) + "\n"


def text_table(results: dict[str, Any]) -> str:
    cells = [list(HEADERS), *table_rows(results)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(HEADERS))]
    right = {1, 2, 3, 4}

    def line(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cells))

    out = [caption(results), "", line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r).rstrip() for r in cells[1:]]
    return "\n".join(out) + "\n"


def replace_results(document: str, block: str) -> str:
    """The document with everything between the markers replaced by `block` (the prose around the
    markers stays). Without markers, they are appended with the block."""
    generated = f"{BEGIN_MARKER}\n{block.rstrip()}\n{END_MARKER}"
    begin, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if begin == -1 or end == -1 or end < begin:
        return document.rstrip() + "\n\n" + generated + "\n"
    return document[:begin] + generated + document[end + len(END_MARKER):]


# --- LocalStack and MiniStack side by side (docs/emulators.md) ----------------------------------

# (label with the unit, LocalStack's key, digits); MiniStack's key is ministack_<key>.
SIDE_BY_SIDE = (
    ("`make up`, fresh stack (s)", "make_up_s", 1),
    ("`make deploy`, fresh stack (s)", "make_deploy_s", 1),
    ("processor cold invoke, round trip (ms)", "cold_invoke_ms", 0),
    ("processor warm invoke, round trip (ms)", "warm_invoke_ms", 1),
    ("housing file: upload → loaded, p50 (s)", "housing_latency_p50_s", 2),
    ("housing file: upload → loaded, p90 (s)", "housing_latency_p90_s", 2),
    ("fan-out of 1,000 files: first put → last loaded (s)", "fanout_wall_s", 1),
    ("fan-out: files loaded", "fanout_processed", 0),
    ("emulator process idle after deploy, resident (MB)", "idle_rss_mb", 0),
)


def _side(results: dict[str, Any], key: str, digits: int) -> str:
    value = results.get(key)
    if value is None:
        return "—"
    low, high = results.get(f"{key}_min"), results.get(f"{key}_max")
    if results.get(f"{key}_runs", 1) > 1 and low is not None and high is not None:
        return f"{_number(value, digits)} ({_number(low, digits)}–{_number(high, digits)})"
    return _number(value, digits)


def emulators_table(results: dict[str, Any]) -> str:
    """Markdown: figure | LocalStack | MiniStack, medians with (min–max) over the runs."""
    lines = [caption(results) + " Median (min–max) where measured more than once.", "",
             "| figure | LocalStack 4.14.0 | MiniStack 1.5.33 |", "|---|---:|---:|"]  # fmt: skip
    for label, key, digits in SIDE_BY_SIDE:
        localstack_key = "localstack_idle_rss_mb" if key == "idle_rss_mb" else key
        lines.append(f"| {label} | {_side(results, localstack_key, digits)} | "
                     f"{_side(results, f'ministack_{key}', digits)} |")  # fmt: skip
    return "\n".join(lines) + "\n"


# --- files --------------------------------------------------------------------------------------


def write_json(path: Path, results: dict[str, Any]) -> None:
    check_flat(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def update_doc(path: Path, results: dict[str, Any], table: Callable[[dict[str, Any]], str] = markdown_table) -> None:
    document = path.read_text() if path.exists() else "# Performance\n"
    path.write_text(replace_results(document, table(results)))
