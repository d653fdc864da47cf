"""pipeline.sharing: files use /tmp side by side, or one file alone after the others are done."""

from __future__ import annotations

import threading
import time

import pytest
from pipeline.sharing import DiskTurns

pytestmark = pytest.mark.unit


def test_a_file_alone_waits_until_the_files_sharing_the_disk_are_done_and_they_wait_for_it():
    turns = DiskTurns()
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def sharing_file() -> None:
        with turns.shared():
            inside.set()
            release.wait(5)
            order.append("shared done")

    def lone_file() -> None:
        with turns.alone():
            order.append("alone")
            time.sleep(0.05)
            order.append("alone done")

    def late_sharing_file() -> None:
        with turns.shared():
            order.append("late shared")

    first = threading.Thread(target=sharing_file)
    first.start()
    inside.wait(5)
    alone = threading.Thread(target=lone_file)
    alone.start()
    time.sleep(0.05)
    assert order == []  # the lone file waits for the one sharing the disk
    release.set()
    first.join(5)
    while "alone" not in order:
        time.sleep(0.01)
    late = threading.Thread(target=late_sharing_file)
    late.start()
    alone.join(5)
    late.join(5)
    assert order == ["shared done", "alone", "alone done", "late shared"]
