"""The local stack itself: `up` is idempotent, `down` leaves nothing behind, a deploy is stable."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import psycopg2
import pytest

from tests.stacks import wait_until
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


@pytest.fixture
def private_host(stack, request):
    """A private host stack with the session's emulator (stopped and deleted afterwards)."""
    if stack.pipeline.env.backend != "host":
        pytest.skip(f"exercises the host backend; this run's stack is {stack.pipeline.env.backend}")
    instance = repo_root() / ".tidewater" / f"lifecycle-{request.node.name[:40]}-{stack.emulator}"
    host = HostStack(instance, stack.emulator, emulator_port=free_port(), postgres_port=free_port())
    host.down()
    yield host
    host.down()


def test_after_the_emulator_was_killed_up_starts_over_and_says_so(private_host, capsys):
    # GIVEN a stack with a ledger, a deploy state, outputs and an upload log ...
    env = private_host.up()
    with psycopg2.connect(env.database_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE ingested_files (id int); INSERT INTO ingested_files VALUES (1), (2)")
    for name in ("outputs.json", "uploads.jsonl"):
        (private_host.dir / name).write_text("{}")
    (private_host.dir / "terraform").mkdir(exist_ok=True)
    # ... whose emulator is killed (no `down`)
    (emulator_pid, postgres_pid) = private_host.started_pids()
    os.kill(emulator_pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(emulator_pid), 30, "the emulator to die")

    # WHEN `up` runs THEN it starts over with one consistent, empty stack and says what it did
    fresh = private_host.up()
    said = capsys.readouterr().err
    assert "stopped without `make down`" in said and "ledger of 2 file(s)" in said and "make deploy" in said
    assert not (private_host.dir / "outputs.json").exists() and not (private_host.dir / "uploads.jsonl").exists()
    assert not (private_host.dir / "terraform").exists()
    with psycopg2.connect(fresh.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ingested_files')")
        assert cur.fetchone() == (None,)
    assert private_host.running() and not pid_alive(postgres_pid)


def test_two_ups_at_once_leave_one_working_stack(private_host):
    # GIVEN two `tidewater up` of the same instance started at the same moment
    env = {**os.environ, "TIDEWATER_STATE_DIR": str(private_host.dir),
           "TIDEWATER_EMULATOR_PORT": str(free_port()), "TIDEWATER_POSTGRES_PORT": str(free_port())}  # fmt: skip
    command = [sys.executable, "-m", "tidewater", "up", "--backend", "host", "--emulator", private_host._requested]
    runs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    said = [run.communicate(timeout=300)[1] for run in runs]

    # THEN both succeed, one of them waited for (or found) the other's stack, and exactly one runs
    assert [run.returncode for run in runs] == [0, 0], said
    assert any("waiting for it" in text or "already running" in text for text in said), said
    assert private_host.running() and len(private_host.started_pids()) == 2


def test_a_failed_up_leaves_nothing_so_another_port_just_works(private_host):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        blocked = HostStack(private_host.dir, private_host._requested, emulator_port=busy.getsockname()[1])
        with pytest.raises(SystemExit, match="TIDEWATER_EMULATOR_PORT"):
            blocked.up()
    assert not (private_host.dir / "host.json").exists() and blocked.started_pids() == []
    # WHEN the user picks another port THEN it is used: no saved state of the failed attempt wins
    port = free_port()
    env = HostStack(private_host.dir, private_host._requested, emulator_port=port).up()
    assert env.endpoint_url == f"http://127.0.0.1:{port}"
