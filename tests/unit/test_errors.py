import json

from signalway.gateway.errors import (
    AllowedAction,
    BackendUnavailable,
    Problem,
    UnknownSignal,
    WorkflowClosed,
    WorkflowNotFound,
    render,
)


def test_problem_renders_as_rfc9457_with_seed_fields() -> None:
    response = render(UnknownSignal("nope", allowed_actions=[AllowedAction(rel="send-signal", hint="a")]), "/x")
    assert response.status_code == 422
    assert response.media_type == "application/problem+json"
    body = json.loads(response.body)
    assert body == {
        "title": "Unprocessable Content", "status": 422, "detail": "nope", "code": "unknown_signal",
        "instance": "/x", "allowed_actions": [{"rel": "send-signal", "hint": "a"}],
    }


def test_retry_after_is_both_field_and_header() -> None:
    response = render(BackendUnavailable("down", retry_after_seconds=9), None)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "9"
    assert json.loads(response.body)["retry_after_seconds"] == 9


def test_subclasses_share_the_status_of_their_base() -> None:
    assert WorkflowNotFound.status == 404 and WorkflowNotFound.code == "workflow_not_found"
    assert WorkflowClosed.status == 409 and WorkflowClosed.code == "workflow_closed"
    assert issubclass(UnknownSignal, Problem)
