"""Waiting for what happens asynchronously (visibility, workflows, deliveries) without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 20, what: str = "") -> T:
    """Poll until `probe` returns something truthy; its value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        await asyncio.sleep(0.1)


def until(probe: Callable[[], T | None], *, within: float = 20, what: str = "") -> T:
    """`eventually` for a test that drives a blocking client (it sleeps, not awaits)."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        time.sleep(0.1)


async def log_text(path: Path, *waiting_for: str, within: float = 10) -> str:
    """A process's log once it holds every `waiting_for` line, or as it is after `within`
    seconds (a gateway writes its access log after the response is sent)."""
    deadline = time.monotonic() + within
    while True:
        text = await asyncio.to_thread(path.read_text, errors="replace")
        if all(expected in text for expected in waiting_for) or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.1)
