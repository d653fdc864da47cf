"""`tidewater dev` through the real stack: a saved change to a function's code (or to the shared
pipeline package) takes effect on the next invocation, with no build and no deploy; stopping puts
the deployed code back, and `terraform plan` is clean again.

The edits are made to a copy of functions/ (so the test never touches the work tree); dev mode is
pointed at that copy exactly as it is at the work tree.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_housing_pipeline import put, wait_for_ledger
from tests.e2e.test_security_probes import unique_housing
from tidewater import dev
from tidewater.deploy import deploy
from tidewater.logs import log_events

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def fresh_file() -> bytes:
    return unique_housing(uuid.uuid4().hex)


def processor_logs_contain(stack, text: str) -> bool:
    group = f"/aws/lambda/{stack.outputs['processor_function_name']}"
    return any(text in event["message"] for event in log_events(stack.client("logs"), group, 0))


def test_a_saved_change_runs_on_the_next_invocation_and_stop_restores_the_deploy(stack, tmp_path):
    if reason := dev.supported(stack.pipeline):
        # Where dev mode cannot work it says why and what to do instead (and changes nothing).
        assert "needs LocalStack" in reason and "make deploy" in reason
        with pytest.raises(SystemExit, match="needs LocalStack"):
            dev.start(stack.pipeline, ROOT, tmp_path / "dev.json")
        return
    copy = tmp_path / "tree"
    for name in ("processor", "shared"):
        shutil.copytree(ROOT / "functions" / name, copy / "functions" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    app = copy / "functions" / "processor" / "app.py"
    record = tmp_path / "dev.json"
    try:
        dev.start(stack.pipeline, copy, record)

        # WHEN the handler's message is edited and saved THEN the next file is processed by the edit
        marker = f"Loaded the file (edited {uuid.uuid4().hex[:8]})"
        app.write_text(app.read_text().replace('"Loaded the file"', f'"{marker}"'))
        saved = time.monotonic()
        key = f"housing/dev/{uuid.uuid4().hex[:8]}.csv"
        assert wait_for_ledger(stack, key, put(stack, key, fresh_file()))["status"] == "loaded"
        effect_s = time.monotonic() - saved
        assert wait_until_logged(stack, marker), f"the edited message {marker!r} never appeared"

        # AND an edit to the shared pipeline package counts too
        errors = copy / "functions" / "shared" / "pipeline" / "errors.py"
        errors.write_text(errors.read_text().replace('UNKNOWN_DATASET = "unknown_dataset"',
                                                     'UNKNOWN_DATASET = "unknown_dataset_edited"'))  # fmt: skip
        weather = f"weather/{uuid.uuid4().hex[:8]}.csv"
        assert wait_for_ledger(stack, weather, put(stack, weather, b"a,b\n1,2\n"))["status"] == "quarantined"
        error = stack.pipeline.query("SELECT error FROM ingested_files WHERE s3_key = %s", (weather,))[0][0]
        assert error == "unknown_dataset_edited"
    finally:
        dev.stop(stack.pipeline, record)

    # THEN the deployed code runs again, and Terraform sees exactly what it deployed
    key = f"weather/{uuid.uuid4().hex[:8]}.csv"
    assert wait_for_ledger(stack, key, put(stack, key, b"a,b\n1,2\n"))["status"] == "quarantined"
    assert stack.pipeline.query("SELECT error FROM ingested_files WHERE s3_key = %s", (key,))[0][0] == "unknown_dataset"
    assert deploy(stack.state, plan_only=True) == {"changes": "false"}
    assert not record.exists()
    print(f"edit to effect: {effect_s:.2f}s")


def wait_until_logged(stack, text: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processor_logs_contain(stack, text):
            return True
        time.sleep(0.5)
    return False
