"""Which `SIGNALWAY_*` variables Signalway reads, and the ones set that it does not.

A misspelt variable (`SIGNALWAY_WEBHOOK_ALLOWED_NETWORK`, no `S`) would otherwise be ignored
in silence: every process (`signalway dev`, `gateway`, `worker`) names each unknown one at
start with the setting it most resembles, as a warning.

The known names come from the settings classes themselves (every pydantic-settings class
with the `SIGNALWAY_` prefix, once `signalway.gateway.settings` and `signalway.worker.settings` are imported), so
a setting added to any of them is known without a list to keep; `DIRECT` holds the few that
the code reads with `os.environ` (a unit test greps the code for those).
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterator, Mapping

from pydantic_settings import BaseSettings

PREFIX = "SIGNALWAY_"

# Read with os.environ rather than through a settings class.
DIRECT = frozenset({
    "SIGNALWAY_DATA_DIR",  # signalway dev / token / env: the dev stack's state
    "SIGNALWAY_TEMPORAL_BIN",  # signalway dev: the `temporal` CLI to run
    "SIGNALWAY_REDIS_SERVER_BIN",  # signalway dev: the `redis-server` to run
    "SIGNALWAY_URL",  # exported by `signalway env`: the dev gateway's base URL, for curl lines
    "SIGNALWAY_CHROMIUM_BIN",  # scripts/ensure-chromium and the browser tests (documented)
})

# The modules whose settings classes every process may read; imported here so that their
# classes are registered before the subclasses are walked.
SETTINGS_MODULES = ("signalway.settings", "signalway.gateway.settings", "signalway.worker.settings")


def _settings_classes() -> Iterator[type[BaseSettings]]:
    seen: set[type[BaseSettings]] = set()
    stack = list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        yield cls


def known_names(*, imported_only: bool = False) -> frozenset[str]:
    """Every `SIGNALWAY_*` name some Signalway process reads (with `imported_only`, those of the
    settings classes this process has imported so far: a subset, with no import to pay for)."""
    if not imported_only:
        for module in SETTINGS_MODULES:
            importlib.import_module(module)
    names = set(DIRECT)
    for cls in _settings_classes():
        prefix = str(cls.model_config.get("env_prefix") or "")
        if prefix.upper() != PREFIX:
            continue
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            names.add(alias.upper() if isinstance(alias, str) else f"{PREFIX}{name.upper()}")
    return frozenset(names)


def unknown(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """Each `SIGNALWAY_*` variable set that no process reads, with the known name it most resembles."""
    environ = os.environ if environ is None else environ
    ours = [name for name in sorted(environ) if name.upper().startswith(PREFIX)]
    # The process's own settings classes usually know every name set: only when one is not are
    # the other processes' settings imported (the worker would otherwise load the gateway's).
    known = known_names(imported_only=True)
    if any(name.upper() not in known for name in ours):
        known = known_names()
    found = []
    for name in ours:
        upper = name.upper()
        if upper in known:
            continue
        # Compared without the prefix every name shares, which would make any two look alike.
        close = difflib.get_close_matches(upper.removeprefix(PREFIX), [k.removeprefix(PREFIX) for k in known],
                                          n=1, cutoff=0.6)
        found.append((name, PREFIX + close[0] if close else None))
    return found


def warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per unknown variable, naming it (never its value) and its likely meaning."""
    lines = []
    for name, close in unknown(environ):
        hint = f"; did you mean {close}?" if close else ""
        lines.append(f"{name} is not a Signalway setting and is ignored{hint}")
    return lines
