from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import HistoryEvent

from gateway.adapters.history import durable_event_type, failure_summary
from gateway.schemas import rfc3339


def test_event_type_names_are_snake_case_without_prefix() -> None:
    event = HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    assert durable_event_type(event) == "workflow_execution_signaled"


def test_failure_summary_keeps_message_type_and_cause() -> None:
    failure = Failure(
        message="outer", application_failure_info=ApplicationFailureInfo(type="PaymentDeclined"),
        cause=Failure(message="inner"),
    )
    assert failure_summary(failure) == {"message": "outer", "type": "PaymentDeclined", "cause": {"message": "inner"}}


def test_rfc3339_uses_z_and_never_naive() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert rfc3339(datetime(2026, 4, 15, 12, tzinfo=UTC)) == "2026-04-15T12:00:00Z"
    assert rfc3339(datetime(2026, 4, 15, 12, tzinfo=timezone(timedelta(hours=2)))) == "2026-04-15T12:00:00+02:00"
    assert rfc3339(None) is None
