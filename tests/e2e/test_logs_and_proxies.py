"""Secrets stay out of the gateway's log, X-Forwarded-For counts only from trusted proxies,
and oversized headers are refused — against gateway processes of this module's own.

Rate-limit buckets are keyed by client address and minute on the session's shared Redis, so
each test talks from (or forwards for) an address no other test uses: a loopback source
address of its own (all of 127.0.0.0/8 is local on Linux) or a random documentation address.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import mint
from tests.helpers.gateway import API_KEY, gateway_env
from tests.helpers.http import assert_problem, wait_ready
from tests.helpers.polling import log_text
from tests.helpers.stack import Stack

PUBLIC = "/public/send-user-signal/"
LIMIT = 5


@dataclass(frozen=True)
class OwnGateway:
    url: str
    secret: str
    log_path: Path


@dataclass(frozen=True)
class Gateways:
    logged: OwnGateway  # access log on, no trusted proxies
    proxied: OwnGateway  # SIGNALWAY_TRUSTED_PROXIES=127.0.0.1/32
    stranded: OwnGateway  # access log on, Redis unreachable: resume calls answer 503


@pytest.fixture(scope="module")
def gateways(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    log_dir = tmp_path_factory.mktemp("logs-and-proxies")
    common = {"SIGNALWAY_ACCESS_LOG": "true", "SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    extra = {
        "logged": {},
        "proxied": {"SIGNALWAY_TRUSTED_PROXIES": "127.0.0.1/32"},
        "stranded": {"SIGNALWAY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
    }
    started: dict[str, tuple[OwnGateway, ManagedProcess]] = {}
    try:
        # All three start at once; then each is waited for.
        for name, settings in extra.items():
            port, secret = free_port(), secrets.token_urlsafe(32)
            env = gateway_env(stack, port, secret, "", **common)
            del env["SIGNALWAY_JWT_PUBLIC_KEY"]
            env.update(settings)
            log_path = log_dir / f"{name}.log"
            process = ManagedProcess(f"{name}-gateway", [sys.executable, "-m", "signalway", "gateway"],
                                     env=env, log_path=log_path)
            started[name] = (OwnGateway(f"http://127.0.0.1:{port}", secret, log_path), process)
        for name, (own, process) in started.items():
            # The stranded one never becomes ready: Redis is down on purpose.
            wait_ready(own.url, process, path="/healthz" if name == "stranded" else "/readyz")
        yield Gateways(**{name: own for name, (own, _) in started.items()})
    finally:
        for _, process in started.values():
            process.stop()


def own_loopback_address() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"


def documentation_address() -> str:
    return f"{random.choice(['192.0.2', '198.51.100', '203.0.113'])}.{random.randint(1, 254)}"


@pytest.fixture
async def own_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connections come from a loopback address no other test uses."""
    transport = httpx.AsyncHTTPTransport(local_address=own_loopback_address())
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:
        yield client


async def fresh_minute() -> None:
    # The limit counts per clock minute: a burst must not straddle two windows.
    left = 60 - time.time() % 60
    if left < 5:
        await asyncio.sleep(left + 0.1)


