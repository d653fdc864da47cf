"""The durability group: what TIDEWATER_POSTGRES_DURABLE=1 costs. The same measurements (the 1M-row
events file, its `psql \\copy` floor, the fan-out of 1,000 small files) on the same stack, with the bench's PostgreSQL
restarted with PostgreSQL's crash-safe defaults (fsync and full_page_writes on) and
without them (the default of the host backend), one after the other in one run."""

from __future__ import annotations

from dataclasses import replace

from tidewater.bench import loads, measures
from tidewater.bench.stack import BenchFailure, BenchStack
from tidewater.stack.host import HostStack
from tidewater.stack.postgres import PostgresCluster

FIGURES = ("events_1m_rows_per_s", "copy_floor_rows_per_s", "fanout_wall_s", "fanout_files_per_s")


def restart_postgres(bench: BenchStack, cluster: PostgresCluster) -> None:
    """Stop the bench's PostgreSQL and start it with `cluster`'s settings (the processor reconnects)."""
    bench.close()
    cluster.stop()
    cluster.start()
    expected = "on" if cluster.durable else "off"
    if cluster.setting("fsync") != expected:
        raise BenchFailure(f"PostgreSQL restarted with fsync={cluster.setting('fsync')}, expected {expected}")


def measure(bench: BenchStack, runs: int) -> dict:
    """`durable_<figure>` and `fast_<figure>` for each of FIGURES, and their ratio `durable_cost_<figure>`
    (durable ÷ fast for times, fast ÷ durable for rates: > 1 means durable is slower)."""
    recorded = HostStack(bench.state).postgres()
    if recorded is None:
        raise BenchFailure(f"no host stack in {bench.state}")
    results: dict = {}
    try:
        for label, durable in (("durable", True), ("fast", False)):
            restart_postgres(bench, replace(recorded, durable=durable))
            bench.progress.say(f"durability: PostgreSQL restarted {label} (fsync {'on' if durable else 'off'})")
            bench.ensure_schema()
            figures = {**loads.throughput(bench, runs), **loads.copy_floor(bench, runs), **measures.fanout(bench, runs)}
            results.update({f"{label}_{name}": figures[name] for name in FIGURES})
    finally:
        restart_postgres(bench, recorded)
    for name in FIGURES:
        durable, fast = results[f"durable_{name}"], results[f"fast_{name}"]
        slower = fast / durable if name.endswith("_per_s") else durable / fast
        results[f"durable_cost_{name}"] = round(slower, 3)
    return results
