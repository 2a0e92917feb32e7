# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out/demo
PYTEST_ARGS ?=

.PHONY: demo test install bench clean mutate

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	@bash scripts/ensure_test_tools.sh
	@# loadfile, not loadgroup: with pytest 9.2 xdist_group marks are ignored (pytest-xdist #1386), which
	@# split modules with shared module-scoped state (browser, kernels-replay) across workers
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m marketphys.cli demo --out $(OUT)

bench: $(STAMP)
	$(PY) benchmarks/engine.py

# mutation testing per module (docs/TESTING.md); MODULES="ledger gold" picks modules, JOBS=2 runs in parallel
mutate: $(STAMP)
	PY=$(PY) bash scripts/mutate.sh

clean:
	rm -rf $(VENV) out .pytest_cache build *.egg-info
