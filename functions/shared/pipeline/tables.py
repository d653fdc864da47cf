"""The tables of the datasets, made from their contracts: DDL, evolution, and the summary SQL.

A dataset's table is `file_id`, `source_row` (its primary key), the contract's properties in order,
then the extras column (jsonb) and the partition date column (generated) when the contract has them.
Its summary table is the group-by columns (the primary key), the measures and `updated_at`.

`plan` compares a contract with the live tables (pg_catalog, in the current schema): a missing table
is created; a new property that existing rows can do without (optional) is added with ALTER TABLE
ADD COLUMN, older rows NULL; anything else that differs is a breaking change, described with what to
do, and nothing is changed for that dataset. The processor applies plans at cold start under the
schema lock (db.ensure_schema); `tidewater contracts check` shows them before a deploy.

Dataset tables are keyed by (file_id, source_row): a source row is stored once, whatever happens.
file_id is the ledger row written in the same transaction; it is deliberately not a FOREIGN KEY: the
per-row referential check more than doubled the time to COPY a million events (docs/performance.md),
and nothing ever deletes ledger rows (a superseded file's rows are deleted with its ledger row kept,
in the transaction that loads the version replacing it).

The SQL is built from names only - never from values - and the names are quoted although odcs.py
admits only lower-case identifiers ([a-z_][a-z0-9_]*); hence the `nosec B608`s (bandit flags any
f-string with SQL in it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from pipeline.model import AVG, COUNT, SUM, Contract, Measure, Summary

LIVE_COLUMNS = """
    SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped AND c.relname = ANY(%s)
    ORDER BY c.relname, a.attnum
"""


@dataclass(frozen=True)
class TableColumn:
    name: str
    sql_type: str  # as pg_catalog.format_type names it
    not_null: bool
    clause: str = ""  # DEFAULT or GENERATED: existing rows get a value when the column is added

    @property
    def addable(self) -> bool:
        """Whether ALTER TABLE ADD COLUMN works on a table with rows."""
        return not self.not_null or bool(self.clause)

    def ddl(self) -> str:
        return " ".join(part for part in (quote(self.name), self.sql_type, "NOT NULL" * self.not_null, self.clause)
                        if part)  # fmt: skip


@dataclass
class Plan:
    """What a contract needs done to the live tables (statements), or why it cannot be (problems)."""

    dataset: str
    statements: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # the statements in words
    problems: list[str] = field(default_factory=list)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def names(items: Iterable[str], prefix: str = "") -> str:
    return ", ".join(prefix + quote(item) for item in items)


def table_columns(contract: Contract) -> list[TableColumn]:
    columns = [TableColumn("file_id", "bigint", True), TableColumn("source_row", "integer", True)]
    columns += [TableColumn(column.name, column.stored_as, not column.nullable) for column in contract.columns]
    if contract.extras_column:
        columns.append(TableColumn(contract.extras_column, "jsonb", True, "DEFAULT '{}'::jsonb"))
    if contract.partition_date_column:
        # The UTC date of the partitioned timestamp: what outputs are partitioned by.
        utc_date = f"(({quote(contract.partition_by or '')} AT TIME ZONE 'UTC')::date)"
        generated = f"GENERATED ALWAYS AS ({utc_date}) STORED"
        columns.append(TableColumn(contract.partition_date_column, "date", False, generated))
    return columns


def summary_columns(contract: Contract) -> list[TableColumn]:
    if contract.summary is None:
        return []
    types = {column.name: column.sql_type for column in table_columns(contract)}
    columns = [TableColumn(name, types[name], True) for name in contract.summary.group_by]
    columns += [measure_column(measure, types) for measure in contract.summary.measures]
    return [*columns, TableColumn("updated_at", "timestamp with time zone", True)]


def measure_column(measure: Measure, types: dict[str, str]) -> TableColumn:
    """PostgreSQL's own result types: count bigint; sum and avg of integer bigint and numeric; avg
    of double precision double precision; min/max the column's type."""
    if measure.function == COUNT:
        return TableColumn(measure.name, "bigint", True)
    source = types[measure.column or ""]
    if measure.function in (SUM, AVG) and source == "integer":
        source = "bigint" if measure.function == SUM else "numeric"
    return TableColumn(measure.name, source, False)


def create_table(table: str, columns: list[TableColumn], key: Iterable[str]) -> str:
    body = ",\n    ".join([*(column.ddl() for column in columns), f"PRIMARY KEY ({names(key)})"])
    return f"CREATE TABLE IF NOT EXISTS {quote(table)} (\n    {body}\n)"


