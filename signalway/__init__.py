"""Signalway: drive durable Temporal workflows over HTTP."""

from signalway.client import Client, SignalwayError

__all__ = ["Client", "SignalwayError"]
__version__ = "0.1.0"
