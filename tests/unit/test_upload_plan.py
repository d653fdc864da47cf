"""`tidewater upload` names keys the way a user reads the folder: the first folder under the argument is
the dataset, nested folders stay in the key, hidden files never go up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidewater.ingest import describe_plan, plan_uploads

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
