from __future__ import annotations

from pydantic import Field

from workflows._common import Payload


class ConversationInput(Payload):
    # Carried across continue-as-new so the count survives a long conversation.
    turns: int = Field(0, ge=0)


class UserInput(Payload):
    message: str = Field(max_length=100_000)


class ConversationResult(Payload):
    turns: int
