"""The host backend never signals what is not its own, refuses a busy port before it starts or records
anything, and a half-up stack answers every command with one line that says what to do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tidewater.stack.host import HostStack
from tidewater.stack.postgres import PostgresCluster
from tidewater.stack.procs import free_port, pid_alive, runs_in, start_ticks

pytestmark = pytest.mark.unit


@pytest.fixture
def stranger(tmp_path):
    """A process that is not ours (think: the pid a reboot gave to something else)."""
    process = subprocess.Popen(["sleep", "600"], cwd=tmp_path)
    yield process
    process.kill()
    process.wait()


def recorded_state(instance: Path, pid: int, started: int | None) -> None:
    instance.mkdir(parents=True)
    state = {"emulator": "localstack", "emulator_port": free_port(), "postgres_port": free_port(),
             "postgres_password": "x", "emulator_pid": pid, "emulator_started": started}  # fmt: skip
    (instance / "host.json").write_text(json.dumps(state))


def test_a_recorded_pid_that_another_program_has_now_is_never_signalled(tmp_path, stranger, capsys):
    # GIVEN host.json and postmaster.pid naming a pid that now belongs to another program
    instance = tmp_path / "instance"
    recorded_state(instance, stranger.pid, started=None)  # a host.json written before start times
    host = HostStack(instance)
    data = host.postgres_dir / "data"
    data.mkdir(parents=True)
    (data / "postmaster.pid").write_text(f"{stranger.pid}\n{data}\n")

    # WHEN the stack is asked what runs, and to go down
    assert host.started_pids() == [] and not host.running()
    host.down()

    # THEN the other program lives on, and `down` says the emulator had already exited
    assert pid_alive(stranger.pid)
    assert f"LocalStack 4.14.0 (pid {stranger.pid}) had already exited" in capsys.readouterr().err
    assert not (instance / "host.json").exists() and not data.exists()


def test_a_pid_is_ours_only_with_the_start_time_we_recorded(tmp_path, stranger):
    instance = tmp_path / "instance"
    recorded_state(instance, stranger.pid, started=(start_ticks(stranger.pid) or 0) + 1)
    assert HostStack(instance).started_pids() == []
    assert runs_in(stranger.pid, tmp_path) and not runs_in(stranger.pid, tmp_path / "instance")


def test_postgres_is_only_the_server_working_in_its_data_directory(tmp_path, stranger):
    data = tmp_path / "data"
    data.mkdir()
    (data / "postmaster.pid").write_text(f"{stranger.pid}\n")
    cluster = PostgresCluster(data, free_port(), "x")
    assert cluster.pid() is None and not cluster.running()
    cluster.stop()  # nothing to stop: the stranger is not signalled
    assert pid_alive(stranger.pid)


def test_a_busy_port_is_refused_before_anything_starts_or_is_recorded(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        host = HostStack(tmp_path / "instance", emulator_port=port, postgres_port=free_port())
        with pytest.raises(SystemExit, match=f"port {port} \\(TIDEWATER_EMULATOR_PORT\\) is already in use.*"
                                             "TIDEWATER_EMULATOR_PORT=<free port> make up"):
            host.up()
    assert not (tmp_path / "instance" / "host.json").exists() and not host.postgres_dir.exists()


def half_up_stack(folder: Path) -> dict[str, str]:
    """A stack.env and outputs.json whose emulator and database do not answer."""
    dead, dead_pg = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.env").write_text("\n".join([
        "export TIDEWATER_BACKEND=host", "export TIDEWATER_EMULATOR=localstack",
        f"export AWS_ENDPOINT_URL=http://127.0.0.1:{dead}", "export AWS_DEFAULT_REGION=us-east-1",
        f"export DATABASE_URL=postgresql://u:p@127.0.0.1:{dead_pg}/d", "export TIDEWATER_FUNCTION_DB_HOST=127.0.0.1",
        f"export TIDEWATER_FUNCTION_DB_PORT={dead_pg}"]) + "\n")  # fmt: skip
    outputs = {name: "x" for name in ("raw_bucket", "processed_bucket", "quarantine_bucket", "reports_bucket",
                                      "reporter_function_name", "processor_function_name")}  # fmt: skip
    outputs |= {"ingest_queue_url": f"http://127.0.0.1:{dead}/000000000000/q", "dlq_url": f"http://127.0.0.1:{dead}/d"}
    (folder / "outputs.json").write_text(json.dumps(outputs))
    return {**os.environ, "TIDEWATER_STATE_DIR": str(folder), "AWS_MAX_ATTEMPTS": "1"}


@pytest.mark.parametrize("command", [["status"], ["upload", "seed_data/retina/retina_scans.json"],
                                     ["wait", "--timeout", "5"], ["deploy", "--plan"], ["replay-dlq", "--dry-run"],
                                     ["doctor"]])  # fmt: skip
def test_a_half_up_stack_answers_each_command_with_one_line(tmp_path, command):
    env = half_up_stack(tmp_path / "state")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "tidewater", *command], env=env, cwd=root, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "make up" in result.stderr.strip().splitlines()[-1]
