# Taskhook: `make run` starts the whole local stack; `make test` runs lint and every test.
SHELL := /bin/bash
# Lambda runs Python 3.12; use it when this machine has it, else python3 (the code runs on 3.11 too).
PYTHON ?= $(shell python3.12 -c '' >/dev/null 2>&1 && echo python3.12 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PORT ?= 8000

.PHONY: run test lint unit functional e2e bench bench-quick soak package deploy-sam deploy-chalice keys clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP) ## the whole local stack on http://127.0.0.1:$(PORT); keeps its data (.taskhook/data) unless FRESH=1
	$(PY) -m infra.local_stack $(if $(filter-out 0,$(FRESH)),--fresh)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/cfn-lint template.yaml

# Two workers, a test file each at a time: the end-to-end files wait on real backoffs and delays
# far more than they compute, and each worker runs its own local stack.
test: lint ## lint, then unit, functional and end-to-end tests
	$(PY) -m pytest -n 2 --dist loadfile

unit: $(STAMP)
	$(PY) -m pytest tests/unit

functional: $(STAMP)
	$(PY) -m pytest tests/functional

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

$(VENV)/.bench-installed: $(STAMP) bench/requirements.txt  # the Celery peer's pinned packages
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: $(VENV)/.bench-installed ## benchmarks + Celery peer (~15 min): bench/results.json, bench/report.md
	command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
	$(PY) -m bench.harness

bench-quick: $(VENV)/.bench-installed ## the same, fewer and smaller runs (under 2 minutes)
	command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
	$(PY) -m bench.harness --quick

soak: $(STAMP) ## no-loss soak: 10,000 tasks, faulty target, runner killed twice (bench/soak.json)
	$(PY) -m bench.soak --tasks 10000 --kills 2

package: $(STAMP) ## build both deploy artifacts: build/chalice (chalice package) and build/sam
	rm -rf build/chalice && $(PY) -m infra.gateway_responses build/gateway-responses.json
	$(PY) -m chalice package --stage dev --merge-template build/gateway-responses.json build/chalice

deploy-sam: ## needs AWS credentials and the SAM CLI
	sam build && sam deploy --guided

deploy-chalice: $(STAMP) ## needs AWS credentials
	$(PY) -m chalice deploy --stage dev

keys: $(STAMP) ## e.g. make keys ARGS="create --team acme"
	bin/taskhook keys $(ARGS)

# `sam build` runs this for the layer (ContentUri: the project root): layers/taskhook/Makefile.
build-TaskhookLayer:
	$(MAKE) -C layers/taskhook build-TaskhookLayer ARTIFACTS_DIR="$(ARTIFACTS_DIR)"

# `sam build` runs this for every function (BuildMethod: makefile): the handlers and your task
# modules (tasks/); the domain and the dependencies come from the layer. Chalice ships the same
# files (vendor/ links to them).
build-%Function:
	mkdir -p "$(ARTIFACTS_DIR)/functions" "$(ARTIFACTS_DIR)/tasks"
	cp app.py "$(ARTIFACTS_DIR)/"
	cp functions/*.py "$(ARTIFACTS_DIR)/functions/"
	cp tasks/*.py "$(ARTIFACTS_DIR)/tasks/"

clean:
	rm -rf $(VENV) build .taskhook .pytest_cache .mypy_cache .ruff_cache
