"""Read dataset contracts written in the Open Data Contract Standard (ODCS v3.1.0) into `Contract`s.

One file per dataset, `<dataset>.odcs.yaml`, with one schema object. The standard's own fields map
to what tidewater does (docs/datasets.md has the table):

    schema[0].name                        the dataset: the raw key prefix (<name>/...)
    schema[0].physicalName                its table (default: the name)
    properties[]                          the columns, in order
      logicalType (+ physicalType)        the value kind (and PostgreSQL type: numeric, timestamptz)
      required                            NOT NULL / missing_value (ODCS default: false)
      logicalTypeOptions                  minimum, maximum, exclusiveMinimum, exclusiveMaximum;
                                          format (dates: yyyy-MM-dd)
      quality: metric invalidValues
               arguments.validValues      the allowed values (not_allowed)
      partitioned                         outputs go to dt=<UTC date of this timestamp>
    version                               recorded in the ledger for each file loaded under it

What ODCS has no field for is a `customProperties` entry of the schema object: output, jsonFields,
extrasColumn, partitionDateColumn, summary, onNewVersion. Anything this module does not enforce
(a pattern, a uniqueness rule, another quality metric) is refused with a ContractError rather than
ignored: a contract must not promise checks that nothing makes.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.model import (
    APPEND,
    AVG,
    COUNT,
    DATE,
    FLOAT,
    INT,
    JSON,
    MEASURES,
    PARQUET,
    REPLACE,
    SQL_TYPES,
    STATE_SUFFIX,
    STR,
    SUM,
    TIMESTAMP,
    Column,
    Contract,
    Measure,
    Summary,
)

SUFFIX = ".odcs.yaml"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
API_VERSION = "v3.1.0"
CONTRACTS_DIR_VARIABLE = "TIDEWATER_CONTRACTS_DIR"
LEDGER_TABLE = "ingested_files"
ROW_KEY_COLUMNS = ("file_id", "source_row")  # every table has them; no property may take their names
UPDATED_AT = "updated_at"  # every summary table has it
# Lower-case SQL identifiers that need no quoting and fit PostgreSQL's 63 bytes; header names are
# matched lower-cased, so an upper-case property could never match a column.
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

KINDS = {"number": FLOAT, "integer": INT, "string": STR, "date": DATE, "timestamp": TIMESTAMP}
TYPE_ALIASES = {"timestamptz": "timestamp with time zone"}
RANGE_OPTIONS = {"minimum": "min", "maximum": "max", "exclusiveMinimum": "greater_than",
                 "exclusiveMaximum": "less_than"}  # fmt: skip
DATE_FORMAT = "yyyy-MM-dd"
# Fields that describe an element without changing what is checked or stored: accepted and left alone.
DESCRIPTIVE = {"id", "description", "businessName", "tags", "authoritativeDefinitions", "classification",
               "examples", "criticalDataElement", "transformSourceObjects", "transformLogic",
               "transformDescription", "encryptedName", "customProperties", "partitionKeyPosition",
               "primaryKeyPosition", "dataGranularityDescription"}  # fmt: skip
PROPERTY_FIELDS = {"name", "logicalType", "physicalType", "required", "logicalTypeOptions", "quality", "partitioned"}
SCHEMA_FIELDS = {"name", "physicalName", "physicalType", "logicalType", "properties"}
CUSTOM_PROPERTIES = ("output", "jsonFields", "extrasColumn", "partitionDateColumn", "summary", "onNewVersion")


class ContractError(ValueError):
    """A contract file tidewater cannot use; the message names the file and the field."""


def contracts_folder() -> Path:
    """Where the contracts are: $TIDEWATER_CONTRACTS_DIR; else, in a function, the deployed ones in
    the zip, `$LAMBDA_TASK_ROOT/contracts` (also under `tidewater dev`, whose `pipeline` comes from
    the work tree: a contract reaches a function only through a deploy and its check); else
    `contracts/` beside the `pipeline` package; else the checkout's `contracts/`."""
    if configured := os.environ.get(CONTRACTS_DIR_VARIABLE):
        return Path(configured)
    deployed = Path(os.environ.get("LAMBDA_TASK_ROOT") or "/nonexistent") / "contracts"
    if deployed.is_dir():
        return deployed
    package = Path(__file__).resolve().parent
    beside = package.parent / "contracts"
    return beside if beside.is_dir() else package.parents[2] / "contracts"


