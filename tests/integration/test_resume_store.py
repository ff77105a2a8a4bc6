"""`signalway/resume.py`: `ResumeStore` on the session's real Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import redis.asyncio as aioredis

from signalway.resume import ResumeStep, ResumeStore, step_key, token_for, token_hash

SECRET = secrets.token_bytes(32)
VARIABLES = {"approved": "boolean", "comment": "string"}


def now_ms() -> int:
    return int(time.time() * 1000)


async def open_step(store: ResumeStore, run_id: str | None = None, step: str = "review", *,
                    due_in_ms: int | None = 3_600_000) -> str:
    """Open a step (the workflow always gives one a deadline); the hash of its token, as the
    gateway looks it up."""
    deadline = None if due_in_ms is None else now_ms() + due_in_ms
    nonce = await store.open(workflow_id=f"wf-{uuid.uuid4()}", run_id=run_id or str(uuid.uuid4()), step=step,
                             project="alpha", variables=VARIABLES, deadline_ms=deadline, secret=SECRET)
    return token_hash(token_for(SECRET, nonce))


async def found(store: ResumeStore, hashed: str) -> ResumeStep:
    step = await store.get(hashed)
    assert step is not None, f"no step {hashed}"
    return step


async def test_open_records_a_waiting_step_found_by_its_token_hash(redis: aioredis.Redis) -> None:
    store, run_id = ResumeStore(redis), str(uuid.uuid4())
    before = now_ms()
    hashed = await open_step(store, run_id, due_in_ms=60_000)
    step = await found(store, hashed)
    assert (step.run_id, step.step, step.project, step.variables) == (run_id, "review", "alpha", VARIABLES)
    assert (step.status, step.fingerprint) == ("waiting", None)
    assert step.deadline_ms is not None and before + 60_000 <= step.deadline_ms <= now_ms() + 60_000
    assert before <= step.created_ms <= now_ms()
    assert await store.get(token_hash("not-a-token")) is None


async def test_a_retried_open_keeps_the_first_nonce(redis: aioredis.Redis) -> None:
    store, run_id = ResumeStore(redis), str(uuid.uuid4())
    first = await open_step(store, run_id)
    assert await open_step(store, run_id) == first
    assert [s.hashed for s in await store.of_run(run_id)] == [first]


async def test_a_step_resumes_once(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store)
    assert await store.resume(hashed, fingerprint="fp-1", client_ip="192.0.2.1", user_agent="first") == \
        ("resumed-now", "fp-1")
    assert await store.resume(hashed, fingerprint="fp-2", client_ip="192.0.2.2", user_agent="second") == \
        ("resumed", "fp-1")
    step = await found(store, hashed)
    assert (step.status, step.fingerprint, step.client_ip, step.user_agent) == ("resumed", "fp-1", "192.0.2.1", "first")
    assert step.resumed_ms is not None and step.resumed_ms >= step.created_ms


async def test_concurrent_resumes_have_one_winner(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store)
    results = await asyncio.gather(*(
        store.resume(hashed, fingerprint=f"fp-{n}", client_ip="192.0.2.1", user_agent="ua") for n in range(20)))
    [winner] = [fp for status, fp in results if status == "resumed-now"]
    assert all(result == ("resumed", winner) for result in results if result[0] != "resumed-now")


async def test_revert_undoes_only_the_matching_resume(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store)
    await store.resume(hashed, fingerprint="fp-1", client_ip="192.0.2.1", user_agent="ua")
    await store.revert(hashed, fingerprint="someone else's")
    assert (await found(store, hashed)).status == "resumed"
    await store.revert(hashed, fingerprint="fp-1")
    step = await found(store, hashed)
    assert (step.status, step.fingerprint, step.resumed_ms, step.client_ip) == ("waiting", None, None, None)
    assert (await store.resume(hashed, fingerprint="fp-2", client_ip="192.0.2.1", user_agent="ua"))[0] == "resumed-now"


async def test_revoke_ends_a_waiting_step(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store)
    assert await store.revoke(hashed) == "ok"
    assert (await found(store, hashed)).status == "revoked"
    assert await store.resume(hashed, fingerprint="fp", client_ip="192.0.2.1", user_agent="ua") == ("revoked", "")
    assert await store.revoke(hashed) == "revoked"
    assert await store.extend(hashed, deadline_ms=now_ms() + 60_000) == "revoked"


async def test_a_step_without_a_deadline_resumes(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store, due_in_ms=None)
    assert (await found(store, hashed)).deadline_ms is None
    assert await store.resume(hashed, fingerprint="fp", client_ip="192.0.2.1", user_agent="ua") == \
        ("resumed-now", "fp")


async def test_extend_moves_the_deadline_and_the_expiry(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store, due_in_ms=60_000)
    ttl_before = await redis.ttl(step_key(hashed))
    later = now_ms() + 3_600_000
    assert await store.extend(hashed, deadline_ms=later) == "ok"
    step = await found(store, hashed)
    assert (step.status, step.deadline_ms) == ("waiting", later)
    assert await redis.ttl(step_key(hashed)) >= ttl_before + 3_500


async def test_a_passed_deadline_reads_as_expired(redis: aioredis.Redis) -> None:
    store = ResumeStore(redis)
    hashed = await open_step(store, due_in_ms=300)
    assert (await found(store, hashed)).status == "waiting"
    await asyncio.sleep(0.4)
    assert (await found(store, hashed)).status == "expired"
    assert await store.resume(hashed, fingerprint="fp", client_ip="192.0.2.1", user_agent="ua") == ("expired", "")
    assert await store.revoke(hashed) == "expired"
    assert await store.extend(hashed, deadline_ms=now_ms() + 60_000) == "expired"


async def test_an_unknown_step_is_missing(redis: aioredis.Redis) -> None:
    store, hashed = ResumeStore(redis), token_hash("never-issued")
    assert await store.resume(hashed, fingerprint="fp", client_ip="192.0.2.1", user_agent="ua") == ("missing", "")
    assert await store.revoke(hashed) == "missing"
    assert await store.extend(hashed, deadline_ms=now_ms() + 60_000) == "missing"


async def test_of_run_lists_the_runs_steps_oldest_first(redis: aioredis.Redis) -> None:
    store, run_id = ResumeStore(redis), str(uuid.uuid4())
    opened = []
    for step in ("first", "second", "third"):
        opened.append(await open_step(store, run_id, step))
        await asyncio.sleep(0.005)  # distinct creation times
    await open_step(store, str(uuid.uuid4()), "elsewhere")
    steps = await store.of_run(run_id)
    assert [(s.step, s.hashed) for s in steps] == list(zip(("first", "second", "third"), opened, strict=True))
    assert await store.of_run(str(uuid.uuid4())) == []


async def test_a_step_keeps_its_prompt_for_the_resume_page(redis: aioredis.Redis) -> None:
    store, run_id = ResumeStore(redis), str(uuid.uuid4())
    nonce = await store.open(workflow_id="wf", run_id=run_id, step="ask", project="alpha", variables=VARIABLES,
                             deadline_ms=now_ms() + 60_000, secret=SECRET, prompt="Ship 4.2?")
    assert (await found(store, token_hash(token_for(SECRET, nonce)))).prompt == "Ship 4.2?"
    assert (await found(store, await open_step(store))).prompt is None


async def test_the_workflow_extends_its_step_by_run_and_name(redis: aioredis.Redis) -> None:
    store, run_id = ResumeStore(redis), str(uuid.uuid4())
    hashed = await open_step(store, run_id, "review")
    later = now_ms() + 7_200_000
    assert await store.extend_step(run_id, "review", deadline_ms=later) == "ok"
    assert (await found(store, hashed)).deadline_ms == later
    assert await store.extend_step(run_id, "other", deadline_ms=later) == "missing"
    await store.revoke(hashed)
    assert await store.extend_step(run_id, "review", deadline_ms=later + 1) == "revoked"
