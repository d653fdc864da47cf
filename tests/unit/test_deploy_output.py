"""`make deploy` says one line per phase; Terraform's thousands of lines go to a log, and a failure
shows the failing resource and its error, not the output around them."""

from __future__ import annotations

import io
import textwrap

import pytest

from tidewater.deploy import ApplyProgress, TerraformRun, error_blocks

pytestmark = pytest.mark.unit

APPLY = textwrap.dedent("""\
    Terraform used the selected providers to generate the following execution plan.
      # module.storage.aws_s3_bucket.this["raw"] will be created
    Plan: 25 to add, 0 to change, 0 to destroy.
    """) + "".join(f"module.x.aws_thing.n{i}: Creation complete after 1s [id=n{i}]\n" for i in range(25)) + \
    "\nApply complete! Resources: 25 added, 0 changed, 0 destroyed.\n"  # fmt: skip
FAILURE = textwrap.dedent("""\
    module.storage.aws_s3_bucket.this["raw"]: Creating...
    ╷
    │ Warning: Argument is deprecated
    │
    │ Use the aws_s3_bucket_versioning resource instead.
    ╵
    ╷
    │ Error: creating S3 Bucket (tidewater-local-raw): BucketAlreadyExists
    │
    │   with module.storage.aws_s3_bucket.this["raw"],
    │   on modules/storage/main.tf line 4, in resource "aws_s3_bucket" "this":
    │    4: resource "aws_s3_bucket" "this" {
    │
    ╵
    """)


def test_apply_progress_counts_resources_against_the_plan():
    out = io.StringIO()
    progress = ApplyProgress("apply", out)
    for line in APPLY.splitlines(keepends=True):
        progress.feed(line)
    assert out.getvalue().splitlines() == ["==> apply: 10/25 resources", "==> apply: 20/25 resources",
                                           "==> apply: 25/25 resources"]  # fmt: skip


def test_a_plan_names_the_resources_that_would_change():
    out = io.StringIO()
    progress = ApplyProgress("plan", out)
    for line in APPLY.splitlines(keepends=True)[:3]:
        progress.feed(line)
    assert out.getvalue().splitlines() == ['    module.storage.aws_s3_bucket.this["raw"] will be created',
                                           "==> Plan: 25 to add, 0 to change, 0 to destroy."]  # fmt: skip


def test_only_error_boxes_are_shown_without_their_drawing():
    (block,) = error_blocks(FAILURE.splitlines(keepends=True))
    assert block.startswith("Error: creating S3 Bucket (tidewater-local-raw): BucketAlreadyExists")
    assert 'with module.storage.aws_s3_bucket.this["raw"],' in block and "│" not in block


def fake_terraform(tmp_path, output: str, code: int):
    script = tmp_path / "terraform"
    (tmp_path / "out.txt").write_text(output)
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.txt'}\nexit {code}\n")
    script.chmod(0o755)
    return str(script)


def test_a_quiet_apply_logs_everything_and_prints_one_line_per_phase(tmp_path, capsys):
    log = tmp_path / "logs" / "deploy.log"
    log.parent.mkdir()
    run = TerraformRun(tmp_path, {"PATH": "/usr/bin:/bin"}, log, verbose=False)
    assert run.run([fake_terraform(tmp_path, APPLY, 0)], "apply") == 0
    assert len(capsys.readouterr().err.splitlines()) == 3 and run.summary == "25 added, 0 changed, 0 destroyed"
    assert "Creation complete" in log.read_text()


def test_a_failed_apply_says_which_resource_failed_and_where_the_rest_is(tmp_path, capsys):
    log = tmp_path / "deploy.log"
    run = TerraformRun(tmp_path, {"PATH": "/usr/bin:/bin"}, log, verbose=False)
    with pytest.raises(SystemExit) as failed:
        run.run([fake_terraform(tmp_path, FAILURE, 1)], "apply")
    message = str(failed.value)
    assert message.startswith("terraform apply failed (exit 1):\nError: creating S3 Bucket")
    assert 'module.storage.aws_s3_bucket.this["raw"]' in message and "deprecated" not in message
    assert message.endswith(f"whole output: {log}")


def test_verbose_shows_terraform_live(tmp_path, capsys):
    run = TerraformRun(tmp_path, {"PATH": "/usr/bin:/bin"}, tmp_path / "deploy.log", verbose=True)
    run.run([fake_terraform(tmp_path, APPLY, 0)], "apply")
    assert capsys.readouterr().err.count("Creation complete") == 25
