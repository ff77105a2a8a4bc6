# The two commands a fresh Debian machine with only Python needs: `make dev`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test install redis lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) redis

# A real Redis: Debian's redis-server (installed here when we are root), else say what to do.
redis:
	@bash scripts/ensure-redis

dev: install
	$(BIN)/signalway dev

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy gateway worker workflows signalway
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .signalway .pytest_cache
