"""Static checks of terraform/: formatted, and valid for every target (validate is config-wide, so
it covers the aws-only resources: RDS, VPC, endpoints) without any cloud access."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tidewater.deploy import cli_config

pytestmark = pytest.mark.unit

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"


def terraform(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not installed (Terraform >= 1.11 is a prerequisite, see README)")
    return subprocess.run(["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_terraform_is_formatted():
    result = terraform("fmt", "-check", "-recursive", "-diff", cwd=TERRAFORM_DIR)
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{result.stdout}"


def test_terraform_validates_for_all_targets(tmp_path):
    work = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / "data"), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    if rc := cli_config(tmp_path):
        env["TF_CLI_CONFIG_FILE"] = str(rc)
    init = terraform("init", "-backend=false", "-no-color", cwd=work, env=env)
    assert init.returncode == 0, init.stderr
    validate = terraform("validate", "-no-color", cwd=work, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
