# The whole set-up on a fresh machine is two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/python -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint bench clean browser

$(STAMP): pyproject.toml constraints.txt setup.py src/lookalike/metrics/_ssim_native.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --constraint constraints.txt --editable ".[index,web,test,dev,scale]"
	touch $(STAMP)

# The browser test (tests/web/test_browser.py) drives Debian's chromium through Playwright; CI runs
# `make test` as root on a fresh machine, so install it there when it is missing (seconds, no download
# by Playwright itself). Elsewhere the test skips and says why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y chromium >/dev/null 2>&1 || \
		{ apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; } || \
		echo "make: could not install chromium; the browser test will skip"; fi

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m lookalike.demo --out demo-output

test: $(STAMP) browser
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
