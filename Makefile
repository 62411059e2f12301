# Two commands get a newcomer from nothing to a result: `make run` and `make test`. Both set up .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST := $(PY) -m pytest

.PHONY: setup system-libs run test test-slow test-slurm slurm-up slurm-down smoke validate bench clean

setup: system-libs $(STAMP)

# The EGL and OSMesa libraries MuJoCo renders evaluation videos with (apt-get, as root; only those missing).
system-libs:
	scripts/system_libs.sh

# torch first and pinned: here that takes the local CPU build; elsewhere PyPI's normal build.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c requirements.lock -e '.[dev,bench]'
	touch $(STAMP)

# SAC-Gaussian on InvertedPendulum-v5: learns to balance (return 1000) in a few minutes on a 2-core CPU.
# ARGS passes overrides through: make run ARGS="seed=1", make run ARGS="restart=true".
ARGS ?=
run: setup
	$(PY) -m runner experiment=quickstart $(ARGS)

# Two pytest workers: the tests are CPU-bound on one torch thread each, so they fill both cores.
test: setup
	$(PYTEST) -n 2 -m "not slow and not slurm"

test-slow: $(STAMP)
	$(PYTEST) -m slow

# Needs root and apt: scripts/slurm_local.sh installs and starts a one-node SLURM cluster (state in /tmp/slurm-local).
test-slurm: $(STAMP) slurm-up
	$(PYTEST) -m slurm

slurm-up:
	scripts/slurm_local.sh start

slurm-down:
	scripts/slurm_local.sh stop

# The paper_table1 sweep at a tiny budget on this machine, then its tables and curves.
smoke: $(STAMP)
	$(PY) -m runner experiment=smoke
	$(PY) -m scripts.tables runs/smoke
	$(PY) -m scripts.plots runs/smoke

# Every algorithm at scale=cpu and the SB3 reference on Hopper-v5 and HalfCheetah-v5, 50k steps, 3 seeds; then the
# table and figures in docs/validation/. One task per core; hours on a 2-core CPU, and resumable: run it again to go
# on where it stopped (finished runs are skipped).
# Seed by seed, so that an unfinished sweep already holds every algorithm at its first seeds.
VALIDATION_TASKS := hopper halfcheetah
VALIDATION_SEEDS := 0 1 2
validate: $(STAMP)
	$(MAKE) -j2 $(addprefix validate-task-,$(VALIDATION_TASKS))
	$(PY) -m scripts.validation_report runs/validation --out docs/validation --preamble docs/validation/about.md

validate-task-%: $(STAMP)
	set -e; for seed in $(VALIDATION_SEEDS); do \
	  $(PY) -m scripts.sb3_reference experiment=validation env=$* seed=$$seed; \
	  $(PY) -m runner experiment=validation env=$* seed=$$seed; \
	done

bench: $(STAMP)
	$(PY) -m scripts.bench_throughput

clean:
	rm -rf $(VENV) .pytest_cache
