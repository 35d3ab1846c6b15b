# One command per job. Targets that need the environment depend on `setup`, so on a fresh
# machine `make figures` or `make test` installs everything first (once; later runs skip it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
PROFILE ?= smoke
PYTEST_ARGS ?=

.PHONY: setup test figures experiments report bench clean

setup: $(STAMP)

# Rebuilt only when the pinned dependencies change.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name replication --display-name "Python (replication)" >/dev/null
	touch $(STAMP)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

figures: setup
	$(PY) -m replication.runbook figures

experiments: setup
	$(PY) -m replication.runbook experiments --profile $(PROFILE)

report: setup
	$(PY) -m replication.runbook report

bench: setup
	$(PY) -m replication bench

clean:
	rm -rf build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
