"""The compose backend's own logic, against a fake `docker` CLI (no Docker needed): ports are settings
checked before anything starts, a fresh stack forgets an earlier deploy, failures are one clear message."""

from __future__ import annotations

import socket
import stat

import pytest

from tidewater.stack import compose
from tidewater.stack.env import StackEnv

pytestmark = pytest.mark.unit

FAKE_DOCKER = """#!/bin/sh
# Records every call; `docker compose ps` lists $FAKE_RUNNING; compose commands exit $FAKE_EXIT.
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1 $2" in
  "info "*|"info") [ "$2" = --format ] && echo "${FAKE_ARCH:-x86_64}"; exit 0 ;;
  "compose version") exit 0 ;;
esac
case "$*" in
  *" ps "*) echo "$FAKE_RUNNING"; exit 0 ;;
esac
[ "${FAKE_EXIT:-0}" = 0 ] || echo "Error response from daemon: something broke" >&2
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def docker(tmp_path, monkeypatch):
    """A fake docker CLI first on PATH; returns the list of the calls it got."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "docker.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_RUNNING", "")
    for name in (compose.EMULATOR_PORT_SETTING, compose.POSTGRES_PORT_SETTING):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(compose.ComposeStack, "wait_until_reachable", lambda self, env: None)
    return lambda: log.read_text().splitlines()


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", compose.free_low_port()))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_stops_up_before_anything_starts_and_names_the_setting(docker, busy_port, tmp_path,
                                                                              monkeypatch):
    # GIVEN PostgreSQL's port is taken by another program
    monkeypatch.setenv(compose.POSTGRES_PORT_SETTING, str(busy_port))
    monkeypatch.setenv(compose.EMULATOR_PORT_SETTING, str(compose.free_low_port()))
    stack = compose.ComposeStack(tmp_path / "instance")

    # WHEN the stack is started THEN it says which port, which setting, and how to choose another
    with pytest.raises(SystemExit) as failed:
        stack.up()
    message = str(failed.value)
    assert f"port {busy_port} ({compose.POSTGRES_PORT_SETTING}) is already in use" in message
    assert f"{compose.POSTGRES_PORT_SETTING}=<free port> make up" in message
    assert compose.EMULATOR_PORT_SETTING not in message  # that one is free
    # AND nothing was started or recorded
    assert not any(" up " in call for call in docker())
    assert not (tmp_path / "instance" / "stack.env").exists()


@pytest.mark.parametrize("value", ["abc", "80", "40000", "65536"])
def test_a_port_setting_must_be_a_port_below_the_ephemeral_range(monkeypatch, value):
    monkeypatch.setenv(compose.EMULATOR_PORT_SETTING, value)
    with pytest.raises(SystemExit, match=f"{compose.EMULATOR_PORT_SETTING}={value} is not a port between 1024 and"):
        compose.setting_port(compose.EMULATOR_PORT_SETTING, compose.DEFAULT_EMULATOR_PORT)


def test_a_fresh_stack_forgets_the_terraform_state_of_an_earlier_one(docker, tmp_path, monkeypatch):
    # GIVEN an instance whose containers are gone but whose earlier deploy left state and outputs
    instance = tmp_path / "instance"
    (instance / "terraform").mkdir(parents=True)
    (instance / "terraform" / "local.tfstate").write_text("{}")
    (instance / "outputs.json").write_text("{}")
    monkeypatch.setenv(compose.EMULATOR_PORT_SETTING, str(compose.free_low_port()))
    monkeypatch.setenv(compose.POSTGRES_PORT_SETTING, str(compose.free_low_port()))
    monkeypatch.setenv("FAKE_ARCH", "aarch64")

    # WHEN it is started
    env = compose.ComposeStack(instance).up()

    # THEN the next deploy starts from nothing, and stack.env says where the new stack is
    assert not (instance / "terraform").exists() and not (instance / "outputs.json").exists()
    assert StackEnv.read(instance / "stack.env") == env
    assert env.lambda_architecture == "arm64"  # the zips are built for the containers' architecture
    assert any(call.endswith("up --detach --wait --build") for call in docker())


def test_a_running_stack_keeps_its_deploy(docker, tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    (instance / "terraform").mkdir(parents=True)
    monkeypatch.setenv("FAKE_RUNNING", "postgres localstack")
    compose.ComposeStack(instance).up()
    assert (instance / "terraform").exists()


def test_a_failing_compose_command_is_one_clear_message(docker, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EXIT", "3")
    with pytest.raises(SystemExit, match=r"`docker compose down` failed \(exit 3\)"):
        compose.ComposeStack(tmp_path).down()


def test_each_instance_directory_is_its_own_compose_project(tmp_path):
    first, second = compose.ComposeStack(tmp_path / "a"), compose.ComposeStack(tmp_path / "b")
    assert first.project != second.project
    assert first.project.startswith("tidewater-")


@pytest.mark.parametrize(("system", "machine"), [("Darwin", "arm64"), ("Darwin", "x86_64"), ("Linux", "aarch64")])
def test_up_on_a_machine_the_host_backend_cannot_serve_says_to_start_docker(monkeypatch, tmp_path, system, machine):
    from tidewater.stack import backends

    monkeypatch.setattr(backends.platform, "system", lambda: system)
    monkeypatch.setattr(backends.platform, "machine", lambda: machine)
    monkeypatch.setattr(backends, "docker_available", lambda: False)
    with pytest.raises(SystemExit, match=f"runs only on x86_64 Linux, and this is {system} on {machine}.*Start Docker"):
        backends.get_stack("auto", tmp_path)
    # With Docker it is the compose backend, which has no such limit.
    monkeypatch.setattr(backends, "docker_available", lambda: True)
    assert isinstance(backends.get_stack("auto", tmp_path), compose.ComposeStack)
