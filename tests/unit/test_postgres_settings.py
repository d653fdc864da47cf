"""The host backend's PostgreSQL settings: fast by default, crash-safe with TIDEWATER_POSTGRES_DURABLE=1,
and recorded per instance (docs/chaos.md, "The durability knob")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tidewater.stack.host import HostStack
from tidewater.stack.postgres import PostgresCluster, durable_requested

pytestmark = pytest.mark.unit


def cluster(durable: bool) -> PostgresCluster:
    return PostgresCluster(Path("/nonexistent/data"), 5433, "pw", durable=durable)


def test_the_fast_default_never_acknowledges_a_commit_it_has_not_written():
    # synchronous_commit=off lost acknowledged commits when PostgreSQL alone crashed (make chaos,
    # postgres_crash); fsync and full_page_writes only matter when the machine crashes.
    options = cluster(durable=False).options()
    assert "-c fsync=off" in options and "-c full_page_writes=off" in options
    assert "synchronous_commit" not in options


def test_durable_keeps_postgresqls_own_crash_safe_defaults():
    options = cluster(durable=True).options()
    assert "fsync" not in options and "full_page_writes" not in options and "synchronous_commit" not in options
    assert "-c listen_addresses=127.0.0.1" in options


@pytest.mark.parametrize(("value", "durable"), [("1", True), ("true", True), ("yes", True), ("0", False), ("", False)])
def test_the_setting_is_read_from_the_environment(monkeypatch, value, durable):
    monkeypatch.setenv("TIDEWATER_POSTGRES_DURABLE", value)
    assert durable_requested() is durable


def test_an_instance_keeps_the_setting_it_was_created_with(tmp_path, monkeypatch):
    (tmp_path / "host.json").write_text(json.dumps({
        "emulator": "localstack", "emulator_port": 4566, "postgres_port": 5433, "postgres_password": "pw",
        "postgres_durable": True}))  # fmt: skip
    monkeypatch.setenv("TIDEWATER_POSTGRES_DURABLE", "0")
    assert HostStack(tmp_path).postgres().durable is True
    (tmp_path / "host.json").write_text(json.dumps({
        "emulator": "localstack", "emulator_port": 4566, "postgres_port": 5433, "postgres_password": "pw"}))
    assert HostStack(tmp_path).postgres().durable is False  # recorded before the setting existed
