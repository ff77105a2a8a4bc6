"""`signalway/gateway/services/idempotency.py`: `acting_once`, `derived_id` and `fingerprint`, with the
gateway's real Redis adapter on the session's Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from signalway.gateway.adapters.redis import RedisService
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import IdempotencyConflict
from signalway.gateway.services.idempotency import acting_once, derived_id, fingerprint
from tests.helpers.stack import Stack


@pytest.fixture
async def svc(stack: Stack) -> AsyncIterator[Services]:
    redis = RedisService.from_url(stack.redis_url, retry_after_seconds=1)
    # acting_once needs only the Redis adapter of the gateway's services.
    yield cast(Services, SimpleNamespace(redis=redis))
    await redis.close()


class Action:
    """An action that counts its calls and answers with the call's number and the id it got."""

    def __init__(self, fail_first: int = 0) -> None:
        self.ids: list[str | None] = []
        self._fail_first = fail_first

    async def __call__(self, derived: str | None) -> dict[str, Any]:
        self.ids.append(derived)
        if len(self.ids) <= self._fail_first:
            raise RuntimeError("the backend said no")
        return {"call": len(self.ids), "id": derived}


ALICE = Principal(user="alice", project="alpha")


def who(project: str = "alpha", user: str = "alice") -> Principal:
    return Principal(user=user, project=project)


async def act(svc: Services, key: str | None, action: Callable[[str | None], Awaitable[Any]], *parts: Any,
              project: str = "alpha", scope: str = "signal", user: str = "alice") -> Any:
    return await acting_once(svc, who=who(project, user), scope=scope, key=key, action=action,
                             request_fingerprint=lambda: fingerprint(*parts))


async def test_the_same_key_and_request_acts_once_and_answers_as_the_first_time(svc: Services) -> None:
    key, action = str(uuid.uuid4()), Action()
    first = await act(svc, key, action, "wf-1", {"approver": "carol"})
    again = await act(svc, key, action, "wf-1", {"approver": "carol"})
    assert first == again == {"call": 1, "id": derived_id(ALICE, "signal", key)}
    assert len(action.ids) == 1


async def test_the_same_key_with_another_request_is_a_conflict(svc: Services) -> None:
    key, action = str(uuid.uuid4()), Action()
    await act(svc, key, action, "wf-1", {"approver": "carol"})
    with pytest.raises(IdempotencyConflict):
        await act(svc, key, action, "wf-1", {"approver": "mallory"})
    assert len(action.ids) == 1


async def test_a_failed_action_releases_the_key_so_a_retry_acts(svc: Services) -> None:
    key, action = str(uuid.uuid4()), Action(fail_first=1)
    with pytest.raises(RuntimeError):
        await act(svc, key, action, "wf-1")
    assert await act(svc, key, action, "wf-1") == {"call": 2, "id": derived_id(ALICE, "signal", key)}
    # The failed attempt left no claim behind: another request may now not reuse the key.
    with pytest.raises(IdempotencyConflict):
        await act(svc, key, action, "wf-2")


async def test_without_a_key_the_action_always_runs(svc: Services) -> None:
    action = Action()
    fingerprinted: list[str] = []

    def request_fingerprint() -> str:
        fingerprinted.append("asked")
        return "unused"

    for _ in range(3):
        await acting_once(svc, who=ALICE, scope="signal", key=None, action=action,
                          request_fingerprint=request_fingerprint)
    assert action.ids == [None, None, None]
    assert fingerprinted == []  # only a key asks for the request's fingerprint


async def test_a_retry_racing_the_first_attempt_acts_with_the_same_derived_id(svc: Services) -> None:
    # Redis holds the claim but no answer yet: the retry acts too, with the id the engine
    # deduplicates on (a workflow id, a signal's request id), so the backend still acts once.
    key, release = str(uuid.uuid4()), asyncio.Event()
    acting: asyncio.Queue[str | None] = asyncio.Queue()

    async def slow(derived: str | None) -> str:
        acting.put_nowait(derived)
        await release.wait()
        return "done"

    first = asyncio.create_task(act(svc, key, slow, "wf-1"))
    first_id = await asyncio.wait_for(acting.get(), 5)
    second = asyncio.create_task(act(svc, key, slow, "wf-1"))
    second_id = await asyncio.wait_for(acting.get(), 5)
    release.set()
    assert [await first, await second] == ["done", "done"]
    assert first_id == second_id == derived_id(ALICE, "signal", key)


async def test_keys_are_separate_per_project_and_scope(svc: Services) -> None:
    key, action = str(uuid.uuid4()), Action()
    await act(svc, key, action, "request", project="alpha", scope="signal")
    await act(svc, key, action, "another request", project="beta", scope="signal")
    await act(svc, key, action, "another request", project="alpha", scope="update")
    assert action.ids == [derived_id(ALICE, "signal", key), derived_id(who("beta"), "signal", key),
                          derived_id(ALICE, "update", key)]
    assert len(set(action.ids)) == 3


async def test_keys_are_separate_per_caller_of_one_project(svc: Services) -> None:
    # Bob's identical request with Alice's key is a fresh request of his own: it acts, with
    # an id of its own, and never gets Alice's stored answer.
    key, action = str(uuid.uuid4()), Action()
    alice = await act(svc, key, action, "request", user="alice")
    bob = await act(svc, key, action, "request", user="bob")
    api_key = await act(svc, key, action, "request", user="apikey:0123456789ab")
    assert [alice["call"], bob["call"], api_key["call"]] == [1, 2, 3]
    assert len(set(action.ids)) == 3
    # And another caller's different request under the same key is no conflict with Alice's.
    assert (await act(svc, key, action, "other request", user="carol"))["call"] == 4


async def test_a_stored_answer_is_returned_only_after_the_access_decision(svc: Services) -> None:
    key, action = str(uuid.uuid4()), Action()
    await act(svc, key, action, "request")

    async def denied(stored: Any) -> None:
        raise LookupError("not visible any more")

    with pytest.raises(LookupError):
        await acting_once(svc, who=ALICE, scope="signal", key=key, action=action, authorize=denied,
                          request_fingerprint=lambda: fingerprint("request"))
    assert len(action.ids) == 1


def test_derived_id_is_a_stable_uuid_per_project_caller_scope_and_key() -> None:
    derived = derived_id(ALICE, "start:runs", "order-42")
    assert uuid.UUID(derived).version == 5
    assert derived == derived_id(ALICE, "start:runs", "order-42")
    assert len({derived, derived_id(who("beta"), "start:runs", "order-42"),
                derived_id(who(user="bob"), "start:runs", "order-42"),
                derived_id(ALICE, "start:durable", "order-42"), derived_id(ALICE, "start:runs", "order-43")}) == 5


def test_fingerprint_ignores_key_order_and_tells_requests_apart() -> None:
    assert fingerprint("wf", {"a": 1, "b": [1, 2]}) == fingerprint("wf", {"b": [1, 2], "a": 1})
    assert fingerprint("wf", {"a": 1}) != fingerprint("wf", {"a": 2})
    assert fingerprint("wf", None) != fingerprint("wf-2", None)
    assert len(fingerprint("anything")) == 64  # a SHA-256 hex digest
