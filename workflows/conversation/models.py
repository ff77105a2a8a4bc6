from __future__ import annotations

from pydantic import ConfigDict, Field

from ..payload import Payload


class ConversationInput(Payload):
    # Carried across continue-as-new so the count survives a long conversation.
    turns: int = Field(0, ge=0)


class UserInput(Payload):
    """A user's turn. Seed 001's clients send more fields beside `message` (e.g. `data`);
    they are kept, not refused."""

    model_config = ConfigDict(extra="allow")

    message: str = Field(max_length=100_000)


class ConversationResult(Payload):
    turns: int
