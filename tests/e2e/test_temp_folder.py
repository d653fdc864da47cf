"""Issue 16: an instance writes only inside its own folder, and `down` leaves nothing of it in the
system temp folder.

The stacks here run the real commands (`python -m tidewater up/deploy/down`, as `make` does) with
a private folder as their "system temp folder" (TMPDIR): whatever they or the emulator put there
instead of into the instance would show, and stacks of other users on this machine cannot disturb
the comparison. Two instances share that folder and run at the same time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import test_emulator
from tests.e2e.test_host_executor import ROLE, RUNTIME, make_zip
from tidewater.aws import Pipeline
from tidewater.stack import emulators
from tidewater.stack.env import repo_root
from tidewater.stack.host import HostStack
from tidewater.stack.procs import free_port

pytestmark = pytest.mark.e2e

ECHO = "def handler(event, context):\n    return event\n"


@pytest.fixture
def system_temp():
    """A fresh stand-in for the system temp folder (others may read it: as root, PostgreSQL runs as
    `postgres` from a folder in it)."""
    folder = Path(tempfile.mkdtemp(prefix="tidewater-systemp-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class Instance:
    def __init__(self, name: str, temp: Path, emulator: str):
        self.dir = repo_root() / ".tidewater" / f"{name}-{emulator}"
        self.emulator = emulators.get(emulator)
        self.temp = temp
        self.environ = {**os.environ, "TMPDIR": str(temp), "TIDEWATER_STATE_DIR": str(self.dir),
                        "TIDEWATER_EMULATOR_PORT": str(free_port()),
                        "TIDEWATER_POSTGRES_PORT": str(free_port())}  # fmt: skip
        self.home = self.emulator.home(self.dir)

    def tidewater(self, *args: str) -> None:
        result = subprocess.run([sys.executable, "-m", "tidewater", *args], env=self.environ, cwd=repo_root(),
                                capture_output=True, text=True, timeout=900)  # fmt: skip
        assert result.returncode == 0, f"tidewater {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"

    def lambda_client(self):
        outputs = self.dir / "outputs.json"
        if not outputs.exists():
            outputs.write_text("{}")  # an instance without a deploy: clients only
        return Pipeline.from_state(self.dir).client("lambda")

    def create_function(self, name: str) -> None:
        client = self.lambda_client()
        client.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": ECHO})})  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=name)

    def invoke(self, function: str, payload: dict) -> dict:
        response = self.lambda_client().invoke(FunctionName=function, Payload=json.dumps(payload))
        assert "FunctionError" not in response, response
        return json.loads(response["Payload"].read())

    def files(self) -> set[str]:
        return {str(path.relative_to(self.dir)) for path in self.dir.rglob("*")}

    def postgres_dir(self) -> Path:
        """Where its commands (whose temp folder is `temp`) keep the cluster."""
        with mock.patch.object(tempfile, "tempdir", str(self.temp)):
            return HostStack(self.dir).postgres_dir


def test_two_instances_keep_to_their_folders_and_down_leaves_the_temp_folder_as_it_was(system_temp):
    emulator = test_emulator()
    before = sorted(os.listdir(system_temp))
    a = Instance("temp-test-a", system_temp, emulator)
    b = Instance("temp-test-b", system_temp, emulator)
    a_function, b_function = (f"tw-temp-{name}-{uuid.uuid4().hex[:8]}" for name in "ab")
    try:
        # GIVEN instance A up with a function invoked (its code is unpacked somewhere) - the whole
        # pipeline's `make demo` / `make down` is checked the same way by test_readme_quickstart.py
        a.tidewater("up", "--backend", "host", "--emulator", emulator)
        a.create_function(a_function)
        assert a.invoke(a_function, {"a": 1}) == {"a": 1}
        # AND instance B up at the same time, with a function of its own
        b.tidewater("up", "--backend", "host", "--emulator", emulator)
        b.create_function(b_function)
        assert b.invoke(b_function, {"b": 1}) == {"b": 1}

        # THEN the shared temp folder holds nothing but each instance's PostgreSQL folder (as root)
        clusters = sorted(p.name for p in (a.postgres_dir(), b.postgres_dir()) if p.parent == system_temp)
        assert sorted(os.listdir(system_temp)) == sorted(before + clusters)
        # AND each function's unpacked code is in its own instance's emulator folder, and only there
        files_a, files_b = a.files(), b.files()
        assert any(a_function in path for path in files_a if path.startswith(a.emulator.name))
        assert any(b_function in path for path in files_b if path.startswith(b.emulator.name))
        assert not any(b_function in path for path in files_a)
        assert not any(a_function in path for path in files_b)

        # WHEN A goes down THEN B still works, its files untouched
        a.tidewater("down")
        assert not a.home.exists() and not a.postgres_dir().exists()
        assert b.invoke(b_function, {"b": 2}) == {"b": 2}
        assert files_b <= b.files()
    finally:
        a.tidewater("down")
        b.tidewater("down")
    # AND after both are down the temp folder is as it was
    assert sorted(os.listdir(system_temp)) == before
    assert not b.home.exists() and not b.postgres_dir().exists()
