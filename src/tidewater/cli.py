"""The `tidewater` command line (also `python -m tidewater`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg2
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

from tidewater.stack.backends import BACKENDS, get_stack
from tidewater.stack.emulators import EMULATORS
from tidewater.stack.env import load, state_dir


def _pipeline():
    from tidewater.aws import Pipeline

    return Pipeline.from_state()


def cmd_up(args) -> int:
    get_stack(args.backend, emulator=args.emulator).up()
    return 0


def cmd_down(args) -> int:
    get_stack().down()
    return 0


def cmd_deploy(args) -> int:
    from tidewater.deploy import deploy

    result = deploy(plan_only=args.plan, var_files=args.var_file, verbose=args.verbose or None,
                    contracts=args.contracts)
    return 2 if args.plan and args.detailed_exitcode and result.get("changes") == "true" else 0


def cmd_upload(args) -> int:
    from tidewater.contracts import known_datasets
    from tidewater.ingest import upload

    upload(_pipeline(), [Path(p) for p in args.paths], args.dataset, state_dir() / "uploads.jsonl",
           known_datasets(state_dir()), dry_run=args.dry_run)  # fmt: skip
    return 0


def cmd_wait(args) -> int:
    from tidewater.ingest import wait

    return 0 if wait(_pipeline(), state_dir() / "uploads.jsonl", args.timeout) else 1


def cmd_status(args) -> int:
    from tidewater.status import status, watch

    pipeline = _pipeline()
    if args.watch:
        watch(lambda: status(pipeline, summary_only=args.summary), args.interval)
    else:
        print(status(pipeline, summary_only=args.summary))
    return 0


def cmd_replay_dlq(args) -> int:
    from tidewater.dlq import describe, replay

    print(describe(replay(_pipeline(), dry_run=args.dry_run), args.dry_run))
    return 0


def cmd_doctor(args) -> int:
    from tidewater.doctor import doctor

    return doctor(_pipeline(), fix=args.fix, min_age_minutes=args.min_age)


def cmd_dev(args) -> int:
    from tidewater import dev

    pipeline = _pipeline()
    if args.stop:
        changed = dev.stop(pipeline, state_dir() / "dev.json")
        dev.say(f"dev mode stopped for {', '.join(changed)}" if changed else "dev mode was not on")
        return 0
    return dev.run(pipeline)


def cmd_report(args) -> int:
    from tidewater.report import run_report

    return run_report(_pipeline(), args.date, open_it=args.open, copies=state_dir() / "reports")


def cmd_contracts(args) -> int:
    from tidewater.contracts import check, contracts_dir, describe

    folder = contracts_dir(args.contracts)
    if args.action is None:
        print(describe(folder))
        return 0
    ok, report = check(folder, load(state_dir()).database_url)
    print(report)
    return 0 if ok else 1


def cmd_reprocess(args) -> int:
    from tidewater.reprocess import reprocess

    return reprocess(_pipeline(), args.dataset, since=args.since, key=args.key, dry_run=args.dry_run)


def cmd_logs(args) -> int:
    from tidewater.logs import print_logs

    print_logs(_pipeline(), args.since, args.follow)
    return 0


CONTRACTS_HELP = ("folder of the *.odcs.yaml dataset contracts (default: $TIDEWATER_CONTRACTS_DIR, else contracts/ "
                  "of this checkout)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidewater", description="Local-first AWS data pipeline.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="start the local stack (idempotent); writes .tidewater/stack.env")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="auto: compose if Docker answers, else host")
    p.add_argument("--emulator", choices=tuple(EMULATORS),
                   help="the AWS emulator (default: the one this stack already runs, else localstack)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop exactly what `up` started and delete its data")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("deploy", help="build the zips and terraform apply to the running local stack")
    p.add_argument("--plan", action="store_true", help="only plan (expect: no changes right after a deploy)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="Terraform's whole output live (also VERBOSE=1); by default it goes to <instance>/logs/")
    p.add_argument("--detailed-exitcode", action="store_true", help="with --plan: exit 2 when changes are pending")
    p.add_argument("--var-file", action="append", metavar="PATH",
                   help="extra Terraform variables file, applied after envs/local.tfvars so its values win "
                        "(repeatable; `--plan` without it uses those of the last apply)")
    p.add_argument("--contracts", metavar="DIR", help=CONTRACTS_HELP)
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("contracts", help="list the dataset contracts; `check`: compare them with the live database")
    p.add_argument("action", nargs="?", choices=("check",),
                   help="check: what deploying the contracts would do to the stack's tables (exit 1 on a breaking "
                        "change)")
    p.add_argument("--contracts", metavar="DIR", help=CONTRACTS_HELP)
    p.set_defaults(func=cmd_contracts)

    p = sub.add_parser("reprocess", help="load a dataset's files again under the deployed contract, each replacing "
                                         "its previous rows in one transaction")
    p.add_argument("--dataset", required=True, help="the dataset (key prefix) whose files to load again")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only files uploaded (S3 event time) on or after this UTC day")
    p.add_argument("--key", help="only this object key")
    p.add_argument("--dry-run", action="store_true", help="only list the files")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("upload", help="upload files or folders to the raw bucket as <dataset>/<path>")
    p.add_argument("paths", nargs="+", help="files or folders: a file goes to <its folder's name>/<file name>; a "
                                            "folder's files (hidden ones left out) to their path below it, the "
                                            "first folder naming the dataset (seed_data/ -> housing/x.csv, ...)")
    p.add_argument("--dataset", help="dataset prefix to upload under (default: see paths)")
    p.add_argument("--dry-run", action="store_true", help="only show the keys the files would get")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("wait", help="wait until the queue is drained and every uploaded file has a final status")
    p.add_argument("--timeout", type=float, default=300, help="seconds (default 300)")
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("status", help="queues, dead-letter queue, ledger counts per dataset, housing summary")
    p.add_argument("--summary", action="store_true", help="only print housing_summary_statistics")
    p.add_argument("--watch", action="store_true", help="refresh the view until Ctrl-C")
    p.add_argument("--interval", type=float, default=2, metavar="SECONDS", help="with --watch (default 2)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("replay-dlq", help="move dead-letter messages back to the ingest queue (after a fix)")
    p.add_argument("--dry-run", action="store_true", help="only list what would be moved")
    p.set_defaults(func=cmd_replay_dlq)

    p = sub.add_parser("doctor", help="check the processed and quarantine buckets against the ledger: objects "
                                      "no file names (left by a killed load) and objects the ledger misses")
    p.add_argument("--fix", action="store_true", help="delete the orphaned objects (recoverable as old versions)")
    p.add_argument("--min-age", type=float, default=15, metavar="MINUTES",
                   help="leave objects younger than this alone: a load may still be running (default 15)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("dev", help="the deployed functions run the code under functions/ from the work tree: a saved "
                                   "change takes effect on the next invocation (Ctrl-C puts the deployed code back)")
    p.add_argument("--stop", action="store_true", help="end dev mode started elsewhere (puts the deployed code back)")
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("report", help="make the daily report of a UTC day now (the reporter function) and print it")
    p.add_argument("--date", help="YYYY-MM-DD (default: yesterday, UTC, like the daily schedule)")
    p.add_argument("--open", action="store_true", help="also print a browser-openable URL of report.html "
                                                       "(presigned, an hour) and the path of a local copy")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("logs", help="print the processor's CloudWatch logs")
    p.add_argument("--since", type=float, default=15, help="minutes back (default 15)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.set_defaults(func=cmd_logs)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except KeyboardInterrupt:
        sys.exit(130)
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        # A half-up stack: one line saying what is down and what to do, not a botocore traceback.
        sys.exit(f"The local stack's AWS emulator does not answer at {exc.kwargs.get('endpoint_url', '?')}: it is not "
                 "running. Start it with `make up` (then `make deploy`).")  # fmt: skip
    except psycopg2.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.exit(f"The local stack's PostgreSQL does not answer ({first_line}). Start it with `make up`.")
