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

from pipeline.model import AVG, COUNT, MIN, STATE_SUFFIX, SUM, Contract, Measure, Summary

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
            plan_state(contract, live, result, fill=False)
            result.statements.append(summary_build_sql(contract))  # from the rows already loaded, if any
            result.changes.append(f"create summary table {summary}")
        else:
            compare_summary_table(contract, live[summary], result)
            plan_state(contract, live, result, fill=True)
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


def plan_state(contract: Contract, live: dict[str, dict[str, tuple[str, bool]]], result: Plan, fill: bool) -> None:
    """The summary's state table (summary_add_sql): made (and filled from the rows, when `fill`)
    when it is missing or has other columns (it holds nothing but figures of the rows); dropped when
    the summary keeps none, so no stale one is ever taken up again."""
    name = state_table_name(summary_of(contract).table)
    state = state_table(contract)
    if state is None:
        if name in live:
            result.statements.append(f"DROP TABLE IF EXISTS {quote(name)}")
            result.changes.append(f"drop summary state table {name} (no longer used)")
        return
    expected = {column.name: (column.sql_type, column.not_null) for column in state_columns(contract)}
    if live.get(name) == expected:
        return
    if name in live:
        result.statements.append(f"DROP TABLE IF EXISTS {quote(name)}")
    result.statements.append(create_table(name, state_columns(contract), summary_of(contract).group_by))
    if fill:  # under the summary's lock (db.refresh_summary's), so no load adds to it meanwhile
        lock = "tidewater:summary:" + summary_of(contract).table
        lock_literal = "'" + lock.replace("'", "''") + "'"
        result.statements.append(f"SELECT pg_advisory_xact_lock(hashtextextended({lock_literal}, 0));\n"
                                 f"{state_fill_sql(contract)}")  # fmt: skip
    result.changes.append(f"create summary state table {name}")


def plans(cur, contracts: Iterable[Contract]) -> list[Plan]:
    contracts = list(contracts)
    tables = [name for contract in contracts for name in (contract.table, contract.summary_table) if name]
    tables += [state_table_name(contract.summary_table) for contract in contracts if contract.summary_table]
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
    return f"INSERT INTO {summary} ({groups}, {measures}) {selected(contract)}" + state_fill(contract)


def state_fill(contract: Contract) -> str:
    """The state table's rebuild (state_fill_sql) as statements to append, or nothing."""
    fill = state_fill_sql(contract)
    return f";\n{fill}" if fill else ""


@cache
def summary_refresh_sql(contract: Contract) -> str:
    """Bring the summary up to date with a loaded file (%(file_id)s), in its loading transaction.

    Incremental (count/sum): the file's own rows are added (read by primary key), so a small file
    costs the same on a busy day as on a quiet one; exact because a file's rows are added once, in
    the transaction that records it, and subtracted (summary_remove_sql) in the one that deletes
    them. Otherwise a set-based recompute from all rows; groups whose figures did not change keep
    their updated_at, so it says when a group last changed. A summary added file by file
    (summary_add_sql) is recomputed so when a file's rows left, its state table rebuilt with it."""
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
            f"DELETE FROM {summary} s WHERE NOT EXISTS (SELECT 1 FROM {rows} t WHERE {matches})"
            f"{state_fill(contract)}")  # fmt: skip


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


# --- summaries added file by file (avg/min/max) ---------------------------------------------------
#
# A summary with avg, min or max cannot take a file's rows out again, but it can add them: count
# and sum add up, min and max are the least and greatest of the old and the file's, and an average
# is a sum divided by a count - which is exactly how PostgreSQL's avg() ends for integer and numeric
# columns (numeric_div of the exact sum by the count of values), so the figures equal a recompute to
# the last digit. The sums and counts behind the averages are kept in a state table beside the
# summary (`<summary>__sums`, one row per group; no reader needs it). A load adds its own rows (read
# by primary key) instead of reading the whole table again (recomputing housing took ~0.2 s of every
# load once it held 400,000 rows); when a file's rows leave (a new version, reprocess) the summary
# and its state are recomputed whole. A double precision sum or average is not exact in any order,
# so such a summary is recomputed as before.

