from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..payload import Payload


class OrderInput(Payload):
    order_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    timeout_secs: float = Field(3600, gt=0, le=365 * 24 * 3600)
    # How often a waiting step re-registers its trigger (restoring it if Redis lost it).
    reregister_secs: float = Field(300, ge=1, le=24 * 3600)


class OrderResult(Payload):
    status: Literal["fulfilled", "timed_out", "canceled"]
    paid: Any = None
    shipped: Any = None
