"""Workflow definitions: deterministic code only, no I/O.

Imported by the worker (to run them) and by the gateway (for names and payload types).
It imports neither `worker` nor `gateway`.
"""
