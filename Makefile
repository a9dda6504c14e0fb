# Two commands for a newcomer: `make demo` (set up, then run the gateway against the
# built-in fake providers) and `make test` (set up, then run the whole test suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo serve test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/grove-gateway demo

serve: $(STAMP)
	$(BIN)/grove-gateway serve

# pytest exits 5 when it collects no test, so an empty run fails here too.
test: $(STAMP)
	$(BIN)/python -m pytest --cov=gateway --cov-report=term-missing:skip-covered

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .coverage build *.egg-info
