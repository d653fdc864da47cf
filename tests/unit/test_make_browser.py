"""`make browser` (which `make test` runs) never stops the suite: it installs Chromium with apt where it
can, and elsewhere says why the report screenshot test will be skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")


def fake_tools(folder: Path, **scripts: str) -> None:
    for name, body in scripts.items():
        path = folder / name.replace("_", "-")
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)


def make_browser(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([MAKE, "-s", "-C", str(ROOT), "browser"], env={"PATH": str(path)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_without_chromium_or_apt_it_says_what_to_do_and_goes_on(tmp_path):
    result = make_browser(tmp_path)  # macOS, Fedora: nothing to install with
    assert result.returncode == 0 and "install Chromium" in result.stderr


def test_when_apt_cannot_install_it_says_so_and_goes_on(tmp_path):
    fake_tools(tmp_path, id="echo 0", apt_get="exit 100")  # root, but the install fails
    result = make_browser(tmp_path)
    assert result.returncode == 0 and "apt-get could not install chromium" in result.stderr


def test_a_chromium_on_the_path_is_enough(tmp_path):
    fake_tools(tmp_path, chromium="exit 0", apt_get="echo apt ran; exit 1")
    result = make_browser(tmp_path)
    assert result.returncode == 0 and result.stdout == result.stderr == ""
