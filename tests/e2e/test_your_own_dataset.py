"""A dataset that is not in the repo, added the way docs/datasets.md tells a user to ("Add your dataset
in five minutes"): write its ODCS contract, deploy, upload, query - the `tidewater` command only.
Then the same dataset evolves (an optional property is added; a breaking change is refused before
anything is deployed), is reprocessed, and `datacontract test` (datacontract-cli, a tool nobody here
wrote) checks the loaded table against the contract.

The contracts folder is a copy of contracts/ plus the new file, deployed with `--contracts`, as a
user keeping their contracts outside the checkout would. The dataset's name carries a run id, so an
`external` stack can run this again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tidewater.deploy import recorded_var_files
from tidewater.stack.env import repo_root

pytestmark = pytest.mark.e2e

DATACONTRACT = repo_root() / ".venv" / "datacontract" / "bin" / "datacontract"
CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: {dataset}
name: Ferry crossings
version: {version}
status: active
schema:
  - name: {dataset}
    physicalName: {dataset}_crossings
    properties:
      - name: route
        logicalType: string
        required: true
        quality:
          - metric: invalidValues
            arguments:
              validValues: [{routes}]
            mustBe: 0
      - name: departed
        logicalType: timestamp
        required: true
      - name: passengers
        logicalType: {passengers}
        required: true
        logicalTypeOptions: {{minimum: 0, maximum: 1200}}
{more}"""
CARS = """\
      - name: cars
        logicalType: integer
        required: false
"""
MONDAY = ("route,departed,passengers\nA-B,2025-11-17T08:00:{s}Z,120\nA-B,2025-11-17T09:00:{s}Z,80\n"
          "B-C,2025-11-17T10:00:{s}Z,7\n")
TUESDAY = "route,departed,passengers,cars\nA-B,2025-11-18T08:00:{s}Z,100,12\nA-B,2025-11-18T09:00:{s}Z,5,\n"


def deploy_args(stack, own: OwnDataset) -> list[str]:
    """`deploy --contracts <the folder>`, keeping the var files the test stack was deployed with."""
    kept = [arg for path in recorded_var_files(stack.state / "terraform") for arg in ("--var-file", str(path))]
    return ["deploy", "--contracts", str(own.folder), *kept]


def tidewater(stack, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The command a user runs, against the test stack."""
    result = subprocess.run([sys.executable, "-m", "tidewater", *args], capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TIDEWATER_STATE_DIR": str(stack.state)})  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"tidewater {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@dataclass
class OwnDataset:
    """A contracts folder with the seed contracts and a dataset of this run's own."""

    folder: Path
    dataset: str = field(default_factory=lambda: f"ferries_{uuid.uuid4().hex[:8]}")
    second: str = field(default_factory=lambda: f"{uuid.uuid4().int % 60:02d}")  # new bytes each run

    @property
    def table(self) -> str:
        return f"{self.dataset}_crossings"

    def write(self, version: str, routes: str = "A-B", passengers: str = "integer", more: str = "") -> None:
        text = CONTRACT.format(dataset=self.dataset, version=version, routes=routes, passengers=passengers, more=more)
        (self.folder / f"{self.dataset}.odcs.yaml").write_text(text)

    def upload(self, stack, name: str, body: str) -> str:
        """`tidewater upload <folder named after the dataset>/<name>`, then `tidewater wait`."""
        path = self.folder.parent / "uploads" / self.dataset / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.format(s=self.second))
        tidewater(stack, "upload", str(path))
        tidewater(stack, "wait", "--timeout", "300")
        return f"{self.dataset}/{name}"


@pytest.fixture(scope="module")
def own(stack, tmp_path_factory) -> OwnDataset:
    folder = tmp_path_factory.mktemp("own") / "contracts"
    folder.mkdir()
    for path in (repo_root() / "contracts").glob("*.odcs.yaml"):
        shutil.copy(path, folder / path.name)
    return OwnDataset(folder)


def ledger(stack, key: str) -> list[tuple]:
    return stack.pipeline.query(
        "SELECT id, status, rows_loaded, rows_quarantined, error, contract_version FROM ingested_files "
        "WHERE s3_key = %s ORDER BY id", (key,))  # fmt: skip


def test_a_new_dataset_loads_from_its_contract_alone(stack, own):
    # GIVEN a contract for a dataset tidewater has never seen, deployed
    own.write("1.0.0")
    listed = tidewater(stack, "contracts", "--contracts", str(own.folder)).stdout
    assert f"{own.dataset}/  1.0.0    {own.table}" in listed
    tidewater(stack, *deploy_args(stack, own))

    # WHEN a file with a bad row (route B-C is not allowed) is uploaded
    key = own.upload(stack, "monday.csv", MONDAY)

    # THEN the good rows are in the table made from the contract, the bad one is quarantined
    ((_, status, loaded, rejected, error, version),) = ledger(stack, key)
    assert (status, loaded, rejected, error, version) == ("loaded", 2, 1, None, "1.0.0")
    rows = stack.pipeline.query(f"SELECT route, passengers FROM {own.table} ORDER BY source_row")
    assert rows == [("A-B", 120), ("A-B", 80)]
    reasons = stack.client("s3").get_object(Bucket=stack.outputs["quarantine_bucket"], Key=f"{key}/rejected_rows.csv")
    assert "3,route,not_allowed,B-C" in reasons["Body"].read().decode()


