"""One `make bench` / `make chaos` per private stack at a time: a second run would tear the first
one's stack down under it (it starts by stopping an earlier stack of its instance)."""

import os

import pytest

from tidewater.bench.stack import one_run_at_a_time

pytestmark = pytest.mark.unit


def test_a_second_run_of_the_same_stack_is_refused_naming_the_first(tmp_path, capsys):
    state = tmp_path / ".tidewater" / "chaos"
    first = one_run_at_a_time(state, "make chaos")
    with pytest.raises(SystemExit) as refused:
        one_run_at_a_time(state, "make chaos")
    assert refused.value.code == 2
    message = capsys.readouterr().err
    assert f"another run is using its stack {state}" in message
    assert "kill -TERM" in message and str(os.getpid()) in message
    first.close()
    again = one_run_at_a_time(state, "make chaos")  # the first one ended: free again
    again.close()


def test_other_stacks_are_not_held(tmp_path):
    chaos = one_run_at_a_time(tmp_path / "chaos", "make chaos")
    bench = one_run_at_a_time(tmp_path / "bench", "make bench")
    chaos.close()
    bench.close()