def load_folder(folder: Path) -> dict[str, Contract]:
    """Every `*.odcs.yaml` of a folder, by dataset; ContractError when one is unusable or two clash."""
    paths = sorted(Path(folder).glob(f"*{SUFFIX}"))
    if not paths:
        raise ContractError(f"{folder}: no contract files (*{SUFFIX})")
    contracts: dict[str, Contract] = {}
    tables: dict[str, str] = {}
    for path in paths:
        contract = load_file(path)
        names = [contract.table] + ([contract.summary_table] if contract.summary_table else [])
        for table in names:
            if table.endswith(STATE_SUFFIX):
                raise ContractError(f"{path.name}: table {table!r}: names ending in {STATE_SUFFIX} are the summaries' "
                                    "state tables' (tables.py)")  # fmt: skip
            if table in tables:
                raise ContractError(f"{path.name}: table {table!r} is already {tables[table]}'s")
            tables[table] = path.name
        contracts[contract.dataset] = contract
    return contracts


def load_file(path: Path) -> Contract:
    try:
        # B506: a safe loader - libyaml's (C) when the wheel has it, several times faster.
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # nosec B506
    except yaml.YAMLError as exc:
        raise ContractError(f"{path.name}: not valid YAML: {exc}") from None
    dataset = path.name.removesuffix(SUFFIX)
    return to_contract(document, dataset, path.name)


def to_contract(document: Any, dataset: str, source: str) -> Contract:
    """The contract of one ODCS document, which must describe `dataset` (its file's name)."""
    where = Where(source)
    document = where.mapping(document, "the document")
    for field, expected in (("apiVersion", API_VERSION), ("kind", "DataContract")):
        if document.get(field) != expected:
            raise where.error(f"{field} must be {expected!r}, found {document.get(field)!r}")
    version = document.get("version")
    if not isinstance(version, str) or not version:
        raise where.error("version must be a non-empty string, e.g. '1.0.0' (quoted if YAML would read a number)")
    schema = document.get("schema")
    if not isinstance(schema, list) or len(schema) != 1:
        raise where.error("schema must hold exactly one schema object: the dataset (one file per dataset)")
    element = where.mapping(schema[0], "schema[0]")
    where = where.at(f"schema[0] ({element.get('name')!r})")
    if element.get("name") != dataset:
        raise where.error(f"name must be {dataset!r}: the file is {dataset}{SUFFIX}, and the name is the key prefix")
    where.only(element, SCHEMA_FIELDS, "the schema object")
    if element.get("physicalType", "table") != "table" or element.get("logicalType", "object") != "object":
        raise where.error("physicalType must be 'table' and logicalType 'object' (or leave them out)")
    table = where.name(element.get("physicalName", dataset), "physicalName")
    if table == LEDGER_TABLE:
        raise where.error(f"physicalName {LEDGER_TABLE!r} is the ledger's table")
    properties = element.get("properties")
    if not isinstance(properties, list) or not properties:
        raise where.error("properties must list the dataset's columns")
    columns = tuple(to_column(where.mapping(item, f"properties[{i}]"), where.at(f"properties[{i}]"))
                    for i, item in enumerate(properties))  # fmt: skip
    names = [column.name for column in columns]
    if duplicated := sorted({name for name in names if names.count(name) > 1}):
        raise where.error(f"properties name a column twice: {', '.join(duplicated)}")
    partitioned = [item.get("name") for item in properties if item.get("partitioned")]
    custom = custom_properties(element, where)
    contract = Contract(
        dataset=dataset,
        columns=columns,
        table=table,
        output=where.choice(custom.get("output", PARQUET), (PARQUET, JSON), "output"),
        json_fields=tuple(custom.get("jsonFields", ())),
        extras_column=custom.get("extrasColumn"),
        partition_by=partitioned[0] if partitioned else None,
        partition_date_column=custom.get("partitionDateColumn"),
        on_new_version=where.choice(custom.get("onNewVersion", REPLACE), (REPLACE, APPEND), "onNewVersion"),
        version=version,
        source=source,
    )
    check_layout(contract, partitioned, where)
    if "summary" in custom:
        contract = replace(contract, summary=to_summary(custom["summary"], contract, where))
    return contract


