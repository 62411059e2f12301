# Two commands get a newcomer from nothing to a result: `make run` and `make test`. Both set up .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST := $(PY) -m pytest

.PHONY: setup run test test-slow test-slurm bench clean

setup: $(STAMP)

# torch first and pinned: here that takes the local CPU build; elsewhere PyPI's normal build.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c requirements.lock -e '.[dev,bench]'
	touch $(STAMP)

# SAC-Gaussian on InvertedPendulum-v5: learns to balance (return 1000) in a few minutes on a 2-core CPU.
run: $(STAMP)
	$(PY) -m runner experiment=quickstart

test: $(STAMP)
	$(PYTEST) -m "not slow and not slurm"

test-slow: $(STAMP)
	$(PYTEST) -m slow

test-slurm: $(STAMP)
	$(PYTEST) -m slurm

bench: $(STAMP)
	$(PY) -m scripts.bench_throughput

clean:
	rm -rf $(VENV) .pytest_cache
