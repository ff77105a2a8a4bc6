"""Signalway: drive durable Temporal workflows over HTTP.

This package is the bottom layer every process shares (settings, Redis formats, search
attribute names) and, in `cli`, `devstack`, `localstack` and `client`, the top layer that
nothing else imports. The HTTP client is loaded on first use, so workflow code that needs
only `signalway.search_attributes` never pulls in httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signalway.client import Client, SignalwayError

__all__ = ["Client", "SignalwayError", "__version__"]
from signalway._version import __version__


def __getattr__(name: str) -> Any:
    if name in ("Client", "SignalwayError"):
        from signalway import client

        return getattr(client, name)
    raise AttributeError(f"module 'signalway' has no attribute {name!r}")
