# One command per job. Targets that need the environment depend on `setup`, so on a fresh
# machine `make figures` or `make test` installs everything first (once; later runs skip it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
PROFILE ?= smoke
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup test figures experiments report bench bench-gpu bench-cpu clean

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
	$(PY) -m replication figures

experiments: setup
	$(PY) -m replication experiments --profile $(PROFILE)

report: setup
	$(PY) -m replication report

# about 15 minutes on 2 cores; then the report picks the new rows up
bench: setup
	$(PY) -m replication bench $(BENCH_ARGS)
	$(PY) -m replication figures

# on a machine with a CUDA GPU (uses .venv if present, else python3 with torch and timm)
bench-gpu:
	bench/gpu.sh $(BENCH_ARGS)

# the speed suite (Tables 2, 3, 7, 10, 11, Figures 3 and 5) on this CPU with nothing else running: about
# 25 minutes on 2 cores (82 jobs), stops starting jobs after --time-limit (5400 s); rerun to complete it
bench-cpu: setup
	$(PY) -m replication bench-cpu $(BENCH_ARGS)
	$(PY) -m replication figures

clean:
	rm -rf build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