EXACT_TYPES = ("integer", "bigint", "numeric")
STATE_ROWS = "__rows"


def state_table_name(summary_table: str) -> str:
    return summary_table + STATE_SUFFIX


def column_types(contract: Contract) -> dict[str, str]:
    """Column name -> SQL type (as pg_catalog.format_type names it) of the dataset's table."""
    return {column.name: column.sql_type for column in table_columns(contract)}


def avg_columns(contract: Contract) -> list[str]:
    """The columns averaged by the summary, each once, in order."""
    summary = summary_of(contract)
    return list(dict.fromkeys(m.column or "" for m in summary.measures if m.function == AVG))


def state_columns(contract: Contract) -> list[TableColumn]:
    """The state table of an added summary with averages: the groups, the rows, and per averaged
    column the sum (numeric: exact) and the count of its values."""
    types = column_types(contract)
    columns = [TableColumn(name, types[name], True) for name in summary_of(contract).group_by]
    columns.append(TableColumn(STATE_ROWS, "bigint", True))
    for column in avg_columns(contract):
        columns += [TableColumn(f"__sum_{column}", "numeric", True), TableColumn(f"__n_{column}", "bigint", True)]
    return columns


@cache
def added_file_by_file(contract: Contract) -> bool:
    """Whether the summary (one that is not `incremental`) is kept by adding each file's rows: all
    its measures are count, min, max, or sum/avg of an integer or numeric column."""
    summary = contract.summary
    if summary is None or summary.incremental:
        return False
    types = column_types(contract)
    for measure in summary.measures:
        if measure.function in (SUM, AVG) and types[measure.column or ""] not in EXACT_TYPES:
            return False
    if avg_columns(contract):
        state = state_columns(contract)
        names_used = [column.name for column in state] + [measure.name for measure in summary.measures]
        if len(state_table_name(summary.table)) > 63 or len(set(names_used)) != len(names_used):
            return False
        if any(len(column.name) > 63 for column in state):
            return False
    return True


def state_table(contract: Contract) -> str | None:
    """The state table's name when the summary keeps one (added file by file, with averages)."""
    if not added_file_by_file(contract) or not avg_columns(contract):
        return None
    return state_table_name(summary_of(contract).table)


def hidden_columns(contract: Contract) -> list[str]:
    """The state table's figures: the rows, then the sum and count behind each average."""
    return [STATE_ROWS] + [f"__{part}_{column}" for column in avg_columns(contract) for part in ("sum", "n")]


def state_aggregates(contract: Contract, prefix: str) -> list[str]:
    """The state's figures of a set of rows, as SELECT items (`prefix`: "r." or "")."""
    items = [f"count(*) AS {quote(STATE_ROWS)}"]
    for column in avg_columns(contract):
        value = f"{prefix}{quote(column)}"
        items += [f"coalesce(sum({value})::numeric, 0) AS {quote('__sum_' + column)}",
                  f"count({value}) AS {quote('__n_' + column)}"]  # fmt: skip
    return items


def file_aggregates(contract: Contract, prefix: str) -> list[str]:
    """What a set of rows adds, as SELECT items after the groups (`prefix`: "r." or ""): every
    measure but avg by its name, then the state's figures when the summary keeps a state."""
    items = []
    for measure in summary_of(contract).measures:
        if measure.function == COUNT:
            items.append(f"count(*) AS {quote(measure.name)}")
        elif measure.function != AVG:
            items.append(f"{measure.function}({prefix}{quote(measure.column or '')}) AS {quote(measure.name)}")
    return items + (state_aggregates(contract, prefix) if state_table(contract) else [])


def average(measure: Measure, prefix: str) -> str:
    """An average from the state's sum and count (`prefix`: the state's alias and a dot, or "");
    numeric_div, as avg() of an integer or numeric column ends."""
    column = measure.column or ""
    return f"{prefix}{quote('__sum_' + column)} / nullif({prefix}{quote('__n_' + column)}, 0)"


