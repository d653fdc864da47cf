"""`make chaos` / `python -m tidewater.chaos`: faults injected while files flow through a private
host-backend stack, and every invariant checked after each trial (docs/chaos.md).

Exit status 0 when every invariant held, 1 when one broke (or the harness could not go on), 130 on
Ctrl-C. The stack goes down at the end either way, unless --keep.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from tidewater.bench.stack import BenchFailure, Progress, interrupt_on_sigterm, one_run_at_a_time
from tidewater.chaos import soak
from tidewater.chaos.flow import Harness
from tidewater.chaos.report import passed, summarize, table, write_json
from tidewater.chaos.stack import ChaosStack
from tidewater.chaos.trials import KINDS, Scale, TrialResult, run_trial

# The full run: > 500 faults (most of them SIGKILLs and S3 errors, which are cheap in bulk), every
# kind several times; the emulator restart last (it re-uploads everything the stack had).
FULL_PLAN = (["sigkill", "s3_errors", "same_bytes", "overwrite", "postgres_crash"] * 3
             + ["sigkill", "enospc", "sigkill", "postgres_outage", "sigkill", "enospc", "sigkill", "emulator_restart"])
FULL = Scale()
# `make test`: every kind once, small (docs/chaos.md gives its time).
SHORT_PLAN = ["sigkill", "s3_errors", "same_bytes", "overwrite", "postgres_crash", "enospc", "postgres_outage"]
SHORT = Scale(files=20, kills=6, crashes=1, outage_s=10, groups=2, overwrites=2, restart_files=20)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tidewater.chaos", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true", help="every kind once, small (what `make test` runs)")
    mode.add_argument("--soak", action="store_true", help=f"{soak.FILES:,} files, a fault every ~{soak.EVERY_S} s, "
                                                         "memory sampled (`make chaos SOAK=1`)")
    parser.add_argument("--kinds", help=f"comma-separated kinds to run, in plan order: {', '.join(KINDS)}")
    parser.add_argument("--with-restart", action="store_true",
                        help="--short: also kill and restart the emulator (a second `make deploy`, ~100 s)")
    parser.add_argument("--files", type=int, help=f"--soak: how many files (default {soak.FILES:,})")
    parser.add_argument("--durable", action="store_true",
                        help="PostgreSQL with fsync and full_page_writes on "
                             "(TIDEWATER_POSTGRES_DURABLE=1 for the chaos stack)")
    parser.add_argument("--seed", type=int, default=13, help="the files and the fault moments (default 13)")
    parser.add_argument("--keep", action="store_true", help="leave the chaos stack running at the end")
    parser.add_argument("--out", help="the JSON file (default bench/chaos.json; -short, -soak, -durable variants)")
    args = parser.parse_args(argv)
    if args.kinds:
        unknown = sorted(set(args.kinds.split(",")) - set(KINDS))
        if unknown:
            parser.error(f"--kinds: unknown {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    return args


def plan(args: argparse.Namespace) -> tuple[list[str], Scale, str]:
    kinds, scale, mode = (SHORT_PLAN, SHORT, "short") if args.short else (FULL_PLAN, FULL, "full")
    if args.short and args.with_restart:
        kinds = [*kinds, "emulator_restart"]
    if args.kinds:
        wanted = args.kinds.split(",")
        kinds = [k for k in kinds if k in wanted] or wanted
    return list(kinds), scale, mode


def out_path(stack: ChaosStack, args: argparse.Namespace, mode: str) -> Path:
    if args.out:
        return Path(args.out)
    suffix = "".join(f"-{part}" for part, on in (("short", mode == "short"), ("soak", mode == "soak"),
                                                  ("durable", args.durable)) if on)  # fmt: skip
    return stack.root / "bench" / f"chaos{suffix}.json"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    progress = Progress()
    stack = ChaosStack(progress, durable=args.durable)
    run_lock = one_run_at_a_time(stack.state, "make chaos")  # noqa: F841 - held until the process ends
    kinds, scale, mode = plan(args)
    mode = "soak" if args.soak else mode
    started_at = datetime.now(UTC)
    trials: list[TrialResult] = []
    extra: dict = {}
    harness: Harness | None = None
    status = 1
    try:
        progress.say(f"chaos ({mode}{', durable PostgreSQL' if args.durable else ''}): stack {stack.state}")
        if (stack.state / "host.json").exists():
            progress.say("stopping an earlier chaos stack")
            stack.down()
        stack.s3_errors(0, {})
        stack.s3_error_log.unlink(missing_ok=True)
        stack.pick_ports()
        stack.up()
        extra["deploy_s"] = round(stack.deploy(), 1)
        extra["postgres_fsync"] = stack.postgres.setting("fsync")
        progress.say(f"deployed in {extra['deploy_s']:.0f}s (PostgreSQL fsync={extra['postgres_fsync']}, "
                     f"tmpfs for /tmp: {'yes' if stack.has_tmpfs else 'no (not root): enospc is skipped'})")
        harness = Harness(stack, progress, run=f"s{args.seed}", seed=args.seed)
        if mode == "soak":
            trials, extra_soak = soak.run(harness, args.files or soak.FILES)
            extra.update(extra_soak)
        else:
            for number, kind in enumerate(kinds, 1):
                trials.append(run_trial(harness, kind, number, scale))
        status = 0
    except Exception as exc:  # noqa: BLE001 - a deploy that failed, a stack that did not come back: said, not hidden
        progress.say(f"chaos could not go on: {type(exc).__name__}: {exc}")
        extra["harness_error"] = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, BenchFailure):
            traceback.print_exc()
    except KeyboardInterrupt:
        progress.say("chaos interrupted")
        status = 130
    finally:
        if harness is not None:
            harness.close()
        stack.s3_errors(0, {})
        if args.keep:
            # `tidewater down` knows nothing of the chaos tmpfs: the hint names its unmount too.
            unmount = f" && umount --lazy {stack.tmpfs}" if stack.has_tmpfs else ""
            progress.say(f"--keep: the chaos stack stays up ({stack.state}); stop it with "
                         f"TIDEWATER_STATE_DIR={stack.state} {sys.executable} -m tidewater down{unmount}")  # fmt: skip
        else:
            progress.say("tearing the chaos stack down")
            try:
                stack.down()
            except Exception as exc:  # noqa: BLE001 - report, never hide the run's own outcome
                progress.say(f"tidewater down failed: {exc}")
    if status == 130:
        return status
    files = harness.files_uploaded if harness else 0
    results = summarize(trials, files, mode=mode, durable=args.durable, seed=args.seed,
                        wall_s=round(progress.elapsed, 1), date=started_at.isoformat(timespec="seconds"),
                        machine_cores=os.cpu_count() or 0, python_version=platform.python_version(),
                        files_per_s=round(files / progress.elapsed, 2) if files else 0.0, **extra)  # fmt: skip
    path = out_path(stack, args, mode)
    write_json(path, results)
    print()
    print(table(results))
    print(f"wrote {path}")
    return 0 if status == 0 and passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
