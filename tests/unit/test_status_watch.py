"""`tidewater status --watch` redraws the view until Ctrl-C."""

from __future__ import annotations

import io
import os
import pty

import pytest

from tidewater.status import watch

pytestmark = pytest.mark.unit


def test_on_a_terminal_each_view_replaces_the_last(monkeypatch):
    monkeypatch.setattr("tidewater.status.time.sleep", lambda seconds: None)
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w")
    views = iter(["first view", "second view", "third view"])

    watch(lambda: next(views), 2, terminal, times=3)

    terminal.close()
    drawn = os.read(master, 65536).decode()
    os.close(master)
    assert drawn.count("\x1b[H\x1b[2J") == 3 and drawn.index("first view") < drawn.index("third view")
    assert "every 2s, Ctrl-C to stop" in drawn


def test_in_a_pipe_the_views_follow_one_another(monkeypatch):
    slept = []
    monkeypatch.setattr("tidewater.status.time.sleep", slept.append)
    out = io.StringIO()
    watch(lambda: "view", 5, out, times=2)
    assert out.getvalue().count("view") == 2 and "\x1b" not in out.getvalue() and slept == [5]