def read_live(cur, tables: Iterable[str]) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (type, not null) of the tables that exist in the current schema."""
    cur.execute(LIVE_COLUMNS, (sorted(set(tables)),))
    live: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, sql_type, not_null in cur.fetchall():
        live.setdefault(table, {})[column] = (sql_type, not_null)
    return live


def plan(contract: Contract, live: dict[str, dict[str, tuple[str, bool]]]) -> Plan:
    result = Plan(contract.dataset)
    rows_table = contract.table
    if rows_table not in live:
        result.statements.append(create_table(rows_table, table_columns(contract), ("file_id", "source_row")))
        if contract.partition_date_column:
            index = f"{rows_table}_{contract.partition_date_column}"[:63]
            result.statements.append(f"CREATE INDEX IF NOT EXISTS {quote(index)} ON {quote(rows_table)} "
                                     f"({quote(contract.partition_date_column)})")  # fmt: skip
        result.changes.append(f"create table {rows_table}")
    else:
        compare_rows_table(contract, live[rows_table], result)
    if contract.summary is not None:
        summary = contract.summary.table
        if summary not in live:
            result.statements.append(create_table(summary, summary_columns(contract), contract.summary.group_by))
            result.statements.append(summary_build_sql(contract))  # from the rows already loaded, if any
            result.changes.append(f"create summary table {summary}")
        else:
            compare_summary_table(contract, live[summary], result)
    if result.problems:
        result.statements, result.changes = [], []
    return result


def compare_rows_table(contract: Contract, live: dict[str, tuple[str, bool]], result: Plan) -> None:
    table, source = contract.table, contract.source or contract.dataset
    expected = table_columns(contract)
    for column in expected:
        if column.name not in live:
            if column.addable:
                result.statements.append(f"ALTER TABLE {quote(table)} ADD COLUMN IF NOT EXISTS {column.ddl()}")
                result.changes.append(f"add column {table}.{column.name} {column.sql_type} (existing rows: NULL)")
            else:
                result.problems.append(
                    f"{source}: new required column {table}.{column.name}: the rows already loaded have no value "
                    f"for it. Make the property optional (required: false) to add it, or load into a new table "
                    f"(another physicalName) and reprocess"
                )
            continue
        live_type, live_not_null = live[column.name]
        if live_type != column.sql_type:
            result.problems.append(
                f"{source}: type change of {table}.{column.name}: the table has {live_type}, the contract says "
                f"{column.sql_type}. Keep the type, or load into a new table (another physicalName) and reprocess"
            )
        elif live_not_null != column.not_null:
            now, was = ("required", "optional") if column.not_null else ("optional", "required")
            result.problems.append(
                f"{source}: {table}.{column.name} is {was} in the table and {now} in the contract. Keep it {was}, "
                f"or load into a new table (another physicalName) and reprocess"
            )
    for name in live.keys() - {column.name for column in expected}:
        result.problems.append(
            f"{source}: removed column {table}.{name}: the table has it, the contract does not. Keep the property "
            f"(required: false if files no longer carry it), or load into a new table (another physicalName)"
        )


def compare_summary_table(contract: Contract, live: dict[str, tuple[str, bool]], result: Plan) -> None:
    expected = {column.name: (column.sql_type, column.not_null) for column in summary_columns(contract)}
    if live != expected:
        table = contract.summary.table if contract.summary else ""
        describe = lambda columns: ", ".join(f"{name} {sql_type}" for name, (sql_type, _) in columns.items())  # noqa: E731
        result.problems.append(
            f"{contract.source or contract.dataset}: summary table {table} has ({describe(live)}), the contract "
            f"declares ({describe(expected)}). A summary is rebuilt from the rows when its table is missing: "
            f"DROP TABLE {table}, or give the summary another table name"
        )


def plans(cur, contracts: Iterable[Contract]) -> list[Plan]:
    contracts = list(contracts)
    tables = [name for contract in contracts for name in (contract.table, contract.summary_table) if name]
    live = read_live(cur, tables)
    return [plan(contract, live) for contract in contracts]


# --- summaries ----------------------------------------------------------------------------------


def aggregate(measure: Measure) -> str:
    return "count(*)" if measure.function == COUNT else f"{measure.function}({quote(measure.column or '')})"


def summary_of(contract: Contract) -> Summary:
    if contract.summary is None:
        raise ValueError(f"the {contract.dataset} contract declares no summary")
    return contract.summary


def summary_parts(contract: Contract) -> tuple[str, str, list[str], str, str]:
    """(summary table, rows table, measure names, "g1, g2", "m1, m2, updated_at") quoted."""
    summary = summary_of(contract)
    measures = [measure.name for measure in summary.measures]
    return (quote(summary.table), quote(contract.table), measures, names(summary.group_by),
            names([*measures, "updated_at"]))  # fmt: skip


def selected(contract: Contract, where: str = "") -> str:
    """SELECT of the summary's rows from the rows table (all rows, or those matching `where`)."""
    _, rows, _, groups, _ = summary_parts(contract)
    aggregates = ", ".join(aggregate(measure) for measure in summary_of(contract).measures)
    return f"SELECT {groups}, {aggregates}, now() FROM {rows} {where}GROUP BY {groups}"  # nosec B608


