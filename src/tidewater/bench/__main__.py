"""`make bench` / `python -m tidewater.bench`: measure the pipeline on a private host-backend stack.

Writes bench/results.json (flat) and the results table in docs/performance.md, and prints it.
See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tidewater.bench import durability, loads, measures, sidebyside, updeploy
from tidewater.bench.results import (
    emulators_table,
    merge_only_run,
    missing_keys,
    read_json,
    text_table,
    update_doc,
    with_ratios,
    write_json,
)
from tidewater.bench.stack import (
    BenchFailure,
    BenchStack,
    Progress,
    interrupt_on_sigterm,
    localstack_version,
    one_run_at_a_time,
)

GROUPS = ("platform", "ministack", "invoke", "housing", "edit", "throughput", "floor", "naive", "fanout", "report",
          "durability")  # fmt: skip
# ministack: one pass of its own measurements (their runs: sidebyside.RUNS); durability: one of each
# measurement with PostgreSQL durable, one without.
DEFAULT_RUNS = {"platform": 3, "ministack": 1, "invoke": 5, "housing": 20, "edit": 5, "throughput": 3, "floor": 3,
                "naive": 3, "fanout": 3, "report": 3, "durability": 1}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tidewater.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the bench stack running at the end")
    parser.add_argument("--only", help=f"comma-separated groups to run on the running, deployed bench stack "
                                       f"(no platform cycles): {', '.join(GROUPS[1:])}")  # fmt: skip
    parser.add_argument("--runs", type=int, help="repeat every group this many times "
                                                 f"(default: {', '.join(f'{g} {n}' for g, n in DEFAULT_RUNS.items())})")
    parser.add_argument("--naive-rows", type=int, default=0,
                        help="load only the first N rows of the 1M-row file in the naive baseline (default 0: all)")
    args = parser.parse_args(argv)
    if args.only:
        args.groups = [g.strip() for g in args.only.split(",") if g.strip()]
        unknown = [g for g in args.groups if g not in GROUPS[1:]]
        if unknown:
            parser.error(f"--only: unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS[1:])}")
    else:
        args.groups = list(GROUPS)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def machine(bench: BenchStack, started_at: datetime) -> dict:
    return {
        "machine_cores": os.cpu_count() or 0,
        "python_version": platform.python_version(),
        "localstack_version": localstack_version(bench.pipeline.env.endpoint_url),
        "date": started_at.isoformat(timespec="seconds"),
    }


def ministack_beside_localstack(bench: BenchStack, args: argparse.Namespace) -> dict:
    """MiniStack's figures; LocalStack's idle memory comes from the platform group, or without it
    (`--only ministack`) from the kept LocalStack bench stack as it is now."""
    results = sidebyside.measure(bench, args.runs)
    if "platform" not in args.groups:
        results["localstack_idle_rss_mb"] = bench.emulator_rss_mb()
    return results


def run_groups(bench: BenchStack, args: argparse.Namespace, results: dict) -> None:
    runs = {group: args.runs or default for group, default in DEFAULT_RUNS.items()}
    steps: dict[str, Callable[[], dict]] = {
        "platform": lambda: updeploy.measure(bench, runs["platform"]),
        "ministack": lambda: ministack_beside_localstack(bench, args),
        "invoke": lambda: measures.invokes(bench, runs["invoke"]),
        "housing": lambda: measures.housing_latency(bench, runs["housing"]),
        "edit": lambda: measures.edit_to_effect(bench, runs["edit"]),
        "throughput": lambda: loads.throughput(bench, runs["throughput"]),
        "floor": lambda: loads.copy_floor(bench, runs["floor"]),
        "naive": lambda: loads.naive(bench, runs["naive"], args.naive_rows or None),
        "fanout": lambda: measures.fanout(bench, runs["fanout"]),
        "report": lambda: measures.report_30d(bench, runs["report"]),
        "durability": lambda: durability.measure(bench, runs["durability"]),
    }
    for group in args.groups:
        started = time.monotonic()
        bench.progress.say(f"== {group} ({runs[group]} run{'s' if runs[group] > 1 else ''})")
        if group not in ("platform", "ministack"):
            bench.ensure_schema()
        results.update(steps[group]())
        results[f"{group}_group_s"] = round(time.monotonic() - started, 1)
        bench.progress.say(f"== {group} done in {time.monotonic() - started:.0f}s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    progress = Progress()
    bench = BenchStack(progress)
    run_lock = one_run_at_a_time(bench.state, "make bench")  # noqa: F841 - held until the process ends
    started_at = datetime.now(UTC)
    owns_stack = "platform" in args.groups
    if not owns_stack and not (bench.state / "outputs.json").exists():
        raise SystemExit(f"--only needs a deployed bench stack ({bench.state}); run `make bench BENCH_ARGS=--keep` "
                         "first (or deploy one with TIDEWATER_STATE_DIR=.tidewater/bench)")  # fmt: skip
    results: dict = {}
    status = 1
    try:
        progress.say(f"bench: groups {', '.join(args.groups)}; stack {bench.state}")
        run_groups(bench, args, results)
        results.update(machine(bench, started_at))
        status = 0
    except BenchFailure as exc:
        progress.say(f"bench FAILED: {exc}")
    except KeyboardInterrupt:
        progress.say("bench interrupted")
        status = 130
    finally:
        bench.close()
        if owns_stack and not args.keep:
            progress.say("tearing the bench stack down (tidewater down)")
            try:
                bench.down()
            except Exception as exc:  # noqa: BLE001 - report, never hide the measurement's own outcome
                progress.say(f"tidewater down failed: {exc}")
        elif owns_stack:
            progress.say(f"--keep: the bench stack stays up ({bench.state}); stop it with "
                         f"TIDEWATER_STATE_DIR={bench.state} {sys.executable} -m tidewater down")  # fmt: skip
    if status != 0:
        if results:
            print("\nfigures measured before the failure (not written):\n" + text_table(with_ratios(results)))
        return status

    results_path = bench.root / "bench" / "results.json"
    if args.only:
        # Iterating on some groups: their figures replace those of the last full run.
        results = merge_only_run(read_json(results_path), results, args.groups, round(progress.elapsed, 1))
    else:
        results = with_ratios({**results, "bench_groups": ",".join(args.groups),
                               "bench_wall_s": round(progress.elapsed, 1)})  # fmt: skip
    write_json(results_path, results)
    missing = missing_keys(results)
    if not missing:  # a partial run (`--only` with no full run before it) never shrinks the docs' tables
        update_doc(bench.root / "docs" / "performance.md", results)
        update_doc(bench.root / "docs" / "emulators.md", results, emulators_table)
    print()
    print(text_table(results))
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        print(f"note: {len(missing)} required key(s) not in {results_path.name} yet: {shown}; the tables in "
              "docs/performance.md and docs/emulators.md were left as they are")  # fmt: skip
    print(f"wrote {results_path}{'' if missing else ' and the tables in docs/performance.md and docs/emulators.md'}; "
          f"bench took {progress.elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
