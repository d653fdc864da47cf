"""`tidewater dev`: the deployed functions run the code under functions/ straight from the work tree.

A saved change takes effect on the next invocation - no build, no deploy. Each function gets one more
environment variable, TIDEWATER_DEV_SOURCES (its own folder and functions/shared): our Lambda
executor puts those folders before the zip's task root and, before each invocation, imports the
function's modules again when one of their files was saved (tidewater/executor/bootstrap.py). The
dependencies still come from the deployed zip (pandas, pyarrow, Powertools), so what runs is what
would deploy. Stopping (Ctrl-C, or `tidewater dev --stop` from another shell) gives each function its
deployed environment back, so `make plan` is clean again.

Where it runs: stacks whose functions run through our executor with the work tree in sight - the
host backend with LocalStack, and the compose backend (the container mounts functions/ at the same
path). MiniStack runs function workers of its own, which load the code once: `tidewater dev` says
so there instead of pretending.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tidewater.aws import Pipeline
from tidewater.stack.env import repo_root, state_dir

SOURCES_VARIABLE = "TIDEWATER_DEV_SOURCES"  # read by tidewater/executor/bootstrap.py
FUNCTIONS = {"processor": "processor_function_name", "reporter": "reporter_function_name"}
WATCHED = (".py", ".sql", ".json", ".yaml", ".yml")


def sources(name: str, root: Path) -> str:
    return os.pathsep.join([str(root / "functions" / name), str(root / "functions" / "shared")])


def supported(pipeline: Pipeline) -> str | None:
    """Why dev mode cannot run on this stack, or None."""
    if pipeline.env.emulator != "localstack":
        return (f"`tidewater dev` needs LocalStack: {pipeline.env.emulator}'s function workers load a function's "
                "code once and keep it, so a saved change would not reach them. Use `make up EMULATOR=localstack` "
                "for the inner loop (the same Terraform and zips), or `make deploy` after each change here.")
    return None


def start(pipeline: Pipeline, root: Path, record: Path) -> list[str]:
    """Point every function at `root`/functions; returns the functions changed. `record` says dev mode
    is on (`--stop` elsewhere removes it)."""
    if reason := supported(pipeline):
        raise SystemExit(reason)
    client = pipeline.client("lambda")
    changed = []
    for name, output in FUNCTIONS.items():
        function = pipeline.outputs[output]
        variables = client.get_function_configuration(FunctionName=function).get("Environment", {}).get("Variables", {})
        wanted = {**variables, SOURCES_VARIABLE: sources(name, root)}
        if variables != wanted:
            update_environment(client, function, wanted)
            changed.append(function)
    record.write_text(json.dumps({"root": str(root), "functions": changed}))
    return changed


def stop(pipeline: Pipeline, record: Path) -> list[str]:
    """Give every function its deployed environment back; returns the functions changed."""
    client = pipeline.client("lambda")
    changed = []
    for output in FUNCTIONS.values():
        function = pipeline.outputs[output]
        variables = client.get_function_configuration(FunctionName=function).get("Environment", {}).get("Variables", {})
        if SOURCES_VARIABLE in variables:
            update_environment(client, function, {k: v for k, v in variables.items() if k != SOURCES_VARIABLE})
            changed.append(function)
    record.unlink(missing_ok=True)
    return changed


def update_environment(client, function: str, variables: dict[str, str]) -> None:
    client.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    client.get_waiter("function_updated").wait(FunctionName=function, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def changed_files(root: Path, since: float) -> list[Path]:
    folders = [root / "functions" / name for name in (*FUNCTIONS, "shared")]
    files = (path for folder in folders for path in folder.rglob("*") if path.suffix in WATCHED)
    return sorted(path for path in files if "__pycache__" not in path.parts and path.stat().st_mtime > since)


def run(pipeline: Pipeline, interval: float = 0.5) -> int:
    """Start dev mode, say what changes as files are saved, stop on Ctrl-C."""
    root, record = repo_root(), state_dir() / "dev.json"
    start(pipeline, root, record)
    say(f"dev mode: {', '.join(pipeline.outputs[o] for o in FUNCTIONS.values())} run the code under "
        f"{root / 'functions'} (dependencies from the deployed zips). Save a file and invoke: the next invocation "
        "runs it. Ctrl-C (or `tidewater dev --stop`) puts the deployed code back.")  # fmt: skip
    seen = time.time()
    try:
        while record.exists():  # `tidewater dev --stop` elsewhere ends this loop too
            time.sleep(interval)
            now = time.time()
            for path in changed_files(root, seen):
                say(f"saved {path.relative_to(root)}: the next invocation runs it")
            seen = now
    except KeyboardInterrupt:
        pass
    finally:
        stop(pipeline, record)
        say("dev mode stopped: the functions run their deployed zips again (`make plan`: no changes)")
    return 0


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