async def test_secrets_never_reach_the_log(gateways: Gateways, own_client: httpx.AsyncClient) -> None:
    logged, stranded = gateways.logged, gateways.stranded
    token, lost_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    assert len(token) == len(lost_token) == 43
    jwt = mint(logged.secret, project="alpha", user="alice", ttl_seconds=600)
    assert (await own_client.get(logged.url + PUBLIC + token)).status_code == 404
    assert (await own_client.post(logged.url + PUBLIC + token, json={"variables": {}})).status_code == 404
    stream = f"/api/v1/workflows/runs/logged-{uuid.uuid4()}/{uuid.uuid4()}/stream"
    assert (await own_client.get(f"{logged.url}{stream}?access_token={jwt}")).status_code == 404
    api_key_answer = await own_client.get(logged.url + "/api/v1/durable/workflows",
                                          headers={"Authorization": API_KEY})
    assert api_key_answer.status_code == 200
    assert (await own_client.get(logged.url + "/api/v1/durable/workflows",
                                 headers={"Authorization": f"Bearer {jwt}"})).status_code == 200

    # 5xx: problem_handler logs a warning with the path, the access log a line.
    get_5xx = await own_client.get(stranded.url + PUBLIC + lost_token)
    post_5xx = await own_client.post(stranded.url + PUBLIC + lost_token, json={"variables": {}})
    for answer in (get_5xx, post_5xx):
        assert_problem(answer, 503, "backend_unavailable")

    redacted = PUBLIC + "<redacted>"
    logged_text = await log_text(logged.log_path, f"POST {redacted} 404", f"GET {redacted} 404", f"{stream} 404",
                                 "/api/v1/durable/workflows 200")
    stranded_text = await log_text(stranded.log_path, f"GET {redacted} -> 503 backend_unavailable",
                                   f"POST {redacted} -> 503 backend_unavailable", f"POST {redacted} 503")
    for text in (logged_text, stranded_text):
        for secret in (token, lost_token, jwt, API_KEY, logged.secret):
            assert secret not in text
    assert f"GET {redacted} 404" in logged_text and f"POST {redacted} 404" in logged_text
    assert f"GET {stream} 404" in logged_text
    assert f"GET {redacted} -> 503 backend_unavailable" in stranded_text
    assert f"POST {redacted} 503" in stranded_text


@pytest.mark.parametrize("source", ["127.0.0.1", "own"])
async def test_forwarded_for_is_ignored_from_an_untrusted_peer(gateways: Gateways, source: str) -> None:
    # 127.0.0.1 is the peer uvicorn's proxy_headers believed X-Forwarded-For from. Its bucket
    # is shared with other tests' calls on this Redis, so there only "no more than LIMIT pass"
    # holds; from a loopback address of its own the count is exact.
    local = own_loopback_address() if source == "own" else source
    await fresh_minute()
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=local), timeout=30) as client:
        statuses = [
            (await client.post(gateways.logged.url + PUBLIC + "C" * 43, json={"variables": {}},
                               headers={"X-Forwarded-For": documentation_address()})).status_code
            for _ in range(12)
        ]
    passed = statuses.count(404)
    assert statuses == [404] * passed + [429] * (12 - passed)
    if source == "own":
        assert passed == LIMIT
    else:
        assert passed <= LIMIT


async def test_each_client_behind_a_trusted_proxy_has_its_own_bucket(gateways: Gateways) -> None:
    first, second = documentation_address(), documentation_address()
    while second == first:
        second = documentation_address()
    statuses: dict[str, list[int]] = {first: [], second: []}
    await fresh_minute()
    async with httpx.AsyncClient(base_url=gateways.proxied.url, timeout=30) as proxy:  # from 127.0.0.1
        for _ in range(LIMIT + 1):
            for client in (first, second):
                # What the client claims on the left counts for nothing: the proxy appended the
                # address it saw on the right.
                forwarded = f"{documentation_address()}, {client}"
                answer = await proxy.post(PUBLIC + "D" * 43, json={"variables": {}},
                                          headers={"X-Forwarded-For": forwarded})
                statuses[client].append(answer.status_code)
    assert statuses == {client: [404] * LIMIT + [429] for client in (first, second)}


async def test_oversized_headers_are_refused_with_431(gateways: Gateways) -> None:
    async with httpx.AsyncClient(base_url=gateways.logged.url, timeout=30) as http:
        assert (await http.get("/healthz", headers={"X-Padding": "p" * 16 * 1024})).status_code == 200
        answer = await http.get("/healthz", headers={"X-Padding": "p" * 64 * 1024})
    body = assert_problem(answer, 431, "request_header_fields_too_large")
    assert "32768 bytes" in body["detail"]
    assert answer.headers["x-request-id"]
