"""Settings that fail to load, told as one line per problem, without the values.

pydantic's own report is a traceback whose `input_value` echoes what was set: an API key,
a JWT secret. Operators get `configuration error: SIGNALWAY_<FIELD>: <message>` lines on
stderr instead, and exit code 2 (a usage error: fix the environment, do not restart-loop).
"""

from __future__ import annotations

import json
import re
import sys
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

EXIT_CODE = 2
ENV_PREFIX = "SIGNALWAY_"

S = TypeVar("S", bound=BaseSettings)

# pydantic-settings raises SettingsError (no field attribute) when an env value that must be
# JSON is not; its message names the field and never the value.
_SOURCE_FIELD = re.compile(r'field "(\w+)"')


def problems(exc: ValidationError | SettingsError) -> list[str]:
    """One line per problem, naming the variable and never its value."""
    if isinstance(exc, SettingsError):
        field = _SOURCE_FIELD.search(str(exc))
        cause = exc.__cause__
        # A JSONDecodeError's message gives a position only, not the document.
        why = f"not valid JSON ({cause.msg})" if isinstance(cause, json.JSONDecodeError) else "could not be parsed"
        name = f"{ENV_PREFIX}{field.group(1).upper()}: " if field else ""
        return [f"configuration error: {name}{why}"]
    lines: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        # A custom validator's ValueError: its own words, without pydantic's "Value error, ".
        reason = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
        message = str(reason) if reason is not None else error["msg"]
        loc = error["loc"]
        if not loc:  # a model validator: its message names the variables itself
            lines.append(f"configuration error: {message}")
            continue
        # Only the field and list positions: a dict key in `loc` may be a secret (API keys).
        where = ENV_PREFIX + str(loc[0]).upper() + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))
        lines.append(f"configuration error: {where}: {message}")
    return lines


def settings_problems(cls: type[BaseSettings]) -> list[str]:
    """What `cls()` would say about the environment: no line when it loads."""
    try:
        cls()
    except (ValidationError, SettingsError) as exc:
        return problems(exc)
    return []


def load_settings(cls: type[S]) -> S:
    """`cls()` from the environment, or the problems on stderr and `SystemExit(2)`."""
    try:
        return cls()
    except (ValidationError, SettingsError) as exc:
        lines = problems(exc)
    # A misspelt name is often the cause (a secret "not configured" under a name one letter
    # off): named first, as `signalway dev` names it.
    from signalway.env_names import warnings

    # Printed outside the except block: nothing chains the original error into the output.
    for line in [f"warning: {warning}" for warning in warnings()] + lines:
        print(line, file=sys.stderr)
    raise SystemExit(EXIT_CODE)


def warn_unknown_variables() -> None:
    """Log each `SIGNALWAY_*` variable set that Signalway does not read (a misspelling, most
    likely), with the setting it most resembles; once logging is configured."""
    import logging

    from signalway.env_names import warnings

    log = logging.getLogger("signalway.config")
    for line in warnings():
        log.warning("%s", line)
