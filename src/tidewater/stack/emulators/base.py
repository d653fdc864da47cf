"""What every AWS emulator of the local stack offers; one file per emulator beside this one.

The host backend (``host.py``) asks for an emulator by name (:func:`tidewater.stack.emulators.get`)
and knows nothing else about it: it installs it, starts :meth:`Emulator.command` as one process in
a session of its own, with :meth:`Emulator.environ`, bound to 127.0.0.1 on the port it chose, waits
for :meth:`Emulator.healthy` and stops the session on `down`.

Everything an emulator writes lives under its *home* folder in the instance
(``<instance>/<name>/``): its data, caches, log and its temp folder. ``TMPDIR`` points there, so
what an emulator or its Lambda functions put in "the system temp folder" (unpacked function code,
pid files) is removed with the instance by `down` and never shared with another instance.
Start-up patches (our fixes of an emulator's bugs) are part of what :meth:`Emulator.command` runs.
"""

from __future__ import annotations

import json
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from tidewater.stack.venvs import ensure_emulator_venv


class Emulator(ABC):
    name: ClassVar[str]  # as on the command line and in stack.env: localstack, ministack
    label: ClassVar[str]  # for messages: "LocalStack 4.14.0"
    health_path: ClassVar[str]  # GET <endpoint><health_path> answers a JSON document
    services: ClassVar[tuple[str, ...]]  # the services the pipeline needs, as its health document names them

    @abstractmethod
    def command(self, python: Path) -> list[str]:
        """The command line that starts it in the foreground, patches applied."""

    @abstractmethod
    def settings(self, port: int, home: Path, runtimes_dir: Path) -> dict[str, str]:
        """Its own environment variables: where to listen (127.0.0.1:`port`), where its data goes
        (under `home`), which Python runs Lambda functions (the runtime venvs in `runtimes_dir`)."""

    # ---- the same for every emulator ----------------------------------------------------------
    def install(self, venvs_dir: Path) -> Path:
        """Create or refresh its own venv under `venvs_dir` (shared by the checkout's instances) from
        requirements/<name>.txt and its pinned constraints, with our package (its patches, plugins);
        return that venv's python. Quick when nothing changed."""
        return ensure_emulator_venv(venvs_dir, self.name, self.label)

    def home(self, instance_dir: Path) -> Path:
        return instance_dir / self.name

    def temp_dir(self, home: Path) -> Path:
        return home / "tmp"

    def log_file(self, home: Path) -> Path:
        return home / f"{self.name}.log"

    def folders(self, home: Path) -> list[Path]:
        """The folders under `home` to create before it starts."""
        return [self.temp_dir(home)]

    def environ(self, port: int, home: Path, runtimes_dir: Path) -> dict[str, str]:
        """:meth:`settings` plus a temp folder inside `home` (Python's tempfile, and every tool that
        honours TMPDIR, write there instead of the machine's shared /tmp)."""
        temp = str(self.temp_dir(home))
        return {"TMPDIR": temp, "TEMP": temp, "TMP": temp, **self.settings(port, home, runtimes_dir)}

    def healthy(self, health: dict) -> bool:
        """Whether its health document reports each of `services` `available` or `running`."""
        services = health.get("services", {})
        return all(services.get(name) in ("available", "running") for name in self.services)

    def health(self, endpoint_url: str, timeout: float = 2) -> dict | None:
        """Its health document, or None when it does not answer."""
        try:
            # A fixed http:// URL of our own emulator on 127.0.0.1 (no user-supplied scheme).
            with urllib.request.urlopen(f"{endpoint_url}{self.health_path}", timeout=timeout) as resp:  # nosec B310
                return json.load(resp)
        except (OSError, ValueError):
            return None

    def version(self, endpoint_url: str) -> str:
        """The version a running instance reports."""
        return str((self.health(endpoint_url) or {}).get("version", "unknown"))

