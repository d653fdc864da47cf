"""Static checks of terraform/: formatted, valid for every target (validate is config-wide, so it
covers the aws-only resources: RDS, VPC, endpoints), and `terraform test` (terraform/tests/*.tftest.hcl,
a mocked aws provider) passes for the aws and the local variables, all without any cloud access."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tidewater.deploy import LOCAL_DEPLOY_IGNORED, cli_config

pytestmark = pytest.mark.unit

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"


def terraform(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not installed (Terraform >= 1.11 is a prerequisite, see README)")
    return subprocess.run(["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_terraform_is_formatted():
    result = terraform("fmt", "-check", "-recursive", "-diff", cwd=TERRAFORM_DIR)
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{result.stdout}"


@pytest.fixture(scope="module")
def initialised(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A private copy of terraform/, initialised offline (provider mirror), and its environment."""
    tmp_path = tmp_path_factory.mktemp("terraform")
    work = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, work, ignore=shutil.ignore_patterns(*LOCAL_DEPLOY_IGNORED))
    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / "data"), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    env = {k: v for k, v in env.items() if not k.startswith(("TF_VAR_", "AWS_"))}  # no stack leaks in
    if rc := cli_config(tmp_path):
        env["TF_CLI_CONFIG_FILE"] = str(rc)
    init = terraform("init", "-backend=false", "-no-color", cwd=work, env=env)
    assert init.returncode == 0, init.stderr
    return work, env


def test_terraform_validates_for_all_targets(initialised):
    work, env = initialised
    validate = terraform("validate", "-no-color", cwd=work, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr


@pytest.mark.parametrize(("test_file", "var_file"), [
    ("tests/aws.tftest.hcl", "envs/dev.tfvars"),
    ("tests/local.tftest.hcl", "envs/local.tfvars"),
])  # fmt: skip
def test_terraform_test_passes_offline(initialised, test_file, var_file):
    work, env = initialised
    result = terraform("test", "-no-color", f"-filter={test_file}", f"-var-file={var_file}", cwd=work, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout and " passed" in result.stdout, result.stdout
