"""docker-compose.yml is checked here without Docker: valid against the Compose schema, pinned images,
and in agreement with the compose backend, the images' build files and Terraform. (`make e2e-docker`
runs it for real; the testcontainers fixture starts its services from `docker compose config`.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tidewater.stack import compose
from tidewater.stack.emulators.localstack import LocalStack

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / ".venv" / "compose-spec" / "compose" / "config" / "compose_spec.json"


@pytest.fixture(scope="module")
def compose_file() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def localstack(compose_file) -> dict:
    return compose_file["services"][compose.LOCALSTACK_SERVICE]


@pytest.fixture(scope="module")
def postgres(compose_file) -> dict:
    return compose_file["services"][compose.POSTGRES_SERVICE]


def test_compose_file_is_valid_against_the_compose_schema(compose_file):
    import jsonschema

    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} missing: run `make venv` (it installs the Compose schema)")
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose_file)


def test_images_are_settings_whose_defaults_are_the_pinned_official_images(localstack, postgres):
    assert localstack["build"]["args"]["LOCALSTACK_IMAGE"] == (
        f"${{{compose.LOCALSTACK_IMAGE_SETTING}:-{compose.DEFAULT_LOCALSTACK_IMAGE}}}")
    assert postgres["image"] == f"${{{compose.POSTGRES_IMAGE_SETTING}:-{compose.DEFAULT_POSTGRES_IMAGE}}}"
    assert compose.DEFAULT_LOCALSTACK_IMAGE == "localstack/localstack:4.14.0"
    assert compose.DEFAULT_POSTGRES_IMAGE == "postgres:16"
    # The LocalStack image we run is built on that one, under the tag the backend knows.
    assert localstack["image"] == compose.TIDEWATER_LOCALSTACK_IMAGE
    dockerfile = (ROOT / localstack["build"]["dockerfile"]).read_text()
    assert f"ARG LOCALSTACK_IMAGE={compose.DEFAULT_LOCALSTACK_IMAGE}\nFROM ${{LOCALSTACK_IMAGE}}" in dockerfile


def test_the_stand_in_builder_replaces_exactly_the_official_images():
    script = (ROOT / "docker" / "images.sh").read_text()
    assert f"OFFICIAL_LOCALSTACK_IMAGE={compose.DEFAULT_LOCALSTACK_IMAGE}\n" in script
    assert f"OFFICIAL_POSTGRES_IMAGE={compose.DEFAULT_POSTGRES_IMAGE}\n" in script
    assert "export TIDEWATER_LOCALSTACK_IMAGE TIDEWATER_POSTGRES_IMAGE" in script


def test_builds_and_containers_use_the_host_network_and_no_docker_socket(compose_file):
    for name, service in compose_file["services"].items():
        assert service["network_mode"] == "host", name
        assert "ports" not in service and "networks" not in service, name  # nothing to publish on the host network
        assert not any("docker.sock" in volume for volume in service.get("volumes", [])), name
    assert compose_file["services"]["localstack"]["build"]["network"] == "host"
    assert "networks" not in compose_file


def test_ports_are_the_settings_the_backend_reads_and_bind_loopback_only(localstack, postgres):
    gateway = f"127.0.0.1:${{{compose.EMULATOR_PORT_SETTING}:-{compose.DEFAULT_EMULATOR_PORT}}}"
    assert localstack["environment"]["GATEWAY_LISTEN"] == localstack["environment"]["LOCALSTACK_HOST"] == gateway
    # LocalStack's default server (twisted) binds 0.0.0.0 whatever GATEWAY_LISTEN says.
    assert localstack["environment"]["GATEWAY_SERVER"] == "hypercorn"
    assert postgres["environment"]["PGPORT"] == f"${{{compose.POSTGRES_PORT_SETTING}:-{compose.DEFAULT_POSTGRES_PORT}}}"
    assert "listen_addresses=127.0.0.1" in postgres["command"]


def test_localstack_runs_functions_with_our_process_executor_and_reaches_nothing_outside(localstack):
    dockerfile = (ROOT / localstack["build"]["dockerfile"]).read_text()
    assert "LAMBDA_RUNTIME_EXECUTOR=process" in dockerfile
    assert "TIDEWATER_LAMBDA_RUNTIMES_DIR=/opt/tidewater/runtimes" in dockerfile
    assert "/opt/tidewater/runtimes/python3.13" in dockerfile
    env = localstack["environment"]
    assert (env["DNS_ADDRESS"], env["SKIP_SSL_CERT_DOWNLOAD"]) == ("0", "1")
    assert env["SERVICES"] == ",".join(LocalStack.services)
    assert env["SQS_ENDPOINT_STRATEGY"] == "off"  # queue URLs on 127.0.0.1, which the aws provider parses


def test_both_services_have_health_checks(compose_file):
    for name, service in compose_file["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert compose_file["services"]["localstack"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_variable_in_the_compose_file_is_a_tidewater_setting_with_a_default():
    text = (ROOT / "docker-compose.yml").read_text()
    variables = re.findall(r"(?<!\$)\$\{([A-Z_]+)(:-[^}]*)?\}", text)
    assert variables, "the compose file has no settings?"
    for name, default in variables:
        assert name in (compose.EMULATOR_PORT_SETTING, compose.POSTGRES_PORT_SETTING, compose.FUNCTIONS_DIR_SETTING,
                        compose.LOCALSTACK_IMAGE_SETTING, compose.POSTGRES_IMAGE_SETTING), name  # fmt: skip
        assert default, f"${{{name}}} needs a default so `docker compose up` works without settings"


# --- compose file x compose backend x Terraform -----------------------------------------------------

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


def test_database_name_and_user_agree_everywhere(postgres, terraform_defaults):
    env = postgres["environment"]
    assert env["POSTGRES_DB"] == compose.POSTGRES_DB == terraform_defaults["database_name"]
    assert env["POSTGRES_USER"] == compose.POSTGRES_USER == terraform_defaults["database_username"]
    assert env["POSTGRES_PASSWORD"] == compose.POSTGRES_PASSWORD


def test_functions_see_postgres_where_this_machine_does(tmp_path, monkeypatch):
    # Host networking: the functions run inside the LocalStack container, on this machine's loopback.
    monkeypatch.setenv(compose.POSTGRES_PORT_SETTING, "25433")
    monkeypatch.setenv(compose.EMULATOR_PORT_SETTING, "24566")
    env = compose.ComposeStack(tmp_path).stack_env()
    assert (env.function_db_host, env.function_db_port) == ("127.0.0.1", 25433)
    assert env.database_url.endswith("@127.0.0.1:25433/tidewater")
    assert env.endpoint_url == "http://127.0.0.1:24566"


def test_terraform_gets_the_connection_from_the_tooling_not_from_local_tfvars(local_tfvars, terraform_defaults,
                                                                             tmp_path, monkeypatch):
    from tidewater.deploy import _terraform_env

    monkeypatch.delenv(compose.POSTGRES_PORT_SETTING, raising=False)

    # The database differs per stack (its port above all), so local.tfvars must not pin it.
    for name in ("database_host", "database_port", "database_password", "database_username", "database_name"):
        assert name not in local_tfvars, f"{name} comes from `make up` (TF_VAR_{name}), not envs/local.tfvars"
    assert local_tfvars["create_database"] is False
    assert local_tfvars["database_sslmode"] == "prefer"  # the compose/testcontainers Postgres has no TLS

    env = compose.ComposeStack(tmp_path).stack_env()
    tf_env = _terraform_env(env, tmp_path)
    tf_vars = {k.removeprefix("TF_VAR_"): v for k, v in tf_env.items() if k.startswith("TF_VAR_")}
    assert set(tf_vars) <= set(terraform_defaults), "every TF_VAR_ the tooling sets must be a declared variable"
    assert tf_vars["database_host"] == "127.0.0.1"
    assert tf_vars["database_port"] == str(compose.DEFAULT_POSTGRES_PORT)
    assert (tf_vars["database_name"], tf_vars["database_username"]) == (
        terraform_defaults["database_name"], terraform_defaults["database_username"])  # fmt: skip