@cache
def summary_build_sql(contract: Contract) -> str:
    """Fill a new summary table from every row already loaded."""
    summary, _, _, groups, measures = summary_parts(contract)
    return f"INSERT INTO {summary} ({groups}, {measures}) {selected(contract)}"


@cache
def summary_refresh_sql(contract: Contract) -> str:
    """Bring the summary up to date with a loaded file (%(file_id)s), in its loading transaction.

    Incremental (count/sum): the file's own rows are added (read by primary key), so a small file
    costs the same on a busy day as on a quiet one; exact because a file's rows are added once, in
    the transaction that records it, and subtracted (summary_remove_sql) in the one that deletes
    them. Otherwise a set-based recompute from all rows; groups whose figures did not change keep
    their updated_at, so it says when a group last changed."""
    summary, rows, measure_names, groups, measures = summary_parts(contract)
    if summary_of(contract).incremental:
        sums = ", ".join(f"{quote(m)} = coalesce(s.{quote(m)} + EXCLUDED.{quote(m)}, s.{quote(m)}, EXCLUDED.{quote(m)})"
                         for m in measure_names)  # fmt: skip
        return (f"INSERT INTO {summary} AS s ({groups}, {measures}) "  # nosec B608
                f"{selected(contract, 'WHERE file_id = %(file_id)s ')} "
                f"ON CONFLICT ({groups}) DO UPDATE SET {sums}, updated_at = EXCLUDED.updated_at")  # fmt: skip
    updates = ", ".join(f"{quote(m)} = EXCLUDED.{quote(m)}" for m in measure_names)
    matches = " AND ".join(f"t.{quote(g)} = s.{quote(g)}" for g in summary_of(contract).group_by)
    return (f"INSERT INTO {summary} AS s ({groups}, {measures}) {selected(contract)} "  # nosec B608
            f"ON CONFLICT ({groups}) DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at "
            f"WHERE ({names(measure_names, 's.')}) IS DISTINCT FROM ({names(measure_names, 'EXCLUDED.')});\n"
            f"DELETE FROM {summary} s WHERE NOT EXISTS (SELECT 1 FROM {rows} t WHERE {matches})")  # fmt: skip


@cache
def summary_remove_sql(contract: Contract) -> str | None:
    """Take a file's rows (%(file_id)s) out of an incremental summary before they are deleted; a
    group left with a count of 0 goes. None for recomputed summaries (the refresh follows)."""
    if contract.summary is None or not contract.summary.incremental:
        return None
    summary, rows, measure_names, groups, _ = summary_parts(contract)
    count = next(m.name for m in contract.summary.measures if m.function == COUNT)
    minus = ", ".join(f"{quote(m)} = s.{quote(m)} - coalesce(f.{quote(m)}, 0)" for m in measure_names)
    matches = " AND ".join(f"s.{quote(g)} = f.{quote(g)}" for g in contract.summary.group_by)
    file_rows = f"FROM {rows} WHERE file_id = %(file_id)s"
    aggregates = ", ".join(f"{aggregate(m)} AS {quote(m.name)}" for m in contract.summary.measures)
    return (f"UPDATE {summary} AS s SET {minus}, updated_at = now() "  # nosec B608
            f"FROM (SELECT {groups}, {aggregates} {file_rows} GROUP BY {groups}) AS f WHERE {matches};\n"
            f"DELETE FROM {summary} WHERE {quote(count)} <= 0 "
            f"AND ({groups}) IN (SELECT {groups} {file_rows})")  # fmt: skip
