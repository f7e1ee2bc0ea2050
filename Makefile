# The whole set-up on a fresh machine is two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/python -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt setup.py src/lookalike/metrics/_ssim_native.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --constraint constraints.txt --editable ".[index,test,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m lookalike.demo --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python tests/test_layers.py

bench: $(STAMP)
	$(MAKE) -C benchmarks all

clean:
	rm -rf $(VENV) demo-output build dist src/*.egg-info
	find src -name "*.so" -delete
