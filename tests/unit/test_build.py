"""The zip build: deterministic bytes (stable Terraform hash) and a trim that keeps what runs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tidewater.build import install_dependencies, main, stage_function, trim, write_zip, zip_dir
from tidewater.stack.env import repo_root

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


ELF_MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}  # e_machine: EM_X86_64, EM_AARCH64


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_dependencies_are_the_wheels_of_the_functions_architecture(tmp_path, architecture):
    # GIVEN a requirement with native code, WHEN it is installed for an architecture (pip, from PyPI)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0\n")
    install_dependencies(requirements, tmp_path / "deps", architecture)

    # THEN its shared library is built for that architecture, whatever this machine is
    libraries = list((tmp_path / "deps").rglob("*.so"))
    assert libraries
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINES[architecture], library.name


def test_arm64_zips_go_beside_the_x86_64_ones_terraform_takes_by_default():
    default = Path(__file__).resolve().parents[2] / "build" / "functions"  # terraform/processor.tf's default
    assert zip_dir() == zip_dir("x86_64") == default
    assert zip_dir("arm64") == default / "arm64"


def test_the_contracts_go_into_every_zip_beside_pipeline(tmp_path):
    # GIVEN a contracts folder with one extra dataset
    folder = tmp_path / "contracts"
    folder.mkdir()
    for path in (repo_root() / "contracts").glob("*.odcs.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not a contract")
    deps = tmp_path / "deps"
    deps.mkdir()

    # WHEN a function is staged from it
    stage_function("reporter", repo_root(), tmp_path / "staging", deps, folder)

    # THEN the zip's contracts/ holds the contracts only, where pipeline.odcs looks
    staged = sorted(path.name for path in (tmp_path / "staging" / "contracts").iterdir())
    assert staged == ["events.odcs.yaml", "housing.odcs.yaml", "retina.odcs.yaml"]
    assert (tmp_path / "staging" / "pipeline" / "odcs.py").is_file()


def test_a_contract_the_functions_could_not_read_stops_the_build(tmp_path):
    (tmp_path / "broken.odcs.yaml").write_text("apiVersion: v3.1.0\nkind: DataContract\n")
    with pytest.raises(SystemExit, match="contract error: broken.odcs.yaml: version must be a non-empty string"):
        main(["--contracts", str(tmp_path)])
