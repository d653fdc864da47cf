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


# --- compose file x testcontainers fixture x Terraform ---------------------------------------------

TERRAFORM = ROOT / "terraform"


def _unquote(value):
    return value[1:-1] if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' else value


def _hcl(path: Path) -> dict:
    import hcl2  # python-hcl2, installed with terraform-local

    return hcl2.load(path.open())


@pytest.fixture(scope="module")
def terraform_defaults() -> dict:
    """Default of every variable in terraform/variables.tf, by name."""
    variables = _hcl(TERRAFORM / "variables.tf")["variable"]
    blocks = variables if isinstance(variables, list) else [variables]
    return {_unquote(name): _unquote(body.get("default")) for block in blocks for name, body in block.items()}


@pytest.fixture(scope="module")
def local_tfvars() -> dict:
    return {k: _unquote(v) for k, v in _hcl(TERRAFORM / "envs" / "local.tfvars").items() if not k.startswith("__")}


@pytest.fixture(scope="module")
def testcontainers_settings() -> dict:
    """What tests/stacks.py configures, read from its source (starting it needs Docker)."""
    import ast
    import inspect

    def value(node):  # a literal, or the source text of a name such as POSTGRES_ALIAS
        return node.value if isinstance(node, ast.Constant) else ast.unparse(node)

    env, kwargs = {}, {}
    for node in ast.walk(ast.parse(inspect.getsource(stacks.from_testcontainers))):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "with_env":
            env[value(node.args[0])] = value(node.args[1])
        if isinstance(node.func, ast.Name) and node.func.id in ("PostgresContainer", "StackEnv"):
            kwargs.update({keyword.arg: value(keyword.value) for keyword in node.keywords})
    return {"env": env, **kwargs}


def test_database_name_and_user_agree_everywhere(compose_file, terraform_defaults, testcontainers_settings):
    env = compose_file["services"]["postgres"]["environment"]
    assert env["POSTGRES_DB"] == testcontainers_settings["dbname"] == terraform_defaults["database_name"]
    assert env["POSTGRES_USER"] == testcontainers_settings["username"] == terraform_defaults["database_username"]
    assert env["POSTGRES_PASSWORD"] == testcontainers_settings["password"] == compose.POSTGRES_PASSWORD


def test_functions_see_postgres_on_the_same_host_and_port(compose_file, terraform_defaults, testcontainers_settings):
    # Inside the Docker network the functions use the service name / alias and the container port.
    container_port = int(compose_file["services"]["postgres"]["ports"][0].rsplit(":", 1)[1])
    assert container_port == 5432 == terraform_defaults["database_port"]
    assert compose.ComposeStack(ROOT).stack_env().function_db_port == container_port
    assert compose.ComposeStack(ROOT).stack_env().function_db_host == compose.POSTGRES_SERVICE
    assert testcontainers_settings["function_db_host"] == "POSTGRES_ALIAS"
    assert int(testcontainers_settings["function_db_port"]) == container_port
    assert compose.POSTGRES_SERVICE == stacks.POSTGRES_ALIAS == "postgres"


def test_localstack_settings_agree_between_compose_and_testcontainers(compose_file, testcontainers_settings):
    compose_env = compose_file["services"]["localstack"]["environment"]
    tc_env = testcontainers_settings["env"]
    # Both give LocalStack the network its Lambda containers join (where `postgres` resolves).
    assert "LAMBDA_DOCKER_NETWORK" in compose_env and "LAMBDA_DOCKER_NETWORK" in tc_env
    for name in ("LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC",
                 "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC",
                 "LAMBDA_RETRY_BASE_DELAY"):  # fmt: skip
        assert str(compose_env[name]) == str(tc_env[name]), name
    assert compose_file["services"]["localstack"]["image"].split(":")[1] == stacks.LOCALSTACK_IMAGE.split(":")[1]
    assert compose_file["services"]["postgres"]["image"].split(":")[1] == stacks.POSTGRES_IMAGE.split(":")[1]


def test_terraform_gets_the_connection_from_the_tooling_not_from_local_tfvars(local_tfvars, terraform_defaults,
                                                                             tmp_path):
    from tidewater.deploy import _terraform_env
    from tidewater.stack.env import StackEnv

    # The host differs per backend (127.0.0.1, `postgres`), so local.tfvars must not pin it.
    for name in ("database_host", "database_port", "database_password", "database_username", "database_name"):
        assert name not in local_tfvars, f"{name} comes from `make up` (TF_VAR_{name}), not envs/local.tfvars"
    assert local_tfvars["create_database"] is False
    assert local_tfvars["database_sslmode"] == "prefer"  # the compose/testcontainers Postgres has no TLS

    env = compose.ComposeStack(ROOT).stack_env()
    tf_env = _terraform_env(StackEnv(**env.__dict__), tmp_path)
    tf_vars = {k.removeprefix("TF_VAR_"): v for k, v in tf_env.items() if k.startswith("TF_VAR_")}
    assert set(tf_vars) <= set(terraform_defaults), "every TF_VAR_ the tooling sets must be a declared variable"
    assert tf_vars["database_host"] == compose.POSTGRES_SERVICE
    assert tf_vars["database_port"] == "5432"
    assert (tf_vars["database_name"], tf_vars["database_username"]) == (
        terraform_defaults["database_name"], terraform_defaults["database_username"])  # fmt: skip