def test_an_optional_property_is_added_and_older_rows_stay_null(stack, own):
    own.write("1.1.0", more=CARS)
    check = tidewater(stack, "contracts", "check", "--contracts", str(own.folder)).stdout
    assert f"will add column {own.table}.cars integer (existing rows: NULL)" in check
    tidewater(stack, *deploy_args(stack, own))

    key = own.upload(stack, "tuesday.csv", TUESDAY)

    assert [row[1:] for row in ledger(stack, key)] == [("loaded", 2, 0, None, "1.1.0")]
    rows = stack.pipeline.query(f"SELECT source_row, passengers, cars FROM {own.table} ORDER BY file_id, source_row")
    assert rows == [(1, 120, None), (2, 80, None), (1, 100, 12), (2, 5, None)]


def test_a_breaking_change_is_refused_before_anything_is_deployed(stack, own):
    own.write("2.0.0", passengers="number", more=CARS)

    check = tidewater(stack, "contracts", "check", "--contracts", str(own.folder), check=False)
    deploy = tidewater(stack, *deploy_args(stack, own), check=False)

    message = (f"type change of {own.table}.passengers: the table has integer, the contract says double precision. "
               "Keep the type, or load into a new table (another physicalName) and reprocess")  # fmt: skip
    assert check.returncode == 1 and "BREAKING - refused" in check.stdout and message in check.stdout
    assert deploy.returncode == 1 and message in deploy.stderr and "Not deployed" in deploy.stderr
    assert "terraform apply" not in deploy.stderr


def test_reprocess_loads_a_files_rows_again_exactly_once(stack, own):
    # GIVEN the contract now allows route B-C
    own.write("1.2.0", routes="A-B, B-C", more=CARS)
    tidewater(stack, *deploy_args(stack, own))
    key = f"{own.dataset}/monday.csv"
    ((file_id, *_),) = ledger(stack, key)

    dry = tidewater(stack, "reprocess", "--dataset", own.dataset, "--key", key, "--dry-run")
    assert f"{key} [file {file_id}]: loaded under contract 1.0.0, 2 rows" in dry.stdout
    assert stack.pipeline.query(f"SELECT count(*) FROM {own.table} WHERE file_id = %s", (file_id,)) == [(2,)]

    # WHEN Monday's file is reprocessed, twice
    first = tidewater(stack, "reprocess", "--dataset", own.dataset, "--key", key).stdout
    tidewater(stack, "reprocess", "--dataset", own.dataset, "--key", key)

    # THEN its ledger row holds its three rows once, under the new contract
    assert "-> loaded 3 rows" in first
    assert ledger(stack, key) == [(file_id, "loaded", 3, 0, None, "1.2.0")]
    rows = stack.pipeline.query(f"SELECT route, passengers FROM {own.table} WHERE file_id = %s ORDER BY source_row",
                                (file_id,))
    assert rows == [("A-B", 120), ("A-B", 80), ("B-C", 7)]


def test_datacontract_cli_finds_the_loaded_table_as_the_contract_says(stack, own, tmp_path):
    """`datacontract test` (its own venv: `make datacontract`) against the stack's PostgreSQL, offline:
    the contract with a `servers` entry naming the database; credentials from the environment."""
    assert DATACONTRACT.exists(), f"{DATACONTRACT} is missing: run `make datacontract` (make e2e does)"
    database = urlparse(stack.database_url)
    env = {**os.environ, "DATACONTRACT_POSTGRES_USERNAME": database.username or "",
           "DATACONTRACT_POSTGRES_PASSWORD": database.password or ""}  # fmt: skip
    server = {"server": "local", "type": "postgres", "host": database.hostname, "port": database.port,
              "database": database.path.lstrip("/"), "schema": "public"}  # fmt: skip

    def datacontract_test(source: Path, change=lambda document: None) -> dict:
        document = yaml.safe_load(source.read_text())
        document["servers"] = [server]
        change(document)
        contract, results = tmp_path / source.name, tmp_path / f"{source.name}.json"
        contract.write_text(yaml.safe_dump(document, sort_keys=False))
        subprocess.run([str(DATACONTRACT), "test", str(contract), "--output-format", "json", "--output", str(results)],
                       capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
        return json.loads(results.read_text())

    ours = datacontract_test(own.folder / f"{own.dataset}.odcs.yaml")
    housing = datacontract_test(repo_root() / "contracts" / "housing.odcs.yaml")

    for run in (ours, housing):
        failed = [check["name"] for check in run["checks"] if check["result"] != "passed"]
        assert run["result"] == "passed" and not failed and len(run["checks"]) > 10, failed

    def only_a_to_b(document):  # the table holds B-C since the reprocess
        document["schema"][0]["properties"][0]["quality"][0]["arguments"]["validValues"] = ["A-B"]

    narrower = datacontract_test(own.folder / f"{own.dataset}.odcs.yaml", only_a_to_b)
    assert narrower["result"] == "failed"
    assert [c["field"] for c in narrower["checks"] if c["result"] == "failed"] == ["route"]
