"""Declarative data contracts, one per dataset (the first segment of a raw object key).

A contract says which columns a record must have, how each value is checked and typed, which table
the good rows load into, which summary table is recomputed afterwards and which outputs are written.
Adding a dataset means adding a contract here and its table to schema.sql (and, if it has one, its
summary refresh to db.py); code only where a transform is genuinely new.

Every contract reads every format (CSV/TSV, JSON array, NDJSON, gzip of each): see formats.py.
"""

from __future__ import annotations

from dataclasses import dataclass

# Value kinds. validate.py types them (pandas), transform.py writes them (Arrow), schema.sql stores them.
FLOAT = "float"  # double precision (or numeric where exact sums matter)
INT = "int"  # whole numbers within PostgreSQL `integer`; "880.0" counts as whole
STR = "str"  # text; stripped; empty means missing
DATE = "date"  # YYYY-MM-DD
TIMESTAMP = "timestamp"  # ISO 8601; without an offset it is taken as UTC; stored as timestamptz

# Parquet/JSON outputs a contract can ask for.
PARQUET = "parquet"
JSON = "json"

# What a new version of an object key (an overwrite in S3) does to the rows of the version before it.
REPLACE = "replace"  # they leave the tables in the transaction that loads the new version
APPEND = "append"  # they stay: every version adds its rows


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    greater_than: float | None = None  # exclusive lower bound
    allowed: frozenset[str] | None = None


@dataclass(frozen=True)
class Contract:
    dataset: str
    columns: tuple[Column, ...]
    table: str
    summary_table: str | None = None
    # PARQUET: every good row with its source_row. JSON: an array of `json_fields` of the good rows.
    output: str = PARQUET
    json_fields: tuple[str, ...] = ()
    # Name of a JSONB column that collects every key/column the contract does not name (None: extra
    # columns are ignored). In JSON, an object under this name is merged in as well.
    extras_column: str | None = None
    # The TIMESTAMP column whose UTC date partitions the outputs (dt=...); None: the S3 event's date.
    partition_by: str | None = None
    # REPLACE: uploading a key again corrects it (the previous version's rows and summary
    # contribution are replaced, its ledger row marked `superseded`). APPEND: every version loads.
    on_new_version: str = REPLACE

    @property
    def replaces(self) -> bool:
        return self.on_new_version == REPLACE

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


OCEAN_PROXIMITY = frozenset({"NEAR BAY", "<1H OCEAN", "INLAND", "NEAR OCEAN", "ISLAND"})

HOUSING = Contract(
    dataset="housing",
    columns=(
        # California spans roughly these coordinates; anything outside is a swapped or mistyped value.
        Column("longitude", FLOAT, min=-125.0, max=-114.0),
        Column("latitude", FLOAT, min=32.0, max=42.5),
        Column("housing_median_age", INT, min=0),
        Column("total_rooms", INT, min=0),
        # The published file has 207 blocks without a bedroom count: keep them, as NULL.
        Column("total_bedrooms", INT, nullable=True, min=0),
        Column("population", INT, min=0),
        Column("households", INT, min=0),
        Column("median_income", FLOAT, min=0),
        Column("median_house_value", FLOAT, greater_than=0),
        Column("ocean_proximity", STR, allowed=OCEAN_PROXIMITY),
    ),
    table="housing",
    summary_table="housing_summary_statistics",
)

RETINA = Contract(
    dataset="retina",
    columns=(
        Column("patient_id", STR),
        Column("patient_name", STR),
        Column("scan_date", DATE),
        # Healthy central retinas measure ~250-300 µm; 1 mm would be a unit mix-up (mm vs µm).
        Column("retina_thickness_microns", FLOAT, greater_than=0, max=1000),
        Column("optic_disc_cup_ratio", FLOAT, min=0, max=1),
        Column("diagnosis", STR),
    ),
    table="retina_scans",
    output=JSON,
    json_fields=("patient_id", "patient_name"),
)

EVENTS = Contract(
    dataset="events",
    columns=(
        Column("timestamp", TIMESTAMP),
        Column("event_type", STR),
        Column("user_id", STR),
        Column("action", STR),
    ),
    table="events",
    summary_table="event_counts_by_type",
    extras_column="attributes",
    partition_by="timestamp",
)

CONTRACTS: dict[str, Contract] = {contract.dataset: contract for contract in (HOUSING, RETINA, EVENTS)}


def contract_for(dataset: str) -> Contract | None:
    """The contract of a dataset, or None when tidewater does not know the dataset."""
    return CONTRACTS.get(dataset)
