"""The `ministack` group: the same measurements on a MiniStack stack of its own
(.tidewater/bench-ministack), beside LocalStack's in the same run: `make up`/`make deploy` cycles,
idle memory, cold/warm invokes, housing latency and the 1,000-file fan-out. Its figures are the
LocalStack ones' keys with a `ministack_` prefix; the stack is torn down at the end of the group
so it does not compete with the groups after it."""

from __future__ import annotations

from tidewater.bench import measures, updeploy
from tidewater.bench.stack import BenchStack

EMULATOR = "ministack"
# Fewer than LocalStack's groups run (a deploy is ~80 s, the fan-out minutes): `--runs N` sets all.
RUNS = {"platform": 2, "invoke": 5, "housing": 20, "fanout": 1}


def prefixed(results: dict) -> dict:
    """`make_up_s` -> `ministack_make_up_s`; `ministack_idle_rss_mb` stays as it is."""
    return {key if key.startswith(f"{EMULATOR}_") else f"{EMULATOR}_{key}": value for key, value in results.items()}


def measure(localstack: BenchStack, runs: int | None = None) -> dict:
    """runs: every measurement this many times (default: RUNS)."""
    runs_of = {group: runs or default for group, default in RUNS.items()}
    bench = BenchStack(localstack.progress, localstack.root, emulator=EMULATOR)
    results: dict = {}
    try:
        results.update(prefixed(updeploy.measure(bench, runs_of["platform"])))
        bench.ensure_schema()
        results.update(prefixed(measures.invokes(bench, runs_of["invoke"])))
        results.update(prefixed(measures.housing_latency(bench, runs_of["housing"])))
        results.update(prefixed(measures.fanout(bench, runs_of["fanout"])))
    finally:
        bench.close()
        bench.progress.say(f"{EMULATOR}: tearing its bench stack down")
        bench.down()
    return results
