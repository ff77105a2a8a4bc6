# The two commands a fresh Debian machine with only Python needs: `make dev`, `make test`.
#   make dev PORT=8080          the gateway on another port (also TEMPORAL_PORT, UI_PORT,
#                               REDIS_PORT, DATA_DIR; or SIGNALWAY_PORT=8080 make dev)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# setuptools reports every editable install as a warning ("Editable installation. Please be
# careful with folders ..."): noise, not news, on each fresh install.
QUIET_PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet
DEV_FLAGS := $(if $(PORT),--port $(PORT)) $(if $(TEMPORAL_PORT),--temporal-port $(TEMPORAL_PORT)) \
	$(if $(UI_PORT),--ui-port $(UI_PORT)) $(if $(REDIS_PORT),--redis-port $(REDIS_PORT)) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR))

.PHONY: dev test install redis chromium node-clients lint clean

$(STAMP): pyproject.toml
	@echo "install: $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV)
	@echo "install: upgrading pip"
	@$(QUIET_PIP) --upgrade pip
	@echo "install: signalway and its dependencies into $(VENV) (a minute or two the first time)"
	@$(QUIET_PIP) -e '.[dev]'
	@touch $(STAMP)
	@echo "install: done"

install: $(STAMP) redis chromium node-clients

# A real Redis: Debian's redis-server (installed here when we are root), else say what to do.
redis:
	@bash scripts/ensure-redis

# Debian's chromium for the browser tests (Playwright drives it; its own browser download is unreachable).
chromium:
	@bash scripts/ensure-chromium

# Node.js and the published npm Vertesia client, pinned in tests/clients/node (the client tests).
node-clients:
	@bash scripts/ensure-node-clients

# `make dev` needs only the venv and Redis; the browsers and the npm client are for the tests.
dev: $(STAMP) redis
	@$(BIN)/signalway dev $(strip $(DEV_FLAGS))

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy gateway worker workflows signalway
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .signalway .pytest_cache
