"""Resume URLs (seed 003) against real processes and a real webhook receiver."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

import signalway
from signalway.localstack import ManagedProcess, free_port, start_redis
from tests.helpers.gateway import Gateway, gateway_env
from tests.helpers.http import assert_problem, execute, run_path, wait_ready, wait_run
from tests.helpers.polling import eventually
from tests.helpers.receiver import serve_receiver, start_approval
from tests.helpers.stack import Stack

PUBLIC = "/public/send-user-signal/"


def resume(url: str, variables: dict[str, Any]) -> dict[str, Any]:
    with signalway.Client() as client:
        return client.resume_workflow(url, variables)


async def test_webhook_is_signed_and_the_resume_url_completes_the_step(
        http: httpx.AsyncClient, gateway: Gateway, redis: aioredis.Redis) -> None:
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver)
        payload, headers, _ = await receiver.next_payload()
    url = payload["resume_workflow_url"]
    assert url.startswith(gateway.url + PUBLIC)
    token = url.rsplit("/", 1)[1]
    assert len(token) == 43  # 256 bits, base64url
    assert (payload["workflow_id"], payload["run_id"], payload["step"]) == (wid, rid, "approval")
    assert payload["variables"] == {"user_response": "string"} and payload["deadline"].endswith("Z")
    assert headers["webhook-id"].startswith("msg_")

    preview = (await http.get(PUBLIC + token, headers={"Authorization": ""})).json()
    assert preview["state"] == "waiting" and preview["variables"] == {"user_response": "string"}
    assert preview["workflow_id"] == wid and preview["deadline"]

    answer = await asyncio.to_thread(resume, url, {"user_response": "approved"})
    assert answer == {"status": "success", "message": f"Signal sent to workflow execution {wid}"}
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"]["approved"] is True and run["result"]["user_response"] == "approved"
    [audit] = run["resumes"]
    assert audit["step"] == "approval" and audit["client_ip"] == "127.0.0.1"
    assert audit["user_agent"].startswith("python-httpx")

    again = await asyncio.to_thread(resume, url, {"user_response": "approved"})
    assert again["status"] == "success" and "already resumed" in again["message"]
    with pytest.raises(signalway.SignalwayError) as conflict:
        await asyncio.to_thread(resume, url, {"user_response": "rejected"})
    assert conflict.value.status == 409 and "different variables" in conflict.value.detail
    assert (await http.get(PUBLIC + token)).json()["state"] == "resumed"

    # The token is stored nowhere: Redis keeps its hash, Temporal history never saw it.
    assert await redis.exists(f"signalway:resume:{hashlib.sha256(token.encode()).hexdigest()}")
    assert token not in (await http.get(run_path(wid, rid))).text
    assert not [k async for k in redis.scan_iter(match=f"*{token}*")]


async def test_bad_variables_and_unknown_urls_say_exactly_what_is_wrong(http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver)
        payload, _, _ = await receiver.next_payload()
    path = payload["resume_workflow_url"].split("127.0.0.1", 1)[1].split("/", 1)[1]
    path = "/" + path
    cases = [
        ({"variables": {}}, "missing variable 'user_response'"),
        ({"variables": {"user_response": "ok", "extra": 1}}, "unknown variable 'extra'"),
        ({"variables": {"user_response": 42}}, "'user_response' must be a string"),
        ({"vars": {"user_response": "ok"}}, "variables"),
    ]
    for body, detail in cases:
        problem = assert_problem(await http.post(path, json=body), 422, "invalid_request")
        assert detail in problem["detail"], problem
    assert_problem(await http.post(path, content=b"{oops", headers={"Content-Type": "application/json"}),
                   400, "invalid_request")
    for unknown in ("A" * 43, "short", "x" * 200):
        body = assert_problem(await http.post(PUBLIC + unknown, json={"variables": {"user_response": "ok"}}),
                              404, "not_found")
        assert "unknown" in body["detail"]
    assert (await http.get(run_path(wid, rid))).json()["status"] == "RUNNING"
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_concurrent_resumes_resume_exactly_once(http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver)
        payload, _, _ = await receiver.next_payload()
    url = payload["resume_workflow_url"]
    async with httpx.AsyncClient(timeout=30) as anonymous:
        answers = await asyncio.gather(*[anonymous.post(url, json={"variables": {"user_response": "yes"}})
                                         for _ in range(12)])
    assert {a.status_code for a in answers} == {200}
    sent = [a for a in answers if a.json()["message"].startswith("Signal sent")]
    assert len(sent) == 1
    run = await wait_run(http, wid, rid, "COMPLETED")
    resumes = [e for e in run["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
               and e["signal"]["name"] == "signalway_resume"]
    assert len(resumes) == 1 and resumes[0]["signal"]["input"][0]["variables"] == {"user_response": "yes"}


async def test_a_receiver_that_is_down_at_first_gets_the_webhook_by_retry(http: httpx.AsyncClient) -> None:
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}/hook"
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "later", "webhook_url": receiver_url,
                                                       "timeout_secs": 120})

    async def failed_attempt() -> bool:
        run = (await http.get(run_path(wid, rid), params={"include_history": "false"})).json()
        return any(a["lastFailure"] for a in run["pendingActivities"])

    await eventually(failed_attempt, what="a failed delivery attempt")
    async with serve_receiver(port) as receiver:
        payload, _, _ = await receiver.next_payload(within=40)
        assert payload["run_id"] == rid
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_an_unanswered_step_times_out_and_its_url_is_gone(http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver, timeout_secs=2)
        payload, _, _ = await receiver.next_payload()
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"]["timed_out"] is True and run["result"]["approved"] is False
    gone = await http.post(payload["resume_workflow_url"], json={"variables": {"user_response": "ok"}})
    assert "expired" in assert_problem(gone, 410, "gone")["detail"]


async def test_revoke_and_extend_manage_the_step_without_cancelling_the_run(
        http: httpx.AsyncClient, gateway: Gateway) -> None:
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver, timeout_secs=60)
        payload, _, _ = await receiver.next_payload()
    urls = f"{run_path(wid, rid)}/resume-urls"
    [step] = (await http.get(urls)).json()["data"]
    assert step["step"] == "approval" and step["state"] == "waiting"
    assert step["variables"] == {"user_response": "string"}

    extended = await http.post(f"{urls}/approval/extend", json={"seconds": 3600})
    assert extended.status_code == 200 and extended.json()["deadline"] > step["deadline"]
    assert (await http.get(payload["resume_workflow_url"])).json()["deadline"] == extended.json()["deadline"]
    assert_problem(await http.post(f"{urls}/approval/extend", json={"seconds": -1}), 422, "invalid_request")
    assert_problem(await http.post(f"{urls}/nope/revoke"), 404, "not_found")
    intruder = {"headers": gateway.headers(project="beta", user="mallory")}
    assert_problem(await http.get(urls, **intruder), 404, "workflow_not_found")
    assert_problem(await http.post(f"{urls}/approval/revoke", **intruder), 404, "workflow_not_found")

    revoked = await http.post(f"{urls}/approval/revoke")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"]["approved"] is False and "revoked" in run["result"]["reason"]
    gone = await http.post(payload["resume_workflow_url"], json={"variables": {"user_response": "ok"}})
    assert "revoked" in assert_problem(gone, 410, "gone")["detail"]


@pytest.fixture
def strict_gateway(stack: Stack, gateway: Gateway, tmp_path: Any) -> Iterator[str]:
    """A gateway with a low resume rate limit and a Redis of its own (the counter is shared
    by every gateway on one Redis, so the other tests' calls would count too)."""
    port, redis_port = free_port(), free_port()
    own_redis = start_redis(tmp_path / "redis", port=redis_port, persistent=False)
    env = gateway_env(stack, port, gateway.secret, "", SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE="3")
    env["SIGNALWAY_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("strict-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                             log_path=tmp_path / "gateway.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()
        own_redis.stop()


async def test_resume_attempts_are_rate_limited_per_client(strict_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=strict_gateway) as anonymous:
        answers = [await anonymous.post(PUBLIC + "B" * 43, json={"variables": {}}) for _ in range(5)]
    assert [a.status_code for a in answers][:3] == [404, 404, 404]
    limited = assert_problem(answers[3], 429, "rate_limited")
    assert 0 < limited["retry_after_seconds"] <= 60 and answers[3].headers["retry-after"]


async def test_resume_pages_are_rate_limited_like_the_api(strict_gateway: str) -> None:
    browser = {"Accept": "text/html,*/*;q=0.8"}
    form = {**browser, "Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=strict_gateway) as anonymous:
        pages = [await anonymous.get(PUBLIC + "C" * 43, headers=browser) for _ in range(3)]
        limited = [await anonymous.get(PUBLIC + "C" * 43, headers=browser),
                   await anonymous.post(PUBLIC + "C" * 43, content=b"user_response=ok", headers=form)]
    assert [p.status_code for p in pages] == [404, 404, 404]
    for answer in limited:
        assert answer.status_code == 429 and answer.headers["content-type"].startswith("text/html")
        assert 0 < int(answer.headers["retry-after"]) <= 60 and "Too many attempts" in answer.text
