"""The Python environments the host backend needs, each isolated from the others.

- one per emulator (LocalStack 4.14.0, MiniStack) with its own pinned dependency set (Python 3.13),
  plus our package (the start-up patches, LocalStack's executor plugin);
- one venv per Lambda runtime holding only what AWS's runtime provides (boto3), which runs handlers
  on either emulator.

A venv is rebuilt only when what defines it (interpreter + requirement files) changes: a stamp file
records a hash of those inputs, so `make up` is seconds once installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tidewater.stack.env import repo_root

LAMBDA_RUNTIMES = {"python3.13": "3.13"}


def find_python(version: str) -> str:
    """An interpreter for `version` (3.13): python3.13 on PATH, else pyenv's."""
    if found := shutil.which(f"python{version}"):
        probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True)
        if probe.returncode == 0:
            return found
    for candidate in sorted(Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}"), reverse=True):
        return str(candidate)
    raise SystemExit(
        f"Python {version} is required (the emulators and the python{version} Lambda runtime) but was not "
        f"found. Install it (e.g. `pyenv install {version}` or your OS package) and retry."
    )


def _stamp(inputs: list[Path], python: str) -> str:
    digest = hashlib.sha256(python.encode())
    for path in inputs:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(target: Path, python: str, requirement_args: list[str], inputs: list[Path], what: str) -> Path:
    """Create/refresh the venv at `target`; returns its python."""
    stamp_file = target / ".tidewater-stamp"
    stamp = _stamp(inputs, python)
    venv_python = target / "bin" / "python"
    if venv_python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return venv_python
    print(f"==> installing {what} into {target} (first run only; ~1 min)", file=sys.stderr, flush=True)
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(target)], check=True)
    pip = [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*pip, *requirement_args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"installing {what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    stamp_file.write_text(stamp)
    return venv_python


def install_tidewater(venv_python: Path) -> None:
    """Our package, editable and without dependencies, into an emulator's venv: the start-up patches
    and (for LocalStack) the executor plugin run inside the emulator's process. Editable, so code
    changes apply on the next `make up`; --no-deps keeps the emulator's pinned set untouched.
    Re-done only when the venv or the checkout changes."""
    root = repo_root()
    marker = venv_python.parent.parent / ".tidewater-plugin"
    wanted = f"{root} {_stamp([root / 'pyproject.toml'], '')}"  # entry points live in the metadata
    if not marker.exists() or marker.read_text() != wanted:
        subprocess.run(
            [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "-e", str(root)],
            check=True, capture_output=True,
        )  # fmt: skip
        marker.write_text(wanted)


def ensure_emulator_venv(venvs_dir: Path, name: str, label: str) -> Path:
    """The venv of an emulator: requirements/<name>.txt with requirements/<name>-constraints.txt (its
    whole dependency set, pinned), on Python 3.13, plus our package. Returns its python."""
    requirements_dir = repo_root() / "requirements"
    requirements = requirements_dir / f"{name}.txt"
    constraints = requirements_dir / f"{name}-constraints.txt"
    venv_python = ensure_venv(
        venvs_dir / name,
        find_python("3.13"),
        ["-r", str(requirements), "-c", str(constraints)],
        [requirements, constraints],
        label,
    )
    install_tidewater(venv_python)
    return venv_python


def ensure_runtime_venvs(runtimes_dir: Path) -> Path:
    requirements = Path(__file__).with_name("lambda-runtime-requirements.txt")
    for runtime, version in LAMBDA_RUNTIMES.items():
        ensure_venv(
            runtimes_dir / runtime,
            find_python(version),
            ["-r", str(requirements)],
            [requirements],
            f"the {runtime} Lambda runtime (boto3 only)",
        )
    return runtimes_dir
