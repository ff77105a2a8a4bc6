"""Admission control (gateway.middleware.AdmissionMiddleware) on a small app of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from signalway.gateway.errors import EXCEPTION_HANDLERS
from signalway.gateway.middleware import AdmissionMiddleware, Metrics


def _client(*, max_in_flight: int = 2, max_queued: int = 2, queue_timeout: float = 0.2, per_principal: int = 100,
            request_timeout: float = 2.0, delay: float = 0.3) -> httpx.AsyncClient:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("delay", delay)))
        return JSONResponse({"ok": True})

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(0.2)
                yield b"%d" % n

        return StreamingResponse(chunks())

    app = Starlette(routes=[Route("/work", slow, methods=["GET", "POST"]), Route("/healthz", slow),
                            Route("/stream", stream)],
                    exception_handlers=EXCEPTION_HANDLERS)
    guarded = AdmissionMiddleware(app, max_in_flight=max_in_flight, max_queued=max_queued,
                                  queue_timeout=queue_timeout, per_principal=per_principal,
                                  request_timeout=request_timeout, metrics=Metrics())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://gateway")


async def test_past_the_bound_and_the_queue_requests_are_shed_at_once_with_retry_advice() -> None:
    async with _client() as http:
        started = time.monotonic()
        answers = await asyncio.gather(*[http.get("/work", headers={"Authorization": f"k{i}"}) for i in range(10)])
        elapsed = time.monotonic() - started
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) >= 2 and statuses.count(503) >= 4, statuses
    shed = next(r for r in answers if r.status_code == 503)
    assert shed.json()["code"] == "overloaded" and shed.headers["retry-after"] == "1"
    assert elapsed < 1.5  # two rounds of 0.3 s at most, never a pile-up


async def test_one_caller_past_its_share_gets_429_while_others_go_on() -> None:
    async with _client(max_in_flight=10, per_principal=2) as http:
        mine = [http.get("/work", headers={"Authorization": "Bearer same"}) for _ in range(4)]
        other = http.get("/work", headers={"Authorization": "Bearer other"})
        answers = await asyncio.gather(*mine, other)
    assert sorted(r.status_code for r in answers[:4]) == [200, 200, 429, 429]
    assert answers[4].status_code == 200
    assert answers[2].json()["code"] == "rate_limited" or answers[3].json()["code"] == "rate_limited"


async def test_a_write_past_the_request_timeout_is_504_outcome_unknown_and_a_read_503() -> None:
    async with _client(max_in_flight=4, request_timeout=0.3) as http:
        write, read = await asyncio.gather(http.post("/work?delay=2"), http.get("/work?delay=2"))
    assert write.status_code == 504 and write.json()["code"] == "outcome_unknown"
    assert write.json()["allowed_actions"][0]["rel"] == "retry-with-same-idempotency-key"
    assert read.status_code == 503 and read.json()["code"] == "backend_unavailable"


async def test_health_is_never_shed() -> None:
    async with _client(max_in_flight=1, max_queued=0, delay=0.2) as http:
        answers = await asyncio.gather(*[http.get("/healthz") for _ in range(5)])
    assert [r.status_code for r in answers] == [200] * 5


async def test_slots_are_given_back_after_answers_errors_and_timeouts() -> None:
    async with _client(max_in_flight=1, max_queued=0, request_timeout=0.2) as http:
        assert (await http.get("/work?delay=1")).status_code == 503  # timed out
        assert (await http.get("/work?delay=0")).status_code == 200
        assert (await http.get("/work?delay=0")).status_code == 200


async def test_the_deadline_ends_when_the_answer_starts_so_a_stream_runs_past_it() -> None:
    async with _client(max_in_flight=1, max_queued=0, request_timeout=0.3) as http:
        response = await http.get("/stream")  # 0.6 s of body after a prompt start
        assert response.status_code == 200 and response.content == b"012"
        assert (await http.get("/work?delay=0")).status_code == 200  # and its slot was given back


async def test_a_handler_that_swallows_the_deadline_still_gets_its_timeout_answer() -> None:
    async def stubborn(request: Request) -> Response:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            pass  # swallowed: the middleware must still answer, and not leak the cancellation
        await asyncio.sleep(0)
        return JSONResponse({"late": True})

    app = Starlette(routes=[Route("/stubborn", stubborn)], exception_handlers=EXCEPTION_HANDLERS)
    guarded = AdmissionMiddleware(app, max_in_flight=2, max_queued=0, queue_timeout=0, per_principal=10,
                                  request_timeout=0.2, metrics=Metrics())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://gateway") as http:
        response = await http.get("/stubborn")  # runs in this task (ASGITransport)
    # The handler answered after swallowing the cancellation: its answer started first and is
    # the one sent; the request's task carries no cancellation afterwards.
    assert response.status_code == 200
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


def test_the_per_caller_key_is_the_normalised_credential() -> None:
    from signalway.gateway.middleware import _credential

    def key(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> str:
        return _credential({"type": "http", "headers": headers, "query_string": query, "client": ("10.0.0.1", 1)})

    token = b"eyJhbGciOiJIUzI1NiJ9.e30.sig"
    spellings = [b"Bearer " + token, b"bearer " + token, b"BEARER " + token, b"Bearer  " + token,
                 b" Bearer " + token + b" ", b"Bearer\t" + token]
    keys = {key([(b"authorization", s)]) for s in spellings}
    keys.add(key([], b"access_token=" + token + b"&since=1"))
    keys.add(key([], b"since=2&access_token=" + token))
    assert len(keys) == 1
    assert key([(b"authorization", b"Bearer other")]) not in keys
    assert key([]) == "addr:10.0.0.1"
