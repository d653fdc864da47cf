"""`make deploy`: build the zips and `terraform apply` terraform/ to the running local stack.

tflocal (terraform-local) points the aws provider at the emulator by writing a provider override
file next to the configuration. To keep the checkout clean and let two stacks (yours and the test
suite's) deploy at the same time, each stack applies from its own copy of terraform/ under
``<instance>/terraform/work`` with its own state and TF_DATA_DIR.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from tidewater import build
from tidewater.contracts import contracts_dir, record_deployed_contracts, refuse_breaking
from tidewater.stack.env import EMULATOR_CREDENTIALS, StackEnv, load, repo_root, state_dir
from tidewater.stack.procs import port_in_use

# Where a filesystem mirror of the aws provider may live on machines without registry access.
PROVIDER_MIRRORS = ("/opt/tf-plugins", "/usr/share/terraform/plugins", "~/.terraform.d/plugins")
# Not copied into a local deploy's work dir: state and caches, and Terraform override files - a
# backend_override.tf for the AWS remote state (docs/aws.md) would send the local stack's state to
# S3; tflocal writes its own provider override into the copy.
LOCAL_DEPLOY_IGNORED = (".terraform", "*.tfstate*", "override.tf", "override.tf.json", "*_override.tf",
                        "*_override.tf.json")  # fmt: skip


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def cli_config(tf_dir: Path) -> Path | None:
    """A terraformrc using the local provider mirror when one exists (no registry access here)."""
    for mirror in PROVIDER_MIRRORS:
        path = Path(mirror).expanduser()
        if (path / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            rc = tf_dir / "terraformrc"
            rc.write_text(
                "provider_installation {\n"
                f'  filesystem_mirror {{\n    path = "{path}"\n'
                '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
                '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
            )
            return rc
    return None


def _terraform_env(env: StackEnv, tf_dir: Path) -> dict[str, str]:
    endpoint = urlparse(env.endpoint_url)
    database = urlparse(env.database_url)
    password = database.password or ""
    tf_env = {
        **os.environ,
        **EMULATOR_CREDENTIALS,
        "AWS_ENDPOINT_URL": env.endpoint_url,
        "AWS_DEFAULT_REGION": env.region,
        # Path-style S3 on 127.0.0.1: *.localhost.localstack.cloud does not resolve everywhere.
        "S3_HOSTNAME": endpoint.hostname or "127.0.0.1",
        "DISABLE_DEPRECATION_NOTICE": "1",
        "TF_DATA_DIR": str(tf_dir / "data"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        # The database as the functions see it; the password is an ephemeral variable (never in state).
        "TF_VAR_database_host": env.function_db_host,
        "TF_VAR_database_port": str(env.function_db_port),
        "TF_VAR_database_name": database.path.lstrip("/"),
        "TF_VAR_database_username": database.username or "",
        "TF_VAR_database_password": password,
        # The password never enters state; its checksum tells Terraform when to rewrite the secret.
        "TF_VAR_database_password_version": str(zlib.crc32(password.encode())),
    }
    if rc := cli_config(tf_dir):
        tf_env["TF_CLI_CONFIG_FILE"] = str(rc)
    else:  # from the registry: once per checkout, not again for every stack after each `down`
        tf_env.setdefault("TF_PLUGIN_CACHE_DIR", str(plugin_cache()))
    return tf_env


def plugin_cache() -> Path:
    """Providers downloaded from the registry, shared by every stack of this checkout (kept by `down`)."""
    path = repo_root() / ".tidewater" / "cache" / "terraform-plugins"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _workdir(tf_dir: Path) -> Path:
    """A fresh copy of terraform/ (without local artefacts) to run tflocal in."""
    work = tf_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(repo_root() / "terraform", work, ignore=shutil.ignore_patterns(*LOCAL_DEPLOY_IGNORED))
    return work


def _tflocal() -> str:
    found = shutil.which("tflocal") or str(Path(sys.executable).with_name("tflocal"))
    if not Path(found).exists():
        raise SystemExit("tflocal not found: run `make venv` (it installs terraform-local).")
    return found


def _run(cmd: list[str], cwd: Path, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=capture)
    if result.returncode != 0:
        detail = f"\n{result.stdout}\n{result.stderr}" if capture else ""
        raise SystemExit(f"`{' '.join(cmd[:2])}` failed (exit {result.returncode}){detail}")
    return result


def terraform_args(zip_dir: Path, var_files: list[Path] | tuple[Path, ...] = (),
                   architecture: str = "x86_64") -> list[str]:
    """envs/local.tfvars first, then the extra var files in order: a later -var-file wins, so they
    override it (TF_VAR_* environment variables cannot: -var-file takes precedence over them)."""
    return [
        "-var-file=envs/local.tfvars",
        *(f"-var-file={path}" for path in var_files),
        f"-var=processor_zip_path={zip_dir / 'processor.zip'}",
        f"-var=reporter_zip_path={zip_dir / 'reporter.zip'}",
        f"-var=lambda_architecture={architecture}",
    ]


def _var_files_record(tf_dir: Path) -> Path:
    # Inside the instance's terraform dir: forgotten together with the state (`down`, a fresh LocalStack).
    return tf_dir / "var-files.json"


def recorded_var_files(tf_dir: Path) -> list[Path]:
    """The extra var files of the last apply to this stack (none before the first)."""
    record = _var_files_record(tf_dir)
    return [Path(p) for p in json.loads(record.read_text())] if record.exists() else []


def resolve_var_files(var_files: list[Path | str] | None, tf_dir: Path, plan_only: bool) -> list[Path]:
    """The extra var files of this run, as absolute paths (terraform runs in a copy of terraform/).

    An apply uses exactly the files given (none: envs/local.tfvars alone). A plan without any uses
    those of the last apply to this stack, so `make plan` after `deploy --var-file X` compares against X.
    """
    if var_files is None:
        return recorded_var_files(tf_dir) if plan_only else []
    resolved = [Path(p).expanduser().resolve() for p in var_files]
    for path in resolved:
        if not path.is_file():
            raise SystemExit(f"--var-file {path}: no such file")
    return resolved


def deploy(state: Path | None = None, plan_only: bool = False,
           var_files: list[Path | str] | None = None, verbose: bool | None = None,
           contracts: Path | str | None = None) -> dict[str, str]:
    """Apply (or with plan_only, plan and report whether anything would change). Returns outputs.

    var_files: extra Terraform variable files applied after envs/local.tfvars (see resolve_var_files).
    verbose: Terraform's whole output live (default: VERBOSE=1 in the environment); otherwise one line
    per phase and the whole output in <instance>/logs/ (the path is printed).
    contracts: the folder of dataset contracts to ship (tidewater.contracts.contracts_dir); an apply
    first checks them against the stack's database and stops at a breaking change, and records the
    folder (tidewater.contracts.deployed_contracts_dir).
    """
    verbose = os.environ.get("VERBOSE", "") not in ("", "0") if verbose is None else verbose
    state = state or state_dir()
    env = load(state)
    endpoint = urlparse(env.endpoint_url)
    if not port_in_use(endpoint.port or 80, endpoint.hostname or "127.0.0.1"):
        raise SystemExit(f"The local stack's AWS emulator does not answer at {env.endpoint_url}: it is not running. "
                         "Start it with `make up`, then deploy.")  # fmt: skip
    zip_dir = build.zip_dir(env.lambda_architecture)
    tf_dir = state / "terraform"
    extra = resolve_var_files(var_files, tf_dir, plan_only)
    if not plan_only:
        folder = contracts_dir(contracts)
        refuse_breaking(folder, env.database_url)
        build.main(["--architecture", env.lambda_architecture, "--contracts", str(folder)])
    tf_dir.mkdir(parents=True, exist_ok=True)
    work = _workdir(tf_dir)
    tf_env = _terraform_env(env, tf_dir)
    tflocal = _tflocal()
    tf_args = terraform_args(zip_dir, extra, env.lambda_architecture)
    started = time.monotonic()
    log = state / "logs" / f"{'plan' if plan_only else 'deploy'}-{datetime.now():%Y%m%d-%H%M%S}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    _say(f"terraform {'plan' if plan_only else 'apply'} to the {env.backend} stack at {env.endpoint_url}"
         + "".join(f" + {path}" for path in extra) + ("" if verbose else f" (whole output: {log})"))
    terraform = TerraformRun(work, tf_env, log, verbose)
    terraform.run([tflocal, "init", "-no-color", f"-backend-config=path={tf_dir / 'local.tfstate'}"], "init")
    if plan_only:
        # -detailed-exitcode: 0 = no changes, 2 = changes present.
        code = terraform.run([tflocal, "plan", "-no-color", "-detailed-exitcode", *tf_args], "plan", ok=(0, 2))
        _say("plan: no changes" if code == 0 else "plan: changes pending (run `make deploy`)")
        return {"changes": str(code == 2).lower()}
    terraform.run([tflocal, "apply", "-auto-approve", "-no-color", *tf_args], "apply")
    _var_files_record(tf_dir).write_text(json.dumps([str(path) for path in extra]))
    record_deployed_contracts(tf_dir, folder)
    raw = _run([tflocal, "output", "-json", "-no-color"], work, tf_env, capture=True).stdout
    outputs = {name: value["value"] for name, value in json.loads(raw).items()}
    (state / "outputs.json").write_text(json.dumps(outputs, indent=2))
    _say(f"deployed in {time.monotonic() - started:.1f}s: {terraform.summary}; outputs in {state / 'outputs.json'}")
    return outputs


PLAN_LINE = re.compile(r"^Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")
RESOURCE_DONE = re.compile(r": (Creation|Modifications|Destruction) complete after ")
CHANGE_HEADER = re.compile(r"^  # \S.* (will be|must be) ")
APPLY_SUMMARY = re.compile(r"^Apply complete! Resources: (.*)\.$")


class TerraformRun:
    """Runs terraform with its whole output in `log` (and live on stderr when verbose); otherwise says
    one line per phase - for apply a running count of resources done - and on a failure the error
    blocks Terraform printed (which resource, what went wrong), not the thousands of lines around
    them."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path, verbose: bool) -> None:
        self.cwd, self.env, self.log, self.verbose = cwd, env, log, verbose
        self.summary = "no changes"

    def run(self, cmd: list[str], phase: str, ok: tuple[int, ...] = (0,)) -> int:
        progress = ApplyProgress(phase, sys.stderr) if not self.verbose else None
        lines: list[str] = []
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            process = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, text=True, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT)  # fmt: skip
            for line in process.stdout or ():
                log.write(line)
                lines.append(line)
                if progress is None:
                    sys.stderr.write(line)
                else:
                    progress.feed(line)
            code = process.wait()
        if progress is not None:
            progress.finish()
        if summary := next((m.group(1) for m in map(APPLY_SUMMARY.match, lines) if m), None):
            self.summary = summary
        if code not in ok:
            blocks = error_blocks(lines)
            detail = "\n".join(blocks) if blocks else "".join(lines[-30:])
            raise SystemExit(f"terraform {phase} failed (exit {code}):\n{detail}\nwhole output: {self.log}")
        return code


