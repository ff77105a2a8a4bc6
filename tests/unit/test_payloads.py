"""Handler metadata as each Temporal SDK answers it, and payloads shown as they are
(`gateway.adapters.payloads`)."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import (
    WorkflowDefinition,
    WorkflowInteractionDefinition,
    WorkflowMetadata,
)
from temporalio.converter import BinaryProtoPayloadConverter, DataConverter

from signalway.gateway.adapters.payloads import decode_metadata, shown_as_is

METADATA = WorkflowMetadata(definition=WorkflowDefinition(
    type="Orders",
    signal_definitions=[WorkflowInteractionDefinition(name="approve")],
    query_definitions=[WorkflowInteractionDefinition(name="status", description="where it is")],
    update_definitions=[WorkflowInteractionDefinition(name="set_limit")],
))
PROTO_TYPE = {"messageType": b"temporal.api.sdk.v1.WorkflowMetadata"}


def _names(metadata: WorkflowMetadata | None) -> tuple[list[str], list[str], list[str]]:
    assert metadata is not None
    d = metadata.definition
    return ([s.name for s in d.signal_definitions], [q.name for q in d.query_definitions],
            [u.name for u in d.update_definitions])


def test_the_python_sdks_answer() -> None:
    # The Python SDK's own converter: JSON protobuf comes before binary in its chain.
    [payload] = DataConverter.default.payload_converter.to_payloads([METADATA])
    assert payload.metadata["encoding"] == b"json/protobuf"
    assert _names(decode_metadata(payload)) == (["approve"], ["status"], ["set_limit"])


def test_binary_protobuf() -> None:
    payload = BinaryProtoPayloadConverter().to_payload(METADATA)
    assert payload is not None and payload.metadata["encoding"] == b"binary/protobuf"
    assert _names(decode_metadata(payload)) == (["approve"], ["status"], ["set_limit"])


def test_the_typescript_sdks_json_plain_answer() -> None:
    # What @temporalio/workflow answers: JSON.stringify of the message's shape; handlers
    # without a description have none, and fields a newer SDK adds are skipped.
    data = (b'{"definition":{"type":"orders","queryDefinitions":[{"name":"__stack_trace","description":"Returns '
            b'a sensible stack trace."},{"name":"status"}],"signalDefinitions":[{"name":"approve"}],'
            b'"updateDefinitions":[]},"currentDetails":"","somethingNew":1}')
    metadata = decode_metadata(Payload(metadata={"encoding": b"json/plain"}, data=data))
    assert _names(metadata) == (["approve"], ["__stack_trace", "status"], [])


def test_go_java_and_dotnet_proto_json() -> None:
    # Go's protojson spaces its output unpredictably; Java and .NET write the same fields.
    data = b'{"definition": {"type":"Orders",  "signalDefinitions":[{"name":"approve"}], "queryDefinitions":[]}}'
    payload = Payload(metadata={"encoding": b"json/protobuf", **PROTO_TYPE}, data=data)
    assert _names(decode_metadata(payload)) == (["approve"], [], [])


@pytest.mark.parametrize("payload", [
    Payload(metadata={"encoding": b"binary/encrypted"}, data=b"\x00sealed"),
    Payload(metadata={"encoding": b"json/plain"}, data=b"[1, 2]"),
    Payload(metadata={"encoding": b"json/plain"}, data=b"not json"),
    Payload(metadata={"encoding": b"json/plain"}, data=b'{"definition": {"signalDefinitions": 5}}'),
    Payload(metadata={"encoding": b"binary/protobuf"}, data=b"\xff\xff\xff"),
    Payload(metadata={"encoding": b"json/protobuf", "messageType": b"other.Message"}, data=b"{}"),
])
def test_anything_else_is_handlers_unknown(payload: Payload) -> None:
    assert decode_metadata(payload) is None


def test_a_payload_is_shown_as_it_is() -> None:
    payload = Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1"}, data=b"\x00\x01")
    assert shown_as_is(payload) == {"encoding": "binary/encrypted", "data_base64": base64.b64encode(b"\x00\x01").decode(),
                                    "metadata": {"encryption-key-id": "k1"}}
    assert shown_as_is(Payload(data=b"x")) == {"encoding": None, "data_base64": "eA=="}
