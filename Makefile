# The two commands a fresh Debian machine with only Python needs: `make dev`, `make test`.
#   make dev PORT=8080          the gateway on another port (also TEMPORAL_PORT, UI_PORT,
#                               REDIS_PORT, DATA_DIR; or SIGNALWAY_PORT=8080 make dev)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv installs from uv.lock (hash-checked, exact versions); it lives in a venv of its own so that
# syncing the project's venv never removes it. Its own version is pinned here.
UV_VERSION := 0.13.10
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Never download a Python: use the interpreter the machine has ($(PYTHON)).
UV_ENV := UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=$(VENV)
SYNC := $(UV_ENV) $(UV) sync --frozen --python $(PYTHON) --no-default-groups --extra local
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
DEV_FLAGS := $(if $(PORT),--port $(PORT)) $(if $(TEMPORAL_PORT),--temporal-port $(TEMPORAL_PORT)) \
	$(if $(UI_PORT),--ui-port $(UI_PORT)) $(if $(REDIS_PORT),--redis-port $(REDIS_PORT)) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR))

.PHONY: dev test install install-run redis chromium node-clients ts-example lint lock clean

$(UV):
	@echo "install: uv $(UV_VERSION) into $(TOOLS) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# What running needs (the `temporal` CLI included), exactly as uv.lock pins it; no test tool.
$(RUN_STAMP): $(UV) pyproject.toml uv.lock
	@echo "install: signalway into $(VENV) from uv.lock (runtime only)"
	@$(SYNC) --quiet
	@rm -f $(TEST_STAMP)
	@touch $(RUN_STAMP)

# The same, plus the test group (pytest, mypy, ruff, schemathesis, playwright, the clients).
$(TEST_STAMP): $(UV) pyproject.toml uv.lock
	@echo "install: signalway and the test tools into $(VENV) from uv.lock"
	@$(SYNC) --group test --quiet
	@rm -f $(RUN_STAMP)
	@touch $(TEST_STAMP)

install-run: $(RUN_STAMP)

# Move the lock forward: newest versions the ranges in pyproject.toml allow, then `make test`.
lock: $(UV)
	$(UV_ENV) $(UV) lock --upgrade --python $(PYTHON)

install: $(TEST_STAMP) redis chromium node-clients ts-example

# A real Redis: Debian's redis-server (installed here when we are root), else say what to do.
redis:
	@bash scripts/ensure-redis

# Debian's chromium for the browser tests (Playwright drives it; its own browser download is unreachable).
chromium:
	@bash scripts/ensure-chromium

# Node.js and the published npm Vertesia client, pinned in tests/clients/node (the client tests).
node-clients:
	@bash scripts/ensure-node-clients

# The TypeScript example's pinned Temporal SDK (examples/typescript), compiled, for its test.
ts-example:
	@bash scripts/ensure-ts-example

# `make dev` needs only the runtime venv and Redis (a venv `make test` built serves too: it holds
# the runtime set); the browsers and the npm client are for the tests.
dev: redis
	@if [ -f $(TEST_STAMP) ]; then $(MAKE) --no-print-directory $(TEST_STAMP); \
	else $(MAKE) --no-print-directory $(RUN_STAMP); fi
	@$(BIN)/signalway dev $(strip $(DEV_FLAGS))

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy signalway workflows
	$(BIN)/pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(TOOLS) .signalway .pytest_cache
