"""The emulator interface (tidewater.stack.emulators): what each emulator is told, without starting one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidewater.stack import emulators
from tidewater.stack.backends import get_stack
from tidewater.stack.env import StackEnv
from tidewater.stack.host import HostStack


@pytest.mark.parametrize("name", sorted(emulators.EMULATORS))
def test_every_emulator_keeps_its_temp_folder_and_log_in_its_home(name, tmp_path):
    emulator = emulators.get(name)
    home = emulator.home(tmp_path / "instance")
    env = emulator.environ(45123, home, tmp_path / "runtimes")
    assert home == tmp_path / "instance" / name
    assert {env["TMPDIR"], env["TEMP"], env["TMP"]} == {str(home / "tmp")}
    assert emulator.log_file(home).parent == home
    assert all(folder.is_relative_to(home) for folder in emulator.folders(home))
    # listens on 127.0.0.1 at the port it was given, nowhere else
    assert any(value in ("127.0.0.1:45123", "45123") for value in env.values())
    assert "0.0.0.0" not in " ".join(env.values())


def test_ministack_functions_get_the_runtime_venv_first_on_path(tmp_path):
    env = emulators.get("ministack").environ(4566, tmp_path / "ministack", tmp_path / "runtimes")
    assert env["BIND_HOST"] == "127.0.0.1" and env["GATEWAY_PORT"] == "4566"
    assert env["TIDEWATER_LAMBDA_RUNTIMES_DIR"] == str(tmp_path / "runtimes")
    assert env["PATH"].split(":")[0] == str(tmp_path / "runtimes" / "python3.13" / "bin")


@pytest.mark.parametrize("emulator", [emulators.get("localstack"), emulators.get("ministack")])
def test_health_documents_count_only_when_every_needed_service_is_up(emulator):
    names = {"localstack": emulators.localstack.SERVICES, "ministack": emulators.ministack.SERVICES}[emulator.name]
    ready = {"services": dict.fromkeys(names, "available")}
    assert emulator.healthy(ready)
    assert not emulator.healthy({"services": {**ready["services"], "lambda": "error"}})
    assert not emulator.healthy({})


def test_an_unknown_emulator_is_refused_with_the_choices():
    with pytest.raises(SystemExit, match="unknown emulator 'moto'; choose one of localstack, ministack"):
        emulators.get("moto")


def test_the_compose_backend_refuses_ministack_and_says_what_to_use(tmp_path):
    with pytest.raises(SystemExit, match="BACKEND=host EMULATOR=ministack"):
        get_stack("compose", tmp_path, "ministack")


def test_stack_env_names_the_emulator_and_reads_older_files_as_localstack(tmp_path):
    env = StackEnv("host", "http://127.0.0.1:1", "postgresql://u:p@127.0.0.1:2/db", "127.0.0.1", 2, "ministack")
    env.write(tmp_path / "stack.env")
    assert "export TIDEWATER_EMULATOR=ministack" in (tmp_path / "stack.env").read_text()
    assert StackEnv.read(tmp_path / "stack.env") == env
    older = "\n".join(line for line in (tmp_path / "stack.env").read_text().splitlines() if "EMULATOR" not in line)
    Path(tmp_path / "old.env").write_text(older)
    assert StackEnv.read(tmp_path / "old.env").emulator == "localstack"


def test_a_stack_started_before_there_were_two_emulators_is_still_known_and_stopped(tmp_path):
    # GIVEN host.json as an older `make up` wrote it (LocalStack's pid under its old name)
    (tmp_path / "host.json").write_text(
        '{"localstack_port": 4566, "postgres_port": 5499, "postgres_password": "x", "localstack_pid": 4242}'
    )
    # THEN `down` and `up` read it as a LocalStack stack with that pid
    state = HostStack(tmp_path)._load_state()
    assert (state.emulator, state.emulator_port, state.emulator_pid) == ("localstack", 4566, 4242)
