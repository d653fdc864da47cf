"""What tables.py makes of a contract's summary for the processor's speed: which summaries are added
file by file (and keep a state table), which the loader counts, and the contracts being read once
when the processor's threads all ask at the same time. The SQL itself runs in
tests/integration/test_summaries.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pipeline import contracts, odcs, tables
from pipeline.contracts import contract_for

pytestmark = pytest.mark.unit

THINGS = """
apiVersion: v3.1.0
kind: DataContract
id: things
version: 1.0.0
status: active
schema:
  - name: things
    physicalName: {table}
    properties:
      - {{name: label, logicalType: string, required: true}}
      - {{name: day, logicalType: date, required: true}}
      - {{name: size, logicalType: integer, required: true}}
      - {{name: weight, logicalType: number, required: true}}
    customProperties:
      - property: summary
        value:
          table: thing_figures
          groupBy: [{groups}]
          measures: [{measures}]
"""


def things(tmp_path: Path, measures: str, groups: str = "label", table: str = "things") -> odcs.Contract:
    path = tmp_path / "things.odcs.yaml"
    path.write_text(THINGS.format(measures=measures, groups=groups, table=table))
    return odcs.load_file(path)


@pytest.mark.parametrize(
    ("measures", "added", "state"),
    [
        ("{name: n, function: count}", False, False),  # incremental: counts go in and out
        ("{name: n, function: count}, {name: biggest, function: max, column: size}", True, False),
        ("{name: smallest, function: min, column: weight}", True, False),  # min/max: any type
        ("{name: mean, function: avg, column: size}, {name: total, function: sum, column: size}", True, True),
        ("{name: mean, function: avg, column: weight}", False, False),  # double precision: not exact
        ("{name: n, function: count}, {name: total, function: sum, column: weight}, "
         "{name: most, function: max, column: size}", False, False),  # fmt: skip
    ],
)
def test_which_summaries_are_added_file_by_file(tmp_path, measures, added, state):
    contract = things(tmp_path, measures)
    assert tables.added_file_by_file(contract) is added
    assert (tables.summary_add_sql(contract) is not None) is added
    assert (tables.state_table(contract) == "thing_figures__sums") is state


def test_the_state_table_has_the_groups_the_rows_and_a_sum_and_count_per_average(tmp_path):
    contract = things(tmp_path, "{name: a, function: avg, column: size}, {name: b, function: avg, column: size}")
    assert [(c.name, c.sql_type, c.not_null) for c in tables.state_columns(contract)] == [
        ("label", "text", True), ("__rows", "bigint", True), ("__sum_size", "numeric", True),
        ("__n_size", "bigint", True)]  # fmt: skip
    assert "DELETE FROM \"thing_figures__sums\"" in tables.summary_refresh_sql(contract)
    assert "INSERT INTO \"thing_figures__sums\"" in tables.summary_build_sql(contract)


def test_a_summary_without_averages_keeps_no_state_and_drops_an_old_one(tmp_path):
    contract = things(tmp_path, "{name: n, function: count}, {name: biggest, function: max, column: size}")
    live = {name: {c.name: (c.sql_type, c.not_null) for c in columns} for name, columns in (
        ("things", tables.table_columns(contract)), ("thing_figures", tables.summary_columns(contract)))}  # fmt: skip
    assert tables.plan(contract, live).statements == []
    plan = tables.plan(contract, {**live, "thing_figures__sums": {"label": ("text", True)}})
    assert plan.statements == ['DROP TABLE IF EXISTS "thing_figures__sums"'] and plan.problems == []


def test_the_loader_counts_summaries_of_counts_by_text_integer_and_date_groups(tmp_path):
    assert tables.counted_keys(contract_for("events")) == (("event_type", "text"), ("event_date", tables.EPOCH_DAYS))
    assert tables.counted_keys(contract_for("housing")) is None
    assert tables.counted_keys(things(tmp_path, "{name: n, function: count}", "label, day, size")) == (
        ("label", "text"), ("day", tables.EPOCH_DAYS), ("size", "integer"))  # fmt: skip
    assert tables.counted_keys(things(tmp_path, "{name: n, function: count}, {name: s, function: sum, column: size}")) \
        is None  # fmt: skip
    assert "DATE '1970-01-01' + f.g1" in tables.summary_count_sql(contract_for("events"))


def test_no_contract_table_may_take_a_state_tables_name(tmp_path):
    (tmp_path / "things.odcs.yaml").write_text(THINGS.format(measures="{name: n, function: count}", groups="label",
                                                             table="other__sums"))  # fmt: skip
    with pytest.raises(odcs.ContractError, match="__sums"):
        odcs.load_folder(tmp_path)


def test_threads_asking_for_the_contracts_at_once_read_them_once(monkeypatch):
    reads = []

    def slow_read(folder):
        reads.append(folder)
        time.sleep(0.05)
        return {"things": object()}

    monkeypatch.setattr(contracts, "_contracts", None)
    monkeypatch.setattr(odcs, "load_folder", slow_read)
    got, start = [], threading.Barrier(4)

    def ask():
        start.wait()
        got.append(contracts.all_contracts())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1 and len(got) == 4 and all(result is got[0] for result in got)


def test_schema_problems_are_replaced_in_place_without_a_moment_with_none(monkeypatch):
    from pipeline import db

    class Recording(dict):
        """SCHEMA_PROBLEMS as another thread could read it after every change."""

        states: list[dict]

        def update(self, *args, **kwargs):
            super().update(*args, **kwargs)
            self.states.append(dict(self))

        def __delitem__(self, key):
            super().__delitem__(key)
            self.states.append(dict(self))

    problems = Recording(a="x", b="y")
    problems.states = []
    monkeypatch.setattr(db, "SCHEMA_PROBLEMS", problems)

    db.set_schema_problems({"b": "y2", "c": "z"})

    assert db.SCHEMA_PROBLEMS is problems and problems == {"b": "y2", "c": "z"}
    assert problems.states and all("b" in state for state in problems.states)  # a standing problem never left
