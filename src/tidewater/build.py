"""Build one deterministic zip per Lambda function (Terraform has no archive provider here, and a
stable hash keeps `terraform plan` empty when nothing changed).

    functions/<name>/            handler module(s), requirements.txt, events/ (not shipped)
    functions/shared/pipeline/   shared code, copied into every zip as the `pipeline` package
    contracts/*.odcs.yaml        the dataset contracts (or those of --contracts DIR), copied into
                                 every zip as `contracts/` after they were read without error
    -> build/functions/<name>.zip

Dependencies are installed as manylinux wheels for the Lambda runtime (CPython 3.13) and the
function's architecture (Terraform's `lambda_architecture`: x86_64, the default, into
build/functions/; arm64 into build/functions/arm64/), so the same zip runs on AWS and in our
`process` executor on the host or in the LocalStack container. The zip must fit
AWS's 250 MB unzipped limit: we trim what a running function never imports and fail loudly if it
still does not fit.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from tidewater.contracts import contracts_dir
from tidewater.contracts import load as load_contracts
from tidewater.stack.env import repo_root

RUNTIME_PYTHON_VERSION = "3.13"
ARCHITECTURES = ("x86_64", "arm64")
# The manylinux wheels each Lambda architecture runs (the python3.13 runtime has glibc 2.34).
PLATFORMS = {
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
    "arm64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
}
AWS_UNZIPPED_LIMIT = 250 * 1024 * 1024
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: same inputs, same bytes, same hash

# Never imported by a running function: test suites, C headers/sources, Cython sources and type stubs,
# and the Python modules of pyarrow components we do not use (Flight RPC, ORC, HDFS/GCS/Azure file
# systems, Substrait). Their shared libraries stay: libarrow links some of them (e.g. substrait).
TRIM_DIR_NAMES = {"tests", "__pycache__"}
TRIM_DIR_PATHS = {"pyarrow/include", "pyarrow/src", "numpy/_core/include"}
TRIM_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h", ".hpp", ".cc", ".cpp", ".pyi")
TRIM_GLOBS = (
    "pyarrow/_flight*", "pyarrow/flight.py", "pyarrow/libarrow_flight.so*", "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_orc*", "pyarrow/orc.py", "pyarrow/_hdfs*", "pyarrow/_gcsfs*", "pyarrow/_azurefs*",
    "pyarrow/_substrait*", "pyarrow/substrait.py",
)


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def install_dependencies(requirements: Path, target: Path, architecture: str = "x86_64") -> None:
    """pip-install manylinux wheels for the Lambda runtime and `architecture` into `target`, cached by
    requirements hash."""
    stamp = target / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    platform_args = [arg for platform in PLATFORMS[architecture] for arg in ("--platform", platform)]
    _say(f"installing {requirements} for python{RUNTIME_PYTHON_VERSION} (manylinux {architecture})")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         "--target", str(target), "--implementation", "cp", "--python-version", RUNTIME_PYTHON_VERSION,
         *platform_args, "--only-binary=:all:", "-r", str(requirements)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"pip could not install {requirements}:\n{result.stderr[-4000:]}")
    trim(target)
    stamp.write_text(digest)


def trim(site: Path) -> None:
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = path.relative_to(site)
        if path.is_dir():
            if path.name in TRIM_DIR_NAMES or rel.as_posix() in TRIM_DIR_PATHS:
                shutil.rmtree(path)
        elif path.exists() and (path.suffix in TRIM_SUFFIXES or any(rel.match(g) for g in TRIM_GLOBS)):
            path.unlink()
        elif path.parent.name == "pyarrow" and _is_soname_copy(path):
            path.unlink()


def _is_soname_copy(path: Path) -> bool:
    """Wheels cannot hold symlinks, so libarrow_python.so and libarrow_python.so.2000.0.0 are full
    copies of libarrow_python.so.2000; the extension modules load only that SONAME (lib*.so.<major>)."""
    match = re.fullmatch(r"(lib.+?)\.so((?:\.\d+)*)", path.name)
    if not match or re.fullmatch(r"\.\d+", match.group(2)):
        return False
    soname = re.compile(rf"{re.escape(match.group(1))}\.so\.\d+")
    return any(soname.fullmatch(sibling.name) for sibling in path.parent.iterdir())


def contract_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.odcs.yaml"))


def stage_function(name: str, root: Path, staging: Path, deps: Path, contracts: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(deps, staging, ignore=shutil.ignore_patterns(".requirements-sha256"))
    source = root / "functions" / name
    for item in sorted(source.iterdir()):
        if item.name in ("events", "requirements.txt", "__pycache__") or item.name.startswith("."):
            continue
        copy = shutil.copytree if item.is_dir() else shutil.copy2
        copy(item, staging / item.name)
    shutil.copytree(root / "functions" / "shared" / "pipeline", staging / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    (staging / "contracts").mkdir()
    for path in contract_files(contracts):
        shutil.copy2(path, staging / "contracts" / path.name)
    precompile(staging)


def precompile(staging: Path) -> None:
    """Ship bytecode: /var/task is read-only on AWS, so without it every cold start recompiles pandas
    (import 1.5 s -> 0.5 s). unchecked-hash pycs depend only on the source, so the zip stays stable."""
    if sys.version_info[:2] != tuple(int(x) for x in RUNTIME_PYTHON_VERSION.split(".")):
        _say(f"not precompiling: this Python is not {RUNTIME_PYTHON_VERSION} (the function still works)")
        return
    subprocess.run(
        # -s: record paths relative to the task root, so tracebacks show source wherever the zip runs.
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         "-s", str(staging), str(staging)],
        check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
    )  # fmt: skip


def write_zip(staging: Path, zip_path: Path) -> tuple[int, int]:
    """Deterministic zip; returns (zipped bytes, unzipped bytes)."""
    unzipped = 0
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=ZIP_EPOCH)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)
    tmp.replace(zip_path)
    return zip_path.stat().st_size, unzipped


def _sources_digest(root: Path, name: str, deps: Path, contracts: Path) -> str:
    digest = hashlib.sha256((deps / ".requirements-sha256").read_bytes())
    for folder in (root / "functions" / name, root / "functions" / "shared" / "pipeline"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    for path in contract_files(contracts):
        digest.update(f"contracts/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def zip_dir(architecture: str = "x86_64") -> Path:
    """Where the zips of an architecture go (Terraform's default zip paths are the x86_64 ones)."""
    out_dir = repo_root() / "build" / "functions"
    return out_dir if architecture == "x86_64" else out_dir / architecture


def build_function(name: str, out_dir: Path, architecture: str = "x86_64", contracts: Path | None = None) -> Path:
    root = repo_root()
    contracts = contracts or root / "contracts"
    started = time.monotonic()
    work = out_dir / ".work" / name
    deps = work / "deps"
    install_dependencies(root / "functions" / name / "requirements.txt", deps, architecture)
    zip_path = out_dir / f"{name}.zip"
    stamp = out_dir / f"{name}.zip.inputs-sha256"
    inputs = _sources_digest(root, name, deps, contracts)
    if zip_path.exists() and stamp.exists() and stamp.read_text() == inputs:
        with zipfile.ZipFile(zip_path) as archive:
            zipped, unzipped = zip_path.stat().st_size, sum(i.file_size for i in archive.infolist())
        state = "unchanged"
    else:
        staging = work / "staging"
        stage_function(name, root, staging, deps, contracts)
        zipped, unzipped = write_zip(staging, zip_path)
        stamp.write_text(inputs)
        state = "built"
    mb = 1024 * 1024
    _say(f"{zip_path.relative_to(root)} ({architecture}) {state}: {zipped / mb:.1f} MB zipped, "
         f"{unzipped / mb:.1f} MB unzipped (AWS limit 250 MB) in {time.monotonic() - started:.1f}s")  # fmt: skip
    if unzipped > AWS_UNZIPPED_LIMIT:
        raise SystemExit(f"{name}: {unzipped / mb:.1f} MB unzipped exceeds AWS Lambda's 250 MB limit")
    return zip_path


def function_names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "functions").iterdir()
                  if p.is_dir() and (p / "requirements.txt").exists())  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the Lambda function zips into build/functions/.")
    parser.add_argument("names", nargs="*", help="functions to build (default: all)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="x86_64",
                        help="the functions' Lambda architecture (Terraform's lambda_architecture; default x86_64)")
    parser.add_argument("--contracts", metavar="DIR",
                        help="the folder of *.odcs.yaml dataset contracts to ship (default: $TIDEWATER_CONTRACTS_DIR, "
                             "else contracts/)")
    args = parser.parse_args(argv)
    root = repo_root()
    folder = contracts_dir(args.contracts)
    datasets = load_contracts(folder)  # a contract the functions could not read stops the build here
    _say(f"contracts from {folder}: {', '.join(datasets)}")
    out_dir = zip_dir(args.architecture)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Two stacks deploying at once (yours and the test suite's) must not interleave builds.
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in args.names or function_names(root):
            build_function(name, out_dir, args.architecture, folder)


if __name__ == "__main__":
    main()
