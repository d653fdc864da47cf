"""The local stack itself: `up` is idempotent, `down` leaves nothing behind, a deploy is stable."""

from __future__ import annotations

import os
import subprocess

import pytest

from tidewater.deploy import deploy
from tidewater.stack.emulators import EMULATORS
from tidewater.stack.env import StackEnv, repo_root
from tidewater.stack.host import HostStack, leftover_pids
from tidewater.stack.procs import free_port, pid_alive

pytestmark = pytest.mark.e2e


def test_terraform_plan_right_after_deploy_shows_no_changes(stack):
    # GIVEN the pipeline deployed by the stack fixture, WHEN we plan again, THEN nothing would change
    assert deploy(stack.state, plan_only=True) == {"changes": "false"}


def test_host_up_twice_is_safe_and_down_leaves_no_process(stack):
    if stack.pipeline.env.backend != "host":
        pytest.skip(f"exercises the host backend; this run's stack is {stack.pipeline.env.backend}")
    # GIVEN a second, private host stack with the session's emulator
    instance = repo_root() / ".tidewater" / f"lifecycle-test-{stack.emulator}"
    host = HostStack(instance, stack.emulator, emulator_port=free_port(), postgres_port=free_port())
    try:
        first = host.up()
        pids = host.started_pids()
        assert len(pids) == 2

        # WHEN `up` runs again THEN it reuses what runs and writes the same stack.env
        second = host.up()
        assert second == first
        assert StackEnv.read(instance / "stack.env") == first
        assert host.started_pids() == pids
        assert all(pid_alive(pid) for pid in pids)

        # AND asking for the other emulator while it runs says what to do instead of starting it
        other = next(name for name in EMULATORS if name != stack.emulator)
        with pytest.raises(SystemExit, match=f"started with {stack.emulator}, not {other}.*make down"):
            HostStack(instance, other).up()
        assert host.started_pids() == pids
    finally:
        host.down()

    # THEN after `down` none of its processes is left and its data is gone
    assert not any(pid_alive(pid) for pid in pids)
    assert leftover_pids(instance) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(instance) not in ps
    assert not (instance / "stack.env").exists() and not (instance / "host.json").exists()
    assert not os.path.exists(host.postgres_dir) and not (instance / stack.emulator).exists()
