"""Webhook deliveries reach only public or allowed addresses, and their failures echo nothing back.

A real worker delivers an ApprovalWorkflow's webhook to a real local receiver (a tiny asyncio
HTTP server on 127.0.0.1); whether it may is decided by `SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from signalway_examples.approval import ApprovalInput, ApprovalWorkflow, ApproveInput
from standardwebhooks import Webhook
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHandle

from signalway.localstack import free_port
from signalway.steps.contract import DELIVER_WEBHOOK_ACTIVITY
from signalway.worker.build import WorkerDeps, build_worker
from signalway.worker.settings import WorkerSettings
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack
from tests.helpers.worker import RunningWorker

WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
LEAK = "internal-banner-7f3a"  # what a probed service answers; must never reach the run's failure


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP receiver answering every request the same way (`mode`)."""

    port: int
    mode: str = "ok"
    requests: list[Received] = field(default_factory=list)

    async def first_request(self) -> Received | None:
        return self.requests[0] if self.requests else None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.mode == "junk":
                # What a non-HTTP service (Redis, SSH, …) does: a banner, then hang up.
                writer.write(f"-ERR {LEAK}\r\n".encode())
                return
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (li.partition(":") for li in lines if li)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, target, _ = request_line.split(" ", 2)
            self.requests.append(Received(method, target, headers, body))
            if self.mode == "redirect":
                answer = (f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{self.port}/elsewhere\r\n"
                          f"Content-Length: {len(LEAK)}\r\nConnection: close\r\n\r\n{LEAK}")
            else:
                answer = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            writer.write(answer.encode())
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def receiver(mode: str = "ok", host: str = "127.0.0.1",
                   tls: ssl.SSLContext | None = None) -> AsyncIterator[Receiver]:
    port = free_port()
    r = Receiver(port=port, mode=mode)
    server = await asyncio.start_server(r.handle, host, port, ssl=tls)
    async with server:
        yield r


@asynccontextmanager
async def worker_with(client: Client, redis: aioredis.Redis, stack: Stack,
                      allowed_networks: str = "",
                      verify: ssl.SSLContext | bool = True) -> AsyncIterator[RunningWorker]:
    """The `worker` fixture's worker, able to deliver webhooks, with the allowed networks given."""
    settings = WorkerSettings(
        temporal_address=stack.temporal_address, redis_url=stack.redis_url, shutdown_grace_seconds=5,
        resume_secret=secrets.token_urlsafe(32), webhook_secret=WEBHOOK_SECRET,
        webhook_allowed_networks=allowed_networks,
    )
    task_queue = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=5, follow_redirects=False, verify=verify) as http, \
            build_worker(client, WorkerDeps(redis=redis, http=http), settings, task_queue=task_queue):
        yield RunningWorker(client=client, task_queue=task_queue)


def localhost_tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str | None]]:
    """A server context with a certificate for the name `localhost` only (no IP), a client
    context trusting it, and the SNI names the server was asked for."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni: list[str | None] = []
    server.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    return server, ssl.create_default_context(cadata=cert_pem.decode()), sni


async def start_approval(worker: RunningWorker, url: str) -> WorkflowHandle[ApprovalWorkflow, object]:
    return await worker.client.start_workflow(
        ApprovalWorkflow.run, ApprovalInput(subject="ssrf", timeout_secs=120, webhook_url=url),
        id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )


async def finish(handle: WorkflowHandle[ApprovalWorkflow, object]) -> None:
    """Let the run end on its own (approving cancels the delivery), before its worker stops.

    A terminated run would stay in the worker's cache, and its coroutines would be torn down
    mid-`finally` at shutdown.
    """
    await handle.signal(ApprovalWorkflow.approve, ApproveInput(approver="test"))
    await handle.result()


async def failed_delivery(handle: WorkflowHandle[ApprovalWorkflow, object]) -> Failure | None:
    """The delivery's final failure, once it is in history."""
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_failed_event_attributes"):
            return event.activity_task_failed_event_attributes.failure
    return None


