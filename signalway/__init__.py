"""Signalway: drive durable Temporal workflows over HTTP."""

__version__ = "0.1.0"
