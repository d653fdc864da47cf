"""The contracts files: valid ODCS v3.1.0, read into the contracts tidewater always had, and every
field tidewater cannot honour refused with a message naming the file and the field."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from pipeline import odcs, tables
from pipeline.contracts import FLOAT, INT, STR, TIMESTAMP, contract_for

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
FILES = sorted(CONTRACTS.glob("*.odcs.yaml"))


def odcs_schema() -> dict:
    """The official JSON schema of ODCS v3.1.0, as the open-data-contract-standard package (PyPI,
    version = the standard's version) ships it."""
    return json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())


def test_every_seed_dataset_has_a_contract_file():
    assert [path.name for path in FILES] == ["events.odcs.yaml", "housing.odcs.yaml", "retina.odcs.yaml"]


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_the_contract_files_are_valid_odcs_3_1_0(path):
    schema = odcs_schema()
    assert schema["properties"]["apiVersion"]["default"] == "v3.1.0"
    document = yaml.safe_load(path.read_text())
    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_check_can_fail():
    document = yaml.safe_load((CONTRACTS / "housing.odcs.yaml").read_text())
    document["schema"][0]["properties"][0]["logicalType"] = "float"  # not an ODCS logical type
    assert list(jsonschema.Draft201909Validator(odcs_schema()).iter_errors(document))


def test_the_standard_fields_map_to_the_rules():
    housing, retina, events = contract_for("housing"), contract_for("retina"), contract_for("events")
    columns = {column.name: column for column in housing.columns}
    assert (columns["longitude"].kind, columns["longitude"].min, columns["longitude"].max) == (FLOAT, -125, -114)
    assert (columns["total_bedrooms"].kind, columns["total_bedrooms"].nullable) == (INT, True)
    assert (columns["median_house_value"].greater_than, columns["median_house_value"].stored_as) == (0, "numeric")
    assert columns["ocean_proximity"].kind == STR
    assert columns["ocean_proximity"].allowed == {"NEAR BAY", "<1H OCEAN", "INLAND", "NEAR OCEAN", "ISLAND"}
    thickness = next(column for column in retina.columns if column.name == "retina_thickness_microns")
    assert (thickness.greater_than, thickness.max, retina.table) == (0, 1000, "retina_scans")
    assert (events.columns[0].kind, events.partition_by, events.partition_date_column) == (TIMESTAMP, "timestamp",
                                                                                           "event_date")  # fmt: skip
    assert housing.version == retina.version == events.version == "1.0.0"
    assert not housing.summary.incremental and events.summary.incremental


def test_the_summary_sql_is_what_db_py_ran_before():
    events = contract_for("events")
    refresh = tables.summary_refresh_sql(events)
    assert 'WHERE file_id = %(file_id)s GROUP BY "event_type", "event_date"' in refresh
    assert 'ON CONFLICT ("event_type", "event_date") DO UPDATE' in refresh
    assert tables.summary_remove_sql(contract_for("housing")) is None
    assert 'DELETE FROM "housing_summary_statistics" s WHERE NOT EXISTS' in tables.summary_refresh_sql(
        contract_for("housing"))  # fmt: skip


MINIMAL = """
apiVersion: v3.1.0
kind: DataContract
id: things
version: 1.0.0
status: active
schema:
  - name: things
    properties:
      - name: label
        logicalType: string
        required: true
"""


def read(tmp_path: Path, text: str, name: str = "things") -> odcs.Contract:
    path = tmp_path / f"{name}.odcs.yaml"
    path.write_text(text)
    return odcs.load_file(path)


def test_a_minimal_contract_needs_only_the_standard():
    contract = odcs.to_contract(yaml.safe_load(MINIMAL), "things", "things.odcs.yaml")
    assert (contract.table, contract.output, contract.replaces, contract.summary) == ("things", "parquet", True, None)
    assert contract.columns[0].nullable is False


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("name: things\n", "name: other\n", "name must be 'things': the file is things.odcs.yaml"),
        ("version: 1.0.0", "version: 1.0", "version must be a non-empty string"),
        ("logicalType: string", "logicalType: float", "logicalType must be one of"),
        ("required: true", "required: yes please", "required must be true or false"),
        ("required: true", "required: true\n        unique: true", "unique: not supported in a property"),
        ("required: true", "required: true\n        logicalTypeOptions: {pattern: '^a'}", "pattern: not supported"),
        ("required: true", "required: true\n        physicalType: varchar(3)", "physicalType 'varchar(3)' cannot"),
        ("- name: label", "- name: Label", "name 'Label': use lower-case letters"),
        ("- name: label", "- name: file_id", "file_id: every table has this column already"),
        ("required: true", "required: true\n        quality: [{metric: nullValues, mustBe: 0}]",
         "quality must be [{metric: invalidValues"),
        ("required: true", "required: true\n        quality: [{metric: invalidValues, arguments: {validValues: [NO]},"
         " mustBe: 0}]", "validValues must be strings"),
        ("    properties:", "    customProperties: [{property: summry, value: x}]\n    properties:",
         "unknown property 'summry'"),
        ("    properties:", "    customProperties: [{property: output, value: json}]\n    properties:",
         "output json needs jsonFields"),
        ("    properties:", "    customProperties: [{property: summary, value: {table: t, groupBy: [label], measures: "
         "[{name: total, function: sum, column: label}]}}]\n    properties:", "sum needs a numeric property"),
    ],
)
def test_what_tidewater_cannot_honour_is_refused_by_name(tmp_path, old, new, message):
    assert old in MINIMAL
    with pytest.raises(odcs.ContractError) as raised:
        read(tmp_path, MINIMAL.replace(old, new, 1))
    assert str(raised.value).startswith("things.odcs.yaml: ") and message in str(raised.value)


def test_two_contracts_may_not_share_a_table(tmp_path):
    read(tmp_path, MINIMAL)
    read(tmp_path, MINIMAL.replace("things", "stuff").replace("properties:", "physicalName: things\n    properties:"),
         "stuff")  # fmt: skip
    with pytest.raises(odcs.ContractError, match="things.odcs.yaml: table 'things' is already stuff.odcs.yaml's"):
        odcs.load_folder(tmp_path)


def test_the_contracts_folder_can_be_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv(odcs.CONTRACTS_DIR_VARIABLE, str(tmp_path))
    assert odcs.contracts_folder() == tmp_path
    monkeypatch.delenv(odcs.CONTRACTS_DIR_VARIABLE)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert odcs.contracts_folder() == CONTRACTS  # in a checkout
    (tmp_path / "contracts").mkdir()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    assert odcs.contracts_folder() == tmp_path / "contracts"  # in a function: the zip's, also under tidewater dev
