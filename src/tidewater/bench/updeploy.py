"""The platform group: `make up` and `make deploy` onto a fresh stack, N cycles; the last one's stack stays up
for the other measurements."""

from __future__ import annotations

import time

from tidewater.bench.stack import BENCH_VAR_FILE, BenchStack
from tidewater.bench.stats import figure
from tidewater.stack import emulators
from tidewater.stack.venvs import ensure_runtime_venvs


def prepare(bench: BenchStack) -> None:
    """Untimed: the dev venv, the shared emulator and runtime venvs and the zips are installed/built,
    and no earlier bench stack is running, so every timed cycle starts from the same place."""
    say = bench.progress.say
    say(f"platform: preparing (untimed): make venv, {bench.emulator} + runtime venvs, zips")
    bench.run(["make", "-s", "venv"], "prepare-venv")
    venvs = bench.root / ".tidewater" / "venvs"  # shared by every instance of the checkout
    emulators.get(bench.emulator).install(venvs)
    ensure_runtime_venvs(venvs / "runtimes")
    bench.run(["make", "-s", "build"], "prepare-build")
    if (bench.state / "host.json").exists():
        say("platform: stopping an earlier bench stack")
        bench.down()


def measure(bench: BenchStack, cycles: int) -> dict:
    """`make -s up BACKEND=host EMULATOR=<its emulator>` then `make -s deploy DEPLOY_ARGS=--var-file
    bench/bench.tfvars`, each on a fresh stack; `tidewater down` between cycles (not after the last).
    Then the emulator's idle memory: its process alone, 5 s after the last deploy."""
    say = bench.progress.say
    prepare(bench)
    up_times, deploy_times = [], []
    for cycle in range(1, cycles + 1):
        bench.pick_ports()
        up = bench.run(["make", "-s", "up", "BACKEND=host", f"EMULATOR={bench.emulator}"], f"make-up-{cycle}")
        up_times.append(up)
        say(f"platform {cycle}/{cycles}: make up {up:.1f}s; deploying")
        deploy = bench.run(["make", "-s", "deploy", f"DEPLOY_ARGS=--var-file {BENCH_VAR_FILE}"], f"make-deploy-{cycle}")
        deploy_times.append(deploy)
        say(f"platform {cycle}/{cycles}: make deploy {deploy:.1f}s")
        if cycle < cycles:
            bench.down()
    time.sleep(5)
    rss = bench.emulator_rss_mb()
    say(f"platform: {bench.emulator} idle after deploy: {rss:.0f} MB resident")
    return {**figure("make_up_s", up_times, 2), **figure("make_deploy_s", deploy_times, 2),
            f"{bench.emulator}_idle_rss_mb": rss}  # fmt: skip
