"""What a dataset contract is, as the pipeline uses it: value kinds, columns, summaries, outputs.

odcs.py makes these objects from the contracts files; contracts.py holds the deployment's contracts.
"""

from __future__ import annotations

from dataclasses import dataclass

# Value kinds. validate.py types them (pandas), transform.py writes them (Arrow), tables.py stores them.
FLOAT = "float"  # double precision (or numeric where exact sums matter)
INT = "int"  # whole numbers within PostgreSQL `integer`; "880.0" counts as whole
STR = "str"  # text; stripped; empty means missing
DATE = "date"  # YYYY-MM-DD
TIMESTAMP = "timestamp"  # ISO 8601; without an offset it is taken as UTC; stored as timestamptz

# The PostgreSQL type of each kind (as pg_catalog.format_type names it), and the others it may have.
SQL_TYPES = {
    FLOAT: ("double precision", "numeric"),
    INT: ("integer",),
    STR: ("text",),
    DATE: ("date",),
    TIMESTAMP: ("timestamp with time zone",),
}

# Parquet/JSON outputs a contract can ask for.
PARQUET = "parquet"
JSON = "json"

# What a new version of an object key (an overwrite in S3) does to the rows of the version before it.
REPLACE = "replace"  # they leave the tables in the transaction that loads the new version
APPEND = "append"  # they stay: every version adds its rows

# Summary measures. count and sum can be added per file and taken out again (incremental); avg, min
# and max cannot, so a summary with any of them is recomputed from the whole table.
COUNT, SUM, AVG, MIN, MAX = "count", "sum", "avg", "min", "max"
MEASURES = (COUNT, SUM, AVG, MIN, MAX)
# A summary added file by file keeps the sums and counts behind its averages in `<table>__sums`
# (tables.py): no contract's table may end so.
STATE_SUFFIX = "__sums"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    greater_than: float | None = None  # exclusive lower bound
    allowed: frozenset[str] | None = None
    less_than: float | None = None  # exclusive upper bound
    sql_type: str | None = None  # None: the kind's first SQL_TYPES entry

    @property
    def stored_as(self) -> str:
        return self.sql_type or SQL_TYPES[self.kind][0]


@dataclass(frozen=True)
class Measure:
    name: str  # the summary table's column
    function: str  # one of MEASURES
    column: str | None = None  # the aggregated column; None for count (of rows)


@dataclass(frozen=True)
class Summary:
    """A table of `measures` per distinct `group_by` values of the dataset's table (+ updated_at)."""

    table: str
    group_by: tuple[str, ...]
    measures: tuple[Measure, ...]

    @property
    def incremental(self) -> bool:
        """Kept by adding each file's rows and subtracting them when they leave (count/sum only, and
        a count to tell when a group is empty); otherwise recomputed from the whole table."""
        functions = {measure.function for measure in self.measures}
        return functions <= {COUNT, SUM} and COUNT in functions


@dataclass(frozen=True)
class Contract:
    dataset: str
    columns: tuple[Column, ...]
    table: str
    summary: Summary | None = None
    # PARQUET: every good row with its source_row. JSON: an array of `json_fields` of the good rows.
    output: str = PARQUET
    json_fields: tuple[str, ...] = ()
    # Name of a JSONB column that collects every key/column the contract does not name (None: extra
    # columns are ignored). In JSON, an object under this name is merged in as well.
    extras_column: str | None = None
    # The TIMESTAMP column whose UTC date partitions the outputs (dt=...); None: the S3 event's date.
    partition_by: str | None = None
    # A stored, generated column of the table holding that UTC date (summaries may group by it).
    partition_date_column: str | None = None
    # REPLACE: uploading a key again corrects it (the previous version's rows and summary
    # contribution are replaced, its ledger row marked `superseded`). APPEND: every version loads.
    on_new_version: str = REPLACE
    version: str = ""  # the contract's own version (ODCS `version`), recorded per file in the ledger
    source: str = ""  # the file it was read from, for messages

    @property
    def replaces(self) -> bool:
        return self.on_new_version == REPLACE

    @property
    def summary_table(self) -> str | None:
        return self.summary.table if self.summary else None

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def output_columns(self) -> list[str]:
        """Columns of the rows table and the Parquet output, in order (after file_id/source_row)."""
        return self.column_names + ([self.extras_column] if self.extras_column else [])

    @property
    def required(self) -> list[str]:
        return [column.name for column in self.columns if not column.nullable]
