"""Hardening against one caller hurting others: project names that would break the Redis key
layout, and Redis answering with an error, against the real gateway."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import redis.asyncio as aioredis

from signalway.triggers import prefix
from tests.helpers.gateway import Gateway
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