class ApplyProgress:
    """Reads Terraform's output as it comes: the plan's size, then resources done; draws `N/M` (on a
    terminal in place, elsewhere a line every tenth). For a plan, the resources that would change."""

    def __init__(self, phase: str, stream) -> None:
        self.phase, self.stream = phase, stream
        self.total: int | None = None
        self.done = 0
        self.last_shown = 0

    def feed(self, line: str) -> None:
        if match := PLAN_LINE.match(line):
            self.total = sum(int(n) for n in match.groups())
            if self.phase == "plan":
                self.stream.write(f"==> {line.strip()}\n")
        elif self.phase == "plan" and CHANGE_HEADER.match(line):
            self.stream.write(f"    {line.strip().lstrip('# ')}\n")
        elif self.phase == "apply" and RESOURCE_DONE.search(line):
            self.done += 1
            self.show()

    def show(self) -> None:
        if self.stream.isatty():
            self.stream.write(f"\r==> apply: {self.done}/{self.total or '?'} resources")
        elif self.done - self.last_shown >= 10 or self.done == self.total:
            self.stream.write(f"==> apply: {self.done}/{self.total or '?'} resources\n")
            self.last_shown = self.done
        self.stream.flush()

    def finish(self) -> None:
        if self.phase == "apply" and self.stream.isatty() and self.done:
            self.stream.write("\n")
            self.stream.flush()


def error_blocks(lines: list[str]) -> list[str]:
    """Terraform's error boxes (between ╷ and ╵) that say `Error:`, without the box drawing."""
    blocks, current = [], None
    for line in lines:
        if line.startswith("╷"):
            current = []
        elif line.startswith("╵") and current is not None:
            if any("Error:" in part for part in current):
                blocks.append("".join(current).rstrip())
            current = None
        elif current is not None:
            current.append(line[2:] if line.startswith("│ ") else line.lstrip("│"))
    return blocks
