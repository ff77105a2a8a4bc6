"""One time format per surface, the same for every time on it (`signalway/times.py`).

    durable API, resume URLs, the runs API's own additions   2026-11-23T10:15:00.455Z
    event triggers API (its date-time cursor names an item)    2026-11-23T10:15:00.455405Z
    runs API fields of seed 001                                 epoch seconds
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.helpers.http import DURABLE, create, execute, run_path, wait_run, wait_status
from tests.helpers.polling import eventually
from tests.helpers.receiver import serve_receiver, start_approval

MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _all_match(pattern: re.Pattern[str], **times: Any) -> None:
    for name, value in times.items():
        assert isinstance(value, str) and pattern.match(value), f"{name}: {value!r} is not {pattern.pattern}"


async def test_the_durable_api_writes_milliseconds_with_z(http: httpx.AsyncClient) -> None:
    workflow = await create(http, "ApprovalWorkflow", {"subject": "times"})
    await http.post(f"{DURABLE}/{workflow['id']}/signal", json={"signal_type": "approve", "payload": {"approver": "t"}})
    done = await wait_status(http, workflow["id"], "completed")
    _all_match(MS, created_at=done["created_at"], started_at=done["started_at"], completed_at=done["completed_at"])
    listed = (await http.get(DURABLE, params={"limit": 200})).json()["data"]
    for item in listed:
        _all_match(MS, created_at=item["created_at"], started_at=item["started_at"])
    events = (await http.get(f"{DURABLE}/{workflow['id']}/events")).json()["data"]
    _all_match(MS, **{f"event {e['id']}": e["created_at"] for e in events})


async def test_resume_urls_and_the_runs_api_write_milliseconds_with_z(http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver, subject="times")
        payload, _, _ = await receiver.next_payload()
    url = payload["resume_workflow_url"]
    _all_match(MS, webhook_deadline=payload["deadline"])
    preview = (await http.get(url)).json()
    _all_match(MS, deadline=preview["deadline"], created_at=preview["created_at"])
    answer = await http.post(url, json={"variables": {"user_response": "ok"}})
    assert answer.status_code == 200, answer.text
    [step] = (await http.get(f"{run_path(wid, rid)}/resume-urls")).json()["data"]
    _all_match(MS, deadline=step["deadline"], created_at=step["created_at"], resumed_at=step["resumed_at"])
    run = await wait_run(http, wid, rid, "COMPLETED")
    [audit] = run["resumes"]
    _all_match(MS, resumed_at=audit["resumed_at"])
    # The seed's own fields stay epoch seconds.
    assert isinstance(run["started_at"], int) and isinstance(run["closed_at"], int)
    assert all(isinstance(e["event_time"], int) for e in run["history"])


async def test_the_event_triggers_api_writes_microseconds_and_pages_by_them(http: httpx.AsyncClient) -> None:
    order_id = f"t-{uuid.uuid4()}"
    await execute(http, "OrderFulfillmentWorkflow", {"order_id": order_id, "timeout_secs": 600})
    key = f"order:{order_id}:paid"

    async def registered(key: str) -> dict[str, Any] | None:
        found = await http.get(f"/v1/events/{key}")
        return found.json() if found.status_code == 200 else None

    trigger = await eventually(lambda: registered(key), what="the paid trigger")
    _all_match(US, requested_at=trigger["requested_at"], expires_at=trigger["expires_at"])
    received = (await http.post(f"/v1/events/{key}/send", json={"paid": True})).json()
    _all_match(US, requested_at=received["requested_at"], received_at=received["received_at"],
               expires_at=received["expires_at"])
    # The run's next wait registers on its own time: let it, so the jobs below are the newest.
    await eventually(lambda: registered(f"order:{order_id}:shipped"), what="the shipped trigger")
    jobs = [(await http.post("/v1/events", json={"event_key": f"job:{uuid.uuid4()}", "job_run_id": "j"})).json()
            for _ in range(3)]
    page = (await http.get("/v1/events", params={"limit": 2})).json()
    _all_match(US, next_cursor=page["next_cursor"], **{f"item {i}": t["requested_at"] for i, t in enumerate(page["data"])})
    # The cursor is the last item's requested_at (the seed's clients have no next_cursor): it names
    # that item exactly, so the next page neither repeats nor skips.
    assert page["next_cursor"] == page["data"][-1]["requested_at"]
    after = (await http.get("/v1/events", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    newest = [j["id"] for j in reversed(jobs)]
    assert [t["id"] for t in page["data"] + after["data"]][:3] == newest


async def test_waits_write_the_runs_api_times(http: httpx.AsyncClient) -> None:
    order_id = f"w-{uuid.uuid4()}"
    wid, rid = await execute(http, "OrderFulfillmentWorkflow", {"order_id": order_id, "timeout_secs": 600})
    async with serve_receiver() as receiver:
        awid, arid = await start_approval(http, receiver, subject="waits")
        await receiver.next_payload()

    async def waiting(path: str, kind: str) -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(path)).json()
        return body if body.get(kind) else None

    order = await eventually(lambda: waiting(f"{run_path(wid, rid)}/waits", "triggers"), what="the order's wait")
    approval = await eventually(lambda: waiting(f"{run_path(awid, arid)}/waits", "resume_urls"),
                                what="the approval's wait")
    _all_match(MS, expires_at=order["triggers"][0]["expires_at"], deadline=approval["resume_urls"][0]["deadline"])
    for path in (run_path(wid, rid), run_path(awid, arid)):
        await http.post(f"{path}/actions/terminate")