def merged(measure: Measure, old: str, new: str) -> str:
    """A measure of old and new rows together, from each side's figure."""
    o, n = f"{old}.{quote(measure.name)}", f"{new}.{quote(measure.name)}"
    if measure.function == COUNT:
        return f"{o} + {n}"
    if measure.function == SUM:
        return f"coalesce({o} + {n}, {o}, {n})"
    return f"{'least' if measure.function == MIN else 'greatest'}({o}, {n})"


@cache
def summary_add_sql(contract: Contract) -> str | None:
    """Add a loaded file's rows (%(file_id)s) to a summary kept file by file; None for the others.

    With averages, each group of the file is one of: new (neither the summary nor the state has
    it: the file's figures are the group's), added (both have it and agree: old + file), or stale
    (they disagree - a processor from before the state table changed the summary - or only one has
    it): that group is recomputed from its rows. Every figure is then written as a whole."""
    if not added_file_by_file(contract):
        return None
    summary = summary_of(contract)
    table, rows, measure_names, groups, measures = summary_parts(contract)
    file_rows = (f"SELECT {groups}, {', '.join(file_aggregates(contract, ''))} FROM {rows} "  # nosec B608
                 f"WHERE file_id = %(file_id)s GROUP BY {groups}")  # fmt: skip
    state = state_table(contract)
    if state is None:  # count, sum, min, max: each figure merges with the file's in place
        sets = ", ".join(f"{quote(m.name)} = {merged(m, 's', 'EXCLUDED')}" for m in summary.measures)
        return (f"INSERT INTO {table} AS s ({groups}, {measures}) "  # nosec B608
                f"SELECT {groups}, {names(measure_names)}, now() FROM ({file_rows}) AS f "
                f"ON CONFLICT ({groups}) DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at")  # fmt: skip
    first = quote(summary.group_by[0])
    kept = [m for m in summary.measures if m.function != AVG]
    hidden = hidden_columns(contract)
    figures = names([*(m.name for m in kept), *hidden], "f.")  # the columns of `merged`, after the groups
    agree = [f"s.{first} IS NOT NULL", f"t.{first} IS NOT NULL"]
    agree += [f"t.{quote(STATE_ROWS)} = s.{quote(m.name)}" for m in summary.measures if m.function == COUNT]
    agree += [f"s.{quote(m.name)} IS NOT DISTINCT FROM {average(m, 't.')}" for m in summary.measures
              if m.function == AVG]  # fmt: skip
    added = ", ".join([*(f"{merged(m, 's', 'f')} AS {quote(m.name)}" for m in kept),
                       *(f"t.{quote(name)} + f.{quote(name)} AS {quote(name)}" for name in hidden)])  # fmt: skip
    matches = " AND ".join(f"r.{quote(g)} = k.{quote(g)}" for g in summary.group_by)
    recomputed = (f"SELECT {names(summary.group_by, 'k.')}, x.* FROM k CROSS JOIN LATERAL "  # nosec B608
                  f"(SELECT {', '.join(file_aggregates(contract, 'r.'))} FROM {rows} r WHERE {matches}) AS x "
                  f"WHERE k.how = 'stale'")  # fmt: skip
    final = ", ".join(average(m, "") if m.function == AVG else quote(m.name) for m in summary.measures)
    state_sets = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in hidden)
    summary_sets = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in measure_names)
    return (
        f"WITH f AS ({file_rows}),\n"  # nosec B608
        f"k AS (SELECT {names(summary.group_by, 'f.')}, CASE WHEN s.{first} IS NULL AND t.{first} IS NULL THEN 'new' "
        f"WHEN {' AND '.join(agree)} THEN 'added' ELSE 'stale' END AS how "
        f"FROM f LEFT JOIN {table} s USING ({groups}) LEFT JOIN {quote(state)} t USING ({groups})),\n"
        f"merged AS (SELECT {names(summary.group_by, 'f.')}, {added} FROM k JOIN f USING ({groups}) "
        f"JOIN {table} s USING ({groups}) JOIN {quote(state)} t USING ({groups}) WHERE k.how = 'added'\n"
        f"  UNION ALL SELECT {names(summary.group_by, 'f.')}, {figures} "
        f"FROM k JOIN f USING ({groups}) WHERE k.how = 'new'\n"
        f"  UNION ALL {recomputed}),\n"
        f"st AS (INSERT INTO {quote(state)} AS t ({groups}, {names(hidden)}) SELECT {groups}, {names(hidden)} "
        f"FROM merged ON CONFLICT ({groups}) DO UPDATE SET {state_sets})\n"
        f"INSERT INTO {table} AS s ({groups}, {measures}) SELECT {groups}, {final}, now() FROM merged "
        f"ON CONFLICT ({groups}) DO UPDATE SET {summary_sets}, updated_at = EXCLUDED.updated_at"
    )


