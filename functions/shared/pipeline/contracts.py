"""Declarative data contracts, one per dataset (the first segment of a raw object key).

A contract says which columns a file must have, how each value is checked and typed, which table
the good rows load into, which summary table is recomputed afterwards and which outputs are written.
Adding a dataset means adding a contract here, its table to schema.sql and (if it has one) its
summary refresh to db.py.
"""

from __future__ import annotations

from dataclasses import dataclass

# Value types a column can have. They map to pandas dtypes in validate.py and to SQL types in schema.sql.
FLOAT = "float"
INT = "int"  # whole numbers; the CSV may spell them "880.0"
STR = "str"


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
    outputs: tuple[str, ...] = ("parquet",)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


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

CONTRACTS: dict[str, Contract] = {contract.dataset: contract for contract in (HOUSING,)}


def contract_for(dataset: str) -> Contract | None:
    """The contract of a dataset, or None when tidewater does not know the dataset."""
    return CONTRACTS.get(dataset)
