"""What a local deploy applies and where Terraform's downloads go."""

from __future__ import annotations

import pytest

from tidewater import deploy
from tidewater.stack.env import StackEnv

pytestmark = pytest.mark.unit


def test_a_users_override_files_stay_out_of_local_deploys(tmp_path, monkeypatch):
    # GIVEN a checkout whose terraform/ holds the AWS remote-state override of docs/aws.md
    terraform = tmp_path / "checkout" / "terraform"
    (terraform / "modules" / "x").mkdir(parents=True)
    for name in ("main.tf", "modules/x/main.tf", "backend_override.tf", "override.tf", "extra_override.tf.json",
                 "localstack_providers_override.tf", "terraform.tfstate"):
        (terraform / name).write_text("# " + name)
    (terraform / "functions").mkdir()  # repo_root() looks for terraform/ and functions/
    monkeypatch.setenv("TIDEWATER_ROOT", str(tmp_path / "checkout"))

    # WHEN a local deploy makes its work copy
    work = deploy._workdir(tmp_path / "instance")

    # THEN the override files and state are not in it: the local stack keeps its own local state
    copied = sorted(str(path.relative_to(work)) for path in work.rglob("*") if path.is_file())
    assert copied == ["main.tf", "modules/x/main.tf"]


def test_without_a_provider_mirror_providers_are_downloaded_once_per_checkout(tmp_path, monkeypatch):
    (tmp_path / "checkout" / "terraform").mkdir(parents=True)
    (tmp_path / "checkout" / "functions").mkdir()
    monkeypatch.setenv("TIDEWATER_ROOT", str(tmp_path / "checkout"))
    monkeypatch.delenv("TF_PLUGIN_CACHE_DIR", raising=False)
    monkeypatch.setattr(deploy, "PROVIDER_MIRRORS", ())
    env = StackEnv("host", "http://127.0.0.1:4566", "postgresql://u:p@127.0.0.1:5432/d", "127.0.0.1", 5432)

    first = deploy._terraform_env(env, tmp_path / "stack-a" / "terraform")
    second = deploy._terraform_env(env, tmp_path / "stack-b" / "terraform")

    cache = tmp_path / "checkout" / ".tidewater" / "cache" / "terraform-plugins"
    assert first["TF_PLUGIN_CACHE_DIR"] == second["TF_PLUGIN_CACHE_DIR"] == str(cache) and cache.is_dir()
