"""Hardening against one caller hurting others: project names that would break the Redis key
layout, and Redis answering with an error, against the real gateway."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import redis.asyncio as aioredis

from signalway.triggers import prefix
from tests.helpers.gateway import Gateway
from tests.helpers.http import execute, run_path
from tests.helpers.receiver import serve_receiver, start_approval
from tests.helpers.stack import Stack


async def test_a_project_named_with_a_closing_brace_shares_no_keys_with_another(gateway: Gateway) -> None:
    # `<p>}:key:yy` once made the trigger keys `signalway:trg:{<p>}:key:yy}:…`: project <p>'s
    # pointers for event keys `yy}:…`. Registering in one broke the other with 500s.
    victim = f"P{uuid.uuid4().hex[:8]}"
    evil = victim + "}:key:yy"
    as_victim = {"Authorization": f"Bearer {gateway.token(victim, 'vic')}"}
    as_evil = {"Authorization": f"Bearer {gateway.token(evil, 'eve')}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for key in ("a", "b"):
            made = await http.post("/v1/events", json={"event_key": key, "job_run_id": "j"}, headers=as_evil)
            assert made.status_code == 201, made.text
        for key in ("yy}:all", "yy}:status:waiting", "yy}:waiting-keys", "yy}:stats"):
            made = await http.post("/v1/events", json={"event_key": key, "job_run_id": "j"}, headers=as_victim)
            assert made.status_code == 201, f"{key}: {made.status_code} {made.text}"
            got = await http.get(f"/v1/events/{quote(key, safe='')}", headers=as_victim)
            assert got.status_code == 200 and got.json()["project_id"] == victim, got.text
        for who, mine in ((as_victim, 4), (as_evil, 2)):
            listed = await http.get("/v1/events", headers=who)
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["data"]) == mine
            stats = await http.get("/v1/events/stats", headers=who)
            assert stats.status_code == 200 and stats.json()["waiting_count"] == mine, stats.text


async def test_a_redis_type_error_is_a_503_not_a_500(gateway: Gateway, stack: Stack) -> None:
    project = f"P{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        # A key of another type where the trigger registry expects a string (data written by
        # something else, or an old layout): Redis answers WRONGTYPE.
        await redis.hset(prefix(project) + "key:k", "x", "1")
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            got = await http.get("/v1/events/k", headers={"Authorization": f"Bearer {gateway.token(project)}"})
        assert got.status_code == 503, got.text
        assert got.headers["content-type"].startswith("application/problem+json")
        assert got.json()["retry_after_seconds"] >= 1
    finally:
        await redis.delete(prefix(project) + "key:k")
        await redis.aclose()


# -- response headers: nosniff everywhere, no-store on private answers -------------------------


async def test_every_answer_is_nosniff_and_private_ones_no_store(gateway: Gateway, http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ConversationWorkflow", {})
    async with serve_receiver() as receiver:
        await start_approval(http, receiver)
        payload, _, _ = await receiver.next_payload()
    resume_path = "/public/send-user-signal/" + payload["resume_workflow_url"].rsplit("/", 1)[1]
    anonymous = httpx.AsyncClient(base_url=gateway.url, timeout=30)
    async with anonymous:
        answers = {
            "run details": await http.get(run_path(wid, rid)),
            "run updates": await http.get(run_path(wid, rid) + "/updates"),
            "trigger list": await http.get("/v1/events"),
            "resume preview (JSON)": await anonymous.get(resume_path, headers={"Accept": "application/json"}),
            "resume page (HTML)": await anonymous.get(resume_path, headers={"Accept": "text/html"}),
            "unknown route": await anonymous.get("/nope"),
            "unauthenticated": await anonymous.get(run_path(wid, rid)),
            "unknown run": await http.get(run_path(wid, "0" * 8 + "-0000-0000-0000-" + "0" * 12)),
            "bad body": await http.post(run_path(wid, rid) + "/signal/UserInput", content=b"{nope"),
            "health": await anonymous.get("/healthz"),
        }
        async with http.stream("GET", run_path(wid, rid) + "/stream") as stream:
            answers["stream"] = stream
    for what, answer in answers.items():
        assert answer.headers.get("x-content-type-options") == "nosniff", what
        if what != "health":
            assert "no-store" in answer.headers.get("cache-control", ""), what
    await http.post(run_path(wid, rid) + "/actions/terminate")


async def test_a_problem_never_echoes_the_raw_path(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as anonymous:
        answer = await anonymous.get("/nope%0a2026-12-07%2014:30:00,000%20INFO%20<script>alert(1)</script>")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    text = answer.text
    assert "\\n" not in text and "<script>" not in text, text
