# trainstack: `make demo` (offline plan of the dev stack, then a short 2-process CPU training) and
# `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev

DEMO_DIR ?= build/demo
DEMO_STEPS ?= 200

.PHONY: demo plan train lint test bench venv crds clean

# One resolve for everything: torch stays at the trainer's pin and Ray cannot lift protobuf past
# what pulumi accepts (a separate `pip install ray` would).
$(VENV)/.installed: pyproject.toml trainer/requirements.txt trainer/requirements-ray.txt
	@$(PYTHON) tools/check_python.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -r trainer/requirements.txt \
		-r trainer/requirements-ray.txt
	touch $@

venv: $(VENV)/.installed

# The main job on the local default: the offline plan of the dev stack, then the trainer on two
# CPU processes (gloo) exactly as a PyTorchJob starts it, from a clean run directory.
demo: plan train

plan: crds
	$(VENV)/bin/trainstack plan --stack $(STACK)

train: venv
	rm -rf $(DEMO_DIR)
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --standalone --nproc-per-node 2 -m trainer \
		--preset tiny --max-steps $(DEMO_STEPS) --checkpoint.interval 50 \
		--metrics.val-interval 50 --metrics.log-interval 20 \
		--checkpoint.dir $(DEMO_DIR)/checkpoints \
		--metrics.out-dir $(DEMO_DIR)/run --checkpoint.export $(DEMO_DIR)/model

# This trainer against transformers' LlamaForCausalLM, same shape and FSDP2 wrapping, on this CPU.
# The bench's own venv: torch first at the trainer's pin, then everything else under a constraint
# that keeps it there (a requirement admitting a newer torch would pull a multi-GB CUDA build).
BENCH_VENV ?= build/bench-venv
BENCH_ARGS ?=
$(BENCH_VENV)/.installed: bench/requirements.txt bench/constraints.txt trainer/requirements.txt
	@$(PYTHON) tools/check_python.py
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install --quiet -c bench/constraints.txt -r bench/requirements.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/compare.py $(BENCH_ARGS)

# Lint (ruff's rules and formatting, configured in pyproject.toml; the import layers and no
# cycles, in .importlinter), then every test.
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

# One intra-op thread per test process: the workers already use every core, and two torch thread
# pools per core only contend (the trainer's subprocesses get OMP_NUM_THREADS=1 likewise).
# Bytecode is cached even where the environment turns that off (PYTHONDONTWRITEBYTECODE): the
# suite starts some 200 Python processes, and without __pycache__ each compiled the project's
# modules again and each xdist worker rewrote every test module's asserts anew.
test: lint
	env -u PYTHONDONTWRITEBYTECODE OMP_NUM_THREADS=1 $(PY) -m pytest -q -n auto --dist loadfile

# The pinned upstream CRDs the plan validates custom resources against, downloaded once into the
# user cache and verified by sha256 (trainstack/offline/crds.py). With no network it says what the plan
# will not check and carries on; TRAINSTACK_CRD_DIR names an offline mirror instead.
crds: venv
	$(VENV)/bin/trainstack crds

clean:
	rm -rf build .pytest_cache
