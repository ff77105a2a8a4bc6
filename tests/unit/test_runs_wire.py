"""`gateway.runs_wire`: which wire a request asks for, and the client wire's translations."""

from __future__ import annotations

from typing import Any

import pytest

from signalway.gateway.errors import BadRequest, Unprocessable
from signalway.gateway.runs_wire import (
    MESSAGE_TYPES,
    ClientPostUpdate,
    Wire,
    client_event,
    client_pending,
    closing,
    compact,
    type_code,
    wire_of,
)

RUN = "01a22898-69a2-75ef-ab9f-8580a2bced13"


@pytest.mark.parametrize(("version", "wire"), [
    (None, Wire.SEED), ("20260803", Wire.CLIENT), ("20250925", Wire.CLIENT), ("19700101", Wire.CLIENT),
    ("20991231", Wire.CLIENT), (" 20260803\t", Wire.CLIENT),
])
def test_no_header_is_seed_001_and_any_date_the_client_wire(version: str | None, wire: Wire) -> None:
    assert wire_of(version) is wire


@pytest.mark.parametrize("version", ["", " ", "2026080", "202608030", "2026-08-03", "20261301", "20260230",
                                     "00000101", "latest", "v1", "２０２６０８０３", "20260803; q=1"])
def test_a_malformed_version_is_a_400_naming_the_header(version: str) -> None:
    with pytest.raises(BadRequest, match="x-api-version must be an API version"):
        wire_of(version)


def test_a_long_malformed_version_is_not_echoed_whole() -> None:
    with pytest.raises(BadRequest) as refused:
        wire_of("x" * 5000)
    assert len(str(refused.value.detail)) < 300


def test_the_numeric_types_are_the_clients_agent_message_types() -> None:
    assert MESSAGE_TYPES[0] == "system" and MESSAGE_TYPES[3] == "update" and MESSAGE_TYPES[7] == "answer"
    assert MESSAGE_TYPES[11] == "terminated" and MESSAGE_TYPES[14] == "restarting" and len(MESSAGE_TYPES) == 15
    assert [type_code(name) for name in MESSAGE_TYPES] == list(range(15))


@pytest.mark.parametrize(("name", "code"), [
    ("ANSWER", 7), ("answer", 7), ("Answer", 7), ("REQUEST_INPUT", 9), ("UPDATE", 3),
    ("PROGRESS", 3), ("WORKFLOW_CLOSED", 3), ("", 3),
])
def test_stored_names_map_to_codes_in_any_case_and_unknown_ones_are_update(name: str, code: int) -> None:
    assert type_code(name) == code


def stored(**fields: Any) -> dict[str, Any]:
    return {"id": 4, "timestamp": 1_795_977_408_044, "workflow_run_id": RUN, "type": "UPDATE", "message": "m",
            "details": None, "workstream_id": None, **fields}


def test_a_stored_message_compacts_to_what_the_clients_parse() -> None:
    assert compact(stored(type="question", message="which?", details={"tool": "ask"}, workstream_id="design")) == {
        "t": 8, "m": "which?", "w": "design", "d": {"tool": "ask"}, "ts": 1_795_977_408_044}
    # The main workstream, no details and no message are left out, as the clients leave them out.
    assert compact(stored(type="ANSWER", message="", workstream_id="main")) == {"t": 7, "ts": 1_795_977_408_044}


@pytest.mark.parametrize("details", ["text", 7, [1, 2], True])
def test_details_that_are_not_an_object_are_carried_in_one(details: Any) -> None:
    assert compact(stored(details=details))["d"] == {"value": details}


def test_the_final_chunk_of_a_streaming_message_is_flagged() -> None:
    assert compact(stored(type="streaming_chunk", details={"is_final": True}))["f"] == 1
    assert "f" not in compact(stored(type="streaming_chunk", details={"is_final": False}))
    assert "f" not in compact(stored(type="answer", details={"is_final": True}))


@pytest.mark.parametrize(("kind", "details", "code"), [
    ("WORKFLOW_CLOSED", {"status": "COMPLETED"}, 4),
    ("WORKFLOW_CLOSED", {"status": "CONTINUED_AS_NEW", "new_run_id": "r2"}, 4),
    ("WORKFLOW_CLOSED", {"status": "CANCELED"}, 11),
    ("WORKFLOW_CLOSED", {"status": "FAILED"}, 11),
    ("WORKFLOW_CLOSED", {"status": "TERMINATED"}, 11),
    ("STREAM_OVERFLOW", {"last_event_id": 9}, 5),
    ("STREAM_INTERRUPTED", {}, 5),
])
def test_a_streams_end_is_a_type_the_clients_end_or_reconnect_on(kind: str, details: dict[str, Any],
                                                                  code: int) -> None:
    frame = closing(kind, "why", details, 1000)
    assert frame == {"t": code, "m": "why", "d": {"stream_end": kind, **details}, "ts": 1000}


def test_a_posted_numeric_type_is_stored_under_its_legacy_name() -> None:
    update = ClientPostUpdate.model_validate({"type": 7, "message": "hi", "timestamp": 1.5e12, "details": {"a": 1},
                                              "workflow_run_id": RUN.upper(), "workstream_id": "w"})
    assert update.stored(RUN) == ("answer", "hi", {"a": 1}, "w")
    assert ClientPostUpdate.model_validate({}).stored(RUN) == ("update", "", None, None)
    assert ClientPostUpdate.model_validate({"type": "PROGRESS"}).stored(RUN) == ("PROGRESS", "", None, None)


@pytest.mark.parametrize("body", [{"type": 15}, {"type": -1}, {"type": ""}, {"type": "x" * 101},
                                  {"workflow_run_id": "00000000-0000-0000-0000-000000000000"}])
def test_a_posted_update_the_store_cannot_take_is_422(body: dict[str, Any]) -> None:
    with pytest.raises(Unprocessable):
        ClientPostUpdate.model_validate(body).stored(RUN)


def test_history_signals_and_failures_take_the_clients_shapes() -> None:
    signalled = client_event({"event_id": 5, "event_time": "t", "event_type": "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
                              "task_id": "1", "attempt": 0, "signal": {"name": "UserInput", "input": [{"m": 1}]}})
    assert signalled["signal"] == {"direction": "receiving", "signalName": "UserInput", "input": [{"m": 1}]}
    failed = client_event({"event_id": 9, "event_time": "t", "event_type": "EVENT_TYPE_ACTIVITY_TASK_FAILED",
                           "task_id": "2", "attempt": 0, "activity": None,
                           "failure": {"message": "boom", "type": None, "cause": {"message": "inner"}}})
    assert failed["error"] == {"message": "boom"} and "failure" not in failed and "activity" not in failed


def test_pending_activity_times_become_rfc3339_and_the_failure_its_message() -> None:
    pending = client_pending({
        "activityId": "1", "activityType": "processDocument", "state": "PENDING_ACTIVITY_STATE_STARTED",
        "attempt": 2, "maximumAttempts": 0, "scheduledTime": 1_795_977_408, "lastStartedTime": None,
        "lastHeartbeatTime": None, "lastFailure": {"message": "timeout", "type": "TimeoutError"},
    })
    assert pending.model_dump(mode="json") == {
        "activityId": "1", "activityType": "processDocument", "state": "PENDING_ACTIVITY_STATE_STARTED",
        "attempt": 2, "maximumAttempts": 0, "scheduledTime": "2026-11-29T18:36:48.000Z", "lastStartedTime": None,
        "lastFailure": "timeout",
    }
