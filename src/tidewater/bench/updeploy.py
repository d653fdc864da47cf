"""The platform group: `make up` and `make deploy` onto a fresh stack, N cycles; the last one's stack stays up
for the other measurements."""

from __future__ import annotations

from tidewater.bench.stack import BENCH_VAR_FILE, BenchStack
from tidewater.bench.stats import figure
from tidewater.stack import emulators
from tidewater.stack.venvs import ensure_runtime_venvs


def prepare(bench: BenchStack) -> None:
    """Untimed: the dev venv, the shared LocalStack and runtime venvs and the zips are installed/built,
    and no earlier bench stack is running, so every timed cycle starts from the same place."""
    say = bench.progress.say
    say("platform: preparing (untimed): make venv, LocalStack + runtime venvs, zips")
    bench.run(["make", "-s", "venv"], "prepare-venv")
    venvs = bench.root / ".tidewater" / "venvs"  # shared by every instance of the checkout
    emulators.get("localstack").install(venvs)
    ensure_runtime_venvs(venvs / "runtimes")
    bench.run(["make", "-s", "build"], "prepare-build")
    if (bench.state / "host.json").exists():
        say("platform: stopping an earlier bench stack")
        bench.down()


def measure(bench: BenchStack, cycles: int) -> dict:
    """`make -s up BACKEND=host` then `make -s deploy DEPLOY_ARGS=--var-file bench/bench.tfvars`, each
    on a fresh stack; `tidewater down` between cycles (not after the last)."""
    say = bench.progress.say
    prepare(bench)
    up_times, deploy_times = [], []
    for cycle in range(1, cycles + 1):
        bench.pick_ports()
        up = bench.run(["make", "-s", "up", "BACKEND=host"], f"make-up-{cycle}")
        up_times.append(up)
        say(f"platform {cycle}/{cycles}: make up {up:.1f}s; deploying")
        deploy = bench.run(["make", "-s", "deploy", f"DEPLOY_ARGS=--var-file {BENCH_VAR_FILE}"], f"make-deploy-{cycle}")
        deploy_times.append(deploy)
        say(f"platform {cycle}/{cycles}: make deploy {deploy:.1f}s")
        if cycle < cycles:
            bench.down()
    return {**figure("make_up_s", up_times, 2), **figure("make_deploy_s", deploy_times, 2)}
