"""Choosing a backend: compose when a Docker daemon answers, host otherwise (or as told)."""

from __future__ import annotations

import platform
from pathlib import Path

from tidewater.stack.compose import ComposeStack, docker_available
from tidewater.stack.env import state_dir
from tidewater.stack.host import HostStack

BACKENDS = ("auto", "host", "compose")


def _recorded_backend(instance_dir: Path) -> str | None:
    """The backend a running instance was started with (so `down` needs no flag)."""
    if (instance_dir / "host.json").exists():
        return "host"
    env_file = instance_dir / "stack.env"
    if env_file.exists() and "TIDEWATER_BACKEND=compose" in env_file.read_text():
        return "compose"
    return None


def resolve(name: str, instance_dir: Path) -> str:
    if name not in BACKENDS:
        raise SystemExit(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name != "auto":
        return name
    return _recorded_backend(instance_dir) or ("compose" if docker_available() else "host")


def host_backend_unsupported() -> str | None:
    """Why the host backend cannot run here, or None. It runs the functions' zips (manylinux x86_64 wheels)
    as plain processes and needs Linux's /proc and runuser."""
    system, machine = platform.system(), platform.machine()
    if system == "Linux" and machine in ("x86_64", "AMD64"):
        return None
    return (
        f"The host backend runs only on x86_64 Linux, and this is {system} on {machine}: the Lambda zips carry "
        "Linux x86_64 libraries and the functions run as plain processes here. Start Docker (e.g. Docker Desktop) "
        "and run `make up` again: the compose backend runs LocalStack and the functions in Linux containers, with "
        "the zips built for their architecture."
    )


def get_stack(name: str = "auto", instance_dir: Path | None = None, emulator: str | None = None
              ) -> HostStack | ComposeStack:  # fmt: skip
    """emulator: None = the one the instance runs (a new one: LocalStack)."""
    instance_dir = instance_dir or state_dir()
    backend = resolve(name, instance_dir)
    if backend == "compose":
        if emulator not in (None, "localstack"):
            raise SystemExit(f"The compose backend runs LocalStack only (docker-compose.yml); for {emulator} use "
                             f"BACKEND=host EMULATOR={emulator}.")  # fmt: skip
        return ComposeStack(instance_dir)
    if reason := host_backend_unsupported():
        raise SystemExit(reason)
    return HostStack(instance_dir, emulator)

