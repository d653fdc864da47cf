"""docs/security.md's IAM table is the functions' policies, action for action, and every call it
names is made by the code: nothing in a role that no code path needs, nothing needed that is missing."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
TABLE = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
# The policy documents each function's role is built from (database_access is shared).
POLICIES = {
    "processor": [("processor.tf", "processor"), ("database.tf", "database_access"),
                  ("modules/function/main.tf", "this")],
    "reporter": [("reporter.tf", "reporter"), ("database.tf", "database_access"),
                 ("modules/function/main.tf", "this")],
}  # fmt: skip


def unquote(value: str) -> str:
    return value.strip('"')


def statements(document: dict) -> list[dict]:
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):  # dynamic "statement" { content { ... } }
        for block in dynamic.values():
            found += block.get("content", [])
    return found


def policy_actions(file: str, name: str) -> set[str]:
    parsed = hcl2.load((TERRAFORM / file).open(encoding="utf-8"))
    for data in parsed.get("data", []):
        for kind, documents in data.items():
            if unquote(kind) == "aws_iam_policy_document" and f'"{name}"' in documents:
                return {unquote(action) for s in statements(documents[f'"{name}"']) for action in s["actions"]}
    raise AssertionError(f"no aws_iam_policy_document {name!r} in terraform/{file}")


def table_rows() -> list[list[str]]:
    section = TABLE.split("## What each function may do (IAM)", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| function")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def documented() -> set[tuple[str, str]]:
    pairs = set()
    for functions, actions, _, _ in table_rows():
        for function in (name.strip() for name in functions.split(",")):
            pairs |= {(function, action) for action in re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", actions)}
    return pairs


def test_the_table_lists_exactly_the_actions_of_each_functions_role():
    in_terraform = {(function, action) for function, sources in POLICIES.items()
                    for file, name in sources for action in policy_actions(file, name)}  # fmt: skip
    assert in_terraform - documented() == set(), "in a policy but not in docs/security.md"
    assert documented() - in_terraform == set(), "in docs/security.md but in no policy"


def test_every_call_the_table_names_is_in_the_code():
    code = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "functions").rglob("*.py"))
    calls = {call for row in table_rows() for call in re.findall(r"`(s3|sns|sqs)\.([a-z_]+)`", row[3])}
    assert calls, "the table names the boto3 calls"
    missing = sorted(f"{client}.{method}" for client, method in calls if f"{client}.{method}(" not in code)
    assert missing == []