def state_fill_sql(contract: Contract) -> str | None:
    """Rebuild the state table from every row (after the summary was recomputed or built)."""
    state = state_table(contract)
    if state is None:
        return None
    groups = names(summary_of(contract).group_by)
    return (f"DELETE FROM {quote(state)};\n"  # nosec B608
            f"INSERT INTO {quote(state)} ({groups}, {names(hidden_columns(contract))}) "
            f"SELECT {groups}, {', '.join(state_aggregates(contract, ''))} FROM {quote(contract.table)} "
            f"GROUP BY {groups}")  # fmt: skip


# --- summaries counted by the loader ----------------------------------------------------------------
#
# A summary of counts only, grouped by text, integer or date properties or the partition date, is
# added from the loader's own counts of the rows it COPYed (db.summary_counts) instead of reading the
# rows back (~0.25 s of the 1M-row events file). Dates travel as days since 1970-01-01.

EPOCH_DAYS = "DAYS"  # a group key sent as a day number


@cache
def counted_keys(contract: Contract) -> tuple[tuple[str, str], ...] | None:
    """(group column, SQL type of its values or EPOCH_DAYS) for a summary the loader can count, else
    None: count measures only (it is `incremental`), each group a text/integer/date property or the
    partition date."""
    summary = contract.summary
    if summary is None or not summary.incremental or any(m.function != COUNT for m in summary.measures):
        return None
    kinds = {column.name: column for column in contract.columns}
    keys = []
    for name in summary.group_by:
        column = kinds.get(name)
        if name == contract.partition_date_column and contract.partition_by:
            keys.append((name, EPOCH_DAYS))
        elif column is not None and column.stored_as == "date":
            keys.append((name, EPOCH_DAYS))
        elif column is not None and column.stored_as in ("text", "integer"):
            keys.append((name, column.stored_as))
        else:
            return None
    return tuple(keys)


@cache
def summary_count_sql(contract: Contract) -> str:
    """Add the loader's counts (%(group_0)s ... arrays of the groups' values, %(counts)s) to the summary."""
    keys = counted_keys(contract)
    if keys is None:
        raise ValueError(f"the {contract.dataset} summary is not counted by the loader")
    summary = summary_of(contract)
    table, _, measure_names, groups, measures = summary_parts(contract)
    arrays = ", ".join(f"%(group_{i})s::{'integer' if kind == EPOCH_DAYS else kind}[]" for i, (_, kind) in
                       enumerate(keys))  # fmt: skip
    values = ", ".join(f"DATE '1970-01-01' + f.g{i}" if kind == EPOCH_DAYS else f"f.g{i}" for i, (_, kind) in
                       enumerate(keys))  # fmt: skip
    aliases = ", ".join(f"g{i}" for i in range(len(keys)))
    sets = ", ".join(f"{quote(m)} = s.{quote(m)} + EXCLUDED.{quote(m)}" for m in measure_names)
    return (f"INSERT INTO {table} AS s ({groups}, {measures}) "  # nosec B608
            f"SELECT {values}, {', '.join('f.n' for _ in summary.measures)}, now() "
            f"FROM unnest({arrays}, %(counts)s::bigint[]) AS f ({aliases}, n) "
            f"ON CONFLICT ({groups}) DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at")  # fmt: skip