def to_column(item: dict, where: Where) -> Column:
    name = where.name(item.get("name"), "name")
    where = where.at(name)
    where.only(item, PROPERTY_FIELDS, "a property")
    logical = item.get("logicalType")
    if logical not in KINDS:
        raise where.error(f"logicalType must be one of {', '.join(KINDS)}, found {logical!r}")
    kind = KINDS[logical]
    sql_type = item.get("physicalType")
    if sql_type is not None:
        sql_type = TYPE_ALIASES.get(str(sql_type).lower(), str(sql_type).lower())
        if sql_type not in SQL_TYPES[kind]:
            raise where.error(f"physicalType {item['physicalType']!r} cannot hold a {logical}; use one of: "
                              f"{', '.join(SQL_TYPES[kind])}")  # fmt: skip
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise where.error(f"required must be true or false, found {required!r}")
    bounds = range_options(where.mapping(item.get("logicalTypeOptions", {}), "logicalTypeOptions"), kind, where)
    return Column(name=name, kind=kind, nullable=not required, allowed=valid_values(item, kind, where),
                  sql_type=sql_type, **bounds)  # fmt: skip


def range_options(options: dict, kind: str, where: Where) -> dict[str, float]:
    """minimum/maximum/exclusive* of numbers; a date's format (yyyy-MM-dd, the only one read)."""
    supported = {FLOAT: set(RANGE_OPTIONS), INT: set(RANGE_OPTIONS), DATE: {"format"}}.get(kind, set())
    where.only(options, supported, f"logicalTypeOptions of a {kind} property")
    if kind == DATE and options.get("format", DATE_FORMAT) != DATE_FORMAT:
        raise where.error(f"format {options['format']!r}: dates are read as {DATE_FORMAT} only")
    bounds = {}
    for option, field in RANGE_OPTIONS.items():
        if option in options:
            value = options[option]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise where.error(f"logicalTypeOptions.{option} must be a number, found {value!r}")
            bounds[field] = float(value)
    return bounds


def valid_values(item: dict, kind: str, where: Where) -> frozenset[str] | None:
    """The allowed values of `quality: [{metric: invalidValues, arguments: {validValues: [...]},
    mustBe: 0}]` - the only quality rule tidewater enforces."""
    rules = item.get("quality")
    if rules is None:
        return None
    shape = "quality must be [{metric: invalidValues, arguments: {validValues: [...]}, mustBe: 0}]"
    if kind != STR or not isinstance(rules, list) or len(rules) != 1 or not isinstance(rules[0], dict):
        raise where.error(f"{shape}, on a string property")
    rule = rules[0]
    where.only(rule, {"metric", "arguments", "mustBe", "id", "name", "description", "dimension", "severity",
                      "businessImpact"}, "the quality rule")  # fmt: skip
    values = (rule.get("arguments") or {}).get("validValues")
    if rule.get("metric") != "invalidValues" or rule.get("mustBe") != 0 or not isinstance(values, list) or not values:
        raise where.error(shape)
    if not all(isinstance(value, str) for value in values):
        raise where.error("validValues must be strings (quote values YAML reads otherwise: 'NO', '1')")
    return frozenset(values)


def custom_properties(element: dict, where: Where) -> dict[str, Any]:
    entries = element.get("customProperties", [])
    if not isinstance(entries, list):
        raise where.error("customProperties must be a list of {property, value}")
    found: dict[str, Any] = {}
    for entry in entries:
        entry = where.mapping(entry, "a customProperties entry")
        name = entry.get("property")
        if name not in CUSTOM_PROPERTIES:
            raise where.error(f"customProperties: unknown property {name!r}; tidewater reads "
                              f"{', '.join(CUSTOM_PROPERTIES)}")  # fmt: skip
        if name in found:
            raise where.error(f"customProperties: {name} is given twice")
        found[name] = entry.get("value")
    return found


