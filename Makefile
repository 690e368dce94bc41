# Taskhook: `make run` starts the whole local stack; `make test` runs lint and every test.
SHELL := /bin/bash
# Lambda runs Python 3.12; use it when this machine has it, else python3 (the code runs on 3.11 too).
PYTHON ?= $(shell python3.12 -c '' >/dev/null 2>&1 && echo python3.12 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PORT ?= 8000
# The SAM CLI lives in its own environment: its pins (boto3, pydantic, ...) are its own.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
export SAM_CLI_TELEMETRY ?= 0
# Packaging needs a region (chalice asks for one) but no credentials.
PACKAGE_REGION := $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)
# Chalice gives its functions the runtime of the Python that runs it and fetches that Python's wheels
# (chalice.config.Config.lambda_python_version), so it runs in its own venv on the template's runtime
# (template.yaml Globals: python3.12; the architecture is .chalice/config.json's lambda_architecture).
LAMBDA_PYTHON := 3.12
CHALICE_PYTHON ?= $(firstword $(foreach p,python$(LAMBDA_PYTHON) \
	$(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON).*/bin/python$(LAMBDA_PYTHON)),\
	$(shell $(p) -c '' >/dev/null 2>&1 && echo $(p))))
CHALICE_VENV := .venv-chalice
CHALICE := $(CHALICE_VENV)/bin/chalice
CHALICE_STAMP := $(CHALICE_VENV)/.installed

.PHONY: browser run test test-localstack bench-emulators lint unit functional e2e bench bench-quick soak package package-chalice package-sam deploy-sam deploy-chalice keys clean

# The client package (clients/python: `taskhook_client` and the `taskhook` command, .venv/bin/taskhook)
# is installed beside the service, its dependencies pinned in requirements-dev.txt; the service never imports it.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . -e clients/python
	touch $(STAMP)

run: $(STAMP) ## the whole local stack on http://127.0.0.1:$(PORT); keeps its data (.taskhook/data) unless FRESH=1
	$(PY) -m infra.local_stack $(if $(filter-out 0,$(FRESH)),--fresh)

# The browser tests (tests/e2e/test_*_browser.py) drive Debian's Chromium through Playwright, which
# downloads no browser of its own.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/cfn-lint template.yaml

# Two workers, a test file each at a time: the end-to-end files wait on real backoffs and delays
# far more than they compute, and each worker runs its own local stack. Files go out in collection
# order, which tests/conftest.py makes longest first (xdist's own order, by number of tests, ran the
# long single-test files last).
# The SAM CLI and Chalice's Python 3.12 venv too: tests/functional/test_deploy_paths.py runs `make package`.
test: lint $(SAM_STAMP) $(CHALICE_STAMP) browser ## lint, then unit, functional and end-to-end tests (both deploy artifacts built)
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# The e2e suite (the brief soak included) against LocalStack in host mode (no Docker): its own
# Python 3.13 environment (.venv-localstack, pinned in infra/localstack-requirements.txt),
# DynamoDB Local from npm and this machine's JDK; started on loopback, stopped at the end.
test-localstack: $(STAMP) browser ## the e2e suite against LocalStack (README, "LocalStack")
	$(PY) -m infra.localstack_env $(ARGS)

bench-emulators: $(STAMP) ## per-operation latency, moto vs LocalStack side by side (bench/emulators.json)
	$(PY) -m bench.emulators $(ARGS)

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

bench-quick: $(VENV)/.bench-installed ## the same, fewer and smaller runs (about 3 minutes)
	command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
	$(PY) -m bench.harness --quick

soak: $(STAMP) ## no-loss soak: 10,000 tasks, faulty target, runner killed twice (bench/soak.json)
	$(PY) -m bench.soak --tasks 10000 --kills 2

$(SAM_STAMP): infra/sam-requirements.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/sam-requirements.txt
	touch $@

$(CHALICE_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -n "$(CHALICE_PYTHON)" || { echo "make package needs Python $(LAMBDA_PYTHON) (Lambda's runtime):" \
		"chalice packages for the Python that runs it. Install it, or set CHALICE_PYTHON=/path/to/python$(LAMBDA_PYTHON)." >&2; exit 1; }
	test -x $(CHALICE_VENV)/bin/python || $(CHALICE_PYTHON) -m venv $(CHALICE_VENV)
	$(CHALICE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
		$$(grep -E '^chalice==' requirements-dev.txt)
	$(CHALICE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

package: package-chalice package-sam ## build both deploy artifacts: build/chalice (chalice package) and build/sam (sam build)

package-chalice: $(STAMP) $(CHALICE_STAMP)
	rm -rf build/chalice && $(PY) -m infra.gateway_responses build/gateway-responses.json
	AWS_DEFAULT_REGION=$(PACKAGE_REGION) $(CHALICE) package --stage dev \
		--merge-template build/gateway-responses.json build/chalice

# The makefile build method (no Docker) in the source tree: build-TaskhookLayer, build-%Function below.
package-sam: $(STAMP) $(SAM_STAMP)
	rm -rf build/sam
	AWS_DEFAULT_REGION=$(PACKAGE_REGION) $(SAM) build --build-in-source --build-dir build/sam --template-file template.yaml

deploy-sam: $(STAMP) $(SAM_STAMP) ## needs AWS credentials
	$(PY) -m infra.aws_credentials "make deploy-sam"
	$(MAKE) package-sam
	$(SAM) deploy --guided --template-file build/sam/template.yaml

deploy-chalice: $(STAMP) $(CHALICE_STAMP) ## needs AWS credentials
	$(PY) -m infra.aws_credentials "make deploy-chalice"
	$(CHALICE) deploy --stage dev

keys: $(STAMP) ## e.g. make keys ARGS="create --team acme"
	bin/taskhook keys $(ARGS)

# `sam build` runs this for the layer (ContentUri: the project root): layers/taskhook/Makefile.
# Its pip is the project venv's when there is one (the wheels are the template's platform's either way).
build-TaskhookLayer:
	$(MAKE) -C layers/taskhook build-TaskhookLayer ARTIFACTS_DIR="$(ARTIFACTS_DIR)" LAMBDA_PYTHON=$(LAMBDA_PYTHON) \
		$(if $(wildcard $(PY)),PIP="$(abspath $(PY)) -m pip")

# `sam build` runs this for every function (BuildMethod: makefile): the handlers and your task
# modules (tasks/); the domain and the dependencies come from the layer. Chalice ships the same
# files (vendor/ links to them).
build-%Function:
	mkdir -p "$(ARTIFACTS_DIR)/functions" "$(ARTIFACTS_DIR)/tasks"
	cp app.py "$(ARTIFACTS_DIR)/"
	cp functions/*.py "$(ARTIFACTS_DIR)/functions/"
	cp tasks/*.py "$(ARTIFACTS_DIR)/tasks/"

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHALICE_VENV) build .taskhook .pytest_cache .mypy_cache .ruff_cache
