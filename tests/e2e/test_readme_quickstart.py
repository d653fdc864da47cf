"""The README's quick start, run literally as a newcomer copies it: `make demo`, then `make down`.

(`make test`, the other command of the quick start, is what runs this very test; .ci/run runs it.)
The run gets a private instance folder, free ports and a private folder as its system temp folder
through the settings the README documents, so it never touches a stack of yours; what it checks is
what the README promises - also that `make down` leaves nothing in the system temp folder (issue 16:
a `make demo` unpacks the processor, 200+ MB, and runs PostgreSQL from the temp folder as root).
It runs in the LocalStack e2e run: the quick start's `make demo` is LocalStack's (the default).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tidewater.stack.procs import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
OCEAN_PROXIMITY = ("<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN")
SCREENS = 2 * 60  # "fits on a screen or two"


def quick_start() -> list[str]:
    """The commands of the code block under "The two commands", comments dropped."""
    section = README.split("## The two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_the_quick_start_is_make_demo_and_make_test_and_ci_runs_make_test():
    assert quick_start() == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.fixture
def system_temp():
    """A private stand-in for the system temp folder, which the `postgres` user can enter (as root the
    cluster lives there; pytest's own tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="tidewater-quickstart-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_make_demo_then_make_down_do_what_the_readme_says(stack, tmp_path, system_temp):
    if stack.pipeline.env.backend != "host" or stack.emulator != "localstack":
        pytest.skip("the quick start is the default `make demo` (host backend, LocalStack); this run is "
                    f"{stack.pipeline.env.backend} with {stack.emulator}")  # fmt: skip
    instance = tmp_path / "instance"
    env = {**os.environ, "TIDEWATER_STATE_DIR": str(instance), "BACKEND": "host", "TMPDIR": str(system_temp),
           "TIDEWATER_EMULATOR_PORT": str(free_port()), "TIDEWATER_POSTGRES_PORT": str(free_port())}  # fmt: skip
    for name in ("VERBOSE", "EMULATOR"):
        env.pop(name, None)
    demo = subprocess.run(shlex.split(quick_start()[0]), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    try:
        said = demo.stdout + demo.stderr
        assert demo.returncode == 0, said[-3000:]
        # It ends with the summary of the real housing file and today's report ...
        summary = demo.stdout[demo.stdout.index("housing_summary_statistics (20,640 rows)"):]
        assert all(name in summary for name in OCEAN_PROXIMITY)
        assert "tidewater daily report" in summary
        # ... and fits on a screen or two: Terraform's output went to the logs
        lines = said.splitlines()
        assert len(lines) <= SCREENS, f"{len(lines)} lines:\n{said[-3000:]}"
        assert not any("Creation complete" in line for line in lines)
        assert list((instance / "logs").glob("deploy-*.log"))
    finally:
        down = subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stderr
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(instance) not in ps and not (instance / "stack.env").exists()
    assert os.listdir(system_temp) == [], "`make down` left something in the system temp folder"
