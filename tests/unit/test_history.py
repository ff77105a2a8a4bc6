from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import HistoryEvent

from signalway.gateway.adapters.history import durable_event_type, failure_summary


def test_event_type_names_are_snake_case_without_prefix() -> None:
    event = HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    assert durable_event_type(event) == "workflow_execution_signaled"


def test_failure_summary_keeps_message_type_and_cause() -> None:
    failure = Failure(
        message="outer", application_failure_info=ApplicationFailureInfo(type="PaymentDeclined"),
        cause=Failure(message="inner"),
    )
    assert failure_summary(failure) == {"message": "outer", "type": "PaymentDeclined", "cause": {"message": "inner"}}

