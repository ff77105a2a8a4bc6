"""Where the test session's real services listen (started by `tests/conftest.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stack:
    temporal_address: str
    redis_url: str
    data_dir: Path
