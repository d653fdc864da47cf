"""Where things live on disk: runtime interpreters, each version's code, each environment's
TMPDIR and HOME. Standard library only (LocalStack's tmp dir is passed in by the executor)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

RUNTIMES_DIR_VAR = "TIDEWATER_LAMBDA_RUNTIMES_DIR"
WORK_DIR_VAR = "TIDEWATER_LAMBDA_WORK_DIR"


class RuntimeNotAvailable(Exception):
    pass


def runtime_python(runtime: str | None) -> Path:
    """The interpreter of ``$TIDEWATER_LAMBDA_RUNTIMES_DIR/<runtime>``, a venv that holds only
    what the AWS runtime provides (boto3), so a zip that lacks a dependency fails here too."""
    if not runtime:
        raise RuntimeNotAvailable(
            "container image functions are not supported by the tidewater process executor; "
            "deploy a zip with a python runtime"
        )
    runtimes_dir = os.environ.get(RUNTIMES_DIR_VAR)
    if not runtimes_dir:
        raise RuntimeNotAvailable(
            f"Lambda runtime {runtime!r} is not available: {RUNTIMES_DIR_VAR} is not set "
            f"(the tidewater process executor runs {runtime} with <that dir>/{runtime}/bin/python)"
        )
    python = Path(runtimes_dir) / runtime / "bin" / "python"
    if not os.access(python, os.X_OK):
        available = ", ".join(available_runtimes(runtimes_dir)) or "none"
        raise RuntimeNotAvailable(
            f"Lambda runtime {runtime!r} is not supported by the tidewater process executor: "
            f"no interpreter at {python} (looked in {RUNTIMES_DIR_VAR}={runtimes_dir}; "
            f"runtimes found there: {available})"
        )
    return python


def available_runtimes(runtimes_dir: str) -> list[str]:
    root = Path(runtimes_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if os.access(p / "bin" / "python", os.X_OK))


def work_root(localstack_tmp_dir: str | None) -> Path:
    """``$TIDEWATER_LAMBDA_WORK_DIR``, else a folder in LocalStack's own tmp dir."""
    configured = os.environ.get(WORK_DIR_VAR)
    if configured:
        return Path(configured)
    return Path(localstack_tmp_dir or tempfile.gettempdir()) / "tidewater-lambda"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def version_dir(root: Path, function_name: str, qualifier: str, revision: str) -> Path:
    """One folder per function version *and* configuration revision: LocalStack prepares the new
    revision of $LATEST before it cleans up the old one, and both may run for a moment."""
    return root / "code" / _safe(function_name) / f"{_safe(qualifier)}-{_safe(revision)}"


def environment_dir(root: Path, executor_id: str) -> Path:
    return root / "environments" / _safe(executor_id)


# --------------------------------------------------------------------------------------------
# Code of a version
# --------------------------------------------------------------------------------------------


def install_code(source: Path, task_root: Path) -> None:
    """Copy the unzipped code into task_root, atomically and read-only (/var/task is read-only
    on AWS: code that writes next to itself should fail here, not in production)."""
    if task_root.exists():
        return
    task_root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=task_root.parent))
    try:
        shutil.copytree(source, staging / "task", symlinks=True)
        _make_read_only(staging / "task")
        try:
            (staging / "task").rename(task_root)
        except OSError:
            if not task_root.is_dir():  # else a concurrent preparation of the same version won
                raise
    finally:
        remove_tree(staging)


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o222)
        # r-x: the tree becomes read-only, like /var/task on AWS.
        os.chmod(dirpath, 0o555)  # nosec B103


def remove_tree(path: Path) -> None:
    """rmtree that copes with the read-only folders install_code leaves behind."""
    if not path.exists() or path.is_symlink():
        return
    for dirpath, _dirnames, _filenames in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def remove_version_dir(path: Path) -> None:
    remove_tree(path)
    try:
        path.parent.rmdir()  # the function's folder, once its last version is gone
    except OSError:
        pass


def sweep_leftovers(root: Path, older_than: float) -> list[Path]:
    """Remove code copies and environment folders a previous LocalStack left behind when it was
    killed without a chance to clean up (anything in the work dir older than this process)."""
    candidates = [*root.glob("code/*/*"), *root.glob("environments/*")]
    stale = [path for path in candidates if path.is_dir() and path.stat().st_mtime < older_than]
    for path in stale:
        if path.parent.parent.name == "code":
            remove_version_dir(path)
        else:
            remove_tree(path)
    for function_dir in root.glob("code/*"):
        try:
            function_dir.rmdir()  # only if empty
        except OSError:
            pass
    return stale


def make_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
