"""The AWS emulators a local stack can run (`--emulator`, `EMULATOR=`): one file each, one
interface (base.py)."""

from __future__ import annotations

from tidewater.stack.emulators.base import Emulator
from tidewater.stack.emulators.localstack import LocalStack
from tidewater.stack.emulators.ministack import MiniStack

EMULATORS: dict[str, type[Emulator]] = {"localstack": LocalStack, "ministack": MiniStack}
DEFAULT = "localstack"


def get(name: str) -> Emulator:
    try:
        return EMULATORS[name]()
    except KeyError:
        raise SystemExit(f"unknown emulator {name!r}; choose one of {', '.join(EMULATORS)}") from None
