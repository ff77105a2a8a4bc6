"""One time format per surface (`signalway/times.py`), and the event API's cursor round trip."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone

from signalway.gateway.schemas import DurableWorkflow, WorkflowEvent
from signalway.times import ms_to_rfc3339, rfc3339_ms, us_to_rfc3339
from signalway.triggers import iso_us

MS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
US = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"


def test_one_moment_is_written_one_way_per_surface() -> None:
    moment = datetime(2026, 11, 23, 10, 15, 0, 455405, tzinfo=UTC)
    assert rfc3339_ms(moment) == "2026-11-23T10:15:00.455Z"
    assert rfc3339_ms(moment.replace(microsecond=0)) == "2026-11-23T10:15:00.000Z"  # never shorter
    assert rfc3339_ms(moment.astimezone(timezone(timedelta(hours=2)))) == "2026-11-23T10:15:00.455Z"  # always Z
    assert rfc3339_ms(moment.replace(tzinfo=None)) == "2026-11-23T10:15:00.455Z"  # never naive
    assert ms_to_rfc3339(int(moment.timestamp() * 1000)) == "2026-11-23T10:15:00.455Z"
    assert us_to_rfc3339(1_795_428_900_455_405) == "2026-11-23T10:15:00.455405Z"
    assert us_to_rfc3339(1_795_428_900_000_000) == "2026-11-23T10:15:00.000000Z"
    assert rfc3339_ms(None) is None and ms_to_rfc3339(None) is None and us_to_rfc3339(None) is None


def test_the_durable_surface_writes_milliseconds_everywhere() -> None:
    moment = datetime(2026, 11, 23, 10, 15, 0, 455405, tzinfo=UTC)
    workflow = DurableWorkflow(id="x", workflow_type="T", status="completed", created_at=moment,
                               started_at=moment.replace(microsecond=0), completed_at=moment).model_dump()
    event = WorkflowEvent(id=1, sequence_num=1, event_type="t", event_data=None, created_at=moment,
                          workflow_id="x").model_dump()
    for value in (workflow["created_at"], workflow["started_at"], workflow["completed_at"], event["created_at"]):
        assert re.match(MS, value), value


def test_event_cursors_name_their_microsecond_exactly() -> None:
    # The event API's cursor is an item's `requested_at`, parsed back to the store's µs score.
    assert iso_us is us_to_rfc3339
    rng = random.Random(7)
    for _ in range(20_000):
        us = rng.randrange(1_700_000_000_000_000, 1_900_000_000_000_000)
        text = us_to_rfc3339(us)
        assert text is not None and re.match(US, text), text
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) == us
