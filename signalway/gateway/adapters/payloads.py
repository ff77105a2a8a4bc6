"""Payloads from any Temporal SDK: the handler metadata every SDK answers in its own
encoding, and payloads the gateway cannot decode, shown as what they are.

`__temporal_workflow_metadata` (temporal.api.sdk.v1.WorkflowMetadata) comes back as:

- `json/protobuf` (proto3 JSON): the Python SDK (its converter tries JSON protobuf before
  binary), Go, Java and .NET: their default converters put `ProtoJSON` ahead of binary proto;
- `binary/protobuf`: any SDK whose converter prefers binary protobuf;
- `json/plain`: the TypeScript SDK, which answers a plain object of the message's shape
  (`{"definition": {"type", "queryDefinitions", "signalDefinitions", "updateDefinitions"}}`).

An SDK too old to have the query, or an answer in another encoding, means "handlers
unknown" (`None`): the gateway then sends what it is asked to without a name check.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import WorkflowMetadata

_METADATA_TYPE = WorkflowMetadata.DESCRIPTOR.full_name


def encoding_of(payload: Payload) -> str:
    return payload.metadata.get("encoding", b"").decode("utf-8", "replace")


def decode_metadata(payload: Payload) -> WorkflowMetadata | None:
    """The run's handler metadata from the payload any SDK answers with; None when it is in
    an encoding (or of a message type) this cannot read."""
    encoding = encoding_of(payload)
    message_type = payload.metadata.get("messageType", b"").decode("utf-8", "replace")
    if message_type and message_type != _METADATA_TYPE:
        return None
    try:
        if encoding == "binary/protobuf":
            return WorkflowMetadata.FromString(payload.data)
        if encoding in ("json/protobuf", "json/plain"):
            data = json.loads(payload.data)
            if not isinstance(data, dict):
                return None
            # Unknown fields are skipped: a newer SDK may add some (e.g. `currentDetails` kinds).
            return json_format.ParseDict(data, WorkflowMetadata(), ignore_unknown_fields=True)
    except (DecodeError, ValueError, json_format.ParseError, RecursionError):
        return None
    return None


def shown_as_is(payload: Payload) -> dict[str, Any]:
    """A payload the gateway cannot decode (another SDK's encoding, a codec it lacks), as it
    is: its encoding and its bytes, so a reader sees what is there instead of an error."""
    shown: dict[str, Any] = {"encoding": encoding_of(payload) or None,
                             "data_base64": base64.b64encode(payload.data).decode("ascii")}
    others = {k: v.decode("utf-8", "replace") for k, v in payload.metadata.items() if k != "encoding"}
    if others:
        shown["metadata"] = others
    return shown