async def last_attempt_failure(handle: WorkflowHandle[ApprovalWorkflow, object]) -> Failure | None:
    """What a caller sees in `pendingActivities.lastFailure` while the delivery retries."""
    for pending in (await handle.describe()).raw_description.pending_activities:
        if pending.activity_type.name == DELIVER_WEBHOOK_ACTIVITY and pending.HasField("last_failure"):
            return pending.last_failure
    return None


async def test_default_worker_refuses_a_loopback_target(client: Client, redis: aioredis.Redis,
                                                        stack: Stack) -> None:
    async with receiver() as local, worker_with(client, redis, stack) as worker:
        handle = await start_approval(worker, f"http://127.0.0.1:{local.port}/hook")
        failure = await eventually(lambda: failed_delivery(handle))
        await finish(handle)
    info = failure.application_failure_info
    assert (info.type, info.non_retryable) == ("WebhookTargetNotAllowed", True)
    assert "127.0.0.1" in failure.message and "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS" in failure.message
    assert local.requests == []


async def test_allowed_network_delivers_to_the_checked_address_with_the_original_host(
        client: Client, redis: aioredis.Redis, stack: Stack) -> None:
    # The receiver listens on every address "localhost" has, and both loopbacks are allowed, so
    # the test holds whichever of them the resolver lists first.
    async with receiver(host="localhost") as local, \
            worker_with(client, redis, stack, "127.0.0.1/32,::1/128") as worker:
        handle = await start_approval(worker, f"http://localhost:{local.port}/hook?x=1")
        await eventually(local.first_request)
        await finish(handle)
    [delivered] = local.requests
    assert (delivered.method, delivered.target) == ("POST", "/hook?x=1")
    assert delivered.headers["host"] == f"localhost:{local.port}"
    Webhook(WEBHOOK_SECRET).verify(delivered.body, delivered.headers)  # body and signature intact


async def test_https_connects_to_the_checked_address_but_verifies_the_host_name(
        client: Client, redis: aioredis.Redis, stack: Stack, tmp_path: Path) -> None:
    # The certificate names `localhost` and not 127.0.0.1: the delivery, which connects to the
    # checked IP, verifies only because SNI and verification use the URL's host name.
    server_tls, client_tls, sni = localhost_tls(tmp_path)
    async with receiver(host="localhost", tls=server_tls) as local, \
            worker_with(client, redis, stack, "127.0.0.1/32,::1/128", verify=client_tls) as worker:
        handle = await start_approval(worker, f"https://localhost:{local.port}/hook")
        await eventually(local.first_request)
        await finish(handle)
    assert sni and set(sni) == {"localhost"}
    assert local.requests[0].headers["host"] == f"localhost:{local.port}"


@pytest.mark.parametrize(("mode", "what"), [
    ("redirect", "answered HTTP 302; redirects are not followed"),
    ("junk", "connection failed"),
])
async def test_failures_do_not_echo_what_answered(client: Client, redis: aioredis.Redis, stack: Stack,
                                                  mode: str, what: str) -> None:
    async with receiver(mode) as local, worker_with(client, redis, stack, "127.0.0.1/32") as worker:
        handle = await start_approval(worker, f"http://127.0.0.1:{local.port}/hook")
        failure = await eventually(lambda: last_attempt_failure(handle))
        await finish(handle)
    assert failure.message == f"webhook delivery to 127.0.0.1 failed: {what}"
    assert not failure.HasField("cause")  # the httpx exception would say what answered
    assert LEAK not in str(failure)
    assert all(r.target == "/hook" for r in local.requests)  # the redirect was not followed


async def test_nothing_listening_is_a_plain_connection_failure(client: Client, redis: aioredis.Redis,
                                                               stack: Stack) -> None:
    async with worker_with(client, redis, stack, "127.0.0.1/32") as worker:
        handle = await start_approval(worker, f"http://127.0.0.1:{free_port()}/hook")
        failure = await eventually(lambda: last_attempt_failure(handle))
        await finish(handle)
    assert failure.message == "webhook delivery to 127.0.0.1 failed: connection failed"
    assert not failure.HasField("cause")
