# tidewater — the front door. `make help` lists the targets.
#
# BACKEND=auto|host|compose chooses the local stack (auto: compose when a Docker daemon answers,
# host otherwise); EMULATOR=localstack|ministack the AWS emulator (default: the one the running stack
# has, else localstack; ministack runs on the host backend). Everything else is read from
# .tidewater/stack.env written by `make up`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# A Python 3.13 that really runs (a pyenv shim may exist without the version being selected).
PYTHON313 ?= $(firstword $(foreach c,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13),\
               $(shell $(c) -c 'import sys' >/dev/null 2>&1 && command -v $(c))))
VENV      := .venv
PY        := $(VENV)/bin/python
TIDEWATER := $(VENV)/bin/tidewater
BACKEND   ?= auto
EMULATOR  ?=
# `make test` runs the e2e suite once per emulator (EMULATOR=x: on x only).
TEST_EMULATORS ?= $(or $(EMULATOR),localstack ministack)
PYTEST_ARGS ?=
DEPLOY_ARGS ?=
BENCH_ARGS ?=
CHAOS_ARGS ?=

.PHONY: help venv up down deploy build plan demo dev upload wait status logs unit e2e e2e-docker test lint bench chaos clean browser datacontract

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml functions/processor/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (pyenv install 3.13, or your OS package)"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' -r functions/processor/requirements.txt
	@# The Compose file schema for the static compose test (docker-compose 1.29 ships it; data only, no deps).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/compose-spec docker-compose==1.29.2
	@touch $@

venv: $(VENV)/.installed ## create the dev venv (.venv, Python 3.13)

up: venv ## start the local stack (idempotent) and write .tidewater/stack.env
	$(TIDEWATER) up --backend $(BACKEND) $(if $(EMULATOR),--emulator $(EMULATOR))

down: venv ## stop exactly what `make up` started and delete its data
	$(TIDEWATER) down

build: venv ## build the Lambda zips into build/functions/ (prints their sizes)
	$(PY) -m tidewater.build

deploy: venv ## build the zips and terraform apply them to the running local stack (tflocal; VERBOSE=1: all of Terraform's output)
	$(TIDEWATER) deploy $(if $(filter-out 0,$(VERBOSE)),-v) $(DEPLOY_ARGS)

plan: venv ## terraform plan against the running local stack (expect: No changes)
	$(TIDEWATER) deploy --plan $(DEPLOY_ARGS)

demo: up deploy ## up + deploy + upload seed_data + wait + print the summary and today's report
	$(TIDEWATER) upload seed_data/
	$(TIDEWATER) wait --timeout 300
	$(TIDEWATER) status --summary
	$(TIDEWATER) report --date $$(date -u +%F)

dev: venv ## the deployed functions run functions/ from the work tree: save, invoke, see it (Ctrl-C ends)
	$(TIDEWATER) dev

status: venv ## queues, DLQ, ledger counts
	$(TIDEWATER) status

logs: venv ## the processor's recent CloudWatch logs (the emulator's own: .tidewater/<emulator>/<emulator>.log)
	$(TIDEWATER) logs

unit: venv ## fast tests: no services
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

# datacontract-cli (the ODCS tools: `make lint` lints the contracts, an e2e test runs `datacontract test` on
# the loaded tables) has a venv of its own: it needs pandas 3, numpy 2.5 and pyarrow 26, the processor pins older.
DATACONTRACT := $(VENV)/datacontract/bin/datacontract
$(DATACONTRACT):
	$(PY) -m venv --clear $(VENV)/datacontract
	$(VENV)/datacontract/bin/pip install --quiet --disable-pip-version-check 'datacontract-cli[postgres]==1.2.8'

datacontract: venv $(DATACONTRACT) ## datacontract-cli in its own venv (.venv/datacontract)

e2e: venv $(DATACONTRACT) ## end-to-end tests through the real local stack, on each of TEST_EMULATORS
	@status=0; for emulator in $(TEST_EMULATORS); do \
	  echo "==> e2e tests on $$emulator"; \
	  TIDEWATER_TEST_EMULATOR=$$emulator $(PY) -m pytest -m e2e $(PYTEST_ARGS) || status=1; \
	done; exit $$status

e2e-docker: venv ## the container path: compose backend + testcontainers e2e (starts Docker and builds images if needed)
	bash docker/e2e.sh

browser: ## headless Chromium for the report screenshot test: apt installs it where it can; elsewhere says why the test skips
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && { [ "$$(id -u 2>/dev/null)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null && exit 0; \
	  echo "make browser: apt-get could not install chromium; the report screenshot test will be skipped" >&2; \
	else \
	  echo "make browser: no chromium here and no apt-get to install it with; install Chromium (macOS: brew install --cask chromium) for the report screenshot test, which is skipped until then" >&2; \
	fi

test: venv browser $(DATACONTRACT) ## the whole suite from a clean clone: unit tests, e2e on each emulator (own stacks), the short chaos run, then make e2e-docker where it can run
	@status=0; $(PY) -m pytest -m unit $(PYTEST_ARGS) || status=1; \
	$(MAKE) --no-print-directory e2e || status=1; \
	$(MAKE) --no-print-directory chaos SHORT=1 || status=1; \
	bash docker/e2e.sh --or-skip || status=1; exit $$status

lint: venv $(DATACONTRACT) ## ruff + terraform fmt + checkov + bandit + datacontract lint
	$(VENV)/bin/ruff check src functions tests
	for contract in contracts/*.odcs.yaml; do $(DATACONTRACT) lint "$$contract" || exit 1; done
	terraform fmt -check -recursive terraform
	@# checkov has a venv of its own: its hcl2 module clashes with terraform-local's.
	test -x $(VENV)/checkov/bin/checkov || { $(PY) -m venv --clear $(VENV)/checkov && \
	  $(VENV)/checkov/bin/pip install --quiet --disable-pip-version-check 'checkov>=3.2'; }
	$(VENV)/checkov/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download
	@# B404/B603: subprocess with argument lists (never a shell); see tests/unit/test_security_scans.py.
	$(VENV)/bin/bandit -r functions src -q -s B404,B603

bench: venv ## benchmarks on private stacks (.tidewater/bench, -ministack): bench/results.json, docs/performance.md, docs/emulators.md
	$(PY) -m tidewater.bench $(BENCH_ARGS)

chaos: venv ## faults while files flow, on a private stack (.tidewater/chaos): SOAK=1 the soak, SHORT=1 what make test runs; bench/chaos*.json
	$(PY) -m tidewater.chaos $(if $(SOAK),--soak) $(if $(SHORT),--short) $(CHAOS_ARGS)

clean: ## remove build output and the dev venv (run `make down` first)
	rm -rf build $(VENV) .pytest_cache
