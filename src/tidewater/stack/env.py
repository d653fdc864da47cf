"""The contract between a running stack and everything that uses it: ``.tidewater/stack.env``.

Any shell can ``source .tidewater/stack.env``; our own code reads it with :func:`load`.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
# The emulators accept any credentials; "test" is their documented convention (not a secret).
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}  # nosec B105


def repo_root() -> Path:
    """The checkout we operate on: $TIDEWATER_ROOT, else the nearest parent holding terraform/ and functions/."""
    if env := os.environ.get("TIDEWATER_ROOT"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "terraform").is_dir() and (candidate / "functions").is_dir():
            return candidate
    # Fall back to the source tree this package was installed from (editable installs).
    return Path(__file__).resolve().parents[3]


def state_dir() -> Path:
    """Where a stack keeps its runtime state (pids, data, logs, terraform state)."""
    return Path(os.environ.get("TIDEWATER_STATE_DIR") or repo_root() / ".tidewater").resolve()


@dataclass
class StackEnv:
    """Everything a client needs to talk to a running stack."""

    backend: str  # host | compose | testcontainers
    endpoint_url: str  # AWS API endpoint as seen from this machine
    database_url: str  # postgresql://user:password@host:port/db as seen from this machine
    # The database as the *functions* see it (differs in Docker, where functions run in containers).
    function_db_host: str
    function_db_port: int
    emulator: str = "localstack"  # localstack | ministack (tidewater.stack.emulators)
    region: str = REGION
    # The architecture the functions run on (the zips are built for it): x86_64 or arm64.
    lambda_architecture: str = "x86_64"

    def as_environ(self) -> dict[str, str]:
        return {
            "TIDEWATER_BACKEND": self.backend,
            "TIDEWATER_EMULATOR": self.emulator,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            **EMULATOR_CREDENTIALS,
            "DATABASE_URL": self.database_url,
            "TIDEWATER_FUNCTION_DB_HOST": self.function_db_host,
            "TIDEWATER_FUNCTION_DB_PORT": str(self.function_db_port),
            "TIDEWATER_LAMBDA_ARCHITECTURE": self.lambda_architecture,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by `make up`; `source` it to talk to the local stack."]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.as_environ().items()]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)  # holds the local database password

    @classmethod
    def read(cls, path: Path) -> StackEnv:
        values: dict[str, str] = {}
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                key, _, raw = line[len("export ") :].partition("=")
                values[key] = shlex.split(raw)[0] if raw else ""
        return cls(
            backend=values["TIDEWATER_BACKEND"],
            endpoint_url=values["AWS_ENDPOINT_URL"],
            database_url=values["DATABASE_URL"],
            function_db_host=values["TIDEWATER_FUNCTION_DB_HOST"],
            function_db_port=int(values["TIDEWATER_FUNCTION_DB_PORT"]),
            emulator=values.get("TIDEWATER_EMULATOR", "localstack"),
            region=values.get("AWS_DEFAULT_REGION", REGION),
            lambda_architecture=values.get("TIDEWATER_LAMBDA_ARCHITECTURE", "x86_64"),
        )



def forget_instance(instance_dir: Path, *data_dirs: Path) -> None:
    """Delete what a stopped stack leaves in its instance directory (and its own data dirs), so no
    client mistakes it for a running, deployed one. Not the venvs: for `make up` they share
    .tidewater/ with the instance."""
    for path in (instance_dir / "terraform", *data_dirs):
        shutil.rmtree(path, ignore_errors=True)
    for name in ("stack.env", "outputs.json", "uploads.jsonl", "host.json"):
        (instance_dir / name).unlink(missing_ok=True)


def load(state: Path | None = None) -> StackEnv:
    """The running stack's env, or a clear error telling the user to start one."""
    path = (state or state_dir()) / "stack.env"
    if not path.exists():
        raise SystemExit(f"No local stack found ({path} is missing). Start one with `make up`.")
    return StackEnv.read(path)
