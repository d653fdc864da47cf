"""docker-compose.yml cannot run on machines without Docker, so it is kept correct by construction:
valid against the Compose schema, pinned images, and in agreement with what the code expects."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests import stacks
from tidewater.stack import compose

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / ".venv" / "compose-spec" / "compose" / "config" / "compose_spec.json"


@pytest.fixture(scope="module")
def compose_file() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_schema(compose_file):
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} missing: run `make venv` (it installs the Compose schema)")
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose_file)


def test_images_are_pinned_and_match_the_testcontainers_fixture(compose_file):
    services = compose_file["services"]
    assert services["localstack"]["image"] == "localstack/localstack:4.14.0" == stacks.LOCALSTACK_IMAGE
    assert services["postgres"]["image"] == stacks.POSTGRES_IMAGE == "postgres:16"


def test_ports_and_credentials_match_the_compose_backend(compose_file):
    services = compose_file["services"]
    assert f"127.0.0.1:{compose.LOCALSTACK_PORT}:4566" in services["localstack"]["ports"]
    assert f"127.0.0.1:{compose.POSTGRES_PORT}:5432" in services["postgres"]["ports"]
    env = services["postgres"]["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        compose.POSTGRES_USER, compose.POSTGRES_PASSWORD, compose.POSTGRES_DB)  # fmt: skip


def test_functions_can_reach_postgres_by_service_name(compose_file):
    services = compose_file["services"]
    network = services["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"]
    assert compose_file["networks"]["tidewater"]["name"] == network
    assert "tidewater" in services["postgres"]["networks"]
    assert compose.POSTGRES_SERVICE in services
    assert compose.POSTGRES_SERVICE == stacks.POSTGRES_ALIAS
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["localstack"]["volumes"]


def test_both_services_have_health_checks(compose_file):
    for name, service in compose_file["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert compose_file["services"]["localstack"]["depends_on"]["postgres"]["condition"] == "service_healthy"
