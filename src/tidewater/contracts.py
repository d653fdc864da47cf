"""`tidewater contracts` and `tidewater contracts check`: the dataset contracts as the functions will
read them, and what deploying them would do to the live database; and the datasets a stack knows
(`tidewater upload` refuses a key the processor would quarantine as `unknown_dataset`).

The reading and the comparison are the functions' own code (functions/shared/pipeline: odcs.py,
tables.py), imported from the checkout, so the check before a deploy and the processor's cold start
can never disagree.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from tidewater.stack.env import repo_root

CONTRACTS_DIR_VARIABLE = "TIDEWATER_CONTRACTS_DIR"  # the same name pipeline.odcs reads


def pipeline_module(name: str) -> ModuleType:
    """A module of the functions' shared `pipeline` package."""
    shared = str(repo_root() / "functions" / "shared")
    if shared not in sys.path:
        sys.path.append(shared)
    return importlib.import_module(f"pipeline.{name}")


def contracts_dir(given: str | Path | None = None) -> Path:
    """--contracts, else $TIDEWATER_CONTRACTS_DIR, else the checkout's contracts/."""
    chosen = given or os.environ.get(CONTRACTS_DIR_VARIABLE) or repo_root() / "contracts"
    return Path(chosen).expanduser().resolve()


def contracts_record(tf_dir: Path) -> Path:
    # Inside the instance's terraform dir: forgotten together with the state (`down`, a fresh emulator).
    return tf_dir / "contracts-dir.txt"


def record_deployed_contracts(tf_dir: Path, folder: Path) -> None:
    contracts_record(tf_dir).write_text(str(folder))


def deployed_contracts_dir(state: Path) -> Path:
    """The contracts a stack runs: $TIDEWATER_CONTRACTS_DIR, else the folder of its last deploy, else
    the checkout's contracts/."""
    record = contracts_record(state / "terraform")
    if not os.environ.get(CONTRACTS_DIR_VARIABLE) and record.exists():
        return Path(record.read_text())
    return contracts_dir()


def known_datasets(state: Path) -> list[str]:
    """The datasets (key prefixes) the stack's processor has a contract for."""
    return sorted(load(deployed_contracts_dir(state)))


def load(folder: Path) -> dict:
    """The contracts of a folder by dataset; SystemExit with the problem when one is unusable."""
    odcs = pipeline_module("odcs")
    try:
        return odcs.load_folder(folder)
    except odcs.ContractError as exc:
        raise SystemExit(f"contract error: {exc}") from None


def describe(folder: Path) -> str:
    """One line per dataset: prefix, contract version, table, summary, output, file."""
    contracts = load(folder)
    rows = [("dataset", "version", "table", "summary", "output", "file")]
    rows += [(c.dataset + "/", c.version, c.table, c.summary_table or "-", c.output, c.source)
             for c in contracts.values()]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([f"contracts in {folder}:", *lines])


def check(folder: Path, database_url: str) -> tuple[bool, str]:
    """Compare every contract with the live tables: (no breaking change, the report)."""
    import psycopg2

    tables = pipeline_module("tables")
    contracts = load(folder)
    conn = psycopg2.connect(database_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            plans = tables.plans(cur, contracts.values())
    finally:
        conn.close()
    lines, ok = [], True
    for plan in plans:
        contract = contracts[plan.dataset]
        head = f"{plan.dataset} (version {contract.version}, {contract.source}):"
        if plan.problems:
            ok = False
            lines += [f"{head} BREAKING - refused", *(f"  - {problem}" for problem in plan.problems)]
        elif plan.changes:
            lines += [f"{head} will {', '.join(plan.changes)}"]
        else:
            lines += [f"{head} tables match"]
    return ok, "\n".join(lines)


def refuse_breaking(folder: Path, database_url: str) -> None:
    """Before a deploy: print the check; SystemExit when a contract would break its tables."""
    ok, report = check(folder, database_url)
    print(report, file=sys.stderr)
    if not ok:
        raise SystemExit("Not deployed: a contract differs from its table in a way that would break it (above). "
                         "`tidewater contracts check` shows it again.")  # fmt: skip