def check_layout(contract: Contract, partitioned: list[str], where: Where) -> None:
    """The custom properties against the columns."""
    names = set(contract.column_names)
    if reserved := names & set(ROW_KEY_COLUMNS):
        raise where.error(f"{', '.join(sorted(reserved))}: every table has this column already; rename the property")
    if contract.output == JSON:
        fields = contract.json_fields
        if not fields or not all(isinstance(field, str) and field in names for field in fields):
            raise where.error("output json needs jsonFields: a list of property names")
    elif contract.json_fields:
        raise where.error("jsonFields applies to output json only")
    taken = names | set(ROW_KEY_COLUMNS)
    for option in ("extras_column", "partition_date_column"):
        value = getattr(contract, option)
        if value is not None and (where.name(value, option) in taken):
            raise where.error(f"{option}: {value!r} is already a column")
        taken.add(value)
    if len(partitioned) > 1:
        raise where.error(f"only one property may be partitioned, found: {', '.join(map(str, partitioned))}")
    if partitioned and next(c for c in contract.columns if c.name == partitioned[0]).kind != TIMESTAMP:
        raise where.error(f"{partitioned[0]}: only a timestamp property can be partitioned (by its UTC date)")
    if contract.partition_date_column and not partitioned:
        raise where.error("partitionDateColumn needs a property with partitioned: true")


def to_summary(value: Any, contract: Contract, where: Where) -> Summary:
    where = where.at("customProperties summary")
    value = where.mapping(value, "summary")
    where.only(value, {"table", "groupBy", "measures"}, "summary")
    table = where.name(value.get("table"), "table")
    if table in (LEDGER_TABLE, contract.table):
        raise where.error(f"table {table!r} is taken")
    kinds = {column.name: column for column in contract.columns}
    groupable = {name for name, column in kinds.items() if not column.nullable} | {contract.partition_date_column}
    group_by = value.get("groupBy")
    if not isinstance(group_by, list) or not group_by or not all(name in groupable for name in group_by):
        raise where.error(f"groupBy must list required properties (or the partitionDateColumn), found {group_by!r}")
    measures = []
    for item in value.get("measures") or []:
        item = where.mapping(item, "a measure")
        where.only(item, {"name", "function", "column"}, "a measure")
        name, function, column = where.name(item.get("name"), "measure name"), item.get("function"), item.get("column")
        if function not in MEASURES:
            raise where.error(f"measure {name}: function must be one of {', '.join(MEASURES)}, found {function!r}")
        if (function == COUNT) != (column is None):
            raise where.error(f"measure {name}: count takes no column; {', '.join(MEASURES[1:])} need one")
        if column is not None and (column not in kinds or (function in (SUM, AVG) and kinds[column].kind not in
                                                           (FLOAT, INT))):  # fmt: skip
            raise where.error(f"measure {name}: {function} needs a {'numeric ' if function in (SUM, AVG) else ''}"
                              f"property, found {column!r}")  # fmt: skip
        measures.append(Measure(name, function, column))
    names = [*group_by, *(measure.name for measure in measures), UPDATED_AT]
    if not measures or len(set(names)) != len(names):
        raise where.error(f"measures must be listed, and the summary's columns must differ: {', '.join(names)}")
    return Summary(table=table, group_by=tuple(group_by), measures=tuple(measures))


class Where:
    """Where in which file a problem is, for the messages."""

    def __init__(self, source: str, path: str = "") -> None:
        self.source, self.path = source, path

    def at(self, part: str) -> Where:
        return Where(self.source, f"{self.path} {part}".strip())

    def error(self, message: str) -> ContractError:
        return ContractError(f"{self.source}: {self.path + ': ' if self.path else ''}{message}")

    def mapping(self, value: Any, what: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(f"{what} must be a mapping, found {type(value).__name__}")
        return value

    def name(self, value: Any, what: str) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise self.error(f"{what} {value!r}: use lower-case letters, digits and _ (at most 63, not starting "
                             "with a digit)")  # fmt: skip
        return value

    def choice(self, value: Any, choices: tuple[str, ...], what: str) -> str:
        if value not in choices:
            raise self.error(f"{what} must be one of {', '.join(choices)}, found {value!r}")
        return value

    def only(self, mapping: dict, supported: set[str], what: str) -> None:
        unsupported = sorted(key for key in mapping if key not in supported and key not in DESCRIPTIVE)
        if unsupported:
            raise self.error(f"{', '.join(unsupported)}: not supported in {what} by tidewater (it would not be "
                             f"enforced); supported: {', '.join(sorted(supported))}")  # fmt: skip
