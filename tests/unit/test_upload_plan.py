"""`tidewater upload` names keys the way a user reads the folder: the first folder under the argument is
the dataset, nested folders stay in the key, hidden files never go up."""

from __future__ import annotations

import io
import os
import pty
import select
from pathlib import Path

import pytest

from tidewater.ingest import Progress, describe_plan, plan_uploads, upload

pytestmark = pytest.mark.unit


def tree(root: Path, *files: str) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("a,b\n1,2\n")
    return root


def keys(paths: list[Path], dataset: str | None = None) -> list[str]:
    return [item.key for item in plan_uploads(paths, dataset)]


def test_a_folder_of_dataset_folders_keeps_the_path_below_it(tmp_path):
    root = tree(tmp_path / "seed_data", "housing/x.csv", "housing/jan/y.csv", "events/e.ndjson",
                ".git/objects/ab/cdef", "housing/.DS_Store", ".hidden.csv")  # fmt: skip
    assert keys([root]) == ["events/e.ndjson", "housing/jan/y.csv", "housing/x.csv"]


def test_a_dataset_folder_names_the_dataset_of_its_own_files(tmp_path):
    root = tree(tmp_path / "housing", "x.csv", "jan/y.csv")
    assert keys([root]) == ["housing/jan/y.csv", "housing/x.csv"]


def test_a_file_goes_under_its_folders_name_or_the_dataset_given(tmp_path):
    root = tree(tmp_path / "exports", "events.csv", "nested/deeper.csv")
    assert keys([root / "events.csv"]) == ["exports/events.csv"]
    assert keys([root], dataset="events") == ["events/events.csv", "events/nested/deeper.csv"]


def test_the_plan_says_how_much_goes_where(tmp_path):
    root = tree(tmp_path / "seed_data", "housing/x.csv", "events/a.csv", "events/b.csv")
    line = describe_plan(plan_uploads([root], None), "raw-bucket")
    assert line == "uploading 3 file(s), 24 bytes, to s3://raw-bucket/ as events/ (2), housing/ (1)"


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no such file or directory"):
        plan_uploads([tmp_path / "nope"], None)


class FakeS3:
    def __init__(self) -> None:
        self.put: dict[str, bytes] = {}

    def put_object(self, Bucket, Key, Body):  # noqa: N803 - boto3's names
        first = Body.read(5)  # like botocore: read for the checksum, rewind, read again
        Body.seek(0)
        self.put[Key] = Body.read()
        assert self.put[Key].startswith(first)
        return {"VersionId": f"v-{len(self.put)}"}


class FakePipeline:
    outputs = {"raw_bucket": "raw"}

    def __init__(self) -> None:
        self.s3 = FakeS3()

    def client(self, service: str):
        return self.s3


def test_a_file_whose_key_names_no_dataset_is_refused_before_anything_goes_up(tmp_path):
    tree(tmp_path / "main", "README.md")
    pipeline = FakePipeline()
    refused = "No dataset named 'main'.*housing, retina.*--dataset NAME. Nothing was uploaded"
    with pytest.raises(SystemExit, match=refused):
        upload(pipeline, [tmp_path / "main" / "README.md"], None, tmp_path / "log", ["housing", "retina"])
    assert pipeline.s3.put == {} and not (tmp_path / "log").exists()


def test_a_dry_run_shows_the_keys_and_uploads_nothing(tmp_path, capsys):
    root = tree(tmp_path / "seed_data", "housing/x.csv", "events/e.csv")
    pipeline = FakePipeline()
    assert upload(pipeline, [root], None, tmp_path / "log", ["events", "housing"], dry_run=True) == []
    out = capsys.readouterr().out
    assert out.startswith("would upload 2 file(s)") and "-> s3://raw/housing/x.csv" in out and pipeline.s3.put == {}


def test_on_a_terminal_a_progress_bar_counts_bytes_and_files(tmp_path):
    root = tree(tmp_path / "housing", *(f"part-{i}.csv" for i in range(3)))
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w")
    progress = Progress.for_terminal(terminal, total_bytes=3 * 8, total_files=3)
    assert progress.live

    done = upload(FakePipeline(), [root], None, tmp_path / "log", ["housing"], progress=progress)

    terminal.close()
    drawn = ""
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end is closed and everything was read
            break
        if not chunk:
            break
        drawn += chunk.decode()
    os.close(master)
    assert len(done) == 3 and "\r[" in drawn and "100%  24/24 bytes, 3/3 files" in drawn


def test_off_a_terminal_there_is_no_bar(tmp_path):
    stream = io.StringIO()
    assert not Progress.for_terminal(stream, 10, 1).live
