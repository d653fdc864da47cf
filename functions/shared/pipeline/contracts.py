"""The deployment's data contracts, one per dataset (the first segment of a raw object key).

Each contract is written as an Open Data Contract Standard file, `contracts/<dataset>.odcs.yaml`;
odcs.py (the only place that knows ODCS) reads those files into the `Contract` objects of model.py,
whose names this module hands on to the rest of the pipeline. A contract says which columns a
record must have, how each value is checked and typed, which table the good rows load into
(tables.py makes it from the contract), which summary table is kept and which outputs are written.
Adding a dataset means adding a file: docs/datasets.md.

Every contract reads every format (CSV/TSV, JSON array, NDJSON, gzip of each): see formats.py.
"""

from __future__ import annotations

import threading

from pipeline import odcs
from pipeline.model import (
    APPEND,
    AVG,
    COUNT,
    DATE,
    FLOAT,
    INT,
    JSON,
    MAX,
    MEASURES,
    MIN,
    PARQUET,
    REPLACE,
    SQL_TYPES,
    STR,
    SUM,
    TIMESTAMP,
    Column,
    Contract,
    Measure,
    Summary,
)

# The model's names, for the modules that read contracts (validate, parse, transform, db, ...).
__all__ = [
    "FLOAT",
    "INT",
    "STR",
    "DATE",
    "TIMESTAMP",
    "SQL_TYPES",
    "PARQUET",
    "JSON",
    "REPLACE",
    "APPEND",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "MEASURES",
    "Column",
    "Measure",
    "Summary",
    "Contract",
    "all_contracts",
    "contract_for",
]


_contracts: dict[str, Contract] | None = None
_contracts_lock = threading.Lock()


def all_contracts() -> dict[str, Contract]:
    """Every contract of the contracts folder, by dataset: read once per process (a Lambda
    execution environment parses its files once, on first use). The processor's threads may ask
    first at the same time: one reads, the others wait for it, and all get the same dict."""
    global _contracts
    if _contracts is None:
        with _contracts_lock:
            if _contracts is None:
                _contracts = odcs.load_folder(odcs.contracts_folder())
    return _contracts


def contract_for(dataset: str) -> Contract | None:
    """The contract of a dataset, or None when tidewater does not know the dataset."""
    return all_contracts().get(dataset)


# The seed datasets under the names the tests use.
SEED_NAMES = {"HOUSING": "housing", "RETINA": "retina", "EVENTS": "events"}


def __getattr__(name: str) -> object:
    """`CONTRACTS` (= all_contracts()) and the seed contracts HOUSING, RETINA, EVENTS are read on
    first use, not at import (PEP 562): importing the module parses nothing."""
    if name == "CONTRACTS":
        return all_contracts()
    if name in SEED_NAMES:
        return all_contracts()[SEED_NAMES[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
