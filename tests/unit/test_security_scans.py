"""Security scans as tests: checkov over terraform/ and bandit over the Python code, both offline.

Every checkov finding is either fixed in terraform/ or skipped inline with
`#checkov:skip=CKV_...:<why>` next to the resource (docs/terraform.md lists them); every bandit
finding is fixed or marked `# nosec Bxxx` with the reason in the comment above it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# checkov's bc-python-hcl2 and terraform-local's python-hcl2 both install the `hcl2` module, so
# checkov lives in a venv of its own (the same one `make lint` uses), made on first use.
CHECKOV_VENV = ROOT / ".venv" / "checkov"
CHECKOV_REQUIREMENT = "checkov>=3.2"

# B404/B603: importing subprocess and running it with an argument list. Every call here passes a
# list and none uses a shell; B602 (shell=True) and B605 (os.system) stay on.
BANDIT_SKIPS = "B404,B603"


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {BIN}: run `make venv` (it is a dev dependency)")
    return str(path)


def _checkov() -> str:
    exe = CHECKOV_VENV / "bin" / "checkov"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)], check=True)
        pip = subprocess.run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             CHECKOV_REQUIREMENT],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if pip.returncode != 0:
            pytest.fail(f"could not install {CHECKOV_REQUIREMENT} into {CHECKOV_VENV}:\n{pip.stderr[-2000:]}")
    return str(exe)


def test_checkov_finds_nothing_in_terraform():
    result = subprocess.run(
        [_checkov(), "-d", "terraform", "--framework", "terraform", "--quiet", "--compact",
         "--skip-download", "-o", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = reports[0]["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}:{check['file_line_range'][0]}): "
        f"{check['check_name']}"
        for r in reports for check in r["results"].get("failed_checks", [])
    ]  # fmt: skip
    assert summary["parsing_errors"] == 0, result.stdout[-2000:]
    assert summary["passed"] > 100, summary  # checkov really looked at the configuration
    assert not failed, "fix in terraform/ or skip inline with a reason:\n" + "\n".join(failed)


def test_bandit_finds_nothing_in_functions_and_src():
    result = subprocess.run(
        [_tool("bandit"), "-r", "functions", "src", "-q", "-f", "json", "-s", BANDIT_SKIPS],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    issues = [
        f"{i['filename']}:{i['line_number']} {i['test_id']} {i['issue_severity']}: {i['issue_text']}"
        for i in report["results"]
    ]
    assert report["metrics"]["_totals"]["loc"] > 1000, "bandit scanned (almost) nothing"
    assert not issues, "fix them, or `# nosec Bxxx` with the reason on the line above:\n" + "\n".join(issues)
