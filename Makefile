# The two commands of the README: `make demo` and `make test`. Both do all set-up themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_DIR  := examples/cityscapes-lifelong
DEMO_DATA := $(DEMO_DIR)/data

.PHONY: demo test test-unit check venv clean

# testenv-build/up/down/status/images: the real Kubernetes control plane and Docker images the tests use
include mk/testenv.mk

demo: $(STAMP)
	@test -f $(DEMO_DATA)/train-index.txt || $(VENV)/bin/controller dataset synth $(DEMO_DATA)
	$(VENV)/bin/controller run $(DEMO_DIR)/benchmarkingjob.yaml

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# A fast loop while editing: the suite without the tests that start real components (control plane, Docker,
# lab hosts). A convenience only: `make test` (what CI runs) runs everything.
test-unit: $(STAMP)
	$(PY) -m pytest -m "not k8s and not docker" $(PYTEST_ARGS)

# Lint and types: ruff (lint + format check), mypy (strict on controller/), ansible-lint (production profile).
check: $(STAMP)
	$(VENV)/bin/ruff check controller tests benchmarks
	$(VENV)/bin/ruff format --check controller tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/ansible-lint --nocolor site.yml playbooks roles inventories

venv: $(STAMP)

# Reinstall when the package metadata changes; an editable install picks up code changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,rfnet,lab]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache $(DEMO_DATA) $(DEMO_DIR)/workspace
