"""The zip build: deterministic bytes (stable Terraform hash) and a trim that keeps what runs."""

from __future__ import annotations

import zipfile

import pytest

from tidewater.build import trim, write_zip

pytestmark = pytest.mark.unit


def make_tree(root):
    files = {
        "app.py": "def lambda_handler(event, context):\n    return {}\n",
        "pandas/__init__.py": "",
        "pandas/tests/test_x.py": "",
        "pyarrow/libarrow.so.2000": "core",
        "pyarrow/libarrow_substrait.so.2000": "linked by libarrow",
        "pyarrow/libarrow_python.so": "copy",
        "pyarrow/libarrow_python.so.2000": "soname",
        "pyarrow/libarrow_python.so.2000.0.0": "copy",
        "pyarrow/_flight.cpython-313-x86_64-linux-gnu.so": "unused",
        "pyarrow/include/arrow/api.h": "header",
        "numpy/__init__.pyi": "stub",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_same_inputs_give_byte_identical_zips(tmp_path):
    make_tree(tmp_path / "staging")
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    write_zip(tmp_path / "staging", first)
    (tmp_path / "staging" / "app.py").touch()  # a newer mtime must not change the bytes
    write_zip(tmp_path / "staging", second)
    assert first.read_bytes() == second.read_bytes()


def test_zip_reports_sizes_and_holds_every_file(tmp_path):
    make_tree(tmp_path / "staging")
    zipped, unzipped = write_zip(tmp_path / "staging", tmp_path / "f.zip")
    with zipfile.ZipFile(tmp_path / "f.zip") as archive:
        assert sum(i.file_size for i in archive.infolist()) == unzipped
        assert "app.py" in archive.namelist()
    assert zipped == (tmp_path / "f.zip").stat().st_size


def test_trim_drops_tests_headers_stubs_unused_modules_and_library_copies(tmp_path):
    make_tree(tmp_path)
    trim(tmp_path)
    kept = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert kept == [
        "app.py",
        "pandas/__init__.py",
        "pyarrow/libarrow.so.2000",
        "pyarrow/libarrow_python.so.2000",
        "pyarrow/libarrow_substrait.so.2000",
    ]
