"""The examples' base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base for every workflow message: unknown fields refused, so typos surface as 422."""

    model_config = ConfigDict(extra="forbid")
